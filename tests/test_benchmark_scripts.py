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
         "--sizes", "20,40", "--modes", "rules", "--doc", str(doc), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [(x["lines"], x["mode"]) for x in runs] == [(20, "rules"), (40, "rules")]
    assert all(x["per_second"] > 0 and x["peak_rss_mb"] > 50 for x in runs)
    section = get_section(doc, "speed")
    assert "| rules-only | " in section and "20 lines" in section and "40 lines" in section
