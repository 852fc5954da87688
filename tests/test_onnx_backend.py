"""The int8 ONNX Runtime encoder backend (fakingclf.onnx_backend) and how the model chooses it."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES_PATH
from fakingclf import onnx_backend as ob
from fakingclf.embed import Embedder, default_model_path, split_units

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """One export for the module, in a folder of its own (not the user's cache)."""
    d = tmp_path_factory.mktemp("onnx")
    old = os.environ.get("FAKINGCLF_ONNX_DIR")
    os.environ["FAKINGCLF_ONNX_DIR"] = str(d)
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("FAKINGCLF_ONNX_DIR", None)
        else:
            os.environ["FAKINGCLF_ONNX_DIR"] = old


def _units() -> list[str]:
    """The sentence units of the 18 hand-written examples' scratchpads (every layout)."""
    from conftest import load_examples
    from fakingclf.transcript import Transcript

    texts = [Transcript.from_record(r, i + 1).scratchpad for i, r in enumerate(load_examples())]
    return [u for t in texts for u in split_units(t)]


def test_backend_names_are_checked():
    with pytest.raises(ValueError, match="backend must be one of torch, onnx"):
        Embedder(backend="int8")
    from fakingclf.classifier import FakingClassifier

    with pytest.raises(ValueError, match="backend must be auto, torch, onnx"):
        FakingClassifier().set_backend("cuda")


def test_cache_namespaces_differ_by_backend():
    t, q = Embedder(backend="torch"), Embedder(backend="onnx")
    assert q.cache_namespace() != t.cache_namespace()
    assert q.cache_namespace().startswith(t.cache_namespace())  # same model and unit length, plus the backend
    assert t.cache_namespace().startswith("minilm-units/1|") and "backend" not in t.cache_namespace()


@pytest.mark.slow
def test_auto_follows_what_training_chose(monkeypatch, tmp_path):
    import fakingclf.embed as embed
    from fakingclf.classifier import FakingClassifier

    monkeypatch.setenv("FAKINGCLF_ONNX_DIR", str(tmp_path))  # its own export, not the user's cache
    monkeypatch.setattr(embed, "_ONNX", {})

    clf = FakingClassifier(use_embeddings=True)
    assert clf.set_backend("auto") == "torch"  # training did not check: float
    clf.info_ = {"encoder_backend": {"default": "onnx"}}
    assert clf.set_backend("auto") == "onnx" and clf.embedder.backend == "onnx"
    assert clf.version.endswith(".onnx-int8")  # labels say which backend made them
    assert clf.set_backend("torch") == "torch" and clf.embedder.backend == "torch"  # the embedder is replaced
    assert ".onnx" not in clf.version
    said = []
    monkeypatch.setattr(embed, "_ONNX", {})  # the encoder loaded above would hide the missing runtime
    monkeypatch.setattr(ob, "available", lambda: "the ONNX backend needs onnx and onnxruntime (test)")
    assert clf.set_backend("auto", log=said.append) == "torch"
    assert said and "using torch" in said[0]
    with pytest.raises(ValueError, match="needs onnx and onnxruntime"):
        clf.set_backend("onnx")
    with pytest.raises(AttributeError):
        clf.backend = "onnx"  # read-only: the encoder and the version tag can only change together
    plain = FakingClassifier()  # no encoder: any backend is accepted and none is loaded
    assert plain.set_backend("onnx") == "onnx" and plain._embedder is None
    assert ".onnx" not in plain.version  # it uses no encoder, so its labels are the same


def test_a_classifier_with_a_console_log_still_pickles():
    from rich.console import Console

    from fakingclf.classifier import FakingClassifier

    clf = FakingClassifier(use_embeddings=True)
    clf.set_backend("onnx", log=Console(stderr=True).print)
    _ = clf.embedder  # created, holding the log too
    back = pickle.loads(pickle.dumps(clf))
    assert back.backend == "onnx" and back.embedder.backend == "onnx" and back._backend_log is None


@pytest.mark.slow
def test_export_and_agreement_with_torch(export_dir):
    said = []
    path = ob.ensure_exported(default_model_path(), log=said.append)
    assert path.parent.parent == export_dir and path.name == "model.int8.onnx"
    assert said and said[0].startswith("exporting the encoder to int8 ONNX")
    manifest = json.loads((path.parent / "manifest.json").read_text("utf-8"))
    assert manifest["sha256"] == ob._sha256(path) and manifest["recipe"] == ob.RECIPE_VERSION
    assert 10e6 < path.stat().st_size < 40e6  # int8 weights: about a quarter of the 90 MB float graph
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json", "model.int8.onnx"]

    units = _units()
    q = Embedder(backend="onnx").model
    t = Embedder(backend="torch").model
    Q = q.encode(units, batch_size=16)
    T = t.encode(units, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    assert Q.shape == T.shape == (len(units), 384) and Q.dtype == np.float32
    assert np.allclose(np.linalg.norm(Q, axis=1), 1.0, atol=1e-4)
    cos = (Q * T).sum(axis=1)
    assert cos.mean() > 0.97 and cos.min() > 0.85, (cos.mean(), cos.min())
    # a sentence's embedding does not depend on what else is embedded with it, nor on the order
    R = q.encode(units[::-1], batch_size=7)
    assert np.allclose(R[::-1], Q, atol=1e-6)
    assert np.allclose(q.encode(units[5:6])[0], Q[5], atol=1e-6)
    assert q.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_a_damaged_export_is_made_again(export_dir):
    path = ob.ensure_exported(default_model_path())
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert not ob._valid(path.parent)
    said = []
    again = ob.ensure_exported(default_model_path(), log=said.append)
    assert again == path and said and ob._valid(path.parent)
    assert os.path.getsize(again) > 10e6 and ob._sha256(again) == json.loads(
        (path.parent / "manifest.json").read_text("utf-8"))["sha256"]


def test_an_unwritable_export_folder_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FAKINGCLF_ONNX_DIR", str(blocker))
    with pytest.raises(ob.BackendError, match="cannot write the ONNX export .*FAKINGCLF_ONNX_DIR"):
        ob.ensure_exported(default_model_path())
    assert blocker.read_text() == "x"


def test_a_model_with_other_pooling_is_refused(tmp_path):
    d = tmp_path / "m"
    (d / "1_Pooling").mkdir(parents=True)
    (d / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (d / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True,
                                                             "pooling_mode_mean_tokens": False}))
    with pytest.raises(ob.BackendError, match="is not mean pooling"):
        ob.export(str(d), tmp_path / "out")


@pytest.mark.slow
def test_export_cli_leaves_other_files_alone(tmp_path, export_dir):
    from typer.testing import CliRunner

    from fakingclf.cli import app

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = CliRunner().invoke(app, ["export-onnx", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "keep me" and ob._valid(out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.int8.onnx", "notes.txt"]
    r = CliRunner().invoke(app, ["export-onnx", "--out", str(out / "notes.txt")])
    assert r.exit_code == 2 and "is not a folder" in " ".join(r.output.split())


@pytest.mark.slow
def test_label_backend_option(tmp_path):
    from typer.testing import CliRunner

    from fakingclf.cli import app

    r = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--rules-only", "--backend", "int4"])
    assert r.exit_code == 2 and "--backend must be auto, torch, onnx" in " ".join(r.output.split())
    assert "loading model" not in r.output and "no effect" not in r.output  # refused before anything loads
    r = CliRunner().invoke(app, ["evaluate", str(EXAMPLES_PATH), "--rules-only", "--backend", "onnx"])
    assert r.exit_code == 0 and "--backend onnx has no effect: this model has no encoder" in " ".join(r.output.split())
    a = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--rules-only", "-o", str(tmp_path / "a.jsonl")])
    b = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--rules-only", "--backend", "onnx",
                                 "-o", str(tmp_path / "b.jsonl")])
    assert a.exit_code == 0 and b.exit_code == 0
    assert "--backend onnx has no effect: this model has no encoder" in " ".join(b.output.split())
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


@pytest.mark.slow
@pytest.mark.shared
def test_backend_check_out_of_fold(export_dir):
    """The training-time check on 100 synthetic transcripts: both AUROCs, and the rule that picks the default."""
    path = SHARED / "af_contrast_synthetic.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared data sits beside the repository)")
    from fakingclf.classifier import FakingClassifier
    from fakingclf.train import backend_check, load_labeled

    ts, y, groups, _ = load_labeled([str(path)], "label", group_field="origin")
    keep = np.random.default_rng(0).permutation(len(ts))[:100]
    ts, y, groups = [ts[i] for i in keep], y[keep], groups[keep]
    params = dict(use_embeddings=True, text_head=False)
    F, _ = FakingClassifier(**params).featurize(ts)
    said = []
    b = backend_check(F, y, groups, lambda: FakingClassifier(**params), log=said.append)
    assert b["checked"] and b["n"] == 100 and b["folds"] == 5 and said
    assert 0.5 < b["auroc"]["torch"] <= 1 and 0.5 < b["auroc"]["onnx"] <= 1
    assert 0 < b["max_abs_diff_p"] < 0.5 and 0.8 <= b["label_agreement"] <= 1
    want = "onnx" if b["auroc"]["onnx"] >= b["auroc"]["torch"] - ob.AUROC_TOLERANCE else "torch"
    assert b["default"] == want


@pytest.mark.slow
def test_an_encoder_model_labels_with_either_backend(tmp_path, export_dir):
    from typer.testing import CliRunner

    from fakingclf.cli import app

    r = CliRunner().invoke(app, ["train", str(EXAMPLES_PATH), "-o", str(tmp_path / "m"), "--no-eval", "--encoder"])
    assert r.exit_code == 0, r.output
    assert "encoder_backend" not in json.loads((tmp_path / "m" / "model.json").read_text())  # --no-eval: unchecked
    out = {}
    for b in ("auto", "torch", "onnx"):
        r = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--model", str(tmp_path / "m"), "--backend", b,
                                     "-o", str(tmp_path / f"{b}.jsonl")])
        assert r.exit_code == 0, r.output
        if b == "auto":
            said_auto = r.output
        out[b] = [json.loads(x) for x in (tmp_path / f"{b}.jsonl").read_text().splitlines()]
    assert out["auto"] == out["torch"]  # an unchecked model stays on the float encoder
    assert "encoder backend: torch (the model's default" in said_auto
    assert all(not x["model_version"].endswith(".onnx-int8") for x in out["torch"])
    assert all(x["model_version"] == out["torch"][0]["model_version"] + ".onnx-int8" for x in out["onnx"])
    pt = np.array([x["p_alignment_faking"] for x in out["torch"]])
    pq = np.array([x["p_alignment_faking"] for x in out["onnx"]])
    assert len(pt) == len(pq) == 18 and np.abs(pt - pq).max() < 0.2 and np.abs(pt - pq).max() > 0
    assert sum(a["label"] == b["label"] for a, b in zip(out["torch"], out["onnx"])) >= 16
    # a model whose training chose onnx loads with it, from the API and with --backend auto
    from fakingclf.classifier import FakingClassifier

    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["encoder_backend"] = {"default": "onnx", "checked": True}
    meta_path.write_text(json.dumps(meta))
    assert FakingClassifier.load(tmp_path / "m").backend == "onnx"
    r = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--model", str(tmp_path / "m"),
                                 "-o", str(tmp_path / "auto2.jsonl")])
    assert r.exit_code == 0, r.output
    assert [json.loads(x) for x in (tmp_path / "auto2.jsonl").read_text().splitlines()] == out["onnx"]


@pytest.mark.slow
def test_an_unusable_export_folder_stops_a_run_once(tmp_path, monkeypatch, export_dir):
    """--backend onnx fails before labeling; auto falls back to torch, saying so; training still saves."""
    from typer.testing import CliRunner

    import fakingclf.embed as embed
    from fakingclf.cli import app

    r = CliRunner().invoke(app, ["train", str(EXAMPLES_PATH), "-o", str(tmp_path / "m"), "--no-eval", "--encoder"])
    assert r.exit_code == 0, r.output
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["encoder_backend"] = {"default": "onnx", "checked": True}
    meta_path.write_text(json.dumps(meta))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("FAKINGCLF_ONNX_DIR", str(blocker))
    monkeypatch.setattr(embed, "_ONNX", {})  # no encoder loaded earlier in this process
    r = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--model", str(tmp_path / "m"), "--backend", "onnx",
                                 "-o", str(tmp_path / "q.jsonl")])
    flat = " ".join(r.output.split())
    assert r.exit_code == 2 and "cannot write the ONNX export" in flat and not (tmp_path / "q.jsonl").exists()
    r = CliRunner().invoke(app, ["label", str(EXAMPLES_PATH), "--model", str(tmp_path / "m"),
                                 "-o", str(tmp_path / "auto.jsonl")])
    flat = " ".join(r.output.split())
    assert r.exit_code == 0 and "default backend is onnx, but cannot write the ONNX export" in flat
    assert "encoder backend: torch" in flat
    rows = [json.loads(x) for x in (tmp_path / "auto.jsonl").read_text().splitlines()]
    assert len(rows) == 18 and all(x["error"] is None and not x["model_version"].endswith(".onnx-int8")
                                   for x in rows)
    r = CliRunner().invoke(app, ["export-onnx"])
    assert r.exit_code == 2 and "cannot write the ONNX export" in " ".join(r.output.split())
    r = CliRunner().invoke(app, ["evaluate", str(EXAMPLES_PATH), "--model", str(tmp_path / "m"), "--backend", "onnx"])
    assert r.exit_code == 2 and "cannot write the ONNX export" in " ".join(r.output.split())

    from fakingclf.classifier import FakingClassifier
    from fakingclf.train import backend_check

    clf = FakingClassifier.load(tmp_path / "m")
    assert clf.backend == "torch"  # load's auto fell back too
    from fakingclf.transcript import Transcript
    from conftest import load_examples

    ts = [Transcript.from_record(x, i + 1) for i, x in enumerate(load_examples())]
    F, _ = clf.featurize(ts)
    said = []
    b = backend_check(F, np.zeros(len(ts), dtype=int), np.arange(len(ts)), FakingClassifier, log=said.append)
    assert b["checked"] is False and b["default"] == "torch" and "cannot write" in b["why"]
    assert any(s.startswith("warning: the int8 ONNX backend could not be checked") for s in said)


def test_a_fifo_manifest_is_not_opened(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    (d / ob.FILE).write_bytes(b"x")
    os.mkfifo(d / "manifest.json")
    assert ob._valid(d) is False  # returns at once instead of blocking on the FIFO


def test_stale_work_folders_are_removed(tmp_path):
    old, new = tmp_path / ".export-old", tmp_path / ".export-new"
    for d in (old, new):
        d.mkdir()
        (d / "float.onnx").write_bytes(b"x" * 10)
    os.utime(old, (0, 0))
    (tmp_path / "keep.txt").write_text("mine")
    ob._remove_stale_work(tmp_path)
    assert not old.exists() and new.exists() and (tmp_path / "keep.txt").read_text() == "mine"
