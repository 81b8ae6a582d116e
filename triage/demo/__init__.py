"""The demo data set: endpoint events for a small company, alerts raised from them by the real
detection pipeline, and a realistic past of analyst work on those alerts.

- **Events.** Eight Windows hosts with benign background activity (logon shell, browsers,
  Office, Teams, service hosts, a management agent running PowerShell, developers running
  node from Program Files) and, among them, attack chains that the three seed rules catch:
  a script from a mail attachment starting PowerShell with an encoded download cradle
  (``wscript/mshta → powershell/cmd``), node.exe dropped in AppData running obfuscated
  JavaScript (``eval(atob(...))``), and a browser download of a ``.js``/``.hta`` file opened
  from Explorer within seconds (a sequence). Process entity ids link parents and children, so
  the process tree and host timeline have something to show.
- **Alerts** are raised by ``rules.detection.detect_new_events`` run in-process, chain by
  chain, with the chain's time as "now" (so queue ages and SLA clocks look real). Should the
  engine miss a chain, its alert is raised directly through ``triage.alerts.raise_alerts`` (the
  one writer of alerts, so its SLA comes from settings) with the same idempotency key.
- **Work.** The alerts of each rule are walked through every state with ``triage.services``
  (claimed, answered, escalated or closed, claimed by T2, accepted, containment, closed, one
  returned to L1, one bulk-closed duplicate, one false positive), each step at a plausible
  past time, so the history and the manager's metrics have real rows.

Deterministic for a seed, relative to the time it runs. Idempotent: events are keyed by
``event.id``, alerts by their key; only alerts created by this run are walked.

Modules: ``events`` (the generator), ``workflow`` (the analysts' past), ``loader`` (``load``).
"""

from triage.demo.events import SEED
from triage.demo.loader import Summary, load

__all__ = ["SEED", "Summary", "load"]
