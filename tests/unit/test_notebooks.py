"""The notebooks as committed: valid, and stripped of outputs (a diff shows code and text only, and no
lake's figures travel with the repository). tests/integration/test_notebooks.py executes them."""

from __future__ import annotations

import nbformat
import pytest

from support import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == ["attribution_funnel", "bid_landscape", "campaign_performance",
                                           "data_quality"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_valid_and_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None] == []
    assert [i for i, cell in enumerate(nb.cells) if "execution" in cell.metadata] == []  # nbclient's timings
    assert "from advertisex.notebook import open_lake" in code[0].source  # tables by name, a fresh lake said so
