"""The analysts' notebooks, executed top to bottom in a Jupyter kernel (nbclient) as an analyst runs them:
on the generated lake (every table after three ``pipeline --once`` runs), and one on a fresh, empty lake,
where it must finish and say that the lake holds no tables yet.

The kernel finds the lake through the environment (``ADVERTISEX__LAKE__ROOT``), as a notebook on
another lake would, and its Spark driver is kept light (one shuffle partition, no UI, interpreted
expressions: compiling generated code is most of the work on frames this small). The notebooks on
the generated lake run one after another in one kernel, its namespace emptied before each
(``%reset -f``): each runs from an empty namespace as in a new kernel, but the Spark driver, whose
start and first Delta scan are most of a notebook's time, starts once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from advertisex.notebook import NO_TABLES, NOTHING_TO_DRAW
from support import ROOT
from support_pipeline import GeneratedLake

pytestmark = [pytest.mark.stack, pytest.mark.slow]

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_SECONDS = 300
PLOTLY = "application/vnd.plotly.v1+json"


def light_spark(lake_root: str) -> dict[str, str]:
    """The environment of a notebook's kernel: this process's, on ``lake_root``, with a light driver."""
    return {
        **os.environ,
        "ADVERTISEX__LAKE__ROOT": lake_root,
        "ADVERTISEX__SPARK__SHUFFLE_PARTITIONS": "1",
        "ADVERTISEX__SPARK__DRIVER_MEMORY": "1g",
        "ADVERTISEX__SPARK__LOG_LEVEL": "ERROR",
        "ADVERTISEX__SPARK__CONF__spark__ui__enabled": "false",
        # A driver that lives for a few notebooks' small queries spends most of its CPU compiling Java:
        # with the quick JIT compiler alone (C1) it starts and runs its first Delta scan in much less.
        "ADVERTISEX__SPARK__CONF__spark__driver__extraJavaOptions": "-XX:+UseParallelGC -XX:TieredStopAtLevel=1",
        "ADVERTISEX__SPARK__CONF__spark__sql__codegen__wholeStage": "false",
        "ADVERTISEX__SPARK__CONF__spark__sql__codegen__factoryMode": "NO_CODEGEN",
    }


@contextmanager
def kernel(env: dict[str, str]) -> Iterator[KernelManager]:
    """A Python kernel started with ``env`` in notebooks/; shut down on exit."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(ROOT / "notebooks"))
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


def execute(path: Path, km: KernelManager) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of the notebook at ``path`` in the kernel of ``km``, from an empty namespace; returns
    the notebook with its outputs, and the seconds it took (a cell that raises fails the test: nbclient's
    ``CellExecutionError``)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_SECONDS)
    t0 = time.monotonic()
    try:
        client.execute()
    finally:
        client.kc.stop_channels()
    nb.cells.pop(0)
    return nb, time.monotonic() - t0


@pytest.fixture(scope="module")
def lake_kernel(generated_lake: GeneratedLake) -> Iterator[KernelManager]:
    with kernel(light_spark(generated_lake.cfg.lake.root)) as km:
        yield km


def printed(cell: nbformat.NotebookNode) -> str:
    """What a cell printed (not the JVM's start-up lines on stderr)."""
    return "".join(out.text for out in cell.get("outputs", []) if out.output_type == "stream" and out.name == "stdout")


def figures(cell: nbformat.NotebookNode) -> list[dict]:
    """The plotly figures a cell showed."""
    return [out.data[PLOTLY] for out in cell.get("outputs", [])
            if out.output_type == "display_data" and PLOTLY in out.get("data", {})]


def points(figure: dict) -> list[int]:
    """The number of points of each trace (plotly.py writes a numeric column as a base64 object)."""
    def size(v):
        return len(v) if isinstance(v, list) else 1 if isinstance(v, dict) and v.get("bdata") else 0
    return [max(size(t.get(k)) for k in ("x", "y", "values")) for t in figure["data"]]


def plotting(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells that draw a chart (``plot(...)``)."""
    return [cell for cell in nb.cells if cell.cell_type == "code" and "plot(" in cell.source]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_generated_lake(path: Path, generated_lake: GeneratedLake, lake_kernel: KernelManager,
                                             record_property):
    nb, seconds = execute(path, lake_kernel)
    record_property("seconds", round(seconds, 1))

    assert printed(nb.cells[1]).startswith(f"The lake at {generated_lake.cfg.lake.root} holds 15 tables: ")
    cells = plotting(nb)
    assert cells
    for cell in cells:
        drawn = figures(cell)
        if "anomalies" in cell.source and not drawn:  # three days of clean traffic fire no rule
            assert printed(cell) == NOTHING_TO_DRAW + "\n"
            continue
        assert len(drawn) == 1, (cell.source, printed(cell))
        assert min(points(drawn[0])) > 0, cell.source


def test_a_notebook_on_an_empty_lake_says_so(tmp_path: Path):
    with kernel(light_spark(str(tmp_path / "lake"))) as km:
        nb, _ = execute(ROOT / "notebooks" / "campaign_performance.ipynb", km)

    assert printed(nb.cells[1]) == NO_TABLES.format(root=tmp_path / "lake") + "\n"
    assert [printed(cell) for cell in plotting(nb)] == [NOTHING_TO_DRAW + "\n"] * len(plotting(nb))
    assert [cell for cell in plotting(nb) if figures(cell)] == []
