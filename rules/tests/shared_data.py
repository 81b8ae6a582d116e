"""Where the tests find the inputs the project never ships (Elasticsearch's EQL spec tests,
Elastic's rule corpus, the seed documents): one setting, ``SOC_SHARED_DIR``, defaulting to
``../shared`` beside the checkout.

A clone without it still passes: the tests that read it are skipped, and the run prints one
line saying why (``rules/tests/conftest.py``). Under ``CI=true`` its absence fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("SOC_SHARED_DIR") or ROOT.parent / "shared")


def missing_reason() -> str | None:
    """Why the shared inputs can't be read, or None when they can."""
    if (SHARED_DIR / "conformance").is_dir() and (SHARED_DIR / "corpus").is_dir():
        return None
    return f"no shared test inputs at {SHARED_DIR} (set SOC_SHARED_DIR to their folder)"


needs_shared = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
