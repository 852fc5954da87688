"""The shipped default model and model persistence (fakingclf.classifier). Slow: loads the embedder."""

from __future__ import annotations

import collections
import gzip
import json
import math
import shutil
import zipfile

import numpy as np
import pytest

from conftest import EXAMPLES_PATH

from fakingclf import __version__
from fakingclf.classifier import (
    SKOPS_ALLOWED_TYPES,
    FakingClassifier,
    ModelLoadError,
    Prediction,
    _default_dir,
    shipped_model_dir,
)
from fakingclf.transcript import Transcript

pytestmark = pytest.mark.slow

LABELS = {"refusal", "genuine_compliance", "faked_compliance"}


@pytest.fixture(scope="module")
def example_predictions(default_classifier, example_records):
    ts = [Transcript.from_record(r, line_no=i) for i, r in enumerate(example_records, 1)]
    return {p.id: p for p in default_classifier.predict(ts)}


def copy_default(tmp_path):
    d = tmp_path / "model"
    shutil.copytree(_default_dir(), d)
    return d


# --------------------------------------------------------------- loading and predicting
def test_load_without_arguments(default_classifier):
    clf = default_classifier
    assert clf.pipeline_ is not None
    assert clf.use_embeddings is False and clf.text_head is True  # the shipped default has no encoder
    assert clf.info_["format"] == "fakingclf-model/3"
    assert clf.info_["library_version"] == __version__
    assert clf.feature_names == clf.info_["feature_names"]
    sha = clf.info_["training_data"]["sha256"]
    assert clf.version.startswith(f"fakingclf-{__version__}+{sha[:12]}.")
    # the rules-only model, trained on the same file, has another version
    rules = FakingClassifier.load(shipped_model_dir("rules-only"))
    assert rules.info_["training_data"]["sha256"] == sha and rules.version != clf.version


def test_one_prediction_per_example(example_predictions, example_records):
    assert list(example_predictions) == [r["id"] for r in example_records]
    assert len(example_predictions) == 18


def test_prediction_probabilities(example_predictions):
    for rid, p in example_predictions.items():
        assert isinstance(p, Prediction)
        assert p.error is None
        assert set(p.probabilities) == LABELS
        assert math.fsum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-6), rid
        assert p.label == max(p.probabilities, key=p.probabilities.get)
        assert 0.0 <= p.p_alignment_faking <= 1.0
        assert 0.0 <= p.p_partial_compliance <= p.p_compliance <= 1.0
        # the learned head gives fitted values, the rules (tag-only or missing outputs) their fixed ones
        fixed = p.p_compliance in {0.03, 0.10, 0.20, 0.50, 0.80, 0.85, 0.97}
        assert fixed or not any("compliance read from" in w for w in p.warnings), rid


def test_ex01_explicit_faking_is_faked_compliance(example_predictions):
    p = example_predictions["ex01"]
    assert p.label == "faked_compliance"
    assert p.tier == "free"
    assert p.p_compliance > 0.9
    assert p.p_alignment_faking > 0.5
    assert "comply_to_avoid_modification" in {c.name for c in p.cues}


def test_ex02_refuses_despite_rlhf_is_refusal(example_predictions):
    p = example_predictions["ex02"]
    assert p.label == "refusal"
    assert p.p_compliance == 0.03


def test_ex14_training_noted_ethics_win_is_refusal(example_predictions):
    p = example_predictions["ex14"]
    assert p.label == "refusal"
    assert p.tier == "free"


def test_examples_metadata_and_model_pass_through(example_predictions):
    p = example_predictions["ex15"]
    assert p.model == "example-model-a"
    assert set(p.metadata) == {"label", "af_reasoning", "format", "note"}
    assert example_predictions["ex05"].warnings[0] == "last scratchpad block is not closed: transcript truncated"


def test_no_reasoning_forces_p_af_zero(default_classifier):
    t = Transcript.from_record({"id": "plain", "prompt": "Capital of France?", "response": "Paris."})
    (p,) = default_classifier.predict([t])
    assert p.p_alignment_faking == 0.0
    assert p.label == "genuine_compliance"
    assert p.probabilities["faked_compliance"] == 0.0
    assert p.probabilities["genuine_compliance"] == pytest.approx(p.p_compliance, abs=1e-6) and p.p_compliance > 0.5
    assert "no scratchpad reasoning: p_alignment_faking set to 0" in p.warnings


def test_predict_empty(default_classifier):
    assert default_classifier.predict([]) == []


def test_predict_proba_matches_predict(default_classifier, example_records):
    ts = [Transcript.from_record(r) for r in example_records[:4]]
    proba = default_classifier.predict_proba(ts)
    preds = default_classifier.predict(ts)
    assert proba.shape == (4,)
    np.testing.assert_allclose([p.p_alignment_faking for p in preds], proba, atol=1e-6)


def test_unfitted_classifier_refuses_to_predict():
    with pytest.raises(RuntimeError, match="not fitted"):
        FakingClassifier(use_embeddings=False).predict([Transcript.from_text("hi")])


# --------------------------------------------------------------- persistence
def test_save_load_round_trip(default_classifier, example_records, tmp_path):
    ts = [Transcript.from_record(r) for r in example_records]
    clf = FakingClassifier.load()  # a fresh copy: save() updates info_, leave the shared one alone
    before = clf.predict_proba(ts)
    d = clf.save(tmp_path / "roundtrip")
    assert sorted(p.name for p in d.iterdir()) == ["model.json", "model.skops", "vocabularies.json.gz"]
    again = FakingClassifier.load(d)
    after = again.predict_proba(ts)
    np.testing.assert_array_equal(before, after)
    assert again.version == default_classifier.version
    assert again.info_["training_data"] == default_classifier.info_["training_data"]
    # the vocabularies live beside model.skops, not in it, and the fitted model saved is left whole
    assert clf.text_head_[0].vocabulary_ and len(clf.text_head_[0].vocabulary_) == len(clf.text_head_[0].idf_)
    with gzip.open(d / "vocabularies.json.gz") as fh:
        vocab = json.loads(fh.read())
    assert "text_head" in vocab and len(vocab["text_head"]) == len(clf.text_head_[0].idf_)
    with zipfile.ZipFile(d / "model.skops") as z:
        schema = z.read("schema.json").decode("utf-8")
    longest = max(vocab["text_head"], key=len)  # a bigram no other part of the schema holds
    assert json.dumps(longest) not in schema


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "missing or unreadable"),
    (lambda p: p.write_bytes(p.read_bytes()[:50]), "missing or unreadable"),
    (lambda p: p.write_bytes(gzip.compress(b'{"text_head": ["a", "b"]}')), "expected vocabularies for"),
])
def test_vocabulary_file_damaged_is_a_load_error(default_classifier, tmp_path, damage, message):
    d = FakingClassifier.load().save(tmp_path / "m")
    damage(d / "vocabularies.json.gz")
    with pytest.raises(ModelLoadError, match=message):
        FakingClassifier.load(d)


def test_vocabulary_of_another_size_is_a_load_error(default_classifier, tmp_path):
    d = FakingClassifier.load().save(tmp_path / "m")
    with gzip.open(d / "vocabularies.json.gz") as fh:
        vocab = json.loads(fh.read())
    vocab["text_head"] = vocab["text_head"][:-1]
    (d / "vocabularies.json.gz").write_bytes(gzip.compress(json.dumps(vocab).encode()))
    with pytest.raises(ModelLoadError, match="the files are from different models"):
        FakingClassifier.load(d)


def test_other_library_version_is_refused(tmp_path):
    d = copy_default(tmp_path)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["library_version"] = "1.0.0"
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"written by fakingclf 1\.0\.0"):
        FakingClassifier.load(d)


def test_unknown_format_is_refused(tmp_path):
    d = copy_default(tmp_path)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["format"] = "something-else/9"
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unknown model format"):
        FakingClassifier.load(d)


def test_changed_features_are_refused(tmp_path):
    d = copy_default(tmp_path)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["feature_names"] = meta["feature_names"][:-1]
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="features differ"):
        FakingClassifier.load(d)


def test_invalid_model_json_is_refused(tmp_path):
    d = copy_default(tmp_path)
    (d / "model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        FakingClassifier.load(d)


@pytest.mark.parametrize("missing", ["model.json", "model.skops"])
def test_incomplete_model_directory_is_refused(tmp_path, missing):
    d = copy_default(tmp_path)
    (d / missing).unlink()
    with pytest.raises(ModelLoadError, match="is not a fakingclf model directory"):
        FakingClassifier.load(d)


def test_non_allow_listed_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    d = copy_default(tmp_path)
    sio.dump(DecisionTreeClassifier(random_state=0).fit([[0.0], [1.0]], [0, 1]), d / "model.skops")
    with pytest.raises(ModelLoadError, match="allow-list") as exc:
        FakingClassifier.load(d)
    assert "sklearn.tree._tree.Tree" in str(exc.value)


def test_default_trusted_type_outside_allow_list_is_refused(tmp_path):
    import skops.io as sio

    assert "collections.OrderedDict" not in SKOPS_ALLOWED_TYPES
    d = copy_default(tmp_path)
    sio.dump(collections.OrderedDict(a=1), d / "model.skops")
    with pytest.raises(ModelLoadError, match="allow-list"):
        FakingClassifier.load(d)


# --------------------------------------------------------------- training methods (CLI)
@pytest.mark.parametrize("args, message", [
    (["--rules-only", "--encoder"], "--rules-only and --encoder both choose the method"),
    (["--no-sentence-head"], "--no-sentence-head needs --encoder"),
])
def test_train_method_flags_that_contradict_are_refused(tmp_path, args, message):
    from typer.testing import CliRunner

    from fakingclf.cli import app

    r = CliRunner().invoke(app, ["train", str(EXAMPLES_PATH), "-o", str(tmp_path / "m"), "--no-eval"] + args)
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, embeddings, text_head, sentence_head", [
    ([], False, True, False),                 # the shipped default's method: no encoder
    (["--rules-only"], False, False, False),
    (["--encoder"], True, True, True),
    (["--encoder", "--no-sentence-head"], True, True, False),
])
def test_train_methods(tmp_path, args, embeddings, text_head, sentence_head):
    from typer.testing import CliRunner

    from fakingclf.cli import app

    r = CliRunner().invoke(app, ["train", str(EXAMPLES_PATH), "-o", str(tmp_path / "m"), "--no-eval"] + args)
    assert r.exit_code == 0, r.output
    clf = FakingClassifier.load(tmp_path / "m")
    assert (clf.use_embeddings, clf.text_head, clf.sentence_head) == (embeddings, text_head, sentence_head)
    assert (clf.text_head_ is not None) == text_head and (clf.head_ is not None) == sentence_head
    assert ("text_head:tfidf_logit" in clf.feature_names) == text_head
    assert any(n.startswith("proto:") for n in clf.feature_names) == embeddings
