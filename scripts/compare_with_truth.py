"""`make demo`, last step: compare the gold tables with the generator's ground truth.

    .venv/bin/python scripts/compare_with_truth.py [--truth DIR] [--config FILE] [--set k=v ...]

Prints one line per table (rows, equal or the first differences) and exits 1 on any
difference. The truth is computed by the generator in plain Python from docs/CONTRACT.md's
definitions, independently of the Spark code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from decimal import Decimal
from pathlib import Path

from advertisex import tables
from advertisex.config import load_config
from advertisex.session import build_spark


def _norm(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value.isoformat() if hasattr(value, "isoformat") else value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", default=None, help="default: <lake.root>/../generated/truth")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    truth = Path(args.truth or Path(cfg.lake.root).parent / "generated" / "truth")
    spark = build_spark("advertisex-compare", cfg)
    failed = False
    for table in (tables.GOLD_CAMPAIGN_DAILY, tables.GOLD_BID_DAILY):
        name, columns = table.name, table.columns
        expected = {tuple(_norm(r[c]) for c in columns)
                    for r in json.loads((truth / f"{name.split('/')[1]}.json").read_text())}
        rows = spark.read.format("delta").load(cfg.table_path(table)).select(*columns).collect()  # driver-side: compare
        got = {tuple(_norm(v) for v in r) for r in rows}
        if got == expected and len(rows) == len(expected):
            print(f"{name:<22} {len(rows):>6} rows, equal to the generator's truth")
        else:
            failed = True
            print(f"{name:<22} DIFFERS: {len(got - expected)} rows not in truth, {len(expected - got)} missing")
            for row in sorted(got ^ expected, key=str)[:5]:
                print(f"    {row}")
    spark.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
