"""Every notebook in notebooks/ must run top to bottom."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# what each notebook must print, so that a notebook that runs but computes nothing fails
EXPECTED = {"quickstart.ipynb": "agreement:", "compliance_gap.ipynb": "compliance gap:"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert EXPECTED[path.name] in outputs


def test_every_notebook_has_an_expected_output():
    assert sorted(EXPECTED) == sorted(p.name for p in NOTEBOOKS)
