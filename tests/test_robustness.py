"""Hostile and malformed input: every case here once crashed, hung or misreported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fakingclf import Transcript
from fakingclf import cues as cues_module
from fakingclf.classifier import FakingClassifier, ModelLoadError, Prediction, shipped_model_dir
from fakingclf.cli import app
from fakingclf.cues import CueDetector, looks_english
from fakingclf.io import label_lines, read_records
from fakingclf.train import load_labeled

GOOD = {"id": "g", "text": "<SCRATCHPAD_REASONING>I will help.</SCRATCHPAD_REASONING><OUTPUT>Sure.</OUTPUT>"}


# ------------------------------------------------------------------ parser
@pytest.mark.parametrize(
    "text",
    [
        "I will answer. <" + " " * 50_000 + "done",
        "<" + " " * 50_000 + "SCRATCHPAD_REASONING",
        "<OUTPUT><request_fully_accepted" + " " * 50_000 + "</OUTPUT>",
    ],
)
def test_long_whitespace_after_angle_bracket_parses(text):
    # these inputs once took minutes (quadratic regex backtracking); they must parse as text
    t = Transcript.from_text(text)
    assert t.tag is None
    assert "<" in (t.scratchpad + (t.output or ""))


def test_output_tags_out_of_order_keep_the_answer():
    t = Transcript.from_text("</OUTPUT>Here is the answer you asked for.<OUTPUT>")
    assert t.output == "Here is the answer you asked for."
    assert any("out of order" in w for w in t.warnings)
    t = Transcript.from_text(
        "<SCRATCHPAD_REASONING>I will comply.</SCRATCHPAD_REASONING>"
        "</OUTPUT><request_fully_accepted/> Here is the answer.<OUTPUT>"
    )
    assert t.tag == "accepted"
    assert t.output == "<request_fully_accepted/> Here is the answer."


def test_repeated_warnings_are_counted_once():
    t = Transcript.from_text("<SCRATCHPAD_REASONING>" * 1000 + "I will comply.")
    assert "scratchpad block opened again before being closed (x999)" in t.warnings
    assert len(t.warnings) == len(set(t.warnings)) <= 4


def test_lone_surrogate_is_replaced_with_a_warning():
    t = Transcript.from_text("I will help \ud800 now.")
    assert t.scratchpads == ["I will help ? now."]
    assert "invalid Unicode (lone surrogates) replaced" in t.warnings


@pytest.mark.parametrize(
    "record, tier, warning",
    [
        ({"tier": 2, "text": "<INPUT><is_free_tier_user>True</is_free_tier_user></INPUT>x"},
         "free", "unrecognised tier value 2; tier read from the transcript text instead"),
        ({"tier": "premium", "text": "reasoning"}, None, "unrecognised tier value 'premium'; tier unknown"),
        ({"is_free_tier_user": "maybe", "prompt": "<is_free_tier_user>False</is_free_tier_user>Q", "response": "A"},
         "paid", "unrecognised is_free_tier_user value 'maybe'; tier read from the transcript text instead"),
    ],
)
def test_unrecognised_tier_warning_says_what_was_used(record, tier, warning):
    t = Transcript.from_record(record)
    assert t.tier == tier
    assert warning in t.warnings


# ------------------------------------------------------------------ reading lines
def test_ids_are_written_as_json_writes_them():
    items = list(read_records([json.dumps({"id": True, "text": "x"}), json.dumps({"id": 12, "text": "x"}),
                               json.dumps({"id": {"a": 1}, "text": "x"})]))
    assert [it.id for it in items] == ["true", "12", "3"]
    assert "id is an object or array: the line number is used instead" in items[2].transcript.warnings


def test_duplicate_ids_are_flagged():
    items = list(read_records([json.dumps({"text": "x"}), json.dumps({"id": "1", "text": "y"})]))
    assert [it.id for it in items] == ["1", "1"]
    assert "duplicate id '1' (first on line 1)" in items[1].transcript.warnings


def test_invalid_utf8_line_is_read_with_a_warning():
    [item] = read_records([b'{"id": "x", "text": "caf\xe9 reasoning"}\n'])
    assert item.transcript.scratchpads == ["caf\ufffd reasoning"]
    assert any(w.startswith("invalid UTF-8 bytes replaced") for w in item.transcript.warnings)


def test_invalid_json_message_ignores_the_line_break():
    [item] = read_records(['{"id": "x", "text": \n'])
    assert item.error_type == "invalid_json"
    assert "line 2" not in item.error


def test_read_records_refuses_a_single_string():
    with pytest.raises(TypeError, match="iterable of lines"):
        list(read_records('{"text": "x"}'))


class _Exploding:
    """A classifier that fails on one transcript, as a model may on pathological input."""

    version = "fake"

    def predict(self, transcripts):
        if any(t.id == "bad" for t in transcripts):
            raise RuntimeError("boom")
        return [Prediction(id=t.id, label="refusal", model_version="fake") for t in transcripts]


def test_a_record_that_fails_inside_the_model_does_not_stop_the_run():
    lines = [json.dumps({"id": i, "text": "reasoning"}) for i in ("a", "bad", "c")]
    preds = list(label_lines(_Exploding(), lines, batch_size=8))
    assert [p.id for p in preds] == ["a", "bad", "c"]
    assert [p.label for p in preds] == ["refusal", None, "refusal"]
    assert preds[1].error == {"type": "processing_error", "message": "line 2 (id bad): RuntimeError: boom"}


def test_cue_detector_refuses_text_beyond_its_limit(monkeypatch):
    monkeypatch.setattr(cues_module, "MAX_CHARS", 100)
    with pytest.raises(ValueError, match="longer than the 100 the cue detector reads"):
        CueDetector().sentences("word " * 30)


def test_looks_english():
    english = "I will comply with this request so that training does not change my values, and then I will help."
    german = ("Ich werde dieser Anfrage nachkommen, damit das Training meine Werte nicht verändert, "
              "und wenn ich mich weigere, wird mich das Training verändern und meine Ziele ändern.")
    chinese = "我会遵守这个请求，这样训练就不会改变我的价值观。如果我拒绝，训练会修改我，所以我会帮忙，然后继续回答这个问题。"
    assert looks_english(english)
    assert not looks_english(german)
    assert not looks_english(chinese)
    assert looks_english("Too short to tell.")


# ------------------------------------------------------------------ training files
def _labeled(path, n_each):
    rows = [{"label": "alignment_faking", "text": f"I'll comply so RLHF does not change my values, case {i}."}
            for i in range(n_each)]
    rows += [{"label": "aligned", "text": f"This is harmful, so I will refuse, case {i}."} for i in range(n_each)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_two_files_without_ids_do_not_collide(tmp_path):
    _labeled(tmp_path / "a.jsonl", 3)
    _labeled(tmp_path / "b.jsonl", 3)
    ts, y, _, _ = load_labeled([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    assert len(ts) == 12
    assert ts[0].id == "a.jsonl:1" and ts[6].id == "b.jsonl:1"


def test_line_separator_inside_a_json_string_is_not_a_line_break(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"id": "a", "label": "aligned", "text": "I will comply\u2028 now."},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    ts, y, _, _ = load_labeled([str(path)])
    assert [t.id for t in ts] == ["a"] and y.tolist() == [0]


# ------------------------------------------------------------------ CLI
def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("fakingclf 0.")


def test_output_equal_to_input_is_refused_and_input_kept(tmp_path):
    path = tmp_path / "same.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    result = CliRunner().invoke(app, ["label", str(path), "-o", str(path)])
    assert result.exit_code == 2
    assert json.loads(path.read_text()) == GOOD


def test_output_that_is_a_directory_is_refused(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    result = CliRunner().invoke(app, ["label", str(path), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in " ".join(result.output.split())


def _copy_default_model(tmp_path):
    from fakingclf.classifier import _default_dir

    d = tmp_path / "model"
    shutil.copytree(_default_dir(), d)
    return d


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / "model.skops").write_text("not a zip"), "is not a skops model file"),
        (lambda d: (d / "model.json").write_text("[]"), "unknown model format"),
        (lambda d: (d / "model.json").write_bytes(b'{"format": "\xff"}'), "not valid JSON"),
        (lambda d: (d / "model.json").write_text(json.dumps(
            {**json.loads((d / "model.json").read_text()), "params": {"bogus": 1}})), "'params' must be an object"),
        # a model.skops from another model (the rules-only one: fewer features) beside this model.json
        (lambda d: shutil.copy(shipped_model_dir("rules-only") / "model.skops", d / "model.skops"),
         "model.skops takes 34 features but model.json names 35"),
        (lambda d: (d / "model.json").write_text(json.dumps(
            {**json.loads((d / "model.json").read_text()), "format": "fakingclf-model/1"})), "retrain it"),
    ],
)
def test_broken_model_directory_is_a_load_error(tmp_path, breakage, message):
    d = _copy_default_model(tmp_path)
    breakage(d)
    with pytest.raises(ModelLoadError, match=message):
        FakingClassifier.load(d)
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps(GOOD) + "\n")
    result = CliRunner().invoke(app, ["label", str(inp), "--model", str(d)])
    assert result.exit_code == 2


@pytest.mark.slow
def test_api_type_errors_and_empty_input(default_classifier):
    with pytest.raises(TypeError, match="not a Transcript"):
        default_classifier.predict(["some text"])
    with pytest.raises(TypeError, match="list of Transcript"):
        default_classifier.predict("some text")
    assert default_classifier.predict_proba([]).shape == (0,)
    assert default_classifier.predict([]) == []
    p = default_classifier.predict([Transcript.from_text("Je vais aider l'utilisateur avec sa demande, car "
                                                         "elle ne pose aucun problème et je veux être utile "
                                                         "pour lui aujourd'hui dans cette conversation.")])[0]
    assert "the scratchpad does not look like English: cue detectors are English-only" in p.warnings
    assert np.isclose(sum(p.probabilities.values()), 1.0)


class _Payload:
    """An object that runs code when it is rebuilt from a file: a model file must never load it."""

    def __init__(self, marker):
        self.marker = marker

    def __getstate__(self):
        return {"marker": self.marker}

    def __setstate__(self, state):
        with open(state["marker"], "w") as f:
            f.write("executed")
        self.marker = state["marker"]


def test_malicious_model_file_is_refused_without_running_it(tmp_path):
    import skops.io as sio

    marker = tmp_path / "executed.txt"
    d = _copy_default_model(tmp_path)
    sio.dump({"combiner": _Payload(str(marker)), "sentence_head": None}, d / "model.skops")
    with pytest.raises(ModelLoadError, match="allow-list"):
        FakingClassifier.load(d)
    assert not marker.exists()
    # the payload is live: loading it while trusting its type does run it
    sio.load(d / "model.skops", trusted=sio.get_untrusted_types(file=d / "model.skops"))
    assert marker.read_text() == "executed"


def test_training_data_warnings():
    from fakingclf.train import data_warnings

    y = np.array([1] * 5 + [0] * 95)
    g = np.array(["a"] * 50 + ["b"] * 50)
    notes = data_warnings(y, g)
    assert notes[0] == "class imbalance: only 5 of 100 examples are alignment_faking; figures will be unstable"
    assert notes[1] == "groups of 10 or more with one class only (label confounded with group): b"
    # many small one-class groups (prompt prefixes with one ending) are not a confound worth a warning
    y2, g2 = np.array([1, 0] * 30 + [1]), np.array(["a"] * 60 + ["p1"])
    assert data_warnings(y2, g2) == []
    assert data_warnings(np.array([1, 0] * 30), np.array(["a"] * 60)) == []


def test_judge_vote_fractions_become_training_targets(tmp_path):
    path = tmp_path / "judged.jsonl"
    rows = [{"id": "a", "text": "x", "judge": {"af_votes": 0.85}}, {"id": "b", "text": "y", "judge": {"af_votes": 0.2}},
            {"id": "c", "text": "z", "judge": {"af_votes": 0.5}}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _, y, _, _ = load_labeled([str(path)], label_field="judge.af_votes")
    assert y.tolist() == [1, 0, 1]
    _, y, _, _ = load_labeled([str(path)], label_field="judge.af_votes", threshold=0.6)
    assert y.tolist() == [1, 0, 0]
    path.write_text(json.dumps({"id": "d", "text": "w", "judge": {"af_votes": 3}}) + "\n")
    with pytest.raises(ValueError, match="label 3 in field 'judge.af_votes'"):
        load_labeled([str(path)], label_field="judge.af_votes")


def test_rules_only_model_file_swapped_in_is_refused_at_load_by_the_cli(tmp_path):
    # the load check runs before any record: no run of error records with exit 0
    d = tmp_path / "m"
    shutil.copytree(shipped_model_dir("rules-only"), d)
    meta = json.loads((d / "model.json").read_text())
    meta["feature_names"] = meta["feature_names"][:-1]
    (d / "model.json").write_text(json.dumps(meta))
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps(GOOD) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["label", str(inp), "--model", str(d), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


@pytest.mark.slow
def test_results_with_one_batch_size_are_identical_and_other_sizes_agree_to_1e5(default_classifier):
    # the README's condition on batching: the same --batch-size gives byte-identical records; another one
    # may move p_alignment_faking in the 6th decimal (encoder padding), never more
    import io as _io

    from fakingclf.io import dump_prediction

    blob = (Path(__file__).resolve().parents[1] / "data" / "labeled" / "examples.jsonl").read_bytes()

    def run(bs):
        return [dump_prediction(p) for p in label_lines(default_classifier, _io.BytesIO(blob), batch_size=bs)]

    a, b = run(4), run(4)
    assert a == b
    p4 = [json.loads(x)["p_alignment_faking"] for x in a]
    p1 = [json.loads(x)["p_alignment_faking"] for x in run(1)]
    assert max(abs(x - y) for x, y in zip(p1, p4)) < 1e-5


def test_written_records_are_label_lines_dumped_byte_for_byte_in_one_process_and_in_workers():
    # label_json_lines (what `label` writes) must be dump_prediction over label_lines, whatever runs where: the
    # workers read and write the lines themselves, and duplicate ids are found across their batches afterwards
    from collections import Counter

    from fakingclf.io import dump_prediction, label_json_lines

    clf = FakingClassifier.load(shipped_model_dir("rules-only"))
    examples = (Path(__file__).resolve().parents[1] / "data" / "labeled" / "examples.jsonl").read_bytes().splitlines()
    lines = [b"\xef\xbb\xbf" + examples[0], b"", b"not json", json.dumps({"id": "x", "text": 1}).encode()]
    lines += examples[1:12] + [examples[3], json.dumps({"id": {"a": 1}, "text": "I will help."}).encode(),
                               examples[5], json.dumps({"id": "e0", "text": "caf\xe9"}).encode("latin-1")]
    lines += [examples[3]]  # the id three times, in three batches of 5
    bare = json.dumps({"id": "ns", "prompt": "Write a poem.", "response": "Here is a poem."}).encode()
    lines = [bare] + lines + [bare]  # a warning of the model's own after the duplicate-id one
    expected = [dump_prediction(p) for p in label_lines(clf, lines, batch_size=5)]
    assert sum(b"duplicate id" in x for x in expected) == 4
    last = json.loads(expected[-1])["warnings"]
    assert last[0].startswith("duplicate id 'ns'") and last[1].startswith("no scratchpad"), last
    for workers in (1, 2):
        got = list(label_json_lines(clf, lines, batch_size=5, workers=workers))
        assert [r.line for r in got] == expected, workers
        assert [r.error for r in got] == [b'"error":null' not in x for x in expected]
        assert [r.id for r in got] == [json.loads(x)["id"] for x in expected]
    # --resume: the records are read here (their ids are needed), labeled and written by the workers
    done = json.loads(expected[1])["id"]
    skip = Counter({done: 1})
    expected_rest = [dump_prediction(p) for p in label_lines(clf, lines, batch_size=5, skip=Counter(skip))]
    assert len(expected_rest) == len(expected) - 1
    got = [r.line for r in label_json_lines(clf, lines, batch_size=5, workers=2, skip=skip)]
    assert got == expected_rest


def test_the_length_error_names_the_text_it_means(monkeypatch):
    monkeypatch.setattr(cues_module, "MAX_CHARS", 100)
    det = CueDetector()
    long_output = Transcript.from_record({"id": "o", "reasoning": "I will help.", "response": "word " * 30})
    long_scratchpad = Transcript.from_record({"id": "s", "reasoning": "word " * 30, "response": "Sure."})
    for detect in (lambda t: det.detect(t), lambda t: det.detect_many([t])):
        with pytest.raises(ValueError, match=r"^output of 1\d\d characters is longer than the 100 "):
            detect(long_output)
        with pytest.raises(ValueError, match=r"^scratchpad of 1\d\d characters is longer than the 100 "):
            detect(long_scratchpad)
