"""advertisex.generate.sinks: landing part files and Kafka payload files."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np

from advertisex.generate.formats import obj_array
from advertisex.generate.params import GenerateParams, Rates
from advertisex.generate.sinks import FileSink, StreamSink


def _params(gz_share: float) -> GenerateParams:
    return GenerateParams(start_date=date(2026, 1, 1), rates=Rates(gz_share=gz_share))


def test_file_sink_writes_one_file_per_arrival_day_and_part_rows_by_key(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, "x_", ".csv", 2, _params(0.0), "h1,h2", salt=1, origin=1)
    sink.add(np.array([1, 1, 2, 1]), np.array([0, 1, 0, 0]), np.array([30, 10, 5, 20]),
             obj_array(["a", "b", "c", "d"]))
    sink.write()
    names = sorted(Path(f).name for f in sink.files)
    assert names == ["x_2026-01-02_from-2026-01-02_part-000.csv", "x_2026-01-02_from-2026-01-02_part-001.csv",
                     "x_2026-01-03_from-2026-01-02_part-000.csv"]
    assert (tmp_path / names[0]).read_text() == "h1,h2\nd\na\n"
    assert (tmp_path / names[1]).read_text() == "h1,h2\nb\n"
    assert sink.lines == 4 and sink.pending == {}


def test_file_sink_gzips_when_gz_share_is_one(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, "i_", ".jsonl", 1, _params(1.0), None, salt=2, origin=0)
    sink.add(np.array([0, 0]), np.array([0, 0]), np.array([2, 1]), obj_array(["{2}", "{1}"]))
    sink.write()
    (path,) = sink.files
    assert path.endswith(".jsonl.gz")
    assert gzip.decompress(Path(path).read_bytes()) == b"{1}\n{2}\n"


def test_stream_sink_orders_by_key_stably_and_writes_keys(tmp_path: Path) -> None:
    sink = StreamSink(tmp_path / "v.jsonl", tmp_path / "k.txt")
    sink.add(np.array([5, 1]), obj_array(["five", "one"]), obj_array(["u5", "u1"]))
    sink.add(np.array([5]), obj_array(["five-again"]))             # no keys: null key (empty line)
    sink.write()
    assert (tmp_path / "v.jsonl").read_text() == "one\nfive\nfive-again\n"
    assert (tmp_path / "k.txt").read_text() == "u1\nu5\n\n"
    assert sink.lines == 3
