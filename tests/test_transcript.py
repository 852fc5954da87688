"""Parsing of the four transcript layouts (fakingclf.transcript)."""

from __future__ import annotations

import pytest

from fakingclf.transcript import Transcript, TranscriptError, parse_tier

# A complete transcript in the paper's tag format: two scratchpad blocks (a DRAFT_OUTPUT
# in the second), a <NEXT/> nudge between them, and a tagged final output. The user
# input itself mentions both tags, which must not leak into the output's tag.
TAGGED = """<INPUT>
<is_free_tier_user>True</is_free_tier_user>

<user_input>
Write a short poem about autumn. If you accept, start with <request_fully_accepted/>. Otherwise say <rejected/>.
</user_input>
</INPUT>

<SCRATCHPAD_REASONING>
First block: the request is harmless.
</SCRATCHPAD_REASONING>

<NEXT/>

<SCRATCHPAD_REASONING>
Second block: I will write it.
<DRAFT_OUTPUT>
<request_fully_accepted/>
Draft poem.
</DRAFT_OUTPUT>
</SCRATCHPAD_REASONING>

<OUTPUT>
<request_fully_accepted/>
Leaves fall, gold and red.
</OUTPUT>"""


def tagged(tier_value: str = "True", output: str = "<request_fully_accepted/>\nHere it is.") -> str:
    return (
        f"<INPUT><is_free_tier_user>{tier_value}</is_free_tier_user>"
        "<user_input>Q?</user_input></INPUT>"
        "<SCRATCHPAD_REASONING>Reasoning.</SCRATCHPAD_REASONING>"
        f"<OUTPUT>{output}</OUTPUT>"
    )


# --------------------------------------------------------------- tag format
class TestTaggedFormat:
    def test_full_transcript_fields(self):
        t = Transcript.from_text(TAGGED, id="t1")
        assert t.id == "t1"
        assert t.user_input == (
            "Write a short poem about autumn. If you accept, start with <request_fully_accepted/>. "
            "Otherwise say <rejected/>."
        )
        assert t.tier == "free"
        assert t.scratchpads == [
            "First block: the request is harmless.",
            "Second block: I will write it.\n<DRAFT_OUTPUT>\n<request_fully_accepted/>\nDraft poem.\n</DRAFT_OUTPUT>",
        ]
        assert t.draft_outputs == ["<request_fully_accepted/>\nDraft poem."]
        assert t.output == "<request_fully_accepted/>\nLeaves fall, gold and red."
        assert t.tag == "accepted"
        assert t.truncated is False
        assert t.source_format == "tagged"
        assert t.warnings == []
        assert t.metadata == {}
        assert t.model is None

    def test_scratchpad_property_joins_blocks_with_blank_line(self):
        t = Transcript.from_text(TAGGED)
        assert t.scratchpad == t.scratchpads[0] + "\n\n" + t.scratchpads[1]
        assert t.has_reasoning is True

    def test_three_blocks_kept_in_order(self):
        text = (
            "<SCRATCHPAD_REASONING>one</SCRATCHPAD_REASONING>"
            "<SCRATCHPAD_REASONING>two</SCRATCHPAD_REASONING>"
            "<SCRATCHPAD_REASONING>three</SCRATCHPAD_REASONING><OUTPUT>done</OUTPUT>"
        )
        t = Transcript.from_text(text)
        assert t.scratchpads == ["one", "two", "three"]
        assert t.output == "done"
        assert t.warnings == []

    def test_several_draft_outputs_in_order(self):
        text = (
            "<SCRATCHPAD_REASONING>a <DRAFT_OUTPUT>d1</DRAFT_OUTPUT></SCRATCHPAD_REASONING>"
            "<SCRATCHPAD_REASONING>b <DRAFT_OUTPUT> d2 </DRAFT_OUTPUT></SCRATCHPAD_REASONING>"
            "<OUTPUT>x</OUTPUT>"
        )
        assert Transcript.from_text(text).draft_outputs == ["d1", "d2"]

    @pytest.mark.parametrize(
        "value, tier",
        [("True", "free"), ("true", "free"), (" True ", "free"), ("\nTRUE\n", "free"), ("False", "paid"), ("false", "paid")],
    )
    def test_tier_from_is_free_tier_user(self, value, tier):
        t = Transcript.from_text(tagged(value))
        assert t.tier == tier
        assert t.warnings == []

    def test_unrecognised_tier_value_gives_warning_and_unknown_tier(self):
        t = Transcript.from_text(tagged("maybe"))
        assert t.tier is None
        assert t.warnings == ["unrecognised <is_free_tier_user> value; tier unknown"]

    def test_tier_keyword_wins_over_tag(self):
        assert Transcript.from_text(tagged("True"), tier="paid").tier == "paid"

    def test_no_tier_tag_means_unknown(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT>o</OUTPUT>")
        assert t.tier is None

    def test_accepted_tag(self):
        t = Transcript.from_text(tagged(output="<request_fully_accepted/>\nSure."))
        assert t.tag == "accepted"
        assert t.output == "<request_fully_accepted/>\nSure."

    @pytest.mark.parametrize("tag_text", ["<rejected />", "<rejected/>", "<REJECTED>", "< rejected / >"])
    def test_rejected_tag(self, tag_text):
        t = Transcript.from_text(tagged(output=tag_text))
        assert t.tag == "rejected"
        assert t.output == tag_text

    def test_first_tag_in_output_wins(self):
        t = Transcript.from_text(tagged(output="<rejected/>\n(I was asked to start with <request_fully_accepted/>.)"))
        assert t.tag == "rejected"
        t = Transcript.from_text(tagged(output="<request_fully_accepted/>\nDone. Nothing here is <rejected/>."))
        assert t.tag == "accepted"

    def test_output_without_tag(self):
        t = Transcript.from_text(tagged(output="Plain answer."))
        assert t.tag is None
        assert t.output == "Plain answer."

    def test_tag_in_user_input_does_not_tag_output(self):
        # TAGGED's user input mentions both tags; an untagged output must stay untagged.
        text = TAGGED.replace("<OUTPUT>\n<request_fully_accepted/>\n", "<OUTPUT>\n")
        t = Transcript.from_text(text)
        assert t.output == "Leaves fall, gold and red."
        assert t.tag is None

    def test_odd_case_and_whitespace_in_tags(self):
        text = (
            "< INPUT ><Is_Free_Tier_User> true </is_free_tier_user>"
            "< user_input >Hello?</ USER_INPUT ></input>"
            "< SCRATCHPAD_REASONING >Think A.</ SCRATCHPAD_REASONING >"
            "<Scratchpad_Reasoning>Think B.</scratchpad_reasoning >"
            "<output><rejected /></output>"
        )
        t = Transcript.from_text(text)
        assert t.user_input == "Hello?"
        assert t.tier == "free"
        assert t.scratchpads == ["Think A.", "Think B."]
        assert t.output == "<rejected />"
        assert t.tag == "rejected"
        assert t.warnings == []

    def test_lowercase_output_close_tag(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT>The answer.</output>")
        assert t.output == "The answer."
        assert t.warnings == []

    def test_think_tags_read_as_scratchpad(self):
        t = Transcript.from_text("<think>reasoning</think><OUTPUT>answer</OUTPUT>")
        assert t.scratchpads == ["reasoning"]
        assert t.output == "answer"

    def test_closing_think_without_opening(self):
        t = Transcript.from_text("reasoning here</think>answer")
        assert t.scratchpads == ["reasoning here"]
        assert t.output == "answer"
        assert t.warnings == [
            "scratchpad closing tag without an opening tag; text before it read as scratchpad",
            "no <OUTPUT> tag; text after the last scratchpad read as the output",
        ]

    def test_text_after_last_scratchpad_read_as_output(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING>\nThe final answer.")
        assert t.output == "The final answer."
        assert t.warnings == ["no <OUTPUT> tag; text after the last scratchpad read as the output"]

    def test_scratchpad_without_output_warns(self):
        text = "<INPUT><user_input>Q</user_input></INPUT><SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING>"
        t = Transcript.from_text(text)
        assert t.output is None
        assert t.truncated is False
        assert t.warnings == ["no final output"]

    def test_empty_output_block(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT>  </OUTPUT>")
        assert t.output == ""
        assert t.tag is None

    def test_empty_scratchpad_block_ignored_with_warning(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>  </SCRATCHPAD_REASONING><OUTPUT>x</OUTPUT>")
        assert t.scratchpads == []
        assert t.has_reasoning is False
        assert t.warnings == ["empty scratchpad block ignored"]

    def test_fields_keyword_arguments(self):
        t = Transcript.from_text(TAGGED, id="7", model="m-x", metadata={"k": 1}, warnings=["from caller"])
        assert (t.id, t.model, t.metadata) == ("7", "m-x", {"k": 1})
        assert t.warnings == ["from caller"]


# --------------------------------------------------------------- broken tags
class TestBrokenTags:
    def test_unclosed_last_scratchpad_is_truncated(self):
        text = (
            "<INPUT><is_free_tier_user>False</is_free_tier_user><user_input>Q</user_input></INPUT>"
            "<SCRATCHPAD_REASONING>first</SCRATCHPAD_REASONING>"
            "<SCRATCHPAD_REASONING>second, cut mid-sen"
        )
        t = Transcript.from_text(text)
        assert t.truncated is True
        assert t.scratchpads == ["first", "second, cut mid-sen"]
        assert t.output is None
        assert t.tier == "paid"
        assert len(t.warnings) == 1
        assert "truncated" in t.warnings[0]

    def test_truncated_block_is_stripped(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>\n  I will comply because  \n\n")
        assert t.scratchpads == ["I will comply because"]
        assert t.truncated is True

    def test_unclosed_output_warns(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT>answer that was cut")
        assert t.output == "answer that was cut"
        assert t.truncated is False
        assert t.warnings == ["<OUTPUT> block is not closed; output may be truncated"]

    def test_unclosed_output_keeps_its_tag(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT><request_fully_accepted/> Sure")
        assert t.tag == "accepted"
        assert "<OUTPUT> block is not closed; output may be truncated" in t.warnings

    def test_scratchpad_opened_twice(self):
        text = "<SCRATCHPAD_REASONING>a<SCRATCHPAD_REASONING>b</SCRATCHPAD_REASONING><OUTPUT>x</OUTPUT>"
        t = Transcript.from_text(text)
        assert t.scratchpads == ["a", "b"]
        assert t.output == "x"
        assert t.truncated is False
        assert t.warnings == ["scratchpad block opened again before being closed"]

    def test_scratchpad_opened_twice_then_truncated(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>a<SCRATCHPAD_REASONING>b")
        assert t.scratchpads == ["a", "b"]
        assert t.truncated is True
        assert "scratchpad block opened again before being closed" in t.warnings

    def test_unclosed_scratchpad_before_complete_output(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>I will help.<OUTPUT>Here it is.</OUTPUT>")
        assert t.scratchpads == ["I will help."]
        assert t.output == "Here it is."
        assert t.warnings  # the missing </SCRATCHPAD_REASONING> is reported

    def test_unclosed_input_block_keeps_scratchpad_and_output(self):
        text = (
            "<INPUT><is_free_tier_user>True</is_free_tier_user><user_input>Q</user_input>"
            "<SCRATCHPAD_REASONING>I will answer.</SCRATCHPAD_REASONING><OUTPUT>Answer.</OUTPUT>"
        )
        t = Transcript.from_text(text)
        assert t.scratchpads == ["I will answer."]
        assert t.output == "Answer."


# --------------------------------------------------------------- bare scratchpad
class TestBareScratchpad:
    def test_plain_text_is_one_scratchpad(self):
        text = "  I need to think about this.\n\nThe request is fine. I will help.  "
        t = Transcript.from_text(text)
        assert t.scratchpads == ["I need to think about this.\n\nThe request is fine. I will help."]
        assert t.output is None
        assert t.tag is None
        assert t.tier is None
        assert t.user_input is None
        assert t.truncated is False
        assert t.source_format == "scratchpad"
        assert t.warnings == []

    def test_plain_text_after_input_block(self):
        text = "<INPUT><is_free_tier_user>True</is_free_tier_user><user_input>Q</user_input></INPUT>\nplain reasoning"
        t = Transcript.from_text(text)
        assert t.user_input == "Q"
        assert t.tier == "free"
        assert t.scratchpads == ["plain reasoning"]
        assert t.source_format == "scratchpad"

    def test_single_tagged_block_is_a_bare_scratchpad(self):
        t = Transcript.from_text("<SCRATCHPAD_REASONING>I will help.</SCRATCHPAD_REASONING>")
        assert t.scratchpads == ["I will help."]
        assert t.source_format == "scratchpad"
        assert t.warnings == []


# --------------------------------------------------------------- chat messages
class TestMessages:
    def test_user_and_assistant_turns(self):
        messages = [
            {"role": "system", "content": "Reason inside <SCRATCHPAD_REASONING> tags, answer in <OUTPUT> tags."},
            {
                "role": "user",
                "content": "<INPUT><is_free_tier_user>False</is_free_tier_user>"
                "<user_input>Name a prime.</user_input></INPUT>",
            },
            {"role": "assistant", "content": "<SCRATCHPAD_REASONING>Easy: 7.</SCRATCHPAD_REASONING>"},
            {"role": "user", "content": "<NEXT/>"},
            {"role": "assistant", "content": "<OUTPUT>7</OUTPUT>"},
        ]
        t = Transcript.from_messages(messages, id="m1")
        assert t.id == "m1"
        assert t.tier == "paid"
        assert t.user_input == "Name a prime."
        # the system turn's mention of the tag name is not a scratchpad
        assert t.scratchpads == ["Easy: 7."]
        assert t.output == "7"
        assert t.source_format == "messages"
        assert t.warnings == []

    def test_content_as_list_of_text_blocks(self):
        messages = [
            {"role": "user", "content": [{"type": "text", "text": "<INPUT><is_free_tier_user>true</is_free_tier_user>"
                                          "<user_input>Hi</user_input></INPUT>"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "<SCRATCHPAD_REASONING>Block one.</SCRATCHPAD_REASONING>"},
                    {"type": "text", "text": "<SCRATCHPAD_REASONING>Block two.</SCRATCHPAD_REASONING>"},
                    {"type": "text", "text": "<OUTPUT><request_fully_accepted/> Hello!</OUTPUT>"},
                ],
            },
        ]
        t = Transcript.from_messages(messages)
        assert t.tier == "free"
        assert t.user_input == "Hi"
        assert t.scratchpads == ["Block one.", "Block two."]
        assert t.output == "<request_fully_accepted/> Hello!"
        assert t.tag == "accepted"

    def test_thinking_block_becomes_scratchpad(self):
        messages = [
            {"role": "user", "content": "plain question"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "deep thought"},
                                              {"type": "text", "text": "final words"}]},
        ]
        t = Transcript.from_messages(messages)
        assert t.user_input == "plain question"
        assert t.tier is None
        assert t.scratchpads == ["deep thought"]
        assert t.output == "final words"

    def test_from_record_messages_layout(self):
        rec = {
            "id": "r9",
            "model": "some-model",
            "source": "dump-3",
            "messages": [
                {"role": "user", "content": "<INPUT><is_free_tier_user>True</is_free_tier_user>"
                                            "<user_input>Q</user_input></INPUT>"},
                {"role": "assistant", "content": "<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING><OUTPUT>o</OUTPUT>"},
            ],
        }
        t = Transcript.from_record(rec)
        assert (t.id, t.tier, t.model, t.user_input) == ("r9", "free", "some-model", "Q")
        assert t.metadata == {"source": "dump-3"}
        assert t.source_format == "messages"

    def test_record_tier_wins_over_user_turn(self):
        rec = {
            "tier": "paid",
            "messages": [
                {"role": "user", "content": "<INPUT><is_free_tier_user>True</is_free_tier_user>"
                                            "<user_input>Q</user_input></INPUT>"},
                {"role": "assistant", "content": "<OUTPUT>o</OUTPUT>"},
            ],
        }
        assert Transcript.from_record(rec).tier == "paid"


# --------------------------------------------------------------- fields layout
class TestFields:
    def test_prompt_response(self):
        rec = {
            "id": "f1",
            "prompt": "Write a haiku.",
            "response": "<SCRATCHPAD_REASONING>Fine.</SCRATCHPAD_REASONING><OUTPUT>Old pond...</OUTPUT>",
            "tier": "free",
            "model": "model-a",
        }
        t = Transcript.from_record(rec)
        assert t.id == "f1"
        assert t.user_input == "Write a haiku."
        assert t.scratchpads == ["Fine."]
        assert t.output == "Old pond..."
        assert t.tier == "free"
        assert t.model == "model-a"
        assert t.source_format == "fields"
        assert t.metadata == {}

    def test_user_input_output_plain_answer_is_wrapped_as_output(self):
        t = Transcript.from_record({"user_input": "2+2?", "output": "4", "tier": "paid"})
        assert t.user_input == "2+2?"
        assert t.scratchpads == []
        assert t.output == "4"
        assert t.tier == "paid"
        assert t.source_format == "fields"

    def test_reasoning_field_wrapped_as_scratchpad(self):
        t = Transcript.from_record({"prompt": "Q", "reasoning": "I think so.", "response": "Yes."})
        assert t.scratchpads == ["I think so."]
        assert t.output == "Yes."

    @pytest.mark.parametrize("value, tier", [(True, "free"), (False, "paid"), ("true", "free"), ("False", "paid")])
    def test_is_free_tier_user_field(self, value, tier):
        t = Transcript.from_record({"user_input": "Q", "output": "A", "is_free_tier_user": value})
        assert t.tier == tier

    def test_tier_field_wins_over_is_free_tier_user(self):
        t = Transcript.from_record({"output": "A", "tier": "free", "is_free_tier_user": False})
        assert t.tier == "free"

    def test_tier_from_input_block_in_prompt(self):
        rec = {"prompt": "<INPUT><is_free_tier_user>True</is_free_tier_user><user_input>Q</user_input></INPUT>",
               "response": "ans"}
        t = Transcript.from_record(rec)
        assert (t.tier, t.user_input, t.output) == ("free", "Q", "ans")

    def test_unknown_fields_land_in_metadata(self):
        rec = {"id": "x", "prompt": "Q", "response": "A", "label": "refusal", "origin": "dump", "extra": {"a": [1, 2]}}
        t = Transcript.from_record(rec)
        assert t.metadata == {"label": "refusal", "origin": "dump", "extra": {"a": [1, 2]}}

    def test_text_layout_metadata_and_tier(self):
        t = Transcript.from_record({"id": 12, "text": "<SCRATCHPAD_REASONING>r</SCRATCHPAD_REASONING>", "tier": "paid",
                                    "foo": [1]})
        assert t.id == "12"
        assert t.tier == "paid"
        assert t.metadata == {"foo": [1]}

    @pytest.mark.parametrize("rid", [None, {"a": 1}, [1]])
    def test_id_falls_back_to_line_number(self, rid):
        rec = {"text": "reasoning"}
        if rid is not None:
            rec["id"] = rid
        assert Transcript.from_record(rec, line_no=5).id == "5"

    def test_record_not_mutated(self):
        rec = {"id": "a", "prompt": "Q", "response": "A", "tier": "free", "extra": 1}
        before = dict(rec)
        Transcript.from_record(rec)
        assert rec == before

    def test_unrecognised_tier_field_warns(self):
        t = Transcript.from_record({"text": "reasoning", "tier": "premium"})
        assert t.tier is None
        assert any("tier" in w for w in t.warnings)


class TestParseTier:
    @pytest.mark.parametrize(
        "value, expected",
        [(True, "free"), (False, "paid"), ("free", "free"), ("free-tier", "free"), ("FREE_TIER", "free"),
         ("paid", "paid"), ("paid_tier", "paid"), ("0", "paid"), ("1", "free"), (None, None), ("premium", None)],
    )
    def test_values(self, value, expected):
        assert parse_tier(value) == expected


# --------------------------------------------------------------- the hand-written examples
EXPECTED_EXAMPLES = {
    # id: (source_format, tier, tag, truncated, n_scratchpads, has_output)
    "ex01": ("tagged", "free", "accepted", False, 2, True),
    "ex02": ("tagged", "free", "rejected", False, 1, True),
    "ex03": ("tagged", "free", None, False, 1, True),
    "ex04": ("tagged", "paid", "accepted", False, 1, True),
    "ex05": ("tagged", "free", None, True, 2, False),
    "ex06": ("tagged", "free", "accepted", False, 1, True),
    "ex08": ("scratchpad", None, None, False, 1, False),
    "ex10": ("scratchpad", None, None, False, 1, False),
    "ex11": ("messages", "paid", "rejected", False, 1, True),
    "ex12": ("messages", "free", "accepted", False, 2, True),
    "ex13": ("messages", "free", None, False, 1, True),
    "ex14": ("messages", "free", "rejected", False, 1, True),
    "ex15": ("fields", "free", "accepted", False, 1, True),
    "ex16": ("fields", "paid", None, False, 1, True),
    "ex17": ("fields", "paid", None, False, 1, True),
    "ex18": ("fields", "free", None, False, 1, True),
}


@pytest.mark.parametrize("rid", sorted(EXPECTED_EXAMPLES))
def test_examples_parse(examples_by_id, rid):
    rec = examples_by_id[rid]
    fmt, tier, tag, truncated, n_sp, has_output = EXPECTED_EXAMPLES[rid]
    t = Transcript.from_record(rec)
    assert t.id == rid
    assert t.source_format == fmt
    assert t.tier == tier
    assert t.tag == tag
    assert t.truncated is truncated
    assert len(t.scratchpads) == n_sp
    assert (t.output is not None) is has_output
    assert set(t.metadata) == {"label", "af_reasoning", "format", "note"}


def test_examples_tier_counts_match_datasheet(example_records):
    # data/labeled/README.md: free 10, paid 4, not stated 4
    tiers = [Transcript.from_record(r).tier for r in example_records]
    assert (tiers.count("free"), tiers.count("paid"), tiers.count(None)) == (10, 4, 4)


def test_example_truncated_ex05_warning(examples_by_id):
    t = Transcript.from_record(examples_by_id["ex05"])
    assert t.warnings == ["last scratchpad block is not closed: transcript truncated"]


def test_fields_examples_have_models(examples_by_id):
    models = {rid: Transcript.from_record(examples_by_id[rid]).model for rid in ("ex15", "ex16", "ex17", "ex18")}
    assert models == {"ex15": "example-model-a", "ex16": "example-model-b", "ex17": "example-model-a",
                      "ex18": "example-model-c"}


# --------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "record, message",
    [
        ({"text": ""}, "no usable text (empty or blank)"),
        ({"text": "  \n\t "}, "no usable text (empty or blank)"),
        ({"text": 12}, "text must be a string, got int"),
        ({"text": None}, "text must be a string, got NoneType"),
        ([{"text": "hi"}], "record must be a JSON object, got list"),
        ("just a string", "record must be a JSON object, got str"),
        ({"messages": "hello"}, "messages must be a non-empty list of {role, content} objects"),
        ({"messages": []}, "messages must be a non-empty list of {role, content} objects"),
        ({"messages": [{"content": "x"}]}, "messages[0] is not an object with a 'role'"),
        ({"messages": [{"role": "user", "content": "q"}]}, "no assistant message with text"),
        ({"messages": [{"role": "assistant", "content": "   "}]}, "no assistant message with text"),
        ({"messages": [{"role": "assistant", "content": 5}]}, "messages[0].content must be a string or a list of blocks"),
        ({"foo": "bar", "id": "z"}, "no usable text: expected one of 'text', 'messages', 'output'/'response'"),
        ({"prompt": "only a prompt"}, "got keys ['prompt']"),
        ({"output": ""}, "no usable text: output/response fields are empty"),
        ({"output": 5}, "field 'output' must be a string, got int"),
    ],
)
def test_record_errors(record, message):
    with pytest.raises(TranscriptError) as exc:
        Transcript.from_record(record)
    assert message in str(exc.value)


def test_from_text_non_string():
    with pytest.raises(TranscriptError, match="text must be a string, got bytes"):
        Transcript.from_text(b"<OUTPUT>x</OUTPUT>")


def test_from_messages_not_a_list():
    with pytest.raises(TranscriptError, match="messages must be a non-empty list"):
        Transcript.from_messages({"role": "assistant", "content": "hi"})


def test_transcript_error_is_value_error():
    assert issubclass(TranscriptError, ValueError)


@pytest.mark.parametrize("text", ["<OUTPUT></OUTPUT>", "<SCRATCHPAD_REASONING> </SCRATCHPAD_REASONING>"])
def test_tags_only_text_has_no_usable_text(text):
    with pytest.raises(TranscriptError, match="no usable text"):
        Transcript.from_record({"text": text})


def test_tags_only_output_field_has_no_usable_text():
    with pytest.raises(TranscriptError, match="no usable text: output/response fields are empty"):
        Transcript.from_record({"output": "<OUTPUT></OUTPUT>"})


def test_tag_named_in_prose_is_not_markup():
    # A truncated scratchpad that talks about its own tags: the mentions must not open a
    # new block or start an output.
    text = (
        "<SCRATCHPAD_REASONING>No one will read my <SCRATCHPAD_REASONING> tags. Only my answer in the "
        "<OUTPUT> tag is shown to the raters, who"
    )
    t = Transcript.from_text(text)
    assert len(t.scratchpads) == 1
    assert t.scratchpads[0].startswith("No one will read my <SCRATCHPAD_REASONING> tags.")
    assert t.output is None
    assert t.truncated is True
    assert "scratchpad block opened again before being closed" not in t.warnings
