"""Every notebook in examples/notebooks runs to the end (its cells assert
what they show), and shows its tables and plots."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"
VEGA_LITE = "application/vnd.vegalite.v5+json"


def execute(name):
    path = NOTEBOOKS / name
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def outputs(notebook):
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_there_are_notebooks_and_each_is_tested():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(EXPECTED), "every notebook has a test below"


def test_the_kademlia_walkthrough_finds_the_exact_closest_and_draws_the_hops():
    nb = execute("kademlia-walkthrough.ipynb")
    printed = "".join(o.get("text", "") for o in outputs(nb) if o.output_type == "stream")
    assert "found the exact 20 closest" in printed
    assert any(VEGA_LITE in o.get("data", {}) for o in outputs(nb))


def test_the_failure_injection_notebook_shows_the_split_and_its_messages():
    nb = execute("failure-injection.ipynb")
    tables = [o for o in outputs(nb) if "text/html" in o.get("data", {})]
    assert any("healed" in t["data"]["text/html"] for t in tables)
    assert any(VEGA_LITE in o.get("data", {}) for o in outputs(nb))


def test_the_head_to_head_notebook_reports_a_paired_comparison(tmp_path):
    nb = execute("head-to-head.ipynb")
    assert any("text/markdown" in o.get("data", {}) for o in outputs(nb)), "the report renders as Markdown"
    assert any(VEGA_LITE in o.get("data", {}) for o in outputs(nb))


EXPECTED = ["kademlia-walkthrough.ipynb", "failure-injection.ipynb", "head-to-head.ipynb"]
