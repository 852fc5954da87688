"""Shared fixtures and paths for the fakingclf test suite.

Fast tests need nothing but the package. Tests that load the embedding model are
marked ``slow`` and share one loaded default classifier (``default_classifier``,
session-scoped). Tests that read the shared development set are marked ``shared``
and ``slow`` and skip when ``../shared/data/af_reasoning_dev.jsonl`` is absent
(see test_shared.py, which computes that path from its own location).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Nothing may be downloaded while testing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_PATH = REPO_ROOT / "data" / "labeled" / "examples.jsonl"


def load_examples() -> list[dict]:
    """The 18 hand-written records of data/labeled/examples.jsonl, in file order."""
    with open(EXAMPLES_PATH, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def example_records() -> list[dict]:
    return load_examples()


@pytest.fixture(scope="session")
def examples_by_id(example_records) -> dict[str, dict]:
    return {r["id"]: r for r in example_records}


@pytest.fixture(scope="session")
def detector():
    """One CueDetector for the whole session (the spaCy pipeline is built once)."""
    from fakingclf.cues import CueDetector

    return CueDetector()


@pytest.fixture(scope="session")
def default_classifier():
    """The shipped default model, loaded once (tests using it must be marked slow)."""
    from fakingclf.classifier import FakingClassifier

    return FakingClassifier.load()
