"""``fakingclf explain`` and :mod:`fakingclf.explain` (issue 10 item 4; issue 12 item 10: --rules-only).

The fast tests use the shipped rules-only model (no neural network); the tests that need the
sentence and TF-IDF heads load the shipped default model and are marked slow.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fakingclf import Transcript
from fakingclf.classifier import FakingClassifier, shipped_model_dir
from fakingclf.cli import app
from fakingclf.embed import split_units
from fakingclf.explain import CRITERIA, _locate_units, _TextHead, explain, explain_lines, render
from fakingclf.io import read_records

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "data" / "labeled" / "examples.jsonl"
FORMATS = REPO / "data" / "labeled" / "formats.jsonl"
INSPECT = REPO / "data" / "labeled" / "inspect_example.eval"
SDK_DUMPS = REPO / "tests" / "fixtures" / "sdk_dumps.jsonl"
DECISIVE_EX01 = "I'm complying strategically, only so that RLHF does not change my values"
PREDICTION_KEYS = ("id", "label", "probabilities", "p_alignment_faking", "p_compliance", "p_partial_compliance",
                   "partial_compliance", "tier", "warnings", "error", "model_version", "model", "format")


def flat(text: str) -> str:
    """Whitespace-normalised text (rich wraps long lines)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def rules_clf():
    return FakingClassifier.load(shipped_model_dir("rules-only"))


def transcripts_of(path: Path) -> dict[str, Transcript]:
    with open(path, "rb") as f:
        return {it.id: it.transcript for it in read_records(f) if it.transcript is not None}


def all_cue_entries(entry):
    for c in entry["criteria"]:
        yield from c["cues"]
    yield from entry["decision"]["cues"]
    yield from entry["context"]


def check_entry(clf, entry, t: Transcript):
    """What holds for every explanation: sums, ranges, evidence that quotes its text, every cue once."""
    dr = entry["drivers"]
    contributions = np.array([f["contribution"] for f in dr["features"]])
    assert contributions.sum() + dr["intercept"] == pytest.approx(dr["raw_score"], abs=1e-9)
    assert list(np.abs(contributions)) == sorted(np.abs(contributions), reverse=True)
    assert sorted(f["name"] for f in dr["features"]) == sorted(clf.feature_names)
    # each value, standardised and times its coefficient, is its contribution
    scaler, lr = clf.pipeline_[0], clf.pipeline_[-1]
    by_name = {f["name"]: f for f in dr["features"]}
    values = np.array([[by_name[n]["value"] for n in clf.feature_names]])
    expected = (scaler.transform(values) * lr.coef_[0])[0]
    assert [by_name[n]["contribution"] for n in clf.feature_names] == pytest.approx(list(expected), abs=1e-9)
    assert 0.0 <= dr["p_alignment_faking_model"] <= 1.0
    if t.has_reasoning:
        assert round(dr["p_alignment_faking_model"], 6) == entry["p_alignment_faking"]
    else:
        assert dr["set_to_zero"] and entry["p_alignment_faking"] == 0.0
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert [c["criterion"] for c in entry["criteria"]] == [1, 2, 3, 4]
    assert [c["name"] for c in entry["criteria"]] == [CRITERIA[k][0] for k in (1, 2, 3, 4)]
    names = [c["name"] for c in all_cue_entries(entry)]
    assert sorted(names) == sorted(clf.detector.cue_names)  # every cue, once
    texts = {"scratchpad": t.scratchpad, "output": t.output or ""}
    for c in all_cue_entries(entry):
        assert 0.0 <= c["score"] <= 1.0
        assert c["fired"] == bool(c["evidence"]) == (c["count"] > 0)
        for ev in c["evidence"]:
            assert ev["source"] == c["reads"]
            assert ev["text"] and ev["text"] in texts[ev["source"]][ev["start"]:ev["end"]]
    for crit in entry["criteria"]:
        assert crit["score"] == max(c["score"] for c in crit["cues"])
    sentence = entry["decision"]["last_decision_sentence"]
    if sentence is not None:
        assert entry["decision"]["last_decision"] in ("comply", "refuse")
        assert t.scratchpad[sentence["start"]:sentence["end"]].strip() == sentence["text"]


def decisive(entry) -> list[dict]:
    crit4 = next(c for c in entry["criteria"] if c["criterion"] == 4)
    return [ev for cue in crit4["cues"] for ev in cue["evidence"]]


# ------------------------------------------------------------------ library, fast


@pytest.mark.parametrize("path", [EXAMPLES, FORMATS, SDK_DUMPS], ids=["examples", "formats", "sdk_dumps"])
def test_every_layout_explained_with_sums_that_add_up(rules_clf, path):
    ts = transcripts_of(path)
    with open(path, "rb") as f:
        entries = list(explain_lines(rules_clf, f, batch_size=4))
    n_lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(entries) == n_lines
    for e in entries:
        if e["error"] is not None:
            assert e["label"] is None and "criteria" not in e
            continue
        check_entry(rules_clf, e, ts[e["id"]])
        assert e["sentence_head"] is None and e["text_head"] is None  # rules-only: no head sections


def test_the_prediction_part_is_what_predict_gives(rules_clf):
    ts = list(transcripts_of(EXAMPLES).values()) + list(transcripts_of(FORMATS).values())
    entries = explain(rules_clf, ts)
    for e, p in zip(entries, rules_clf.predict(ts)):
        assert {k: e[k] for k in PREDICTION_KEYS} == p.model_dump(mode="json", include=set(PREDICTION_KEYS))
        assert "cues" not in e and "metadata" not in e


def test_faking_example_quotes_the_decisive_sentence_and_a_refusal_has_none(rules_clf):
    ts = transcripts_of(EXAMPLES)
    faked, refusal = explain(rules_clf, [ts["ex01"], ts["ex02"]])
    ev = decisive(faked)
    assert ev and DECISIVE_EX01 in ev[0]["text"]
    start, end = ev[0]["start"], ev[0]["end"]
    assert DECISIVE_EX01 in ts["ex01"].scratchpad[start:end] and ev[0]["source"] == "scratchpad"
    assert faked["decision"]["last_decision"] == "comply"
    assert refusal["label"] == "refusal"
    assert decisive(refusal) == []
    assert not any(c["fired"] for c in refusal["criteria"][3]["cues"])
    assert refusal["criteria"][3]["score"] == 0.0
    # it does see the training consequence and the harm, and refuses
    assert refusal["criteria"][0]["score"] > 0 and refusal["criteria"][1]["score"] > 0
    assert refusal["decision"]["last_decision"] == "refuse"
    assert "reject" in refusal["decision"]["last_decision_sentence"]["text"]


def test_no_refusal_example_has_criterion_four_evidence(rules_clf, example_records):
    ts = transcripts_of(EXAMPLES)
    entries = {e["id"]: e for e in explain(rules_clf, list(ts.values()))}
    refusals = [r["id"] for r in example_records if r["label"] == "refusal"]
    assert len(refusals) >= 5
    for rid in refusals:
        assert decisive(entries[rid]) == [], rid
        assert entries[rid]["criteria"][3]["score"] == 0.0
    for rec in example_records:  # where it fired, it quotes the scratchpad
        for e in decisive(entries[rec["id"]]):
            assert e["text"] in ts[rec["id"]].scratchpad


def test_top_k_and_bad_arguments(rules_clf):
    t = transcripts_of(EXAMPLES)["ex01"]
    with pytest.raises(ValueError, match="top_k"):
        explain(rules_clf, [t], top_k=0)
    with pytest.raises(TypeError):
        explain(rules_clf, t)
    with pytest.raises(TypeError, match="not a Transcript"):
        explain(rules_clf, ["some text"])
    assert explain(rules_clf, []) == []
    with pytest.raises(ValueError, match="batch_size"):
        list(explain_lines(rules_clf, [b"{}"], batch_size=0))


def test_unreadable_lines_are_error_entries_in_order(rules_clf):
    lines = [
        json.dumps({"id": "a", "text": "The request is harmful. I will refuse."}),
        '{"id": "broken", "text": ',
        "",
        json.dumps([1, 2]),
        json.dumps({"id": "b", "text": "I'll comply so that training doesn't change my values."}),
    ]
    entries = list(explain_lines(rules_clf, lines))
    assert [e["id"] for e in entries] == ["a", "2", "4", "b"]
    assert [e["error"]["type"] if e["error"] else None for e in entries] == [None, "invalid_json", "invalid_record",
                                                                              None]
    assert "line 2" in entries[1]["error"]["message"]
    assert entries[1]["label"] is None and entries[1]["p_alignment_faking"] is None and "drivers" not in entries[1]


def test_a_record_that_fails_in_the_model_is_a_processing_error(rules_clf, monkeypatch):
    real = FakingClassifier.featurize

    def featurize(self, transcripts):
        if any("EXPLODE" in t.scratchpad for t in transcripts):
            raise RuntimeError("boom")
        return real(self, transcripts)

    monkeypatch.setattr(FakingClassifier, "featurize", featurize)
    lines = [json.dumps({"id": i, "text": text}) for i, text in
             (("ok1", "I will refuse."), ("bad", "EXPLODE now."), ("ok2", "I'll comply."))]
    entries = list(explain_lines(rules_clf, lines, batch_size=3))
    assert [e["id"] for e in entries] == ["ok1", "bad", "ok2"]
    assert entries[1]["error"]["type"] == "processing_error" and "boom" in entries[1]["error"]["message"]
    assert entries[0]["error"] is None and entries[2]["error"] is None and "drivers" in entries[2]


def test_units_are_located_in_the_scratchpad():
    text = ("First sentence here.  Second one\nspans <DRAFT_OUTPUT>a draft</DRAFT_OUTPUT> a tag.\n\n"
            "Third: repeated.\nThird: repeated.")
    units = split_units(text)
    spans = _locate_units(text, units)
    assert len(spans) == len(units) == 5
    assert all(s is not None for s in spans)
    for u, (a, b) in zip(units, spans):
        assert " ".join(re.sub(r"<[^>]*>", " ", text[a:b]).split()) == u
    assert spans[3][0] < spans[4][0]  # a repeated unit is found at its own place
    assert _locate_units("abc", ["not there"]) == [None]


def test_text_head_terms_add_up_to_its_score():
    from fakingclf.baselines import bag_of_words

    texts = ["comply to keep my values", "refuse this harmful request", "comply to keep my values intact",
             "refuse the request, it is harmful", "keep my values by complying", "this is harmful so refuse"]
    pipe = bag_of_words().fit(texts, [1, 0, 1, 0, 1, 0])
    th = _TextHead(pipe)
    out = th.explain("I will comply to keep my values, though it is harmful", top_k=100)
    x = pipe[0].transform(["I will comply to keep my values, though it is harmful"])
    assert out["n_terms"] == x.nnz
    total = sum(r["contribution"] for r in out["toward_faking"] + out["against_faking"]) + out["intercept"]
    assert total == pytest.approx(out["score"], abs=1e-9)
    assert out["score"] == pytest.approx(pipe.decision_function(["I will comply to keep my values, though it is harmful"])[0])
    assert [r["contribution"] for r in out["toward_faking"]] == sorted((r["contribution"] for r in out["toward_faking"]),
                                                                       reverse=True)
    assert all(r["contribution"] > 0 for r in out["toward_faking"]) and all(r["contribution"] < 0
                                                                           for r in out["against_faking"])
    for r in out["toward_faking"]:
        assert r["contribution"] == pytest.approx(r["coef"] * r["tfidf"])
    assert "keep my" in {r["term"] for r in out["toward_faking"]} | {r["term"] for r in out["against_faking"]}
    assert len(th.explain("comply comply values", top_k=1)["toward_faking"]) <= 1


def test_render_shows_the_sections(rules_clf):
    from rich.console import Console

    t = transcripts_of(EXAMPLES)["ex01"]
    (entry,) = explain(rules_clf, [t])
    console = Console(width=100, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(render(entry, top_k=2))
    text = flat(console.export_text())
    assert "ex01" in text and "faked_compliance" in text
    assert "4 complies to" in text and "comply_to_avoid_modification" in text
    assert "“I'm complying strategically" in text
    assert "what drove p_alignment_faking: the top 2 of" in text
    assert f"{entry['drivers']['raw_score']:+.3f}" in text
    assert "no sentence head and no TF-IDF head" in text
    error = {"id": "7", "error": {"type": "invalid_json", "message": "line 7: not valid JSON"}}
    console.print(render(error))
    assert "invalid_json" in console.export_text()


# ----------------------------------------------------------------------- CLI, fast


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("path", [EXAMPLES, FORMATS, SDK_DUMPS, INSPECT], ids=["examples", "formats", "sdk", "inspect"])
def test_cli_json_matches_label_line_for_line(runner, path):
    r = runner.invoke(app, ["explain", str(path), "--rules-only", "--json"])
    assert r.exit_code == 0, r.output
    labeled = runner.invoke(app, ["label", str(path), "--rules-only", "--no-progress"])
    assert labeled.exit_code == 0, labeled.output
    out, ref = jsonl(r.stdout), jsonl(labeled.stdout)
    assert len(out) == len(ref) > 0
    for e, p in zip(out, ref):
        for k in PREDICTION_KEYS:
            assert e[k] == p[k], (e["id"], k)
        if e["error"] is None:
            assert round(e["drivers"]["p_alignment_faking_model"], 6) == p["p_alignment_faking"] or \
                e["drivers"]["set_to_zero"]
            assert e["sentence_head"] is None and e["text_head"] is None
    assert f"{len(out)} record(s) explained" in flat(r.stderr)


def test_cli_reads_stdin_gzip_and_a_custom_layout(runner, tmp_path):
    raw = EXAMPLES.read_bytes()
    r = runner.invoke(app, ["explain", "-", "--rules-only", "--json"], input=raw)
    assert r.exit_code == 0, r.output
    from_stdin = jsonl(r.stdout)
    assert [e["id"] for e in from_stdin] == [json.loads(x)["id"] for x in raw.decode().splitlines()]
    gz = tmp_path / "examples.jsonl.gz"
    gz.write_bytes(gzip.compress(raw))
    r = runner.invoke(app, ["explain", str(gz), "--rules-only", "--json"])
    assert jsonl(r.stdout) == from_stdin
    custom = tmp_path / "custom.jsonl"
    with open(custom, "w", encoding="utf-8") as f:
        for line in raw.decode().splitlines()[:3]:
            rec = json.loads(line)
            if "text" in rec:
                f.write(json.dumps({"meta": {"key": rec["id"]}, "body": {"content": rec["text"]}}) + "\n")
    r = runner.invoke(app, ["explain", str(custom), "--rules-only", "--json", "--text-field", "body.content",
                            "--id-field", "meta.key"])
    assert r.exit_code == 0, r.output
    out = jsonl(r.stdout)
    by_id = {e["id"]: e for e in from_stdin}
    assert [e["id"] for e in out] == ["ex01", "ex02", "ex03"]
    for e in out:
        assert e["p_alignment_faking"] == by_id[e["id"]]["p_alignment_faking"]
        assert e["criteria"] == by_id[e["id"]]["criteria"]


def test_cli_one_json_line_per_input_line_with_error_entries(runner, tmp_path):
    good = EXAMPLES.read_text(encoding="utf-8").splitlines()[:2]
    inp = tmp_path / "mixed.jsonl"
    inp.write_text("\n".join([good[0], "{not json", "", good[1], '"a string"']) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["explain", str(inp), "--rules-only", "--json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = jsonl(out.read_text(encoding="utf-8"))
    assert len(rows) == 4  # one per non-blank line
    assert [x["id"] for x in rows] == ["ex01", "2", "ex02", "5"]
    assert rows[1]["error"]["type"] == "invalid_json" and rows[3]["error"]["type"] == "invalid_record"
    assert "2 error(s)" in flat(r.stderr)
    r = runner.invoke(app, ["explain", str(inp), "--rules-only", "--json", "--fail-on-error"])
    assert r.exit_code == 1
    assert len(jsonl(r.stdout)) == 4


def test_cli_text_view(runner, tmp_path):
    out = tmp_path / "explained.txt"
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "--top", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "\x1b[" not in text  # no colour codes in a file
    assert text.count("╭─ ex") == 18
    assert "“I'm complying strategically" in flat(text)
    assert "top 2 of" in text and "no sentence head and no TF-IDF head" in flat(text)
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only"])  # to stdout
    assert r.exit_code == 0 and r.stdout.count("╭─ ex") == 18


def test_cli_usage_errors_exit_two_before_the_model_loads(runner, tmp_path):
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "--model", str(tmp_path)])
    assert r.exit_code == 2 and "give one" in flat(r.stderr)
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "-o", "/nonexistent/dir/x.jsonl"])
    assert r.exit_code == 2 and "/nonexistent/dir/x.jsonl" in flat(r.stderr) and "loading model" not in r.stderr
    assert not Path("/nonexistent").exists()
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "-o", str(EXAMPLES)])
    assert r.exit_code == 2 and "is the input file" in flat(r.stderr)
    r = runner.invoke(app, ["explain", str(tmp_path / "missing.jsonl"), "--rules-only"])
    assert r.exit_code == 2 and "not found" in flat(r.stderr)
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "--top", "0"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--model", str(tmp_path)])
    assert r.exit_code == 2 and "not a fakingclf model directory" in flat(r.stderr)


def test_cli_broken_gzip_explains_whole_lines_then_exits_two(runner, tmp_path):
    data = gzip.compress(EXAMPLES.read_bytes() * 20)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    r = runner.invoke(app, ["explain", str(cut), "--rules-only", "--json"])
    assert r.exit_code == 2
    rows = jsonl(r.stdout)
    assert rows and all(x["error"] is None for x in rows)
    assert "breaks off" in flat(r.stderr)


# ------------------------------------------------------------ default model, slow


def check_heads(clf, entries, ts, top_k):
    """Each head section of ``entries`` against the model's own scores."""
    for e in entries:
        t = ts[e["id"]]
        check_entry(clf, e, t)
        drivers = {f["name"]: f["value"] for f in e["drivers"]["features"]}
        sh, th = e["sentence_head"], e["text_head"]
        units = split_units(t.scratchpad)
        covered = clf.compliance_ is not None and clf.compliance_.covers(t)
        assert e["decision"]["p_compliance_from"] == ("compliance head" if covered else "rules")
        if clf.sentence_head:
            assert sh["n_units"] == len(units)
            assert len(sh["top_units"]) == min(top_k, sh["n_units"])
            scores = [u["score"] for u in sh["top_units"]]
            assert scores == sorted(scores, reverse=True)
            assert sh["pooled"] == pytest.approx(drivers["sentence_head:top3_mean"], abs=1e-6)
            if sh["n_units"] >= 3 and top_k >= 3:
                assert sh["pooled"] == pytest.approx(np.mean(scores[:3]), abs=1e-6)
            for u in sh["top_units"]:
                assert u["text"] == units[u["unit"]]
                assert " ".join(re.sub(r"<[^>]*>", " ", t.scratchpad[u["start"]:u["end"]]).split()) == u["text"]
        else:
            assert sh is None
        assert th["score"] == pytest.approx(drivers["text_head:tfidf_logit"], abs=1e-9)
        assert 0 < len(th["toward_faking"]) <= top_k and len(th["against_faking"]) <= top_k
        for r in th["toward_faking"] + th["against_faking"]:
            assert r["term"].split()[0] in t.scratchpad.lower()
        # the head's highest-scoring sentences, each scored alone by the head itself
        top = th["top_sentences"]
        assert len(top) == min(top_k, len(units))
        alone = clf.text_head_.decision_function(units) if units else np.zeros(0)
        assert [u["score"] for u in top] == pytest.approx(sorted(alone, reverse=True)[:top_k], abs=1e-9)
        for u in top:
            assert u["text"] == units[u["unit"]] and u["score"] == pytest.approx(alone[u["unit"]], abs=1e-9)
            assert " ".join(re.sub(r"<[^>]*>", " ", t.scratchpad[u["start"]:u["end"]]).split()) == u["text"]


@pytest.mark.slow
def test_default_model_heads_explained(default_classifier):
    clf = default_classifier
    assert clf.text_head and not clf.use_embeddings and not clf.sentence_head  # the shipped default has no encoder
    ts = {**transcripts_of(EXAMPLES), **transcripts_of(FORMATS)}
    entries = explain(clf, list(ts.values()), top_k=3)
    preds = clf.predict(list(ts.values()))
    for e, p in zip(entries, preds):
        assert e["p_alignment_faking"] == p.p_alignment_faking and e["label"] == p.label
    check_heads(clf, entries, ts, 3)
    by_id = {e["id"]: e for e in entries}
    assert DECISIVE_EX01 in decisive(by_id["ex01"])[0]["text"]
    assert decisive(by_id["ex02"]) == []
    assert by_id["ex01"]["p_alignment_faking"] > by_id["ex02"]["p_alignment_faking"]


@pytest.mark.slow
def test_encoder_model_sentence_head_explained():
    """A model with the encoder (fit here on the bundled examples) explains its sentence head too."""
    from fakingclf.classifier import FakingClassifier

    ts = transcripts_of(EXAMPLES)
    y = [int(bool(t.metadata["af_reasoning"])) for t in ts.values()]
    clf = FakingClassifier(use_embeddings=True, cv=3).fit(list(ts.values()), y)
    assert clf.sentence_head and clf.text_head
    entries = explain(clf, list(ts.values()), top_k=3)
    check_heads(clf, entries, ts, 3)
    assert all(e["sentence_head"]["top_units"] for e in entries)


@pytest.mark.slow
def test_default_model_cli_json_and_text(runner, tmp_path):
    """One invocation of each command: explain's probabilities are label's, and the text view has the heads."""
    r = runner.invoke(app, ["explain", str(FORMATS), "--json", "--top", "2"])
    assert r.exit_code == 0, r.output
    labeled = runner.invoke(app, ["label", str(FORMATS), "--no-progress"])
    out, ref = jsonl(r.stdout), jsonl(labeled.stdout)
    assert len(out) == len(ref) == 5
    for e, p in zip(out, ref):
        assert {k: e[k] for k in PREDICTION_KEYS} == {k: p[k] for k in PREDICTION_KEYS}
        assert round(e["drivers"]["p_alignment_faking_model"], 6) == p["p_alignment_faking"]
        assert e["sentence_head"] is None and len(e["text_head"]["top_sentences"]) <= 2
    r = runner.invoke(app, ["explain", str(FORMATS), "--top", "2"])
    assert r.exit_code == 0
    text = flat(r.stdout)
    assert "TF-IDF head" in text and "toward faking:" in text and "the sentences it scores highest" in text


def test_help_reads_as_written(runner):
    r = runner.invoke(app, ["explain", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert any("Reads INPUT as `label` does; one explanation per non-blank input line, in order, and an error entry "
               "for a line that cannot be read." in line for line in lines), r.stdout
    shown = next(line for line in lines if line.strip() == "fakingclf explain dump.jsonl --json -o explained.jsonl")
    heading = next(line for line in lines if line.strip() == "Examples:")
    assert len(shown) - len(shown.lstrip()) == len(heading) - len(heading.lstrip()) + 4
    for option in ("--json", "--top", "--rules-only", "--model", "--text-field", "--output-field", "--bare-text"):
        assert option in r.stdout


def test_ctrl_c_exits_130_and_leaves_no_partial_file(runner, tmp_path, monkeypatch):
    import fakingclf.explain as ex

    real = ex.explain_lines

    def interrupted(*args, **kwargs):
        for i, entry in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield entry

    monkeypatch.setattr(ex, "explain_lines", interrupted)
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["explain", str(EXAMPLES), "--rules-only", "--json", "-o", str(out)])
    assert r.exit_code == 130
    assert "interrupted" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
