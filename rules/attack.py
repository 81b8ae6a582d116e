"""The MITRE ATT&CK rows the product ships: tactic TA0002 and technique T1059 with the
sub-techniques it has playbooks for.

Plain Python, no Django import. Field names follow ``rules.models.Tactic`` and
``rules.models.Technique`` (``external_id``, ``name``, ``description``, ``url``; a technique's
``tactic_id`` and ``parent_id`` are external ids), so a loader can upsert them by
``external_id``. Descriptions are our own summaries; attack.mitre.org is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TacticRow:
    external_id: str
    name: str
    description: str
    url: str


@dataclass(frozen=True)
class TechniqueRow:
    external_id: str
    name: str
    description: str
    url: str
    tactic_id: str
    parent_id: str | None = None

    @property
    def is_subtechnique(self) -> bool:
        return self.parent_id is not None

    @property
    def full_name(self) -> str:
        """ATT&CK's display name: "Command and Scripting Interpreter: PowerShell"."""
        if self.parent_id is None:
            return self.name
        return f"{get_technique(self.parent_id).name}: {self.name}"


TACTICS: tuple[TacticRow, ...] = (
    TacticRow(
        external_id="TA0002",
        name="Execution",
        description=(
            "The adversary is trying to run code of their choosing on a local or remote system. "
            "Execution techniques are how a foothold turns into action: an interpreter, a "
            "scheduled job or a user tricked into opening a file runs the attacker's code, which "
            "then serves other goals such as discovery, persistence or data theft."
        ),
        url="https://attack.mitre.org/tactics/TA0002/",
    ),
)

TECHNIQUES: tuple[TechniqueRow, ...] = (
    TechniqueRow(
        external_id="T1059",
        name="Command and Scripting Interpreter",
        description=(
            "Adversaries run commands, scripts or binaries through the interpreters an operating "
            "system or application already provides, such as PowerShell, cmd.exe, Windows Script "
            "Host, Unix shells, Python or JavaScript runtimes. Because these tools are installed "
            "and trusted, attackers use them to download payloads, run code in memory and chain "
            "further steps while blending in with administrative work."
        ),
        url="https://attack.mitre.org/techniques/T1059/",
        tactic_id="TA0002",
    ),
    TechniqueRow(
        external_id="T1059.001",
        name="PowerShell",
        description=(
            "Adversaries use PowerShell, the command shell and scripting language built into "
            "Windows, to run commands and scripts, often entirely in memory. Typical abuse "
            "includes base64-encoded commands, download-and-execute cradles, hidden windows with "
            "the execution policy bypassed, and attempts to blind logging or AMSI."
        ),
        url="https://attack.mitre.org/techniques/T1059/001/",
        tactic_id="TA0002",
        parent_id="T1059",
    ),
    TechniqueRow(
        external_id="T1059.003",
        name="Windows Command Shell",
        description=(
            "Adversaries use cmd.exe, the classic Windows command prompt, and batch files to run "
            "commands and chain other tools. It is commonly started by a malicious document, "
            "script or exploited service, and its commands are often obfuscated with carets, "
            "environment-variable substrings and long '&'-joined chains."
        ),
        url="https://attack.mitre.org/techniques/T1059/003/",
        tactic_id="TA0002",
        parent_id="T1059",
    ),
    TechniqueRow(
        external_id="T1059.005",
        name="Visual Basic",
        description=(
            "Adversaries abuse Visual Basic in its Windows forms: VBA macros in Office documents, "
            "VBScript run by Windows Script Host (wscript.exe or cscript.exe) and scripts embedded "
            "in HTML applications. Malicious .vbs, .vbe and .wsf files usually arrive by email or "
            "download and then fetch and start a further payload."
        ),
        url="https://attack.mitre.org/techniques/T1059/005/",
        tactic_id="TA0002",
        parent_id="T1059",
    ),
    TechniqueRow(
        external_id="T1059.007",
        name="JavaScript",
        description=(
            "Adversaries run JavaScript or its Microsoft dialect JScript outside the browser "
            "sandbox: .js and .jse files through Windows Script Host, HTML applications through "
            "mshta.exe, scripts through Node.js, and JXA through osascript on macOS. Such scripts "
            "typically arrive by download or email and are heavily obfuscated."
        ),
        url="https://attack.mitre.org/techniques/T1059/007/",
        tactic_id="TA0002",
        parent_id="T1059",
    ),
)

_TECHNIQUES_BY_ID = {row.external_id: row for row in TECHNIQUES}
_TACTICS_BY_ID = {row.external_id: row for row in TACTICS}


def get_technique(external_id: str) -> TechniqueRow:
    """The technique row with this id; KeyError when the product does not ship it."""
    return _TECHNIQUES_BY_ID[external_id]


def get_tactic(external_id: str) -> TacticRow:
    """The tactic row with this id; KeyError when the product does not ship it."""
    return _TACTICS_BY_ID[external_id]


def technique_ids() -> tuple[str, ...]:
    """Ids of the shipped techniques, parents before their sub-techniques."""
    return tuple(row.external_id for row in TECHNIQUES)
