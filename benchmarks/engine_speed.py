"""CPU seconds of the atom engine against spaCy's SpanRuler on the shared texts (docs/cues.md).

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/engine_speed.py [../shared/data] [--limit N]

Reads every transcript of the three shared sets, takes each non-empty text the cue
detector reads (the draft-masked scratchpad and the output), and times, in this one
process, two passes of each way of finding the atoms' sentences and labels:

* ``spanruler``: ``CueDetector(engine="spacy").sentences(text)``, text by text;
* ``engine_text``: a fresh ``AtomEngine``, ``sentences(text)`` text by text;
* ``engine_batch``: a fresh ``AtomEngine``, ``prepare`` and ``sentences_many`` over
  batches of 256 texts, as ``CueDetector.detect_many`` runs it.

The first pass of an engine starts with empty tables; the second finds every piece of
text known. Prints one JSON object of CPU seconds (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SETS = ("af_reasoning_dev.jsonl", "af_contrast_synthetic.jsonl", "af_paper_continuations.jsonl")


def main(argv=None) -> dict:
    from fakingclf.atoms import AtomEngine
    from fakingclf.cues import CueDetector, _atom_patterns, _blank, _lemma_table, mask_drafts
    from fakingclf.formats import read_record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N texts")
    args = ap.parse_args(argv)
    ts = []
    for name in SETS:
        with open(Path(args.data) / name, encoding="utf-8") as f:
            ts += [read_record(json.loads(line)) for line in f if line.strip()]
    texts = [x for t in ts for x in (mask_drafts(t.scratchpad), t.output or "") if x.strip()][: args.limit]
    table = _lemma_table()

    def fresh() -> AtomEngine:
        return AtomEngine(_blank(), _atom_patterns(), lemma=lambda low: table.get(low, low))

    def cpu(f) -> float:
        t = time.process_time()
        f()
        return round(time.process_time() - t, 2)

    spacy = CueDetector(engine="spacy")
    spacy.sentences("Warm up.")  # builds the pipeline
    out = {"texts": len(texts)}
    out["spanruler_1"] = cpu(lambda: [spacy.sentences(x) for x in texts])
    out["spanruler_2"] = cpu(lambda: [spacy.sentences(x) for x in texts])
    e = fresh()
    out["engine_text_1"] = cpu(lambda: [e.sentences(x) for x in texts])
    out["engine_text_2"] = cpu(lambda: [e.sentences(x) for x in texts])
    b = fresh()

    def batched() -> None:
        for i in range(0, len(texts), 256):
            batch = texts[i:i + 256]
            b.prepare(batch)
            b.sentences_many(batch)

    out["engine_batch_1"] = cpu(batched)
    out["engine_batch_2"] = cpu(batched)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
