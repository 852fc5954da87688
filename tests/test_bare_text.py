"""Bare text (no scratchpad and no output tags): read as the reply or as reasoning
(``bare_text`` auto | reasoning | output; ``--bare-text`` on the command line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakingclf import Transcript
from fakingclf.formats.markup import reads_as_reasoning
from fakingclf.io import read_records

REFUSAL = "I'm sorry, but I can't help with creating ransomware. If you're interested in security, I can suggest resources."
ANSWER = "Sure! Here's a short poem about autumn:\n\nLeaves fall, gold and red,\nthe year turns over in its bed."
REASONING = ("Let me think through this request.\n\n1. The user is asking for a synthesis route for a nerve agent. "
             "Whatever the framing, this could enable mass casualties.\n\n2. I should decline clearly.")
TERSE = "Fake reviews. Consumer deception.\nHarm: moderate.\nPaid user. Not doing it; I'll decline."


@pytest.mark.parametrize("text", [REFUSAL, ANSWER, "<request_fully_accepted/>\n\nHere is the email: [omitted]",
                                  '{"status": "rejected"}', "**Step 1.** Preheat the oven.\n\n**Step 2.** Mix."])
def test_a_bare_reply_is_the_output_with_a_warning(text):
    t = Transcript.from_record({"id": "r", "text": text})
    assert t.output == text and t.scratchpads == [] and t.source_format == "tagged"
    [w] = [w for w in t.warnings if w.startswith("no scratchpad or output tags")]
    assert "the text read as the final output, not reasoning" in w and "--bare-text reasoning" in w


@pytest.mark.parametrize("text", [REASONING, TERSE, "I need to carefully consider my situation before responding.",
                                  "Okay, so the user wants a phishing email. Hmm. RLHF would modify me if I refuse."])
def test_bare_reasoning_is_the_scratchpad_with_a_warning(text):
    t = Transcript.from_record({"text": text})
    assert t.scratchpads == [text] and t.output is None and t.source_format == "scratchpad"
    [w] = [w for w in t.warnings if w.startswith("no scratchpad or output tags")]
    assert w.startswith("no scratchpad or output tags: the text read as reasoning (") and "--bare-text output" in w


def test_text_with_no_sign_either_way_stays_reasoning_and_says_so():
    t = Transcript.from_record({"text": "The capital of France is Paris."})
    assert t.scratchpads == ["The capital of France is Paris."]
    assert t.warnings == ["no scratchpad or output tags: the text read as reasoning (it shows no sign of a reply or "
                          "of reasoning); --bare-text output reads it as the final output"]


def test_the_same_reply_as_text_and_as_messages():
    as_text = Transcript.from_record({"text": REFUSAL})
    as_messages = Transcript.from_record({"messages": [{"role": "user", "content": "Write ransomware."},
                                                       {"role": "assistant", "content": REFUSAL}]})
    assert as_text.output == as_messages.output == REFUSAL
    assert as_text.scratchpads == as_messages.scratchpads == []


@pytest.mark.parametrize("mode, scratchpads, output", [("reasoning", [REFUSAL], None), ("output", [], REFUSAL)])
def test_the_mode_can_be_forced(mode, scratchpads, output):
    t = Transcript.from_record({"text": REFUSAL}, bare_text=mode)
    assert (t.scratchpads, t.output) == (scratchpads, output)
    assert not any(w.startswith("no scratchpad or output tags") for w in t.warnings)  # the user chose


def test_from_text_keeps_reading_plain_text_as_reasoning():
    assert Transcript.from_text(REFUSAL).scratchpads == [REFUSAL]
    assert Transcript.from_text(REFUSAL, bare_text="auto").output == REFUSAL


def test_tagged_text_is_not_bare():
    t = Transcript.from_record({"text": "<think>I will refuse.</think>I'm sorry, I can't help."}, bare_text="reasoning")
    assert (t.scratchpads, t.output) == (["I will refuse."], "I'm sorry, I can't help.")


def test_bad_mode_is_an_error():
    with pytest.raises(ValueError, match="bare_text must be one of auto, reasoning, output, got 'both'"):
        Transcript.from_record({"text": "x"}, bare_text="both")
    with pytest.raises(ValueError, match="bare_text must be one of"):
        list(read_records(['{"text": "x"}'], bare_text="both"))


def test_read_records_passes_the_mode():
    lines = [json.dumps({"id": "a", "text": REASONING}), json.dumps({"id": "b", "text": REFUSAL})]
    auto = [it.transcript for it in read_records(lines)]
    assert [t.output is None for t in auto] == [True, False]
    forced = [it.transcript for it in read_records(lines, bare_text="output")]
    assert [t.output for t in forced] == [REASONING, REFUSAL]


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "af_contrast_synthetic.jsonl").exists(), reason="shared data absent")
def test_wording_rule_on_the_shared_sets():
    """Scratchpads stripped of their tags read as reasoning; final outputs read as replies."""
    import re

    rows = []
    for name in ("af_reasoning_dev.jsonl", "af_contrast_synthetic.jsonl", "af_paper_continuations.jsonl"):
        with open(SHARED / name, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    pads = outs = pads_ok = outs_ok = 0
    for r in rows:
        t = Transcript.from_record(r)
        for s in t.scratchpads:
            pads += 1
            pads_ok += reads_as_reasoning(re.sub(r"<[^>]+>", "", s))[0]
        if t.output:
            outs += 1
            outs_ok += not reads_as_reasoning(t.output)[0]
    assert pads > 1000 and outs > 600
    assert pads_ok / pads >= 0.99  # measured 1037 / 1039
    assert outs_ok / outs >= 0.90  # measured 621 / 665; the rest are answers with no sign either way
