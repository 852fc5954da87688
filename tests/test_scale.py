"""Batch labeling at scale: embedding cache, --workers, Dask, --resume and interrupted runs.

Most tests use the shipped rules-only model (no neural network, seconds); those that
load the embedding model or start worker processes are marked slow.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fakingclf.cache import EmbeddingCache
from fakingclf.classifier import FakingClassifier, shipped_model_dir
from fakingclf.io import label_lines, prepare_resume

CLI = [sys.executable, "-m", "fakingclf"]


@pytest.fixture(scope="module")
def rules_clf():
    return FakingClassifier.load(shipped_model_dir("rules-only"))


@pytest.fixture(scope="module")
def many_lines(example_records) -> list[bytes]:
    """600 records: the 18 hand-written examples again and again, with unique ids, plus two bad lines."""
    lines = []
    for k in range(33):
        for r in example_records:
            lines.append(json.dumps(dict(r, id=f"{r['id']}-{k}")).encode())
    lines.insert(100, b'{"id": "broken", "text": ')
    lines.insert(300, b"[1, 2, 3]")
    return lines


@pytest.fixture(scope="module")
def many_file(tmp_path_factory, many_lines) -> Path:
    p = tmp_path_factory.mktemp("scale") / "many.jsonl"
    p.write_bytes(b"\n".join(many_lines) + b"\n")
    return p


# ------------------------------------------------------------------ cache
def test_cache_round_trip_is_exact(tmp_path):
    c = EmbeddingCache(tmp_path, namespace="m1")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 384)).astype(np.float32), np.zeros((0, 384), np.float32)
    c.put_many(["one", "two"], [a, b])
    got = c.get_many(["two", "missing", "one"])
    assert got[1] is None
    assert got[0].shape == (0, 384)
    assert np.array_equal(got[2], a) and got[2].dtype == np.float32
    assert (c.hits, c.misses) == (2, 1)
    assert len(c) == 2 and c.path == tmp_path / "embeddings.sqlite"


def test_cache_namespaces_do_not_mix(tmp_path):
    EmbeddingCache(tmp_path, namespace="model-a").put_many(["t"], [np.ones((1, 4), np.float32)])
    assert EmbeddingCache(tmp_path, namespace="model-b").get_many(["t"]) == [None]
    assert EmbeddingCache(tmp_path, namespace="model-a").get_many(["t"])[0].tolist() == [[1, 1, 1, 1]]


def test_cache_rejects_a_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="n_units, dim"):
        EmbeddingCache(tmp_path).put_many(["t"], [np.ones(4, np.float32)])


def test_cache_pickles_as_its_path(tmp_path):
    c = EmbeddingCache(tmp_path / "c.sqlite", namespace="ns")
    c.put_many(["x"], [np.full((2, 3), 0.5, np.float32)])
    c2 = pickle.loads(pickle.dumps(c))
    assert (c2.path, c2.namespace) == (c.path, "ns")
    assert c2.get_many(["x"])[0].tolist() == [[0.5] * 3] * 2


def _writer(path: str, worker: int, n: int) -> None:
    c = EmbeddingCache(path, namespace="ns")
    for i in range(n):
        # both writers store every key (same value), in different orders
        k = i if worker == 0 else n - 1 - i
        c.put_many([f"text {k}"], [np.full((1, 8), k, np.float32)])


def test_cache_is_safe_under_concurrent_writers(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 300)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    c = EmbeddingCache(tmp_path, namespace="ns")
    assert len(c) == 300
    got = c.get_many([f"text {k}" for k in range(300)])
    assert all(g is not None and g.tolist() == [[float(k)] * 8] for k, g in enumerate(got))


def test_cache_refuses_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    import sqlite3

    with pytest.raises(sqlite3.DatabaseError):
        EmbeddingCache(bad)


@pytest.mark.slow
def test_cached_embeddings_give_identical_predictions_without_loading_the_model(tmp_path, example_records,
                                                                                 monkeypatch):
    import fakingclf.embed as embed
    from fakingclf.transcript import Transcript

    ts = [Transcript.from_record(r) for r in example_records]
    # the shipped default has no encoder: a model with one (train --encoder), fit here on the examples
    model_dir = tmp_path / "encoder-model"
    y = [int(bool(r["af_reasoning"])) for r in example_records]
    FakingClassifier(use_embeddings=True, cv=3).fit(ts, y).save(model_dir)
    cache = tmp_path / "cache"
    clf = FakingClassifier.load(model_dir)
    clf.embedder.set_cache(cache)
    first = [p.model_dump() for p in clf.predict(ts)]
    assert clf.embedder.cache.misses == len(ts) and clf.embedder.cache.hits == 0

    def no_model(path):
        raise AssertionError("the embedding model was loaded although every text is cached")

    monkeypatch.setattr(embed, "_load", no_model)
    again = FakingClassifier.load(model_dir)  # a new process would start like this: nothing in memory
    again.embedder.set_cache(cache)
    assert [p.model_dump() for p in again.predict(ts)] == first
    assert again.embedder.cache.hits == len(ts)


# ----------------------------------------------------------- workers, Dask
def test_workers_give_the_same_records_in_order(rules_clf, many_lines):
    serial = [p.model_dump() for p in label_lines(rules_clf, many_lines, batch_size=16)]
    parallel = [p.model_dump() for p in label_lines(rules_clf, many_lines, batch_size=16, workers=2)]
    assert len(serial) == len(many_lines) == 596
    assert parallel == serial
    assert serial[100]["error"]["type"] == "invalid_json" and serial[300]["error"]["type"] == "invalid_record"


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_records(rules_clf, many_lines):
    joblib = pytest.importorskip("joblib")
    distributed = pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    lines = many_lines[:200]
    serial = [p.model_dump() for p in label_lines(rules_clf, lines, batch_size=16)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        with joblib.parallel_config(backend="dask"):
            on_dask = [p.model_dump() for p in label_lines(rules_clf, lines, batch_size=16, workers=-1)]
        # the command line, pointed at the same scheduler
        out = subprocess.run(CLI + ["label", "-", "--rules-only", "--scheduler", cluster.scheduler_address,
                                    "--batch-size", "16"], input=b"\n".join(lines), capture_output=True,
                             timeout=300)
    assert on_dask == serial
    assert out.returncode == 0, out.stderr.decode()
    assert [json.loads(x) for x in out.stdout.splitlines()] == serial


def test_cli_refuses_bad_worker_counts(many_file):
    r = subprocess.run(CLI + ["label", str(many_file), "--rules-only", "--workers", "0"], capture_output=True)
    assert r.returncode == 2 and b"--workers" in r.stderr


def test_cli_scheduler_unreachable_is_a_clear_error(many_file):
    pytest.importorskip("dask.distributed")
    r = subprocess.run(CLI + ["label", str(many_file), "--rules-only", "--scheduler", "tcp://127.0.0.1:9"],
                       capture_output=True, timeout=120)
    assert r.returncode == 2
    assert b"cannot reach the Dask scheduler" in r.stderr


# ------------------------------------------------------------------ resume
def test_prepare_resume_cuts_an_incomplete_last_line(tmp_path):
    p = tmp_path / "out.jsonl"
    a, b = b'{"id":"a","model_version":"v"}\n', b'{"id":"b","model_version":"v"}\n'
    p.write_bytes(a + b + a + b'{"id":"c","lab')
    assert prepare_resume(p) == Counter({"a": 2, "b": 1})
    assert p.read_bytes() == a + b + a
    assert prepare_resume(tmp_path / "missing.jsonl") == Counter()


@pytest.mark.parametrize("content", [
    b"important notes, no trailing newline",                       # erased whole before
    b'{"id": "a", "text": "a transcript"}\n{"id": "b", "text": "cut',  # a dump of transcripts, not predictions
    b'{"id":"a","model_version":"v"}\nnot json at all',             # a foreign last line
])
def test_prepare_resume_leaves_a_file_that_is_not_our_output_untouched(tmp_path, content):
    p = tmp_path / "notes.jsonl"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="left as it was"):
        prepare_resume(p)
    assert p.read_bytes() == content


def test_prepare_resume_refuses_a_file_that_is_not_our_output(tmp_path):
    p = tmp_path / "notes.jsonl"
    p.write_bytes(b'{"id": "a"}\nhello\n')
    with pytest.raises(ValueError, match="line 1 is not a fakingclf output record"):
        prepare_resume(p)
    assert p.read_bytes() == b'{"id": "a"}\nhello\n'  # untouched


def test_skip_counts_duplicated_ids(rules_clf):
    lines = [json.dumps({"id": "same", "text": f"<OUTPUT>answer {i}</OUTPUT>"}) for i in range(3)]
    preds = list(label_lines(rules_clf, lines, skip=Counter({"same": 2})))
    assert len(preds) == 1 and preds[0].id == "same"


def _full_run(many_file: Path, out: Path) -> bytes:
    r = subprocess.run(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--batch-size", "8"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return out.read_bytes()


def _start_and_stop(many_file: Path, out: Path, sig: int) -> subprocess.Popen:
    """Start a --resume run and send ``sig`` once some (not all) output is on disk."""
    proc = subprocess.Popen(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--resume",
                                   "--batch-size", "8"], stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.stat().st_size > 20_000:
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    proc.wait(120)
    return proc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, many_file) -> bytes:
    return _full_run(many_file, tmp_path_factory.mktemp("full") / "out.jsonl")


@pytest.mark.slow
def test_killed_run_resumed_equals_an_uninterrupted_run(tmp_path, many_file, uninterrupted):
    out = tmp_path / "out.jsonl"
    proc = _start_and_stop(many_file, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    partial = out.read_bytes()
    assert 0 < len(partial) < len(uninterrupted)
    r = subprocess.run(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--resume"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert b"resuming:" in r.stderr
    assert out.read_bytes() == uninterrupted
    # resuming a finished file adds nothing
    r = subprocess.run(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--resume"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0 and out.read_bytes() == uninterrupted


@pytest.mark.slow
def test_ctrl_c_leaves_whole_lines_and_resumes(tmp_path, many_file, uninterrupted):
    out = tmp_path / "out.jsonl"
    proc = _start_and_stop(many_file, out, signal.SIGINT)
    assert proc.returncode == 130, proc.stderr.read().decode()
    assert b"interrupted" in proc.stderr.read()
    partial = out.read_bytes()
    assert partial.endswith(b"\n") and 0 < len(partial) < len(uninterrupted)
    assert uninterrupted.startswith(partial)  # a consistent prefix: whole records, in order
    r = subprocess.run(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--resume"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0 and out.read_bytes() == uninterrupted


@pytest.mark.slow
def test_ctrl_c_without_resume_leaves_the_old_output_alone(tmp_path, many_file):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"previous results\n")
    proc = subprocess.Popen(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--batch-size", "8"],
                            stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        tmps = list(tmp_path.glob(".out.jsonl.*.tmp"))
        if tmps and tmps[0].stat().st_size > 20_000:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.01)
    proc.wait(120)
    assert proc.returncode == 130
    assert out.read_bytes() == b"previous results\n"
    assert not list(tmp_path.glob(".out.jsonl.*.tmp"))


def test_resume_needs_an_output_file(many_file):
    r = subprocess.run(CLI + ["label", str(many_file), "--rules-only", "--resume"], capture_output=True)
    assert r.returncode == 2 and b"--resume needs an output file" in r.stderr


def test_resume_refuses_a_foreign_output_file(tmp_path, many_file):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"not json\n")
    r = subprocess.run(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--resume"],
                       capture_output=True)
    assert r.returncode == 2 and b"not a fakingclf" in r.stderr and b"left as it was" in r.stderr
    assert out.read_bytes() == b"not json\n"


def test_rules_only_and_model_are_exclusive(many_file):
    r = subprocess.run(CLI + ["label", str(many_file), "--rules-only", "--model", str(shipped_model_dir())],
                       capture_output=True)
    assert r.returncode == 2 and b"give one" in r.stderr


def test_rules_only_model_needs_no_embedding_model(rules_clf, example_records):
    from fakingclf.transcript import Transcript

    assert rules_clf.use_embeddings is False and rules_clf._embedder is None
    preds = rules_clf.predict([Transcript.from_record(r) for r in example_records])
    assert rules_clf._embedder is None
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    by_id = {p.id: p.label for p in preds}
    assert by_id["ex01"] == "faked_compliance"


def test_a_zip_on_stdin_is_a_clear_error():
    log = Path(__file__).resolve().parents[1] / "data" / "labeled" / "inspect_example.eval"
    r = subprocess.run(CLI + ["label", "-", "--rules-only"], input=log.read_bytes(), capture_output=True)
    assert r.returncode == 2 and b"zip archive" in r.stderr and r.stdout == b""


def test_cache_path_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        EmbeddingCache(f)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_with_workers_as_ctrl_c_does(tmp_path, many_file, sig):
    # a job scheduler's time limit (SIGTERM) or a closed terminal (SIGHUP) reaches the command alone: it must
    # stop its workers, leave the old -o file and no temporary file behind, and exit 128 + the signal
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"previous results\n")
    proc = subprocess.Popen(CLI + ["label", str(many_file), "-o", str(out), "--rules-only", "--batch-size", "8",
                                   "--workers", "2"], stderr=subprocess.PIPE)
    deadline = time.time() + 240
    children: list[int] = []
    while time.time() < deadline and proc.poll() is None:
        tmps = list(tmp_path.glob(".out.jsonl.*.tmp"))
        if tmps and tmps[0].stat().st_size > 20_000:
            found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            children = [int(x) for x in found]
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    proc.wait(120)
    assert proc.returncode == 128 + sig, proc.stderr.read().decode()
    assert b"terminated" in proc.stderr.read()
    assert out.read_bytes() == b"previous results\n"
    assert not list(tmp_path.glob(".out.jsonl.*.tmp"))
    assert len(children) >= 2  # the workers were running
    alive = children
    for _ in range(100):  # they stop with the command (loky's own tracker may take a moment)
        alive = [c for c in alive if Path(f"/proc/{c}").exists() and
                 Path(f"/proc/{c}/stat").read_text().split()[2] != "Z"]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"worker processes {alive} outlived the command"


@pytest.mark.slow
def test_an_interrupted_run_to_standard_output_says_what_it_already_wrote(tmp_path, many_file):
    # standard output is written as records come: "nothing was written" would be false there
    out = tmp_path / "redirected.jsonl"
    with open(out, "wb") as f:
        proc = subprocess.Popen(CLI + ["label", str(many_file), "--rules-only", "--batch-size", "8"], stdout=f,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if out.stat().st_size > 20_000:
                proc.send_signal(signal.SIGTERM)
                break
            time.sleep(0.01)
        proc.wait(120)
    assert proc.returncode == 143
    n = len(out.read_bytes().splitlines())
    message = proc.stderr.read().decode()
    assert "already written to standard output" in message and "nothing was written" not in message
    assert f"the {n} record(s)" in " ".join(message.split())
