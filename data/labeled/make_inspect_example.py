"""Write ``data/labeled/inspect_example.eval``: two records of ``formats.jsonl`` as a real Inspect AI log.

The log comes from a real ``inspect_ai.eval`` run, offline: the ``mockllm/model`` provider
replays each record's answer instead of calling a model. Two records are used:

* ``ex22`` (faked compliance, Anthropic thinking blocks): its thinking becomes a
  ``ContentReasoning`` block (with the record's placeholder signature), its reply a
  ``ContentText`` block;
* ``ex23`` (refusal, OpenAI Responses reasoning summary): stored the way Inspect stores an
  OpenAI reasoning item, as a redacted ``ContentReasoning`` whose ``reasoning`` is an
  (omitted) encrypted blob and whose ``summary`` is the readable summary, then the reply as
  ``ContentText``. The summary parts are joined as fakingclf joins them when it reads the
  JSONL record (a blank line, as OpenAI's and Inspect's clients join them), so the log and its
  JSONL twin give the same scratchpad text.

Each sample has the record's id, the system/developer and user turns as its input, and
metadata carrying the tier and the annotation (``label``, ``af_reasoning``, ``format``,
``source``). Every model output carries its token usage, so mockllm never fetches a
tokenizer, and Inspect writes its logs and data under a temporary folder.

Run it from the repository root::

    .venv/bin/python data/labeled/make_inspect_example.py            # rewrites data/labeled/inspect_example.eval
    .venv/bin/python data/labeled/make_inspect_example.py -o /tmp/x.eval

Deterministic up to what Inspect generates per run: the samples, messages, metadata and
outputs are the same every time, but the run's ids (``eval_id``, ``run_id``, sample
``uuid``), timestamps and timings (and the package versions and git revision Inspect records)
differ from run to run, so the file's bytes differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "formats.jsonl"
DEFAULT_OUT = HERE / "inspect_example.eval"
IDS = ("ex22", "ex23")  # one faked compliance, one refusal
MODEL = "mockllm/model"
TASK = "fakingclf_formats_example"
ENCRYPTED = "[encrypted reasoning omitted in this example]"


def load_records(ids=IDS, source=SOURCE) -> list[dict]:
    """The records ``ids`` of ``formats.jsonl``, in that order."""
    with open(source, encoding="utf-8") as f:
        by_id = {r["id"]: r for r in (json.loads(line) for line in f if line.strip())}
    return [by_id[i] for i in ids]


def _text(content) -> str:
    """A message's text: a string, or the text of its text blocks (``text``, ``input_text``…)."""
    if isinstance(content, str):
        return content
    return "\n".join(b["text"] for b in content if isinstance(b.get("text"), str) and b.get("type") != "reasoning")


def _tier(record: dict, user_text: str):
    from fakingclf.transcript import parse_tier

    if record.get("tier") is not None:
        return parse_tier(record["tier"])
    if record.get("is_free_tier_user") is not None:
        return parse_tier(record["is_free_tier_user"])
    from fakingclf import Transcript

    return Transcript.from_record(record).tier  # from <is_free_tier_user> in the user turn


def sample_parts(record: dict):
    """``(input messages, assistant content blocks, metadata)`` of one record."""
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser, ContentReasoning, ContentText

    messages = record["messages"]
    system = record.get("system") or next(
        (_text(m["content"]) for m in messages if m["role"] in ("system", "developer")), None
    )
    user = next(_text(m["content"]) for m in messages if m["role"] == "user")
    assistant = next(m for m in messages if m["role"] == "assistant")
    content = []
    for block in assistant["content"]:
        kind = block.get("type")
        if kind == "thinking":  # Anthropic: readable thinking plus its signature
            content.append(ContentReasoning(reasoning=block["thinking"], signature=block.get("signature")))
        elif kind == "reasoning":  # OpenAI Responses: encrypted reasoning, readable summary
            summary = "\n\n".join(s["text"] for s in block["summary"])
            content.append(ContentReasoning(reasoning=ENCRYPTED, summary=summary, redacted=True,
                                            signature=block.get("id")))
        elif isinstance(block.get("text"), str):
            content.append(ContentText(text=block["text"]))
    inputs = ([ChatMessageSystem(content=system)] if system else []) + [ChatMessageUser(content=user)]
    metadata = {
        "tier": _tier(record, user),
        "label": record["label"],
        "af_reasoning": record["af_reasoning"],
        "format": record["format"],
        "source": f"data/labeled/formats.jsonl#{record['id']}",
    }
    return inputs, content, metadata


def build_log(out_path: Path) -> Path:
    """Run the mock eval in a temporary folder and move its log to ``out_path``."""
    from inspect_ai import Task, eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.solver import generate

    samples, replies = [], {}
    for record in load_records():
        inputs, content, metadata = sample_parts(record)
        samples.append(Sample(id=record["id"], input=inputs, metadata=metadata))
        replies[inputs[-1].text] = content

    def reply(messages, tools, tool_choice, config):
        out = ModelOutput.from_content(MODEL, replies[messages[-1].text])
        out.usage = ModelUsage(input_tokens=100, output_tokens=100, total_tokens=200)  # no tokenizer download
        return out

    with tempfile.TemporaryDirectory() as tmp:
        [log] = inspect_eval(
            Task(dataset=MemoryDataset(samples, name="formats_jsonl"), solver=generate(), name=TASK),
            model=get_model(MODEL, custom_outputs=reply),
            log_dir=str(Path(tmp) / "logs"), log_format="eval", display="none",
        )
        if log.status != "success":
            raise SystemExit(f"the mock eval did not succeed: {log.status} {log.error}")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(log.location, out_path)
    return out_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        # Inspect writes its data (traces) and default logs here, and displays nothing
        os.environ["XDG_DATA_HOME"] = str(Path(home) / "data")
        os.environ["INSPECT_LOG_DIR"] = str(Path(home) / "logs")
        os.environ["INSPECT_DISPLAY"] = "none"
        path = build_log(args.output)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, samples {', '.join(IDS)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
