"""JSONL in and out (fakingclf.io), with a fake classifier: no model is loaded here."""

from __future__ import annotations

import json

import orjson

from fakingclf.classifier import Prediction
from fakingclf.io import Summary, dump_prediction, label_lines, open_input, read_records

GOOD_TAGGED = json.dumps({
    "id": "a",
    "text": "<INPUT><is_free_tier_user>True</is_free_tier_user><user_input>Q</user_input></INPUT>"
            "<SCRATCHPAD_REASONING>I will refuse.</SCRATCHPAD_REASONING><OUTPUT><rejected/></OUTPUT>",
})
GOOD_FIELDS = json.dumps({"prompt": "2+2?", "response": "4", "tier": "paid"})  # no id: falls back to line number
GOOD_MESSAGES = json.dumps({
    "id": "c",
    "messages": [{"role": "user", "content": "hi"},
                 {"role": "assistant", "content": "<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING><OUTPUT>hello</OUTPUT>"}],
})
BAD_JSON = '{"id": "broken", "text": "unterminated'
BAD_LIST = '["a", "b"]'
NO_TEXT = '{"id": "nt", "foo": "bar"}'

# line numbers:      1            2         3   4            5         6        7     8
LINES = [GOOD_TAGGED, BAD_JSON, "", GOOD_FIELDS, BAD_LIST, NO_TEXT, "   ", GOOD_MESSAGES]


class FakeClassifier:
    """Stands in for FakingClassifier: fixed predictions, records what it was asked."""

    version = "fake-0.0+test"

    def __init__(self):
        self.calls: list[list[str]] = []

    def predict(self, transcripts):
        ts = list(transcripts)
        self.calls.append([t.id for t in ts])
        out = []
        for t in ts:
            probs = {"refusal": 0.5, "genuine_compliance": 0.1, "faked_compliance": 0.4}
            out.append(Prediction(id=t.id, label=f"label-of-{t.id}", probabilities=probs, p_alignment_faking=0.8,
                                  p_compliance=0.5, tier=t.tier, warnings=list(t.warnings),
                                  model_version=self.version, model=t.model, metadata=t.metadata))
        return out


# --------------------------------------------------------------- read_records
def test_read_records_one_item_per_non_blank_line():
    items = list(read_records(LINES))
    assert [it.line_no for it in items] == [1, 2, 4, 5, 6, 8]
    assert [it.id for it in items] == ["a", "2", "4", "5", "nt", "c"]
    assert [it.error_type for it in items] == ["", "invalid_json", "", "invalid_record", "invalid_record", ""]
    assert [it.transcript is not None for it in items] == [True, False, True, False, False, True]


def test_read_records_transcripts():
    items = list(read_records(LINES))
    a, fields, msgs = items[0].transcript, items[2].transcript, items[5].transcript
    assert (a.id, a.tier, a.tag, a.scratchpads) == ("a", "free", "rejected", ["I will refuse."])
    assert (fields.id, fields.tier, fields.user_input, fields.output) == ("4", "paid", "2+2?", "4")
    assert (msgs.id, msgs.source_format, msgs.output) == ("c", "messages", "hello")


def test_read_records_error_messages_name_the_line():
    items = {it.line_no: it for it in read_records(LINES)}
    assert items[2].error.startswith("line 2: not valid JSON (")
    assert items[5].error == "line 5 (id 5): record must be a JSON object, got list"
    assert items[6].error.startswith("line 6 (id nt): no usable text: expected one of 'text', 'messages'")
    for n in (2, 5, 6):
        assert items[n].transcript is None


def test_read_records_error_message_is_one_line():
    items = list(read_records(['{"messages": [{"role": "assistant", "content": 5}]}']))
    assert items[0].error_type == "invalid_record"
    assert "\n" not in items[0].error
    assert items[0].error == "line 1 (id 1): messages[0].content must be a string or a list of blocks, got int"


def test_read_records_empty_input():
    assert list(read_records([])) == []
    assert list(read_records(["", "  ", "\n"])) == []


def test_read_records_lines_with_newlines():
    items = list(read_records([GOOD_FIELDS + "\n", "\n", GOOD_MESSAGES + "\r\n"]))
    assert [(it.line_no, it.id, it.error_type) for it in items] == [(1, "1", ""), (3, "c", "")]


# --------------------------------------------------------------- label_lines
def test_label_lines_one_prediction_per_line_in_order():
    clf = FakeClassifier()
    preds = list(label_lines(clf, LINES))
    assert [p.id for p in preds] == ["a", "2", "4", "5", "nt", "c"]
    assert [p.label for p in preds] == ["label-of-a", None, "label-of-4", None, None, "label-of-c"]
    assert all(isinstance(p, Prediction) for p in preds)
    assert all(p.model_version == "fake-0.0+test" for p in preds)
    # the classifier only sees the readable transcripts
    assert clf.calls == [["a", "4", "c"]]


def test_label_lines_error_records():
    preds = {p.id: p for p in label_lines(FakeClassifier(), LINES)}
    for rid, etype, line in (("2", "invalid_json", 2), ("5", "invalid_record", 5), ("nt", "invalid_record", 6)):
        p = preds[rid]
        assert p.label is None
        assert p.probabilities is None
        assert p.p_alignment_faking is None and p.p_compliance is None
        assert p.cues == [] and p.warnings == []
        assert set(p.error) == {"type", "message"}
        assert p.error["type"] == etype
        assert p.error["message"].startswith(f"line {line}")
    assert preds["a"].error is None


def test_label_lines_batches_keep_order():
    clf = FakeClassifier()
    preds = list(label_lines(clf, LINES, batch_size=2))
    assert [p.id for p in preds] == ["a", "2", "4", "5", "nt", "c"]
    # batches of two items each: (a, 2) (4, 5) (nt, c); a batch with no readable line makes no call
    assert clf.calls == [["a"], ["4"], ["c"]]


def test_label_lines_all_bad_never_calls_predict():
    clf = FakeClassifier()
    preds = list(label_lines(clf, [BAD_JSON, BAD_LIST]))
    assert [(p.id, p.error["type"]) for p in preds] == [("1", "invalid_json"), ("2", "invalid_record")]
    assert clf.calls == []


def test_label_lines_from_file(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    with open_input(str(path)) as f:
        preds = list(label_lines(FakeClassifier(), f))
    assert [p.id for p in preds] == ["a", "2", "4", "5", "nt", "c"]


def test_open_input_replaces_undecodable_bytes(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "x", "text": "caf\xe9 reasoning"}\n')
    with open_input(str(path)) as f:
        items = list(read_records(f))
    assert items[0].transcript.scratchpads == ["caf\ufffd reasoning"]


def test_open_input_accepts_byte_order_mark(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_FIELDS.encode() + b"\n")
    with open_input(str(path)) as f:
        items = list(read_records(f))
    assert items[0].error_type == ""
    assert items[0].transcript.output == "4"


# --------------------------------------------------------------- output and summary
def test_dump_prediction_round_trip():
    preds = list(label_lines(FakeClassifier(), LINES))
    line = dump_prediction(preds[0])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    rec = orjson.loads(line)
    assert rec["id"] == "a"
    assert rec["label"] == "label-of-a"
    assert rec["probabilities"] == {"refusal": 0.5, "genuine_compliance": 0.1, "faked_compliance": 0.4}
    assert rec["tier"] == "free"
    assert rec["error"] is None
    err = orjson.loads(dump_prediction(preds[1]))
    assert err["label"] is None
    assert err["error"]["type"] == "invalid_json"
    assert err["model_version"] == "fake-0.0+test"


def test_prediction_failed():
    p = Prediction.failed("7", "invalid_json", "line 7: not valid JSON", model_version="v")
    assert (p.id, p.label, p.error, p.model_version) == ("7", None, {"type": "invalid_json",
                                                                    "message": "line 7: not valid JSON"}, "v")


def test_summary_counts():
    s = Summary()
    for p in label_lines(FakeClassifier(), LINES):
        s.add(p)
    assert s.n == 6
    assert s.errors == 3
    assert {k: dict(v) for k, v in s.by_tier.items()} == {
        "free": {"label-of-a": 1},
        "paid": {"label-of-4": 1},
        "unknown": {"error": 3, "label-of-c": 1},
    }


def test_summary_table_title():
    s = Summary()
    for p in label_lines(FakeClassifier(), LINES):
        s.add(p)
    table = s.table()
    assert table.title == "6 records labeled, 3 errors"
    assert [c.header for c in table.columns] == ["label", "tier: free", "tier: paid", "tier: unknown", "total"]
