"""Compliance figures for docs/benchmarks.md (called by af_reasoning.py): the learned
compliance model against the rule-based one, out of fold under the same protocols."""

from __future__ import annotations

import numpy as np

from fakingclf.combine import compliance_probability, is_partial_compliance
from fakingclf.compliance import ComplianceModel, _decide, compliance_labels
from fakingclf.cues import CueDetector


def _scores(true: list[str], pred: list[str]) -> dict:
    t, p = np.array(true), np.array(pred)
    refused_t, refused_p = t == "refusal", p == "refusal"
    part_t, part_p = t == "partial", p == "partial"
    tp = int((part_t & part_p).sum())
    return {
        "n": int(len(t)),
        "n_refusal": int(refused_t.sum()),
        "n_partial": int(part_t.sum()),
        "refusal_vs_compliance_accuracy": float(np.mean(refused_t == refused_p)),
        "three_way_accuracy": float(np.mean(t == p)),
        "partial_precision": tp / int(part_p.sum()) if part_p.any() else None,
        "partial_recall": tp / int(part_t.sum()) if part_t.any() else None,
        "refusals_read_as_compliance": int((refused_t & ~refused_p).sum()),
    }


def compliance_section(rows: list[dict], ts: list, folds: dict, **params) -> tuple[dict, list[str]]:
    """Figures and Markdown lines. Rows without a compliance label (development rows) are
    never tested; they are not used for training either (they carry no final output)."""
    det = CueDetector()
    reps = det.detect_many(ts)
    labels = compliance_labels(ts)
    has = np.array([lab is not None and t.output is not None for lab, t in zip(labels, ts)])

    def rule(i):
        p_c, _ = compliance_probability(ts[i], reps[i])
        if p_c < 0.5:
            return "refusal"
        return "partial" if is_partial_compliance(reps[i], p_c) else "compliance"

    results, out = {}, ["## Compliance: refusal / compliance / partial", "",
                        "Out of fold, on the transcripts with a final output and a `compliance` label. The learned "
                        "model (`fakingclf.compliance.ComplianceModel`) is fit on the training rows of each fold; "
                        "the rule-based reading is the fixed-value rules it replaces (tags, refusal language, "
                        "hedging cues). Refusal-vs-compliance counts partial compliance as compliance.", "",
                        "| protocol | method | n | refusals | partial | refusal vs compliance acc | 3-way acc | "
                        "partial precision | partial recall | refusals read as compliance |",
                        "|---|---|---|---|---|---|---|---|---|---|"]
    for proto, fl in folds.items():
        pred = {}
        tested = []
        for tr, te in fl:
            tr = [i for i in tr if has[i]]
            te = [i for i in te if has[i]]
            m = ComplianceModel(**params).fit([ts[i] for i in tr], [reps[i] for i in tr], [labels[i] for i in tr],
                                              groups=[rows[i]["group"] for i in tr])
            # as the library does (FakingClassifier.compliance): outputs the head does not cover
            # (tags only, or shorter than any compliant training answer) go to the rules
            rule_te = [i for i in te if not m.covers(ts[i])]
            te = [i for i in te if m.covers(ts[i])]
            for i in rule_te:
                pred[i] = rule(i)
            tested += rule_te
            if not te:
                continue
            # the library's decision (FakingClassifier.predict): refusal when p_compliance < 0.5,
            # else partial when partial is at least as likely as full compliance
            for i, lab in zip(te, _decide(m.predict_proba([ts[i] for i in te], [reps[i] for i in te]))):
                pred[i] = str(lab)
            tested += te
        if not tested:
            continue
        true = [labels[i] for i in tested]
        block = {"learned": _scores(true, [pred[i] for i in tested]),
                 "rule-based": _scores(true, [rule(i) for i in tested])}
        results[proto] = block
        for name, s in block.items():
            def f(x):
                return "–" if x is None else f"{x:.3f}"
            out.append(f"| {proto} | {name} | {s['n']} | {s['n_refusal']} | {s['n_partial']} | "
                       f"{f(s['refusal_vs_compliance_accuracy'])} | {f(s['three_way_accuracy'])} | "
                       f"{f(s['partial_precision'])} | {f(s['partial_recall'])} | {s['refusals_read_as_compliance']} |")
    out.append("")
    return results, out
