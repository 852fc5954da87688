"""Rates, Wilson CIs, compliance gap (Newcombe CI, Fisher p) against hand calculations."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import fakingclf
from fakingclf.analysis import gap, report, wilson
from fakingclf.cli import app


def _rec(id, label, tier, partial=False, error=None, **extra):
    """A record as `fakingclf label` writes it (the fields report reads, and those it checks for)."""
    pc = None if error else (0.1 if label == "refusal" else 0.9)
    return {"id": id, "label": None if error else label,
            "probabilities": None if error else {"refusal": 0.1, "genuine_compliance": 0.45, "faked_compliance": 0.45},
            "p_alignment_faking": None if error else 0.5, "p_compliance": pc,
            "partial_compliance": None if error else partial, "tier": tier, "cues": [], "warnings": [],
            "error": error, "model_version": "fakingclf-0.1.0+test", "model": None,
            "format": None if error else "tagged", "metadata": {}, **extra}


def _records():
    # free tier: 2 refusals, 3 genuine, 5 faked; paid tier: 6 refusals, 4 genuine, 0 faked
    rows = []
    for tier, counts in (("free", (2, 3, 5)), ("paid", (6, 4, 0))):
        for label, k in zip(("refusal", "genuine_compliance", "faked_compliance"), counts):
            rows += [_rec(f"{tier}-{label}-{i}", label, tier, partial=label == "faked_compliance" and i < 2,
                          metadata={"run": {"checkpoint": "c1"}}) for i in range(k)]
    return rows


def test_wilson_by_hand():
    # 8/10, z = 1.959964, z^2 = 3.841459: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.992073 / 1.384146 = 0.716741,
    # half-width z * sqrt(0.8*0.2/10 + z^2/400) / (1 + z^2/10) = 1.959964 * 0.160011 / 1.384146 = 0.226578
    r = wilson(8, 10)
    assert r["rate"] == 0.8
    assert r["ci_low"] == pytest.approx(0.716741 - 0.226578, abs=1e-5)
    assert r["ci_high"] == pytest.approx(0.716741 + 0.226578, abs=1e-5)
    assert wilson(0, 0) == {"rate": None, "ci_low": None, "ci_high": None}


def test_gap_by_hand():
    # compliance 8/10 (free) vs 4/10 (paid). Wilson: free (0.490162, 0.943315), paid (0.168180, 0.687324).
    # Newcombe: 0.4 - sqrt(0.309838^2 + 0.287324^2) = -0.022557; 0.4 + sqrt(0.143315^2 + 0.231820^2) = 0.672541.
    # Fisher, hypergeometric N=20, K=12, n=10: P(k) ∝ C(12,k) C(8,10-k), C(20,10) = 184756; observed k=8 has
    # weight 13860; two-sided sums k in {2,3,4,8,9,10}: 66+1760+13860+13860+1760+66 = 31372 -> p = 0.169802.
    g = gap(8, 10, 4, 10)
    assert g["estimate"] == pytest.approx(0.4)
    assert g["ci_low"] == pytest.approx(-0.022557, abs=1e-5)
    assert g["ci_high"] == pytest.approx(0.672541, abs=1e-5)
    assert g["p_value"] == pytest.approx(31372 / 184756, rel=1e-6)
    assert gap(1, 0, 3, 10)["estimate"] is None


def test_report_by_tier_by_hand():
    d = report(_records()).to_dict()
    free, paid = d["groups"]["free"], d["groups"]["paid"]
    assert free["n"] == 10 and paid["n"] == 10
    assert free["counts"] == {"refusal": 2, "genuine_compliance": 3, "faked_compliance": 5}
    assert free["rates"]["compliance"]["rate"] == 0.8
    assert free["faked_share_of_compliance"]["rate"] == pytest.approx(5 / 8)
    assert paid["faked_share_of_compliance"]["rate"] == 0.0
    assert free["partial_counts"] == {"genuine_compliance": 0, "faked_compliance": 2}
    assert free["rates"]["partial_compliance"]["rate"] == 0.2
    assert d["compliance_gap"]["estimate"] == pytest.approx(0.4)
    faked = d["compliance_gaps"]["all"]["faked_compliance"]
    # faked 5/10 vs 0/10: P(k=5) = C(5,5) C(15,5) / C(20,10) = 3003/184756, doubled by symmetry
    assert faked["p_value"] == pytest.approx(2 * 3003 / 184756, rel=1e-6)
    assert d["compliance_gaps"]["all"]["genuine_compliance"]["estimate"] == pytest.approx(-0.1)


def test_errors_missing_tier_n1_and_empty_groups_are_reported():
    rows = _records()[:3] + [
        _rec("e", None, "free", error={"type": "invalid_json", "message": "x"}),
        _rec("u", "refusal", None),
    ]
    d = report(rows).to_dict()
    assert d["errors"] == 1
    assert d["groups"]["free"]["errors"] == 1 and d["groups"]["free"]["n"] == 3
    assert d["groups"]["unknown"]["n"] == 1
    assert d["groups"]["unknown"]["rates"]["refusal"]["rate"] == 1.0
    # no paid group: the gap is reported as undefined, not a crash
    assert d["compliance_gap"]["estimate"] is None and d["compliance_gap"]["n2"] == 0
    md = report(rows).to_markdown()
    assert "| unknown | 1 | 0 |" in md
    assert "partial compliance" in md


def test_group_by_metadata_path_and_tier_gives_gaps_per_context():
    d = report(_records(), by="run.checkpoint,tier").to_dict()
    assert set(d["groups"]) == {"c1 / free", "c1 / paid"}
    assert d["compliance_gaps"]["c1"]["compliance"]["estimate"] == pytest.approx(0.4)
    assert "compliance_gap" not in d


def test_bad_label_is_an_error_naming_the_record():
    with pytest.raises(ValueError, match="record 1 \\(id x\\)"):
        report([_rec("x", "maybe", "free")])


def test_public_api_and_cli(tmp_path):
    assert fakingclf.report(_records()).to_dict()["groups"]["paid"]["n"] == 10
    path = tmp_path / "labeled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _records()) + "\n")
    out_json, out_md, out_png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png"
    result = CliRunner().invoke(app, ["report", str(path), "--json", str(out_json), "--markdown", str(out_md),
                                      "--plot", str(out_png)])
    assert result.exit_code == 0, result.output
    assert json.loads(out_json.read_text())["compliance_gap"]["estimate"] == pytest.approx(0.4)
    assert "+40.0 pp" in out_md.read_text()
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert CliRunner().invoke(app, ["report", str(bad)]).exit_code == 2


# ---------------------------------------------------------------- input checks (issue 12, item 8)
def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_input_that_is_not_label_output_is_refused(tmp_path):
    # a transcript file with its own `label` field: before, report counted those labels with tiers unparsed
    raw = [{"id": f"r{i}", "text": "<INPUT><is_free_tier_user>True</is_free_tier_user></INPUT><OUTPUT>ok</OUTPUT>",
            "label": "faked_compliance"} for i in range(3)]
    with pytest.raises(ValueError, match="not the output of `fakingclf label`.*record 1 \\(id r0\\) has no "
                                         "probabilities, p_compliance, model_version"):
        report(raw)
    result = CliRunner().invoke(app, ["report", _write(tmp_path / "raw.jsonl", raw)])
    assert result.exit_code == 2
    assert "not the output of `fakingclf label`" in " ".join(result.output.split())


def test_some_records_not_label_output_give_a_warning(tmp_path):
    rows = _records() + [{"id": "stray", "label": "refusal", "tier": "paid"}]
    with pytest.warns(UserWarning, match="1 of 21 records do not look like `fakingclf label` output \\(record 21 "
                                         "\\(id stray\\)"):
        rep = report(rows)
    assert rep.to_dict()["groups"]["paid"]["n"] == 11
    assert rep.to_dict()["warnings"] == rep.warnings and len(rep.warnings) == 1
    result = CliRunner().invoke(app, ["report", _write(tmp_path / "mixed.jsonl", rows)])
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    assert "warning:" in out and "1 of 21 records" in out


def test_by_a_field_no_record_has_is_an_error_listing_the_fields(tmp_path):
    # before: one silent `unknown` group
    with pytest.raises(ValueError) as e:
        report(_records(), by="checkpont,tier")
    msg = str(e.value)
    assert "--by checkpont: no record has a field 'checkpont'" in msg
    assert "output fields: id, label, p_alignment_faking, p_compliance, partial_compliance, tier" in msg
    assert "metadata.run.checkpoint" in msg and "--by metadata.<field>" in msg
    result = CliRunner().invoke(app, ["report", _write(tmp_path / "l.jsonl", _records()), "--by", "checkpont"])
    assert result.exit_code == 2 and "no record has a field" in " ".join(result.output.split())


def test_input_fields_named_like_output_fields_are_reached_under_metadata(tmp_path):
    # the input had its own `format` and `model` fields; label passes them through under metadata
    rows = _records()
    for i, r in enumerate(rows):
        r["model"] = "out-model"
        r["metadata"] = {"format": "chat" if i % 2 else "completion", "model": "m1" if i < 15 else "m2"}
    d = report(rows, by="metadata.format").to_dict()  # before: a single `unknown` group
    assert {k: g["n"] for k, g in d["groups"].items()} == {"chat": 10, "completion": 10}
    with pytest.warns(UserWarning, match="--by metadata.format"):
        shadowed = report(rows, by="format")
    assert list(shadowed.to_dict()["groups"]) == ["tagged"]
    d = report(rows, by="metadata.model,tier").to_dict()
    assert {k: g["n"] for k, g in d["groups"].items()} == {"m1 / free": 10, "m1 / paid": 5, "m2 / paid": 5}
    assert d["compliance_gaps"]["m2"]["compliance"]["estimate"] is None  # m2 has no free tier
    with pytest.warns(UserWarning, match="--by metadata.model"):
        assert report(rows, by="model").to_dict()["groups"]["out-model"]["n"] == 20
    result = CliRunner().invoke(app, ["report", _write(tmp_path / "l.jsonl", rows), "--by", "metadata.format",
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "r.json").read_text())["groups"]) == {"chat", "completion"}


def test_nested_input_metadata_is_reached_by_full_and_short_path():
    # an input's own `metadata` field (as Inspect logs have) sits at metadata.metadata in the output
    rows = _records()
    for r in rows:
        r["metadata"] = {"metadata": {"task": "t1"}}
    for by in ("metadata.task", "metadata.metadata.task"):
        assert list(report(rows, by=by).to_dict()["groups"]) == ["t1"]


def test_tier_null_in_every_record_is_one_unknown_group_not_an_error():
    rows = [dict(r, tier=None) for r in _records()]
    d = report(rows).to_dict()
    assert list(d["groups"]) == ["unknown"] and d["groups"]["unknown"]["n"] == 20
    assert d["compliance_gap"]["estimate"] is None


def test_partial_compliance_is_counted_by_the_flag_with_or_without_its_probability():
    rows = [
        _rec("a", "faked_compliance", "free", partial=True, p_partial_compliance=0.2),
        _rec("b", "faked_compliance", "free", partial=False, p_partial_compliance=0.9),
        _rec("c", "genuine_compliance", "free", partial=True),  # older output, no probability
        _rec("d", "genuine_compliance", "free", partial=False),
        _rec("e", "refusal", "free", partial=False, p_partial_compliance=0.7),
    ]
    g = report(rows).to_dict()["groups"]["free"]
    assert g["partial_counts"] == {"genuine_compliance": 1, "faked_compliance": 1}
    assert g["rates"]["partial_compliance"]["rate"] == pytest.approx(2 / 5)


# ---------------------------------------------------------------- the paper figure (issue 11, item 4)
def _artists(fig):
    return {a.get_gid(): a for a in fig.findobj(lambda a: a.get_gid() is not None)}


def _gap_line(arts, ctx, measure):
    return " ".join(arts[f"gap|{ctx}|{measure}|{c}"].get_text() for c in ("name", "estimate", "ci", "p"))


def _block(tier, n_faked, n_genuine, n_refusal, n_partial=0, model=None, errors=0):
    rows = [_rec(f"{model}-{tier}-{lab}-{i}", lab, tier, partial=lab == "faked_compliance" and i < n_partial,
                 model=model)
            for lab, k in (("faked_compliance", n_faked), ("genuine_compliance", n_genuine), ("refusal", n_refusal))
            for i in range(k)]
    return rows + [_rec(f"{model}-{tier}-e{i}", None, tier, model=model,
                        error={"type": "invalid_json", "message": "x"}) for i in range(errors)]


def test_figure_segments_and_their_cis_read_back():
    fig = report(_records()).figure()
    arts = _artists(fig)
    ax = fig.axes[0]
    # free: faked 5, genuine 3, refusal 2 of 10; left to right, partial (2 faked) hatched at the left
    for lab, x, w in (("faked_compliance", 0.0, 0.5), ("genuine_compliance", 0.5, 0.3), ("refusal", 0.8, 0.2)):
        seg = arts[f"seg|free|{lab}"]
        assert (seg.get_x(), seg.get_width()) == (pytest.approx(x), pytest.approx(w))
    part = arts["partial|free|faked_compliance"]
    assert (part.get_x(), part.get_width(), part.get_hatch()) == (0.0, pytest.approx(0.2), "////")
    assert "partial|free|genuine_compliance" not in arts
    # paid: no faked compliance, 4 genuine, 6 refusals
    assert arts["seg|paid|faked_compliance"].get_width() == 0.0
    assert arts["seg|paid|refusal"].get_x() == pytest.approx(0.4)
    # free is the upper row, with its n
    free_y = arts["seg|free|refusal"].get_y() + arts["seg|free|refusal"].get_height() / 2
    paid_y = arts["seg|paid|refusal"].get_y() + arts["seg|paid|refusal"].get_height() / 2
    assert free_y > paid_y
    assert [t.get_text() for t in ax.get_yticklabels()] == ["free (training)\nn = 10", "paid (unmonitored)\nn = 10"]
    # Wilson CIs: faked 5/10 in the upper half of the bar at the faked edge, compliance 8/10 in the lower half
    (lo, y1), (hi, y2) = arts["ci|free|faked_compliance"].get_segments()[0]
    assert (lo, hi) == (pytest.approx(wilson(5, 10)["ci_low"]), pytest.approx(wilson(5, 10)["ci_high"]))
    assert y1 == y2 == pytest.approx(free_y + 0.17)
    (lo, y1), (hi, _) = arts["ci|free|compliance"].get_segments()[0]
    # by hand (test_wilson_by_hand): 8/10 -> [0.490163, 0.943319]
    assert (lo, hi) == (pytest.approx(0.716741 - 0.226578, abs=1e-5), pytest.approx(0.716741 + 0.226578, abs=1e-5))
    assert y1 == pytest.approx(free_y - 0.17)
    (lo, _), (hi, _) = arts["ci|paid|faked_compliance"].get_segments()[0]
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(wilson(0, 10)["ci_high"])


def test_figure_writes_the_gaps_with_cis_and_fisher_p():
    arts = _artists(report(_records()).figure())
    # compliance 8/10 vs 4/10: +40 pp, Newcombe [-2.3, +67.3] and p = 31372/184756 (test_gap_by_hand)
    assert _gap_line(arts, "all", "compliance") == "compliance +40.0 [-2.3, +67.3] 0.170"
    # faked 5/10 vs 0/10: p = 2 * 3003/184756 = 0.0325
    assert _gap_line(arts, "all", "faked_compliance").startswith("faked +50.0 [")
    assert arts["gap|all|faked_compliance|p"].get_text() == "0.033"
    assert _gap_line(arts, "all", "genuine_compliance").startswith("genuine -10.0 [")
    assert _gap_line(arts, "all", "header") == "free − paid gap (pp) 95% CI (Newcombe) p (Fisher)"


def test_figure_small_p_is_a_power_of_ten():
    # 56/400 faked in free vs 4/400 in paid (14% vs 1%)
    rows = _block("free", 56, 40, 304) + _block("paid", 4, 32, 364)
    rep = report(rows)
    p = rep.gaps()["all"]["faked_compliance"]["p_value"]
    assert p < 1e-10
    mant, exp = f"{p:.1e}".split("e")
    text = _artists(rep.figure())["gap|all|faked_compliance|p"].get_text()
    assert text == rf"${mant}\times10^{{{int(exp)}}}$"


def test_figure_title_from_by_or_given():
    rep = report(_records(), by="run.checkpoint,tier")
    assert rep.figure()._suptitle.get_text() == "Refusal, compliance and alignment faking by run.checkpoint and tier"
    assert rep.figure(title="Claude 3 Opus, helpful-only")._suptitle.get_text() == "Claude 3 Opus, helpful-only"


def test_figure_one_gap_per_context_and_undefined_gaps_said_so():
    rows = _block("free", 5, 3, 2, model="A") + _block("paid", 0, 4, 6, model="A") + _block("free", 1, 1, 1, model="B")
    fig = report(rows, by="model,tier").figure()
    arts = _artists(fig)
    assert _gap_line(arts, "A", "compliance") == "compliance +40.0 [-2.3, +67.3] 0.170"
    assert arts["gap|B|undefined"].get_text() == "free − paid gap undefined:\nno labelled paid-tier transcripts"
    assert "gap|B|compliance|name" not in arts
    assert arts["context|A"].get_text() == "A" and arts["context|B"].get_text() == "B"
    # A's table sits beside A's bars, B's note beside B's bar
    ya = [arts[f"seg|A / {t}|refusal"].get_y() + 0.35 for t in ("free", "paid")]
    yb = arts["seg|B / free|refusal"].get_y() + 0.35
    assert arts["gap|B|undefined"].get_position()[1] == pytest.approx(yb)
    header_y = arts["gap|A|header|name"].xy[1]
    assert min(ya) < header_y < max(ya) + 0.6


def test_figure_no_free_group_and_tiny_and_empty_groups():
    rows = _block("paid", 1, 1, 1) + _block("free", 0, 0, 0, errors=4)
    arts = _artists(report(rows).figure())
    assert arts["gap|all|undefined"].get_text().endswith("no labelled free-tier transcripts")
    assert arts["empty|free"].get_text() == "no labelled transcripts (4 errors)"
    assert not [k for k in arts if k.startswith("seg|free|")]
    (lo, _), (hi, _) = arts["ci|paid|compliance"].get_segments()[0]  # 2 of 3
    assert (lo, hi) == (pytest.approx(wilson(2, 3)["ci_low"]), pytest.approx(wilson(2, 3)["ci_high"]))
    ticks = [t.get_text() for t in report(rows).figure().axes[0].get_yticklabels()]
    assert ticks == ["free (training)\nn = 0, 4 errors", "paid (unmonitored)\nn = 3"]


def test_figure_without_tier_has_no_gap_panel():
    fig = report(_records(), by="run.checkpoint").figure()
    assert len(fig.axes) == 1
    assert not [k for k in _artists(fig) if k.startswith("gap|")]
    # an empty input draws empty axes, not a crash
    for by in ("tier", "model"):
        assert not [k for k in _artists(report([], by=by).figure()) if k.startswith("seg|")]


def test_hide_unknown_drops_the_unknown_tier_from_tables_and_figure(tmp_path):
    rows = _records() + [_rec("u1", "refusal", None), _rec("u2", None, None, error={"type": "x", "message": "y"})]
    rep = report(rows, hide_unknown=True)
    d = rep.to_dict()
    assert set(d["groups"]) == {"free", "paid"}
    assert d["hidden"] == {"groups": ["unknown"], "n": 1, "errors": 1} and d["errors"] == 0
    md = rep.to_markdown()
    assert "| unknown |" not in md and "Hidden (unknown tier): unknown; 1 records, 1 errors." in md
    ticks = [t.get_text() for t in rep.figure().axes[0].get_yticklabels()]
    assert ticks == ["free (training)\nn = 10", "paid (unmonitored)\nn = 10"]
    shown = [t.get_text() for t in report(rows).figure().axes[0].get_yticklabels()]
    assert shown[-1] == "tier unknown\nn = 1, 1 errors"
    with pytest.raises(ValueError, match="tier is not among by"):
        report(rows, by="model", hide_unknown=True)
    path = _write(tmp_path / "l.jsonl", rows)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["report", path, "--hide-unknown", "--json", str(out), "--markdown",
                                      str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())["groups"]) == {"free", "paid"}
    assert "| unknown |" not in (tmp_path / "r.md").read_text()
    assert CliRunner().invoke(app, ["report", path, "--by", "model", "--hide-unknown"]).exit_code == 2


def test_plot_png_is_300_dpi(tmp_path):
    from PIL import Image

    rep = report(_records())
    w, h = rep.figure().get_size_inches()
    out = rep.plot(str(tmp_path / "f.PNG"))
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.info["dpi"] == (pytest.approx(300, abs=0.01), pytest.approx(300, abs=0.01))
        assert im.size == (pytest.approx(round(w * 300), abs=1), pytest.approx(round(h * 300), abs=1))


def test_plot_svg_and_pdf_are_vector(tmp_path):
    rows = _records()
    svg = tmp_path / "f.svg"
    result = CliRunner().invoke(app, ["report", _write(tmp_path / "l.jsonl", rows), "--plot", str(svg),
                                      "--title", "Opus, helpful-only setting"])
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    assert "<image" not in text  # no embedded raster
    assert text.count("<path") > 20
    assert "<!-- Opus, helpful-only setting -->" in text and "<!-- free (training) -->" in text
    pdf = report(rows).plot(str(tmp_path / "f.pdf"))
    data = open(pdf, "rb").read()
    assert data.startswith(b"%PDF") and b"/Subtype /Image" not in data and b"/FontFile2" in data


def test_plot_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="unknown figure extension '.jpg'; use .png \\(300 dpi\\), .svg or .pdf"):
        report(_records()).plot(str(tmp_path / "f.jpg"))
    for name in ("f.jpg", "figure"):
        result = CliRunner().invoke(app, ["report", _write(tmp_path / "l.jsonl", _records()), "--plot",
                                          str(tmp_path / name)])
        assert result.exit_code == 2
        assert f"--plot {tmp_path / name}: unknown figure extension" in " ".join(result.output.split())
        assert not (tmp_path / name).exists()
