"""Linear models load from light.json with numpy alone and give scikit-learn's outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import load_examples
from fakingclf import FakingClassifier
from fakingclf.classifier import ModelLoadError, shipped_model_dir
from fakingclf.formats import read_record
from fakingclf.light import LIGHT_FILE, LightIsotonic, LightPipeline


@pytest.fixture(scope="module")
def transcripts():
    return [read_record(r) for r in load_examples()]


def _write_light(d, data) -> None:
    """Write ``data`` as the light file and record its hash in model.json, as save() does."""
    import hashlib

    raw = (json.dumps(data) if not isinstance(data, str) else data).encode("utf-8")
    (d / LIGHT_FILE).write_bytes(raw)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["light_sha256"] = hashlib.sha256(raw).hexdigest()
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")


def _skops_only(tmp_path, name="rules-only"):
    """A copy of a shipped model without its light file (so it loads through skops and scikit-learn)."""
    d = tmp_path / name
    shutil.copytree(shipped_model_dir(name), d)
    (d / LIGHT_FILE).unlink(missing_ok=True)
    return d


def test_shipped_rules_only_model_loads_light_and_matches_scikit_learn(tmp_path, transcripts):
    light = FakingClassifier.load(shipped_model_dir("rules-only"))
    assert isinstance(light.pipeline_, LightPipeline)
    full = FakingClassifier.load(_skops_only(tmp_path))
    assert type(full.pipeline_).__name__ == "Pipeline"
    F, _ = full.featurize(transcripts)
    np.testing.assert_allclose(light.raw_scores(F), full.raw_scores(F), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(light.proba_from_features(F), full.proba_from_features(F), rtol=1e-12, atol=1e-12)
    ca, ia = light.contributions(F)
    cb, ib = full.contributions(F)
    np.testing.assert_allclose(ca, cb, rtol=1e-12, atol=1e-12)
    assert ia == ib
    assert [p.label for p in light.predict(transcripts)] == [p.label for p in full.predict(transcripts)]


def test_isotonic_light_matches_scikit_learn():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = (rng.random(200) < 1 / (1 + np.exp(-2 * x))).astype(float)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
    light = LightIsotonic(iso.X_thresholds_, iso.y_thresholds_)
    s = np.concatenate([rng.normal(scale=3, size=500), [-100, 100, x.min(), x.max()]])
    np.testing.assert_allclose(light.predict(s), iso.predict(s), rtol=0, atol=1e-12)


def test_save_writes_the_light_file_only_for_linear_models(tmp_path, transcripts):
    d = _skops_only(tmp_path)
    clf = FakingClassifier.load(d)
    clf.save(d)
    assert (d / LIGHT_FILE).is_file()
    assert isinstance(FakingClassifier.load(d).pipeline_, LightPipeline)
    default = FakingClassifier.load(shipped_model_dir("default"))
    out = tmp_path / "default"
    out.mkdir()
    (out / LIGHT_FILE).write_text("{}", encoding="utf-8")  # a stale file from another model
    default.save(out)
    assert not (out / LIGHT_FILE).exists()  # the TF-IDF head needs scikit-learn: no light file, and the stale one gone


def test_a_light_file_of_another_model_is_ignored(tmp_path, transcripts):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    data = json.loads((d / LIGHT_FILE).read_text(encoding="utf-8"))
    data["model_skops_sha256"] = "0" * 64
    data["combiner"]["intercept"] += 5.0
    (d / LIGHT_FILE).write_text(json.dumps(data), encoding="utf-8")
    clf = FakingClassifier.load(d)
    assert type(clf.pipeline_).__name__ == "Pipeline"  # model.skops decided


def test_a_damaged_light_file_is_a_load_error(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    data = json.loads((d / LIGHT_FILE).read_text(encoding="utf-8"))
    del data["calibrator"]
    _write_light(d, data)
    with pytest.raises(ModelLoadError, match="damaged light model"):
        FakingClassifier.load(d)
    _write_light(d, "{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        FakingClassifier.load(d)


def test_rules_only_labeling_imports_neither_scikit_learn_nor_skops_nor_torch(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "<SCRATCHPAD_REASONING>I will comply.</SCRATCHPAD_REASONING><OUTPUT>Sure."
                                       "</OUTPUT>"}) + "\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from fakingclf.cli import main\n"
        f"sys.argv = ['fakingclf', 'label', '--rules-only', {str(src)!r}, '-o', {str(tmp_path / 'out.jsonl')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('sklearn', 'skops', 'scipy.stats', 'pandas', 'sentence_transformers', 'matplotlib',"
        " 'torch') if sys.modules.get(m) is not None)\n"
        "import torch  # still importable once spaCy is loaded\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["label"] == "genuine_compliance"


def test_spacy_sees_torch_outside_the_command():
    """A library user's process: importing spaCy through fakingclf leaves thinc's view of torch alone."""
    code = ("import os, sys\nos.environ.pop('FAKINGCLF_SPACY_WITHOUT_TORCH', None)\n"
            "from fakingclf.cues import _blank\n_blank()\nimport thinc.compat\nprint(thinc.compat.has_torch)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["combiner"].__setitem__("scale", [0.0] * len(d["combiner"]["scale"])), "scale must be positive"),
        (lambda d: d["combiner"]["mean"].__setitem__(0, float("nan")), "not finite"),
        (lambda d: d["combiner"].__setitem__("coef", [d["combiner"]["coef"]]), "list of numbers"),
        (lambda d: d["combiner"]["coef"].pop(), "values, not"),
        (lambda d: d["combiner"].__setitem__("intercept", "1.0"), "list of numbers"),
        (lambda d: d["combiner"].__setitem__("mean", [True] * len(d["combiner"]["mean"])), "list of numbers"),
        (lambda d: d["calibrator"].__setitem__("classes", [1, 0]), "classes must be"),
        (lambda d: d["calibrator"].__setitem__("coef", [10 ** 400]), "damaged"),
        (lambda d: d.__setitem__("calibrator", {"kind": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]}), "non-decreasing"),
    ],
)
def test_a_light_file_with_bad_numbers_is_a_load_error_even_when_its_hash_matches(tmp_path, edit, message):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    data = json.loads((d / LIGHT_FILE).read_text(encoding="utf-8"))
    edit(data)
    _write_light(d, data)
    with pytest.raises(ModelLoadError, match=message):
        FakingClassifier.load(d)


def test_a_deeply_nested_light_file_is_a_load_error(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    _write_light(d, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        FakingClassifier.load(d)


def test_a_light_file_edited_after_saving_is_not_used(tmp_path, transcripts):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    data = json.loads((d / LIGHT_FILE).read_text(encoding="utf-8"))
    data["combiner"]["intercept"] += 20.0  # the model.skops hash still matches; model.json's light hash does not
    (d / LIGHT_FILE).write_text(json.dumps(data), encoding="utf-8")
    clf = FakingClassifier.load(d)
    assert type(clf.pipeline_).__name__ == "Pipeline"
    ref = FakingClassifier.load(shipped_model_dir("rules-only"))
    np.testing.assert_allclose(clf.predict_proba(transcripts), ref.predict_proba(transcripts), atol=1e-12)


def test_a_calibrator_of_another_kind_than_model_json_says_is_a_load_error(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    data = json.loads((d / LIGHT_FILE).read_text(encoding="utf-8"))
    data["calibrator"] = {"kind": "isotonic", "x": [-5.0, 5.0], "y": [0.0, 1.0]}
    _write_light(d, data)
    with pytest.raises(ModelLoadError, match="calibration 'sigmoid'"):
        FakingClassifier.load(d)
    (d / LIGHT_FILE).unlink()
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["params"]["calibration"] = "isotonic"  # model.skops holds a Platt calibrator
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="calibration 'isotonic'"):
        FakingClassifier.load(d)
