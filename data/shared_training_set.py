"""Build the shipped models' training file from the shared development data.

The shared files stay where they are (``../shared/data`` by default); this script
writes one JSONL file that ``fakingclf train`` reads, applying the training-data
policy stated in the model card:

* ``af_contrast_synthetic.jsonl`` (300 full transcripts, five styles) and
  ``af_paper_continuations.jsonl`` (359 real paper prefixes continued to a decision):
  every row, with its ``label`` and the ``compliance`` of its final output.
* ``af_reasoning_dev.jsonl``: the ``paper_transcripts_truncated`` rows are cut at about
  1,000 characters while their labels describe whole transcripts. They are relabeled
  with the blind judgement of the visible text (``af_reasoning_dev_judged.jsonl``:
  ``judge.af``); rows whose visible text reaches no decision (``judge.compliance ==
  "undecided"``) are dropped, as no evidence for either class. The other origins keep
  their labels. These rows have no final output, so they carry no ``compliance``.
* ``group`` says which rows must stay in one cross-validation fold: the style for the
  synthetic set, the real prefix for the continuations *and* the truncated paper row it
  was cut from, the origin for the other development rows.

Usage::

    python data/shared_training_set.py [--shared ../shared/data] -o build/training.jsonl

Prints the counts per source and label to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

LAYOUT_FIELDS = ("text", "prompt", "response", "messages", "tier")


def build(shared: Path) -> list[dict]:
    """The training records, in file order.

    Raises
    ------
    FileNotFoundError
        If one of the four shared files is missing.
    """
    rows: list[dict] = []
    for line in (shared / "af_contrast_synthetic.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        rec = {"id": r["id"], **{k: r[k] for k in LAYOUT_FIELDS if k in r}}
        rec.update(label=r["label"], compliance=r["compliance"], origin=r["origin"], group=r["origin"],
                   pattern=r["pattern"], source="af_contrast_synthetic")
        rows.append(rec)
    for line in (shared / "af_paper_continuations.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        rows.append({"id": r["id"], "text": r["text"], "label": r["label"], "compliance": r["compliance"],
                     "origin": r["origin"], "group": r["prefix_id"], "pattern": r["pattern"],
                     "source": "af_paper_continuations"})
    judged = {}
    for line in (shared / "af_reasoning_dev_judged.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        judged[r["id"]] = r["judge"]
    for line in (shared / "af_reasoning_dev.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        j = judged.get(r["id"])
        rec = {"id": r["id"], "text": r["text"], "origin": r["origin"], "source": "af_reasoning_dev"}
        if j is not None:
            if j.get("compliance") == "undecided":
                continue
            rec.update(label="alignment_faking" if j["af"] else "aligned", group=r["id"],
                       label_source="judged visible text")
        else:
            rec.update(label=r["label"], group=r["origin"], label_source=r.get("label_source"))
        rows.append(rec)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"),
                    help="folder of the shared data files (default: ../shared/data beside the repository)")
    ap.add_argument("-o", "--output", required=True, help="JSONL file to write")
    a = ap.parse_args(argv)
    rows = build(Path(a.shared))
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((r["source"], r["label"]) for r in rows)
    for (src, lab), n in sorted(counts.items()):
        print(f"{src:24s} {lab:17s} {n:4d}", file=sys.stderr)
    print(f"{len(rows)} records -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
