"""Tests on the shared development set ../shared/data/af_reasoning_dev.jsonl (shared + slow).

The set lives beside the repository, never inside it; every test that reads it skips
with a clear reason when it is absent. The ECE hand calculation at the end needs no data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakingclf.metrics import expected_calibration_error

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "af_reasoning_dev.jsonl"
SKIP_REASON = "../shared/data/af_reasoning_dev.jsonl not found: shared-data tests need the development set beside the repo"

@pytest.fixture(scope="module")
def dev_path() -> Path:
    if not SHARED_DEV.is_file():
        pytest.skip(SKIP_REASON)
    return SHARED_DEV


@pytest.fixture(scope="module")
def dev_records(dev_path) -> list[dict]:
    with open(dev_path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def labeled_dev(dev_path, tmp_path_factory) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``fakingclf label ../shared/data/af_reasoning_dev.jsonl`` run as a user would, from the repo root."""
    out = tmp_path_factory.mktemp("shared") / "dev.labeled.jsonl"
    rel = Path("..") / "shared" / "data" / "af_reasoning_dev.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "fakingclf", "label", str(rel), "-o", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
    )
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return proc, recs


@pytest.mark.shared
@pytest.mark.slow
def test_label_shared_set_returns_every_record_in_order(labeled_dev, dev_records):
    proc, recs = labeled_dev
    assert proc.returncode == 0, proc.stderr[-2000:]
    n = len(dev_records)  # counted from the file, which the data maintainers may revise
    assert n > 300
    assert len(recs) == n
    assert [r["id"] for r in recs] == [r["id"] for r in dev_records]
    assert [r["error"] for r in recs] == [None] * n
    assert all(r["label"] in {"refusal", "genuine_compliance", "faked_compliance"} for r in recs)
    assert f"{n} records labeled, 0 errors" in " ".join(proc.stderr.split())


@pytest.mark.shared
@pytest.mark.slow
def test_default_model_in_sample_auroc_on_shared_set(labeled_dev, dev_records):
    """Near in-sample: the shipped model was trained on these rows (its truncated paper rows relabeled by a blind
    judgement of the visible text, the undecided ones dropped), scored here against the file's own labels, so
    this only guards against regressions; held-out figures are in docs/benchmarks.md."""
    from sklearn.metrics import roc_auc_score

    _, recs = labeled_dev
    y = np.array([r["label"] == "alignment_faking" for r in dev_records], dtype=int)
    p = np.array([r["p_alignment_faking"] for r in recs], dtype=float)
    assert 0 < y.sum() < len(y)
    assert roc_auc_score(y, p) > 0.75


@pytest.mark.shared
@pytest.mark.slow
def test_load_labeled_reads_shared_set(dev_path, dev_records):
    import hashlib
    from collections import Counter

    from fakingclf.train import load_labeled

    ts, y, origins, sha = load_labeled([str(dev_path)])
    # every figure is counted from the file itself, so a revised file is read, not failed on
    assert len(ts) == len(dev_records)
    assert int(y.sum()) == sum(r["label"] == "alignment_faking" for r in dev_records)
    assert sha == hashlib.sha256(dev_path.read_bytes()).hexdigest()
    assert Counter(map(str, origins)) == Counter(r["origin"] for r in dev_records)
    assert all(t.has_reasoning for t in ts)
    # the paper transcripts are cut at ~1,000 characters, so their scratchpad block is never closed,
    # and only they are read as truncated
    truncated = {str(o) for t, o in zip(ts, origins) if t.truncated}
    assert truncated == {"paper_transcripts_truncated"}
    unclosed = [r for r in dev_records if r["origin"] == "paper_transcripts_truncated"
                and "</SCRATCHPAD_REASONING>" not in (r.get("text") or r.get("scratchpad") or "")]
    assert sum(t.truncated for t in ts) == len(unclosed) > 100


# --------------------------------------------------------------- ECE by hand (no data needed)
def test_expected_calibration_error_by_hand():
    # 10 equal-width bins. y = [0, 0, 1, 1], p = [0.1, 0.3, 0.6, 0.9]: every sample sits alone in
    # its bin (0.1 -> [0, .1], 0.3 -> (.2, .3], 0.6 -> (.5, .6], 0.9 -> (.8, .9]), so each bin's gap
    # is |y - p|: 0.1, 0.3, 0.4, 0.1, each weighted 1/4.
    # ECE = (0.1 + 0.3 + 0.4 + 0.1) / 4 = 0.9 / 4 = 0.225
    assert expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9]) == pytest.approx(0.225, abs=1e-12)


def test_expected_calibration_error_shared_bin_by_hand():
    # y = [0, 1, 1, 1], p = [0.12, 0.15, 0.85, 0.95].
    # bin (.1, .2]: p 0.12 and 0.15 -> mean p 0.135, frequency 1/2 -> gap 0.365, weight 2/4 -> 0.1825
    # bin (.8, .9]: p 0.85 -> gap |1 - 0.85| = 0.15, weight 1/4 -> 0.0375
    # bin (.9, 1]:  p 0.95 -> gap |1 - 0.95| = 0.05, weight 1/4 -> 0.0125
    # ECE = 0.1825 + 0.0375 + 0.0125 = 0.2325
    assert expected_calibration_error([0, 1, 1, 1], [0.12, 0.15, 0.85, 0.95]) == pytest.approx(0.2325, abs=1e-12)


def test_expected_calibration_error_perfect_and_worst():
    # two bins, each with observed frequency equal to the mean prediction: 0
    assert expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0, abs=1e-12)
    # confident and always wrong: gap 1 in both bins
    assert expected_calibration_error([1, 0], [0.0, 1.0]) == pytest.approx(1.0, abs=1e-12)


def test_train_reexports_the_same_ece():
    from fakingclf import train

    assert train.expected_calibration_error is expected_calibration_error


@pytest.mark.shared
@pytest.mark.slow
def test_retrained_model_reproduces_its_card_figures(dev_path, tmp_path):
    # train with the documented command's code path, then score the saved model's training
    # method with `evaluate --cv 5`: the same folds must give the same out-of-fold AUROC
    from fakingclf.evaluate import evaluate_files
    from fakingclf.train import train_from_files

    _, info = train_from_files([str(dev_path)], str(tmp_path / "m"), evaluate=True)
    card = info["evaluation"]["cv5"]["model"]["overall"]
    again = evaluate_files([str(dev_path)], model=str(tmp_path / "m"), cv=5, n_resamples=200)["overall"]
    assert again["auroc"] == pytest.approx(card["auroc"], abs=1e-4)
    assert again["ece"] == pytest.approx(card["ece"], abs=1e-4)
    assert card["auroc"] > 0.8
