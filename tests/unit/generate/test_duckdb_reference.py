"""benchmarks/duckdb_gold.py (the DuckDB reference for gold/campaign_daily) equals the truth.

Two data sets: a small generated one (files only) and a hand-written one full of §1.5/§1.6/§3
edge cases. Both run in a few seconds and need no Spark.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from advertisex import contract
from advertisex.generate import compute_truth
from advertisex.generate.truth import TruthBuilder, parse_event_time, write_truth
from support import ROOT

pytest.importorskip("duckdb")

NOW = "2026-11-21T01:00:00Z"


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("duckdb_gold", ROOT / "benchmarks" / "duckdb_gold.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _jl(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def imp(iid: str, t: Any, user: str = "u-1", camp: str = "c1", **kw: Any) -> str:
    return _jl({"impression_id": iid, "event_time": t, "user_id": user, "campaign_id": camp,
                "ad_creative_id": "cr", "website": "https://www.Example.com/x", **kw})


T0 = "2026-11-20T10:00:00.000Z"

IMPRESSION_LINES = [
    imp("i1", T0, cost_micros=1000),
    imp("i2", "2026-11-20T11:00:00.000+01:00", user=" U-1 ", cost_micros=None),      # 10:00Z
    imp("i3", "2026-11-20T10:00:00", user="\u00a0U-2\t"),                           # naive = UTC
    imp("i4", 1795168800000, user="u-3", cost_micros=7),                           # epoch ms number
    imp("i5", "1795168800000"),                                                    # digits string: bad
    imp("i6", 1.7951688e12),                                                       # float: bad_type
    imp("i7", "2026-11-20T24:00:00Z"),                                             # bad time
    imp("i8", "2026-11-20T23:59:60Z"),                                             # bad time
    imp("i9", "2026-02-29T10:00:00Z"),                                             # bad date
    imp("i10", "0000-01-01T00:00:00Z"),                                            # year 0
    imp("i11", "2026-11-20T10:00:00.123456789Z", camp="c2", cost_micros=5),        # ns truncated
    imp("i12", "2026-11-20t10:00:00Z"),                                            # lower-case t
    imp("i13", "2026-11-20T10:00:00+0100"),                                        # offset w/o colon
    imp("i14", "2036-11-20T10:00:00Z"),                                            # future
    imp("i15", 99999999999999999999),                                              # > int64: future
    imp("i16", T0, cost_micros=-1),                                                # negative cost
    imp("i17", T0, cost_micros=5.0),                                               # bad_type
    imp("i18", T0, cost_micros=True),                                              # bad_type
    imp("i19", T0, cost_micros="5"),                                               # bad_type
    imp("i20", T0, user=123),                                                      # bad_type
    imp("i21", T0, device_type=3),                                                 # bad_type
    imp("i22", T0, country=None, device_type=None, bid_request_id=None),           # ok
    imp("i23", T0, user="  "),                                                     # missing
    imp("", T0),                                                                   # missing
    _jl({"impression_id": "i24", "event_time": T0, "user_id": "u-1", "campaign_id": "c1",
         "ad_creative_id": "cr"}),                                                 # no website
    imp("i25", None),                                                              # missing
    '{"impression_id":"i26","event_time":"' + T0 + '","user_id":"u-1","campaign_id":"c1",'
    '"ad_creative_id":"cr","website":"x.com",}',                                   # trailing comma
    "[1,2]",                                                                       # not an object
    '"just a string"',
    "<html>502</html>",
    imp("i27", T0)[:40],                                                           # cut short
    imp("i28", T0) + " x",                                                         # trailing junk
    imp("i29", T0, cost_micros=float("nan")),                                      # NaN: not JSON, bad_json
    '{"impression_id":"i\\u0033\\u0030","event_time":"' + T0 + '","user_id":"\\u0055-9",'
    '"campaign_id":"c\\u0031","ad_creative_id":"cr","website":"w","extra":{"a":[1,{"b":2}]}}',
    imp("i31", "2026-11-20T10:00:00Z\n", user="u-4"),                              # truth: "$" + \n
    imp("dup", "2026-11-19T23:59:59.999Z", user="u-5", camp="c3", cost_micros=1),
    imp("dup", "2026-11-20T10:00:00Z", user="u-6", camp="c3", cost_micros=2),      # second: ignored
    imp("dup2", "bad"),                                                            # invalid first
    imp("dup2", T0, user="u-7", camp="c4", cost_micros=3),                         # then valid
    imp("i32", -86400001, camp="c5"),                                              # 1969-12-30
    imp("i33", "2026-11-20T09:45:00Z", user="u-8"),
    imp("i34", "2026-11-20T09:45:00Z", user="u-8"),                                # same time
    imp("i35", "2026-11-20T09:00:00Z", user="u-9"),
    imp("i36", "2026-11-19T10:00:00Z", user="u-10"),
    imp("i37", "2026-11-20T10:00:00Z", user="u-11", camp="unknown-campaign"),
    imp(" i38 ", T0, user="u-12", camp=" c1"),                                     # ids kept as is
]


def click_row(eid: str, etype: str, t: str, user: str, camp: str = "c1", creative: str = "cr",
              impression_id: str = "", ctype: str = "", value: str = "") -> list[str]:
    return [eid, etype, t, user, camp, creative, impression_id, ctype, value]


CLICK_ROWS = [
    click_row("k1", "click", "2026-11-20T10:30:00Z", "u-1"),                 # window edge: in
    click_row("k2", " CLICK ", "2026-11-20T10:30:00.001Z", "u-2"),           # 1 ms out
    click_row("k3", "Click", "1795170600000", " U-3 ", impression_id="i4"),  # digits, named
    click_row("k4", "click", "2026-11-20T10:05:00Z", "u-99", camp="c2", impression_id="i11"),
    click_row("k5", "click", "2026-11-20T10:05:00Z", "u-8", impression_id=" "),  # " " → window
    click_row("k6", "click", "2026-11-20T10:05:00Z", "u-9", impression_id="nope"),  # unknown id → window
    click_row("k7", "click", "2026-11-20T10:05:00Z", "u-9", creative=""),    # missing creative
    click_row("k8", "click", "", "u-1"),                                     # missing time
    click_row("k9", "view", T0, "u-1"),                                      # unknown type
    click_row("k10", "click", "yesterday", "u-1"),                           # bad time
    click_row("k11", "click", "2036-01-01T00:00:00Z", "u-1"),                # future
    click_row("k12", "click", "9" * 45, "u-1"),                              # huge digits: out of range
    click_row("k13", "click", "0001795170600000", "u-1"),                    # leading zeros ok
    click_row("kd", "click", "2026-11-20T10:10:00Z", "u-1"),
    click_row("kd", "conversion", "2026-11-20T10:10:00Z", "u-1", creative=""),  # dup id: click wins
    click_row("kx", "click", "bad", "u-1"),
    click_row("kx", "conversion", "2026-11-20T12:00:00Z", "u-1", creative="", value="2.5"),
    # conversions
    click_row("v1", "conversion", "2026-11-27T10:30:00Z", "u-1", creative="", value="10.25"),  # future
    click_row("v2", " Conversion", "2026-11-20T11:00:00Z", "u-1", creative="", value=" 1e2 "),
    click_row("v3", "conversion", "2026-11-21T00:30:00Z", "u-10", creative="", value=".5"),  # no click
    click_row("v4", "conversion", "2026-11-20T10:00:00Z", "u-10", creative="", value=""),   # 24 h edge
    click_row("v5", "conversion", "2026-11-20T10:00:00.001Z", "u-9", creative=""),  # post-view (i35)
    click_row("v6", "conversion", T0, "u-1", creative="", value="-1"),       # negative
    click_row("v7", "conversion", T0, "u-1", creative="", value="-0"),       # zero, not negative
    click_row("v8", "conversion", T0, "u-1", creative="", value="NaN"),      # bad value
    click_row("v9", "conversion", T0, "u-1", creative="", value="Infinity"),
    click_row("v10", "conversion", T0, "u-1", creative="", value="1.2.3"),
    click_row("v11", "conversion", "2026-11-20T12:00:00Z", "u-1", creative="", value="1_000"),
    click_row("v12", "conversion", "2026-11-20T12:00:00Z", "u, \"q\"", creative="", value="3"),
    click_row("v13", "conversion", "2026-11-20T12:00:00Z", "u-1", camp="c2", value="0.1"),
    click_row("v14", "conversion", "2026-11-20T10:06:00Z", "U-99", camp="c2", value="0.2"),  # post-click k4
    click_row("v15", "conversion", "2026-11-20T10:06:00Z", "u-2", creative="", value="4"),  # k2 unattr.
]


def _csv(rows: list[list[str]], header: str = contract.CLICK_CSV_HEADER) -> str:
    from advertisex.generate.formats import csv_line

    return header + "\n" + "".join(csv_line(r) + "\n" for r in rows)


def _write_edge_set(root: Path) -> tuple[Path, Path, Path]:
    li, lc, ref = root / "li", root / "lc", root / "ref"
    for d in (li, lc / "sub", ref):
        d.mkdir(parents=True, exist_ok=True)
    half = len(IMPRESSION_LINES) // 2
    (li / "a.jsonl").write_text("\n".join(IMPRESSION_LINES[:half]) + "\n", encoding="utf-8")
    (li / "b.json.gz").write_bytes(gzip.compress(("\n".join(IMPRESSION_LINES[half:]) + "\n").encode()))
    (li / "ignored.txt").write_text(imp("zz", T0) + "\n", encoding="utf-8")
    bad_rows = [click_row("k7a", "click", "2026-11-20T10:30:00Z", "u-1")]
    text = _csv(CLICK_ROWS[:12])
    text += "k20,click,2026-11-20T10:30:00Z,u-1,c1,cr\n"                   # 6 columns
    text += "k21,click,2026-11-20T10:30:00Z,u-1,c1,cr,,,,extra\n"          # 10 columns
    text += 'k22,click,2026-11-20T10:30:00Z,u-1,c1,"multi\nline",,,\n'     # quoted line break
    (lc / "a.csv").write_text(text, encoding="utf-8")
    (lc / "sub" / "b.csv.gz").write_bytes(gzip.compress(_csv(CLICK_ROWS[12:]).encode()))
    (lc / "c.csv").write_text(_csv(bad_rows, header="id,type,time"), encoding="utf-8")  # bad header
    (lc / "empty.csv").write_text("", encoding="utf-8")
    (ref / "c.csv").write_text(
        ",".join(contract.CAMPAIGN_CSV_COLUMNS) + "\n"
        "c1,adv-1,Camp One,search,1,2026-01-01,\n"
        "c2,,Camp Two,social,1,2026-01-01,\n"
        "c1,adv-1b,Camp One B,search,1,2026-01-01,\n"                        # last row wins
        "c3,adv-3,\"Three, quoted\",social,1,2026-01-01,\n", encoding="utf-8")
    return li, lc, ref / "c.csv"


def _truth_of_files(li: Path, lc: Path, campaigns: Path, now: str, out: Path) -> Any:
    from advertisex.generate.truth.files import read_text

    b = TruthBuilder(parse_event_time(now))
    for p in sorted(str(x) for x in li.rglob("*") if x.name.endswith((".jsonl", ".json", ".gz"))):
        for line in read_text(p).splitlines():
            b.add_impression(line)
    for p in sorted(str(x) for x in lc.rglob("*") if x.name.endswith((".csv", ".csv.gz"))):
        b.add_click_csv(read_text(p))
    b.add_campaigns_csv(read_text(campaigns))
    truth = b.result()
    write_truth(truth, out)
    return truth


def test_edge_cases_equal_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _module()
    li, lc, campaigns = _write_edge_set(tmp_path)
    truth = _truth_of_files(li, lc, campaigns, NOW, tmp_path / "truth")
    rc = mod.main(["--impressions", str(li), "--clicks", str(lc), "--campaigns", str(campaigns),
                   "--now", NOW, "--check", str(tmp_path / "truth"), "--threads", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows, st = mod.run(str(li), str(lc), str(campaigns), parse_event_time(NOW), 2)
    for src in (contract.SOURCE_IMPRESSIONS, contract.SOURCE_CLICK_EVENTS):
        assert st["quarantine"][src] == dict(truth.quarantine[src]), src
        assert st["received"][src] == truth.counts[src]["received"], src
        assert st["valid_distinct"][src] == truth.counts[src]["valid_distinct"], src
    assert len(rows) == len(truth.campaign_daily) > 5


def test_generated_set_equals_truth(small_set: tuple[Path, dict[str, Any]], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    root, manifest = small_set
    mod = _module()
    write_truth(compute_truth(manifest, include_kafka=False), tmp_path / "truth")
    rc = mod.main(["--impressions", str(root / "landing/impressions"),
                   "--clicks", str(root / "landing/clicks"),
                   "--campaigns", str(root / "reference/campaigns.csv"),
                   "--check", str(tmp_path / "truth"), "--threads", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "EQUAL" in out and "DIFFERENT" not in out, out
