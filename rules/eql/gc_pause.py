"""Garbage collection paused while a batch of events is worked on (the rule set's pass, and
the detection pipeline's batches).

A batch decodes and builds thousands of documents; each collection those allocations set off
traverses every object of the process (Django, the compiled rules), so a batch's cost grew
with the size of the process. The work makes no reference cycles worth collecting early:
collection resumes when the outermost pause ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading

__all__ = ["gc_paused"]

_lock = threading.Lock()
_state = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused():
    """Cyclic garbage collection off inside the block (re-entrant and thread-safe)."""
    with _lock:
        if _state["depth"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["was_enabled"]:
                gc.enable()
