"""The benchmark scripts run (tiny sizes) and write their section of a Markdown page.

Figures themselves are not asserted here: speed is measured by benchmarks/speed.py,
not by timed tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from doc_sections import get_section, put_section  # noqa: E402


def test_sections_are_replaced_in_place(tmp_path):
    doc = tmp_path / "b.md"
    doc.write_text("# Title\n\nintro\n", encoding="utf-8")
    put_section(doc, "speed", "old table")
    put_section(doc, "af_reasoning", "accuracy")
    put_section(doc, "speed", "new table")
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nintro\n")
    assert "new table" in text and "old table" not in text
    assert text.index("new table") < text.index("accuracy")  # kept its place
    assert get_section(doc, "speed").count("\n") == 2


@pytest.mark.slow
def test_speed_script_runs_and_writes_its_section(tmp_path):
    doc, out = tmp_path / "b.md", tmp_path / "speed.json"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "speed.py"), str(REPO / "data" / "labeled" / "examples.jsonl"),
         "--sizes", "20,40", "--modes", "tokenizer,rules", "--startup-runs", "1", "--repeat", "2", "--doc", str(doc),
         "--out", str(out),
         "--distinct", str(REPO / "data" / "labeled" / "examples.jsonl")],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())
    runs = results["runs"]
    n_examples = sum(1 for line in (REPO / "data" / "labeled" / "examples.jsonl").open() if line.strip())
    assert [(x["lines"], x["mode"], x["input"]) for x in runs] == [
        (20, "tokenizer", "resampled"), (20, "rules", "resampled"), (40, "tokenizer", "resampled"),
        (40, "rules", "resampled"), (n_examples, "tokenizer", "distinct"), (n_examples, "rules", "distinct")]
    assert all(x["net_per_second"] > 0 for x in runs)
    # the median of two rounds (their mean), each rounded to 0.01 s
    assert all(len(x["seconds_each"]) == 2 and abs(x["seconds"] - sum(x["seconds_each"]) / 2) < 0.011 for x in runs)
    assert all(x["per_second"] > 0 and x["peak_rss_mb"] > 50 for x in runs if x["mode"] == "rules")
    assert all(x["texts"] == 2 * x["lines"] for x in runs if x["mode"] == "tokenizer")  # scratchpad and output
    assert set(results["startup"]) == {"spacy_blank", "rules_only", "rules_only_w2", "default"}
    section = get_section(doc, "speed")
    assert "| rules-only | " in section and "20 lines" in section and "40 lines" in section
    assert "x its floor" in section and "x the spaCy start-up" in section
    assert "on the distinct texts" in section and f"{n_examples:,} lines" in section
    assert "the median of 2 round(s)" in section and "--repeat 2 " in section


def _finetune_results(complete: bool) -> dict:
    fold = {"held_out": ["a"], "n_test": 6, "n_train": 14, "steps": 6, "seconds": 12.5, "n_texts": 14,
            "n_windows": 20, "final_loss_mean10": 0.5,
            "auroc_in_fold": {"tfidf": 0.9, "sentence_head": 0.8, "finetuned": 0.7, "blend": 0.85}}
    protos = {"leave-one-style-out": {"n": 12, "n_af": 5, "folds": [fold, {**fold, "seconds": 14.0}],
                                      "auroc": {"tfidf": 0.91, "sentence_head": 0.81, "finetuned": 0.71, "blend": 0.86}},
              "leave-one-origin-out (development, decided rows)": {
                  "n": 8, "n_af": 3, "folds": [fold] if complete else [],
                  "auroc": ({"tfidf": 0.92, "sentence_head": 0.82, "finetuned": 0.95, "blend": 0.93} if complete
                            else {"tfidf": 0.92, "sentence_head": 0.82})}}
    return {"script": "benchmarks/finetune_head.py", "format": 1, "complete": complete, "n": 20, "n_af": 8,
            "epochs": 3, "command": "python benchmarks/finetune_head.py --epochs 3", "cpu_count": 2,
            "settings": {"max_len": 256, "overlap": 32, "pool": "lme", "batch_texts": 8, "lr": 1e-4,
                         "head_lr": 2e-3, "weight_decay": 0.01, "seed": 0},
            "frozen_pass_seconds": 30.0, "n_windows": 40, "saved_bytes": 4731988, "protocols": protos}


def _render(tmp_path, results: dict):
    doc, res = tmp_path / "b.md", tmp_path / "r.json"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    res.write_text(json.dumps(results), encoding="utf-8")
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "finetune_head.py"), "--render", str(res),
                        "--doc", str(doc)], capture_output=True, text=True, timeout=60)
    return r, get_section(doc, "finetune_head")


def test_finetune_script_renders_its_section_from_a_results_file(tmp_path):
    r, section = _render(tmp_path, _finetune_results(complete=True))
    assert r.returncode == 0, r.stderr
    assert "| leave-one-style-out | 12 (5) | 0.9100 | 0.8100 | 0.7100 | 0.8600 |" in section
    assert "3 epochs" in section and "256-token windows" in section and "4.7 MB (4731988 bytes)" in section
    assert "2 fine-tunes on 14 training scratchpads each, 12–14 s per fine-tune" in section
    # the fine-tuned head beats TF-IDF on the origin protocol here: the section must not claim otherwise
    assert "It is not shipped: TF-IDF alone" not in section and "highest on: leave-one-style-out" in section


def test_finetune_render_marks_what_a_stopped_run_did_not_measure(tmp_path):
    r, section = _render(tmp_path, _finetune_results(complete=False))
    assert r.returncode == 0, r.stderr
    assert "| leave-one-origin-out (development, decided rows) | 8 (3) | 0.9200 | 0.8200 | – | – |" in section
    assert "stopped before it finished" in section and "no fine-tune in this run" in section
    assert "every protocol where all methods were measured" in section


def test_finetune_render_refuses_other_files(tmp_path):
    r, section = _render(tmp_path, {"protocols": {}})
    assert r.returncode != 0 and "not a results file" in r.stderr and section == ""


@pytest.mark.slow
def test_encoder_speed_script_runs_and_writes_its_section(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKINGCLF_ONNX_DIR", str(tmp_path / "onnx"))
    examples = REPO / "data" / "labeled" / "examples.jsonl"
    model = tmp_path / "m"
    subprocess.run([sys.executable, "-m", "fakingclf", "train", str(examples), "--encoder", "--no-eval",
                    "-o", str(model)], check=True, capture_output=True, timeout=600)
    doc, out = tmp_path / "b.md", tmp_path / "enc.json"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "encoder_speed.py"), str(examples), "--sizes", "6,12",
         "--model", str(model), "--startup-runs", "1", "--floor-runs", "1", "--doc", str(doc), "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())
    assert [(x["lines"], x["mode"]) for x in results["runs"]] == [
        (n, m) for n in (6, 12) for m in ("floor-torch", "label-torch", "floor-onnx", "label-onnx")]
    assert all(x["net_per_second"] > 0 and x["units"] > 0 for x in results["runs"])
    assert all(x["peak_rss_mb"] > 100 for x in results["runs"] if x["mode"].startswith("label"))
    assert set(results["startup"]) == {"torch", "onnx"} and results["model"]["encoder_backend"] is None
    section = get_section(doc, "encoder_speed")
    assert "| label --backend onnx | " in section and "6 lines" in section and "12 lines" in section
    assert "x its floor with torch" in section and "did not run the backend check" in section

    # rendering a run whose model was checked states both AUROCs and the default they chose
    results["model"]["encoder_backend"] = {"default": "onnx", "checked": True, "auroc": {"torch": 0.99, "onnx": 0.9888},
                                           "tolerance": 0.005, "max_abs_diff_p": 0.07, "label_agreement": 0.995,
                                           "n": 916, "folds": 5}
    out.write_text(json.dumps(results))
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "encoder_speed.py"), "--render", str(out),
                        "--doc", str(doc)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    section = get_section(doc, "encoder_speed")
    assert "torch 0.9900, onnx 0.9888" in section and "`--backend auto` is **onnx**" in section
    assert section.count("## Encoder backends") == 1


SHARED = REPO.parent / "shared" / "data"


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "af_reasoning_dev.jsonl").exists(), reason="../shared/data absent: the shared sets are needed")
def test_engine_speed_script_times_both_engines_on_the_shared_texts(capsys):
    import engine_speed

    out = engine_speed.main([str(SHARED), "--limit", "40"])
    assert out["texts"] == 40
    assert set(out) == {"texts", "spanruler_1", "spanruler_2", "engine_text_1", "engine_text_2", "engine_batch_1",
                        "engine_batch_2"}
    assert all(v >= 0 for v in out.values())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == out
