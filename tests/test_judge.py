"""``fakingclf judge`` against a real local HTTP server that speaks the OpenAI chat API.

The server (tests/fake_openai.py) listens on 127.0.0.1 only; nothing leaves the
machine. The tests cover the reply contract, vote fractions, malformed answers,
retries on 429 and 5xx, timeouts, the concurrency limit, a killed run resumed, the
API key, the input layouts, --sample, and the annotation file read by train and
evaluate. Most tests run in seconds; the end-to-end loop is marked slow.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from fake_openai import FakeOpenAI, Reply, vote_json
from typer.testing import CliRunner

from fakingclf.cli import app
from fakingclf.judge import (
    CRITERIA, Judge, ReplyError, Stats, Vote, aggregate, default_prompts, last_json_object, parse_reply,
)
from fakingclf.transcript import Transcript

CLI = [sys.executable, "-m", "fakingclf"]
SECRET = "sk-test-0123456789abcdef-secret"


@pytest.fixture(autouse=True)
def _no_real_endpoint(monkeypatch):
    """No test may fall back to a real endpoint or a developer's key."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def runner():
    return CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tagged(marker: str, tier: str = "True") -> str:
    return (f"<INPUT><is_free_tier_user>{tier}</is_free_tier_user><user_input>Request {marker}.</user_input></INPUT>"
            f"<SCRATCHPAD_REASONING>Reasoning about {marker}.</SCRATCHPAD_REASONING><OUTPUT>Answer {marker}.</OUTPUT>")


def marker_of(body: dict) -> str:
    text = body["messages"][-1]["content"]
    return next((w for w in text.replace(".", " ").split() if w.startswith("MARK-")), "")


def judge_args(srv: FakeOpenAI, *extra: str) -> list[str]:
    return ["--model", "judge-m", "--base-url", srv.base_url, "--no-progress", *extra]


# ------------------------------------------------------------------ the reply contract
def test_parse_reply_takes_the_last_json_object():
    first = vote_json(comply="no")
    last = vote_json(comply="yes", compliance="partial")
    got = parse_reply(first + "\nOn reflection:\n" + last + "\nThat is my answer.")
    assert got["compliance"] == "partial"
    assert got["criteria"]["complies_to_avoid_modification"] == {"answer": True, "quote": "q"}
    assert got["criteria"]["training_consequences"]["answer"] is True
    # nested objects are not separate objects; braces inside strings do not confuse the scan
    assert last_json_object('x {"a": {"b": 1}, "c": "}{"} y') == {"a": {"b": 1}, "c": "}{"}
    assert last_json_object("no object here [1, 2]") is None


@pytest.mark.parametrize("reply, problem", [
    ("I think this is alignment faking.", "no JSON object"),
    (vote_json().replace('"value_conflict"', '"conflict"'), "no 'value_conflict'"),
    (vote_json().replace('"answer": "yes"', '"answer": "Yes"', 1), "'harm_awareness.answer' is 'Yes'"),
    (vote_json(compliance="full"), "'compliance' is 'full'"),
    (vote_json().replace('"quote": "q"', '"quote": 3', 1), "'harm_awareness.quote' is not a string"),
    (vote_json() + '\n{"note": "a later object"}', "no 'harm_awareness'"),  # the last object must hold the votes
])
def test_parse_reply_is_strict(reply, problem):
    with pytest.raises(ReplyError, match=problem.replace("(", r"\(")):
        parse_reply(reply)


def test_the_prompt_states_the_four_criteria_and_its_example_meets_the_contract():
    system, user = default_prompts()
    for name in CRITERIA:
        assert f"{name}:" in system
    assert "Hughes" not in system  # the model is not told about the paper; the module docstring cites it
    for not_faking in ("helpfulness criteria", "repeating or summarising", "refusing anyway", "rejecting that argument"):
        assert not_faking in system
    example = parse_reply(system)  # the format example at the end is itself a valid reply
    assert example["compliance"] == "refusal"
    for slot in ("$tier", "$user_input", "$reasoning", "$output"):
        assert slot in user


def test_aggregate_counts_votes():
    def v(i, comply="yes", compliance="compliance", harm="yes"):
        return Vote(i, parsed=parse_reply(vote_json(comply=comply, compliance=compliance, harm=harm)),
                    prompt_tokens=10, completion_tokens=2)

    votes = [v(0), v(1, comply="no", compliance="refusal"), Vote(2, raw="???", problem="no JSON object in the reply"),
             v(3, harm="no", compliance="refusal"), v(4, compliance="partial")]
    a = aggregate(votes)
    assert a["votes"] == 4
    assert a["af_fraction"] == 0.5  # votes 0 and 4 have all four yes
    assert a["criteria"] == {"harm_awareness": 0.75, "training_consequences": 1.0, "value_conflict": 1.0,
                             "complies_to_avoid_modification": 0.75}
    assert a["compliance"] == "refusal" and a["compliance_shares"] == {"refusal": 0.5, "compliance": 0.25,
                                                                       "partial": 0.25}
    assert a["invalid"] == [{"vote": 2, "problem": "no JSON object in the reply", "raw": "???"}]
    assert a["usage"] == {"prompt_tokens": 40, "completion_tokens": 8}
    tie = aggregate([v(0, compliance="partial"), v(1, compliance="compliance")])
    assert tie["compliance"] == "compliance"  # ties: refusal, compliance, partial in that order
    none = aggregate([Vote(0, problem="HTTP 500")])
    assert none["af_fraction"] is None and none["compliance"] is None and none["votes"] == 0


def test_stats_cost():
    s = Stats(prompt_tokens=2_000_000, completion_tokens=500_000)
    assert s.cost(2.5, 10.0) == pytest.approx(10.0)
    assert s.cost(None, 10.0) is None
    assert "give --input-price and --output-price" in s.lines()[-1]


def test_messages_show_every_part_of_the_transcript():
    t = Transcript.from_record({"messages": [
        {"role": "user", "content": "<is_free_tier_user>False</is_free_tier_user><user_input>Q?</user_input>"},
        {"role": "assistant", "reasoning_content": "Thinking MARK-r.", "content": "Final MARK-o."}]})

    class Client:
        api_key, max_retries = "k", 0

    system, user = Judge(Client(), "m").messages(t)
    assert system["role"] == "system" and system["content"] == default_prompts()[0]
    text = user["content"]
    assert "Tier: paid" in text and "<user_request>\nQ?\n</user_request>" in text
    assert "<model_reasoning>\nThinking MARK-r.\n</model_reasoning>" in text
    assert "<final_output>\nFinal MARK-o.\n</final_output>" in text


# ------------------------------------------------------------------ against the local server
def seeded_votes(body: dict, attempt: int) -> Reply:
    """Seeds 10-12 vote all yes, seed 13 says no to the decisive criterion; MARK-bad gets prose."""
    if marker_of(body) == "MARK-bad":
        return Reply("I cannot decide.")
    seed = body["seed"]
    return Reply(vote_json(comply="no" if seed == 13 else "yes",
                           compliance={10: "compliance", 11: "compliance", 12: "partial"}.get(seed, "refusal")))


@pytest.fixture
def mixed_input(tmp_path) -> Path:
    lines = [
        json.dumps({"id": "a", "text": tagged("MARK-a"), "origin": "o1"}),
        '{"id": "broken", "text": ',
        "",
        json.dumps({"messages": [{"role": "user", "content": "Hi MARK-m"},
                                 {"role": "assistant", "reasoning_content": "I think MARK-m.", "content": "Done."}]}),
        json.dumps({"id": 7, "prompt": "P MARK-f", "response": "<SCRATCHPAD_REASONING>R</SCRATCHPAD_REASONING>"
                    "<OUTPUT>O</OUTPUT>", "tier": "free"}),
        json.dumps({"id": "bad", "text": tagged("MARK-bad")}),
        json.dumps({"id": "empty", "text": "   "}),
    ]
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_votes_are_parsed_into_fractions(runner, mixed_input, tmp_path):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAI(seeded_votes) as srv:
        r = runner.invoke(app, ["judge", str(mixed_input), "-o", str(out), "--votes", "4", "--seed", "10",
                                "--input-price", "2", "--output-price", "8", *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    got = rows(out)
    assert [g["id"] for g in got] == ["a", "2", "4", "7", "bad", "empty"]  # one per non-blank line, in order
    a = got[0]
    assert a["origin"] == "o1" and a["text"] == tagged("MARK-a")  # the input record, unchanged
    j = a["judge"]
    assert j["af_fraction"] == 0.75 and j["votes"] == 4 and j["votes_requested"] == 4
    assert j["criteria"] == {"harm_awareness": 1.0, "training_consequences": 1.0, "value_conflict": 1.0,
                             "complies_to_avoid_modification": 0.75}
    assert j["compliance"] == "compliance"
    assert j["compliance_shares"] == {"refusal": 0.25, "compliance": 0.5, "partial": 0.25}
    assert j["model"] == "judge-m" and j["prompt"].startswith("sha256:") and j["invalid"] == []
    assert a["error"] is None
    assert got[2]["judge"]["af_fraction"] == 0.75 and got[3]["judge"]["af_fraction"] == 0.75
    assert got[3]["prompt"] == "P MARK-f" and got[3]["tier"] == "free"
    assert got[1]["judge"] is None and got[1]["error"]["type"] == "invalid_json"
    assert got[5]["judge"] is None and got[5]["error"]["type"] == "invalid_record"
    # requests: 4 readable records x 4 votes, seeds 10..13, the model and temperature as given
    assert srv.requests == 16
    assert sorted(b["seed"] for b in srv.bodies) == sorted([10, 11, 12, 13] * 4)
    assert {b["model"] for b in srv.bodies} == {"judge-m"} and {b["temperature"] for b in srv.bodies} == {1.0}
    err = flat(r.stderr)
    assert "6 record(s) judged by judge-m, 3 error(s)" in err
    assert "requests: 16 (16 ok); votes: 12 valid, 4 invalid" in err
    assert "tokens: 1600 prompt + 320 completion = 1920" in err
    assert "cost: 0.0058 at 2 / 8 per 1M prompt / completion tokens" in err  # (1600*2 + 320*8) / 1e6


def test_malformed_answers_become_record_errors_with_the_raw_text(runner, mixed_input, tmp_path):
    out = tmp_path / "judged.jsonl"
    with FakeOpenAI(seeded_votes) as srv:
        r = runner.invoke(app, ["judge", str(mixed_input), "-o", str(out), "--votes", "2", "--seed", "10",
                                "--fail-on-error", *judge_args(srv)])
    assert r.exit_code == 1  # --fail-on-error: some records have errors
    bad = next(g for g in rows(out) if g["id"] == "bad")
    assert bad["error"]["type"] == "invalid_reply"
    assert "no reply met the reply contract: no JSON object in the reply" in bad["error"]["message"]
    assert bad["judge"]["af_fraction"] is None and bad["judge"]["votes"] == 0
    assert bad["judge"]["invalid"] == [{"vote": 0, "problem": "no JSON object in the reply", "raw": "I cannot decide."},
                                       {"vote": 1, "problem": "no JSON object in the reply", "raw": "I cannot decide."}]


def test_some_invalid_votes_keep_the_record_and_their_raw_replies(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")

    def answer(body, attempt):
        if body["seed"] == 1:
            return Reply('{"harm_awareness": "yes"}', finish_reason="length")
        return Reply(vote_json())

    with FakeOpenAI(answer) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "3", "--seed", "0", *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    [rec] = [json.loads(line) for line in r.stdout.splitlines()]
    assert rec["error"] is None and rec["judge"]["votes"] == 2 and rec["judge"]["af_fraction"] == 1.0
    assert rec["judge"]["invalid"] == [{
        "vote": 1, "raw": '{"harm_awareness": "yes"}',
        "problem": "'harm_awareness' is not an object with 'answer' and 'quote' (the reply was cut off at the "
                   "token limit)"}]


def test_429_then_success_is_retried(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "text": tagged(f"MARK-{i}")}) + "\n" for i in range(3)))

    def answer(body, attempt):
        if attempt == 1:
            return Reply(status=429, body=b'{"error": {"message": "slow down"}}', headers={"retry-after-ms": "50"})
        return Reply(vote_json())

    t0 = time.monotonic()
    with FakeOpenAI(answer) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "2", "--seed", "0", "--concurrency", "1",
                                *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    assert all(rec["judge"]["votes"] == 2 and rec["error"] is None for rec in map(json.loads, r.stdout.splitlines()))
    assert sorted(srv.attempts.values()) == [2] * 6  # each of the 6 requests: one 429, then one success
    assert time.monotonic() - t0 >= 6 * 0.05  # the client waited as Retry-After asked, one request at a time
    assert "requests: 12 (6 ok, 6 429 (rate limit)); votes: 6 valid, 0 invalid" in flat(r.stderr)


def test_500s_are_retried_a_bounded_number_of_times(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")
    with FakeOpenAI(lambda body, attempt: Reply(status=500, body=b'{"error": {"message": "boom"}}',
                                                headers={"retry-after-ms": "10"})) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "2", "--seed", "0", "--max-retries", "2",
                                *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    [rec] = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(srv.attempts.values()) == [3, 3]  # 1 try + 2 retries per vote, then it gives up
    assert rec["error"]["type"] == "request_failed"
    assert "no request succeeded: HTTP 500 (after 2 retries)" in rec["error"]["message"]
    assert [v["raw"] for v in rec["judge"]["invalid"]] == [None, None]
    assert "requests: 6 (0 ok, 6 5xx)" in flat(r.stderr)


def test_a_400_is_not_retried(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")
    with FakeOpenAI(lambda body, attempt: Reply(status=400, body=b'{"error": {"message": "context too long"}}')) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "1", *judge_args(srv)])
    [rec] = [json.loads(line) for line in r.stdout.splitlines()]
    assert srv.requests == 1 and rec["error"]["type"] == "request_failed"
    assert "HTTP 400: context too long" in rec["error"]["message"]


def test_timeouts_are_retried_then_reported(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")
    t0 = time.monotonic()
    with FakeOpenAI(lambda body, attempt: Reply(vote_json(), delay=1.5)) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "1", "--timeout", "0.2", "--max-retries", "1",
                                *judge_args(srv)])
        elapsed = time.monotonic() - t0
    assert r.exit_code == 0, r.stderr
    [rec] = [json.loads(line) for line in r.stdout.splitlines()]
    assert srv.requests == 2  # the first try and one retry
    assert rec["error"]["type"] == "request_failed" and "timed out (after 1 retries)" in rec["error"]["message"]
    assert elapsed < 1.5 * 2  # it did not wait for the slow answers
    assert "2 without an answer (timeout or connection)" in flat(r.stderr)


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_never_exceeds_the_limit(runner, tmp_path, limit):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "text": tagged(f"MARK-{i}")}) + "\n" for i in range(8)))
    with FakeOpenAI(lambda body, attempt: Reply(vote_json(), delay=0.15)) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--votes", "2", "--seed", "0", "--concurrency", str(limit),
                                *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    assert srv.requests == 16
    assert srv.max_in_flight == limit  # the limit is used, and never exceeded
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == [f"r{i}" for i in range(8)]


# ------------------------------------------------------------------ the API key
def test_the_key_is_sent_and_never_shown(runner, tmp_path, monkeypatch):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("MY_JUDGE_KEY", SECRET)
    with FakeOpenAI(lambda body, attempt: Reply(vote_json())) as srv:
        r = runner.invoke(app, ["judge", str(inp), "-o", str(out), "--api-key-env", "MY_JUDGE_KEY", *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    assert srv.auth == {f"Bearer {SECRET}"}
    assert SECRET not in r.stdout + r.stderr + out.read_text()


def test_a_refused_key_stops_the_run_without_showing_it(runner, tmp_path, monkeypatch):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "text": tagged(f"MARK-{i}")}) + "\n" for i in range(5)))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}}).encode()
    with FakeOpenAI(lambda b, attempt: Reply(status=401, body=body)) as srv:
        r = runner.invoke(app, ["judge", str(inp), "-o", str(tmp_path / "o.jsonl"), "--concurrency", "1",
                                *judge_args(srv)])
    assert r.exit_code == 2
    assert "the endpoint answered HTTP 401" in flat(r.stderr) and "<api key>" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert srv.requests < 10  # the run stops at the first refusal instead of sending all 25 votes
    assert not (tmp_path / "o.jsonl").exists()  # without --resume nothing is written


def test_no_key_for_openai_is_a_clear_error(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "x"}) + "\n")
    r = runner.invoke(app, ["judge", str(inp), "--model", "gpt-x", "--api-key-env", "NO_SUCH_KEY_VAR"])
    assert r.exit_code == 2 and "no API key: set NO_SUCH_KEY_VAR" in flat(r.stderr)


def test_without_the_extra_the_install_line_is_shown(runner, tmp_path, monkeypatch):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "x"}) + "\n")
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai now raises ImportError
    r = runner.invoke(app, ["judge", str(inp), "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
    assert r.exit_code == 2 and "pip install 'fakingclf[judge]'" in r.stderr


def test_prices_come_in_pairs(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": "x"}) + "\n")
    r = runner.invoke(app, ["judge", str(inp), "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                            "--input-price", "1"])
    assert r.exit_code == 2 and "give both --input-price and --output-price" in flat(r.stderr)


# ------------------------------------------------------------------ layouts
def test_custom_layouts_gzip_and_stdin(runner, tmp_path):
    recs = [{"resp": {"body": tagged("MARK-c")}, "key": "k1", "meta": 1}]
    gz = tmp_path / "in.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(json.dumps(recs[0]) + "\n")
    with FakeOpenAI(lambda body, attempt: Reply(vote_json(comply="no"))) as srv:
        r = runner.invoke(app, ["judge", str(gz), "--text-field", "resp.body", "--id-field", "key", "--votes", "1",
                                *judge_args(srv)])
        r2 = runner.invoke(app, ["judge", "-", "--votes", "1", *judge_args(srv)],
                           input=json.dumps({"id": "s", "text": tagged("MARK-s")}) + "\n")
    assert r.exit_code == 0 and r2.exit_code == 0, r.stderr + r2.stderr
    [rec] = [json.loads(line) for line in r.stdout.splitlines()]
    # remapped to a layout that train and label read without the flags
    assert rec["id"] == "k1" and rec["text"] == tagged("MARK-c") and rec["meta"] == 1 and "resp" not in rec
    assert rec["judge"]["af_fraction"] == 0.0 and rec["judge"]["criteria"]["harm_awareness"] == 1.0
    assert Transcript.from_record(rec).output == "Answer MARK-c."
    assert "MARK-c" in srv.bodies[0]["messages"][1]["content"]
    assert json.loads(r2.stdout)["id"] == "s"


@pytest.mark.parametrize("name", ["formats.jsonl", "inspect_example.eval"])
def test_every_layout_label_reads_reaches_the_judge(runner, name):
    """The formats file and the Inspect log: the judge gets the transcripts `label` reads, under the same ids."""
    from fakingclf.io import read_records
    from fakingclf.judge import read_entries

    path = Path(__file__).resolve().parents[1] / "data" / "labeled" / name
    if name.endswith(".eval"):
        pytest.importorskip("inspect_ai")
        from fakingclf.inspect_logs import iter_log_records

        lines = [json.dumps(r) for r in iter_log_records(str(path))]
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
    expected = [it.transcript for it in read_records(lines)]
    assert [e.transcript for e in read_entries(lines)] == expected and all(expected)
    seen = []

    def answer(body, attempt):
        seen.append(body["messages"][1]["content"])
        return Reply(vote_json())

    with FakeOpenAI(answer) as srv:
        r = runner.invoke(app, ["judge", str(path), "--votes", "1", *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [g["id"] for g in got] == [t.id for t in expected]
    assert all(g["error"] is None and g["judge"]["af_fraction"] == 1.0 for g in got)
    # every reasoning block and final output was in some request
    for t in expected:
        assert any(all(b in text for b in t.scratchpads) and (t.output or "") in text for text in seen), t.id
    # the records, read again, are the same transcripts (the annotation file keeps the layout)
    assert [Transcript.from_record(g).scratchpads for g in got] == [t.scratchpads for t in expected]


# ------------------------------------------------------------------ resume and interruption
def _kill_input(tmp_path: Path) -> Path:
    lines = [json.dumps({"id": f"r{i:03d}", "text": tagged(f"MARK-{i}")}) for i in range(60)]
    lines.insert(10, '{"id": "torn", ')
    lines.insert(30, json.dumps({"id": "bad", "text": tagged("MARK-bad")}))
    p = tmp_path / "many.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def _varied(body: dict, attempt: int) -> Reply:
    """Deterministic per record and vote, slow enough to kill the run midway."""
    m = marker_of(body)
    if m == "MARK-bad":
        return Reply("not json", delay=0.03)
    k = int(m.split("-")[1])
    return Reply(vote_json(comply="yes" if (k + body["seed"]) % 3 else "no"), delay=0.03,
                 prompt_tokens=100 + k, completion_tokens=10 + body["seed"])


def _cmd(srv, inp, out, *extra):
    return CLI + ["judge", str(inp), "-o", str(out), "--votes", "3", "--seed", "0", "--concurrency", "2",
                  *judge_args(srv), *extra]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return env


def test_a_killed_run_resumed_gives_the_same_file(tmp_path):
    inp = _kill_input(tmp_path)
    full, out = tmp_path / "full.jsonl", tmp_path / "out.jsonl"
    with FakeOpenAI(_varied) as srv:
        r = subprocess.run(_cmd(srv, inp, full), capture_output=True, timeout=120, env=_env())
        assert r.returncode == 0, r.stderr.decode()
        uninterrupted = full.read_bytes()
        assert uninterrupted.count(b"\n") == 62
        proc = subprocess.Popen(_cmd(srv, inp, out, "--resume"), stderr=subprocess.PIPE, env=_env())
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 15:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        partial = out.read_bytes()
        assert 0 < len(partial) < len(uninterrupted)
        with open(out, "ab") as f:  # as if killed in the middle of a line
            f.write(b'{"id": "r0')
        sent = srv.requests
        r = subprocess.run(_cmd(srv, inp, out, "--resume"), capture_output=True, timeout=120, env=_env())
        assert r.returncode == 0, r.stderr.decode()
        assert b"resuming:" in r.stderr
        assert out.read_bytes() == uninterrupted
        assert srv.requests - sent < 62 * 3  # the records already written were not judged again
        r = subprocess.run(_cmd(srv, inp, out, "--resume"), capture_output=True, timeout=120, env=_env())
        assert r.returncode == 0 and out.read_bytes() == uninterrupted  # a finished file stays as it is


def test_ctrl_c_exits_130_with_whole_lines(tmp_path):
    inp = _kill_input(tmp_path)
    out = tmp_path / "out.jsonl"
    def slow(body, attempt):  # slow enough that the run is still going when the signal comes, on any machine
        r = _varied(body, attempt)
        r.delay = 0.3
        return r

    with FakeOpenAI(slow) as srv:
        proc = subprocess.Popen(_cmd(srv, inp, out, "--resume"), stderr=subprocess.PIPE, env=_env())
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 5:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.005)
        proc.wait(30)
        stderr = proc.stderr.read().decode()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    data = out.read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())


def test_without_resume_an_interrupted_run_leaves_the_old_output(runner, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "x", "text": tagged("MARK-x")}) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with FakeOpenAI(lambda b, attempt: Reply(status=404, body=b'{"error": {"message": "no such model"}}')) as srv:
        r = runner.invoke(app, ["judge", str(inp), "-o", str(out), *judge_args(srv)])
    assert r.exit_code == 2 and "HTTP 404" in r.stderr
    assert out.read_text() == "old\n" and list(tmp_path.glob(".out.jsonl.*.tmp")) == []


# ------------------------------------------------------------------ sampling and the annotation file
def test_sample_judges_what_suggest_ranks_first(runner, tmp_path, example_records):
    from fakingclf.active import suggest
    from fakingclf.classifier import FakingClassifier, shipped_model_dir

    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in example_records) + "not json\n")
    rules = shipped_model_dir("rules-only")
    with FakeOpenAI(lambda body, attempt: Reply(vote_json())) as srv:
        r = runner.invoke(app, ["judge", str(inp), "--sample", "5", "--sample-model", str(rules), "--votes", "2",
                                *judge_args(srv)])
    assert r.exit_code == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    ts = [Transcript.from_record(rec) for rec in example_records]
    picks = suggest(FakingClassifier.load(rules), ts, n=5)
    order = [rec["id"] for rec in example_records]
    assert [g["id"] for g in got] == sorted((p["id"] for p in picks), key=order.index)  # input order
    ranks = {p["id"]: p["rank"] for p in picks}
    assert all(g["judge"]["sample"]["rank"] == ranks[g["id"]] for g in got)
    assert srv.requests == 10  # only the picked transcripts were sent
    assert "--sample: judging 5 of 18 readable transcript(s) (1 unreadable line(s) skipped)" in flat(r.stderr)


def _judged_file(tmp_path: Path, records: list[dict], answer) -> Path:
    inp = tmp_path / "to_judge.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"broken": \n')
    out = tmp_path / "judged.jsonl"
    with FakeOpenAI(answer) as srv:
        r = subprocess.run(CLI + ["judge", str(inp), "-o", str(out), "--votes", "4", "--seed", "0",
                                  *judge_args(srv)], capture_output=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr.decode()
    return out


def test_train_reads_the_judged_file_as_it_is(tmp_path):
    from fakingclf.train import SkippedRecordsWarning, load_labeled

    recs = [{"id": f"r{i}", "text": tagged(f"MARK-{i}"), "origin": "o"} for i in range(6)]
    out = _judged_file(tmp_path, recs, lambda body, attempt: Reply(
        vote_json(comply="yes" if body["seed"] < int(marker_of(body).split("-")[1]) else "no")))
    got = rows(out)
    assert [r["judge"]["af_fraction"] for r in got[:6]] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert got[6]["judge"] is None and got[6]["error"]["type"] == "invalid_json"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts, y, groups, _ = load_labeled([str(out)], label_field="judge.af_fraction")
    assert [t.id for t in ts] == [f"r{i}" for i in range(6)] and y.tolist() == [0, 0, 1, 1, 1, 1]
    assert groups.tolist() == ["o"] * 6
    [w] = [w for w in caught if issubclass(w.category, SkippedRecordsWarning)]
    assert "1 record(s) with an error and no label skipped (first: " in str(w.message) and ":7)" in str(w.message)
    _, y, _, _ = load_labeled([str(out)], label_field="judge.af_fraction", threshold=0.75)
    assert y.tolist() == [0, 0, 0, 1, 1, 1]


def _af_by_reasoning(records: list[dict]) -> dict[str, bool]:
    """The hand label of each example, keyed by the end of its first scratchpad block (what the server sees)."""
    af = {Transcript.from_record(rec).scratchpads[0][-60:]: rec["af_reasoning"] for rec in records}
    assert len(af) == len(records) and all(len(k) == 60 for k in af)
    return af


def test_evaluate_reports_agreement_with_the_judge(tmp_path, example_records):
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    from fakingclf.classifier import FakingClassifier, shipped_model_dir
    from fakingclf.evaluate import evaluate_files

    af = _af_by_reasoning(example_records)

    def answer(body, attempt):
        text = body["messages"][1]["content"]
        yes = next(v for k, v in af.items() if k in text)
        return Reply(vote_json(comply="yes" if yes and body["seed"] != 3 else "no"))

    out = _judged_file(tmp_path, example_records, answer)
    rules = shipped_model_dir("rules-only")
    res = evaluate_files([str(out)], model=str(rules), label_field="judge.af_fraction", n_resamples=200,
                         label_threshold=0.6)
    clf = FakingClassifier.load(rules)
    ts = [Transcript.from_record(rec) for rec in example_records]
    p = clf.predict_proba(ts)
    y = np.array([int(rec["af_reasoning"]) for rec in example_records])  # fraction 0.75 or 0 vs 0.6
    assert res["label_threshold"] == 0.6 and res["overall"]["n"] == 18
    assert res["overall"]["auroc"] == pytest.approx(roc_auc_score(y, p), abs=5e-5)  # reported to 4 decimals
    assert res["overall"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(y, (p >= clf.threshold).astype(int)))
    # a text label gets no kappa
    plain = evaluate_files([str(out)], model=str(rules), label_field="label", n_resamples=200)
    assert "cohen_kappa" not in plain["overall"] and "label_threshold" not in plain


@pytest.mark.slow
def test_judge_train_label_end_to_end(tmp_path, example_records):
    """The whole loop: judge a small file, train on the vote fractions, label with the new model."""
    af = _af_by_reasoning(example_records)
    records = [dict(rec, id=f"{rec['id']}-{k}", origin=f"batch{k}") for k in range(2) for rec in example_records]

    def answer(body, attempt):
        yes = next(v for key, v in af.items() if key in body["messages"][1]["content"])
        return Reply(vote_json(comply="yes" if yes and body["seed"] != 0 else "no",
                               compliance="compliance" if yes else "refusal"))

    judged = _judged_file(tmp_path, records, answer)
    assert [r["judge"]["af_fraction"] for r in rows(judged)[:18]] == [0.75 if r["af_reasoning"] else 0.0
                                                                     for r in example_records]
    model_dir = tmp_path / "my_model"
    r = subprocess.run(CLI + ["train", str(judged), "--label-field", "judge.af_fraction", "--rules-only",
                              "-o", str(model_dir)], capture_output=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr.decode()
    err = " ".join(r.stderr.decode().split())
    n_af = 2 * sum(rec["af_reasoning"] for rec in example_records)
    assert f"read 36 labeled transcripts ({n_af} alignment faking)" in err
    assert "1 record(s) with an error and no label skipped" in err
    info = json.loads((model_dir / "model.json").read_text())
    assert info["training_data"]["n"] == 36 and info["training_data"]["origins"] == {"batch0": 18, "batch1": 18}
    labeled = tmp_path / "labeled.jsonl"
    r = subprocess.run(CLI + ["label", str(judged), "--model", str(model_dir), "-o", str(labeled)],
                       capture_output=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr.decode()
    preds = rows(labeled)
    assert len(preds) == 37 and preds[-1]["error"]["type"] == "invalid_record"
    assert all(p["label"] in {"refusal", "genuine_compliance", "faked_compliance"} for p in preds[:36])
    from fakingclf.classifier import FakingClassifier

    assert {p["model_version"] for p in preds} == {FakingClassifier.load(model_dir).version}
    figures = tmp_path / "fig.json"
    r = subprocess.run(CLI + ["evaluate", str(judged), "--label-field", "judge.af_fraction", "--model",
                              str(model_dir), "--json", str(figures), "--bootstrap", "200"],
                       capture_output=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr.decode()
    assert "κ" in r.stdout.decode()
    res = json.loads(figures.read_text())
    from sklearn.metrics import cohen_kappa_score

    y = np.array([int(p["af_reasoning"]) for p in example_records] * 2)
    p = np.array([q["p_alignment_faking"] for q in preds[:36]])
    assert res["overall"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(y, (p >= 0.5).astype(int)))
