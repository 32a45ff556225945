"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _vectors_root() -> Path:
    configured = os.environ.get("LINESIDE_VECTORS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The conformance vectors directory; skips the test visibly when it is absent."""
    root = _vectors_root()
    if not root.is_dir():
        pytest.skip(f"conformance vectors not found at {root} (set LINESIDE_VECTORS)")
    return root
