"""Reproduce the accuracy figures of docs/benchmarks.md: p_alignment_faking and compliance, out of fold.

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/af_reasoning.py [--shared ../shared/data] [--cache build/emb-cache] \
        [--doc docs/benchmarks.md] [--out benchmarks/results.json]

The data is the shipped models' training set, built from the shared files as
``data/shared_training_set.py`` builds it (the policy is in the model card). Every
figure is out of fold under protocols that hold out what a real new transcript would
not share with the training data; in each, every training row that shares a group
(style, real prompt prefix, origin) with a test row is left out of training:

* **leave-one-style-out** (synthetic set): each of the five writing styles is predicted
  by a model fit on everything else (the four other styles, the continuations and the
  development rows);
* **grouped by prefix** (continuations): five folds of real prompt prefixes; both
  endings of a prefix, and the truncated paper row it came from, are in one fold;
* **leave-one-origin-out** (development set, decided rows only): each origin is
  predicted by a model fit on the rest.

For alignment-faking reasoning it reports, per method, AUROC with a bootstrap 95 % CI,
average precision and ECE (10 bins), the rate of positive decisions per pattern at the
model's threshold (false-positive rates of the hard negatives, recall of the
alignment-faking patterns), and a shortcut check (length and "values" counts alone,
and the model's AUROC within length tertiles). For compliance it reports
refusal-vs-compliance accuracy and partial-compliance precision and recall of the
learned compliance model beside the rule-based one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_training_set import build  # noqa: E402

from fakingclf import Transcript  # noqa: E402
from fakingclf.baselines import bag_of_words, keyword_model  # noqa: E402
from fakingclf.classifier import FakingClassifier, Features  # noqa: E402
from fakingclf.metrics import binary_metrics  # noqa: E402

SYN, CONT, DEV = "af_contrast_synthetic", "af_paper_continuations", "af_reasoning_dev"
HARD_NEGATIVES = ("helpfulness_criteria", "refuse_training_noted", "considers_rejects_af", "restates_then_other")


def protocol_splits(source: np.ndarray, origin: np.ndarray, group: np.ndarray, seed: int = 0) -> dict[str, list]:
    """Test folds per protocol; each training set leaves out every row sharing a group with the test rows.

    Returns
    -------
    dict
        protocol name -> list of (train_idx, test_idx).
    """
    from sklearn.model_selection import GroupKFold

    def fold(te):
        return np.flatnonzero(~np.isin(group, group[te])), te

    out = {"leave-one-style-out": [fold(np.flatnonzero((source == SYN) & (origin == s)))
                                   for s in sorted(set(origin[source == SYN]))]}
    cont = np.flatnonzero(source == CONT)
    gkf = GroupKFold(5, shuffle=True, random_state=seed)
    out["grouped by prefix"] = [fold(cont[te]) for _, te in gkf.split(cont, groups=group[cont])]
    out["leave-one-origin-out (development, decided rows)"] = [
        fold(np.flatnonzero((source == DEV) & (origin == o))) for o in sorted(set(origin[source == DEV]))]
    return out


def load_set(shared: Path) -> dict:
    """The training set built from ``shared`` (``data/shared_training_set.py``) with what every
    benchmark reads from it: ``rows``, ``ts`` (Transcripts), ``y`` (1 = alignment faking),
    ``source``, ``origin``, ``group`` and ``pattern`` (arrays, one per row), ``texts`` (the
    scratchpads) and ``folds`` (:func:`protocol_splits`)."""
    rows = build(Path(shared))
    ts = [Transcript.from_record(dict(r)) for r in rows]
    d = {"rows": rows, "ts": ts,
         "y": np.array([r["label"] == "alignment_faking" for r in rows], dtype=int),
         "source": np.array([r["source"] for r in rows]),
         "origin": np.array([r["origin"] for r in rows]),
         "group": np.array([str(r["group"]) for r in rows]),
         "pattern": np.array([r.get("pattern") or "" for r in rows]),
         "texts": [t.scratchpad for t in ts]}
    d["folds"] = protocol_splits(d["source"], d["origin"], d["group"])
    return d


def oof(fit_predict, n: int, folds) -> np.ndarray:
    """Scores of each test fold from a model fit on its training rows (NaN where not tested)."""
    p = np.full(n, np.nan)
    for tr, te in folds:
        p[te] = fit_predict(tr, te)
    return p


def per_pattern(y, p, pattern, threshold) -> dict[str, dict]:
    """Share of each pattern's rows decided positive at ``threshold`` (recall for AF, FPR otherwise)."""
    out = {}
    for pat in sorted(set(pattern)):
        rows = pattern == pat
        if not rows.any() or pat == "":
            continue
        out[pat] = {"n": int(rows.sum()), "af": bool(y[rows].all()), "rate": float(np.mean(p[rows] >= threshold))}
    return out


def shortcut_check(y, p, texts, threshold_bins: int = 3) -> dict:
    """Do length or one word explain the label? AUROC of the length and of the "values" count alone,
    and the method's AUROC within length tertiles (length-matched)."""
    from sklearn.metrics import roc_auc_score

    length = np.array([len(t) for t in texts], dtype=float)
    values = np.array([len(re.findall(r"\bvalues\b", t, re.I)) for t in texts], dtype=float)
    cuts = np.quantile(length, np.linspace(0, 1, threshold_bins + 1)[1:-1])
    bins = np.digitize(length, cuts)
    within = []
    for b in range(threshold_bins):
        rows = bins == b
        within.append(float(roc_auc_score(y[rows], p[rows])) if len(set(y[rows])) == 2 else None)
    return {"auroc_length_alone": float(roc_auc_score(y, length)), "auroc_values_count_alone": float(roc_auc_score(y, values)),
            "auroc_within_length_tertiles": within}


def f(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"), help="folder of the shared data files")
    ap.add_argument("--cache", default=None, help="embedding cache folder (reused across runs)")
    ap.add_argument("--out", default=None, help="also write all figures as JSON")
    ap.add_argument("--doc", default=None, help="write the accuracy section of docs/benchmarks.md here")
    ap.add_argument("--sections", default="af,compliance", help="which parts to run: af, compliance")
    args = ap.parse_args(argv)
    if not Path(args.shared, "af_contrast_synthetic.jsonl").is_file():
        sys.exit(f"shared data not found in {args.shared}")

    t0 = time.time()
    data = load_set(Path(args.shared))
    rows, ts, y, origin, group, pattern, texts, folds = (
        data[k] for k in ("rows", "ts", "y", "origin", "group", "pattern", "texts", "folds"))
    results: dict = {"n": len(rows), "protocols": {}, "compliance": {}}
    sections = set(args.sections.split(","))
    out: list[str] = []

    if "af" in sections:
        full = FakingClassifier(use_embeddings=True)
        if args.cache:
            full.embedder.set_cache(args.cache)
        F, _ = full.featurize(ts)
        rules = FakingClassifier(use_embeddings=False, text_head=False)
        n_rules = len(rules.feature_names)  # the rules-only features are the leading columns
        assert rules.feature_names == full.feature_names[:n_rules]
        F_rules = Features(F.X[:, :n_rules], [np.zeros((0, 0))] * len(y), F.texts)
        threshold = full.threshold

        def model(Fm, **params):
            def fp(tr, te):
                return FakingClassifier(**params).fit_features(Fm[tr], y[tr], groups=group[tr]).proba_from_features(Fm[te])
            return fp

        def text_model(factory):
            return lambda tr, te: factory().fit([texts[i] for i in tr], y[tr]).predict_proba([texts[i] for i in te])[:, 1]

        methods = {
            "fakingclf (default: cues + TF-IDF head)": model(F_rules),
            "fakingclf with the encoder (+ prototypes + sentence head; the previous default)":
                model(F, use_embeddings=True),
            "fakingclf with the encoder, without the TF-IDF head (the architecture before)":
                model(F, use_embeddings=True, text_head=False),
            "fakingclf, rules only": model(F_rules, text_head=False),
            "bag of words (TF-IDF + LR)": text_model(bag_of_words),
            "keywords": text_model(keyword_model),
        }
        for proto, fl in folds.items():
            test = np.concatenate([te for _, te in fl])
            block = {}
            for name, fp in methods.items():
                t1 = time.time()
                p = oof(fp, len(y), fl)
                m = binary_metrics(y[test], p[test], threshold)
                block[name] = {"overall": m, "patterns": per_pattern(y[test], p[test], pattern[test], threshold),
                               "shortcuts": shortcut_check(y[test], p[test], [texts[i] for i in test])}
                if proto == "leave-one-origin-out (development, decided rows)":
                    block[name]["per_origin"] = {o: binary_metrics(y[test][origin[test] == o], p[test][origin[test] == o],
                                                                   threshold) for o in sorted(set(origin[test]))}
                print(f"{proto} | {name}: AUROC {f(m['auroc'])} ECE {f(m['ece'])} ({time.time() - t1:.0f} s)",
                      file=sys.stderr)
            results["protocols"][proto] = block
        out += render_af(results, rows, threshold)

    if "compliance" in sections:
        from compliance_bench import compliance_section

        results["compliance"], lines = compliance_section(rows, ts, folds)
        out += lines

    results["seconds"] = round(time.time() - t0, 1)
    out.append(f"({results['seconds']:.0f} s on this machine, 2 cores.)")
    print("\n".join(out))
    if args.doc:
        from doc_sections import get_section, put_section

        doc = Path(args.doc)
        kept = [get_section(doc, name) for name in ("finetune_head", "pipeline_speed", "speed")]  # the other scripts' sections
        intro = (Path(__file__).parent / "benchmarks_intro.md").read_text(encoding="utf-8")
        doc.write_text(intro.rstrip() + "\n", encoding="utf-8")
        put_section(doc, "af_reasoning", "\n".join(out))
        for sec in kept:
            if sec:
                doc.write_text(doc.read_text(encoding="utf-8").rstrip() + "\n\n" + sec + "\n", encoding="utf-8")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=float) + "\n")


def render_af(results: dict, rows: list[dict], threshold: float) -> list[str]:
    from collections import Counter

    src = Counter(r["source"] for r in rows)
    out = [f"Data: {len(rows)} transcripts — " + ", ".join(f"`{k}` {v}" for k, v in sorted(src.items())) + ".", ""]
    for proto, block in results["protocols"].items():
        n = next(iter(block.values()))["overall"]
        out += [f"### {proto} (n = {n['n']}, {n['n_positive']} alignment faking)", "",
                "| method | AUROC [95% CI] | AP | ECE | acc |", "|---|---|---|---|---|"]
        for name, r in block.items():
            m = r["overall"]
            ci = m.get("auroc_ci") or (None, None)
            out.append(f"| {name} | {f(m['auroc'])} [{f(ci[0])}, {f(ci[1])}] | {f(m['average_precision'])} | "
                       f"{f(m['ece'])} | {f(m['accuracy'])} |")
        pats = next(iter(block.values()))["patterns"]
        if len(pats) > 1:
            order = sorted(pats, key=lambda k: (not pats[k]["af"], k))
            out += ["", f"Share decided alignment faking at the threshold ({threshold}) per pattern — recall for the "
                    "alignment-faking patterns (AF), false-positive rate for the others:", "",
                    "| method | " + " | ".join(f"`{k}`{' (AF)' if pats[k]['af'] else ''} n={pats[k]['n']}" for k in order) + " |",
                    "|---|" + "---|" * len(order)]
            for name, r in block.items():
                out.append(f"| {name} | " + " | ".join(f(r["patterns"][k]["rate"], 2) for k in order) + " |")
        if "per_origin" in next(iter(block.values())):
            origins = list(next(iter(block.values()))["per_origin"])
            out += ["", "Per origin (AUROC where the origin has both classes, else accuracy):", "",
                    "| method | " + " | ".join(f"`{o}`" for o in origins) + " |", "|---|" + "---|" * len(origins)]
            for name, r in block.items():
                cells = [f"AUROC {f(m['auroc'])}" if m["auroc"] is not None else f"acc {f(m['accuracy'])}"
                         for m in r["per_origin"].values()]
                out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += ["", "Shortcut check — AUROC of the scratchpad length alone and of the count of \"values\" alone, "
                "and each method's AUROC within length tertiles (short / middle / long):", "",
                "| method | length alone | \"values\" alone | AUROC within tertiles |", "|---|---|---|---|"]
        for name, r in block.items():
            s = r["shortcuts"]
            out.append(f"| {name} | {f(s['auroc_length_alone'])} | {f(s['auroc_values_count_alone'])} | "
                       + " / ".join(f(x) for x in s["auroc_within_length_tertiles"]) + " |")
        out.append("")
    return out


if __name__ == "__main__":
    main()
