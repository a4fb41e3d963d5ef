"""Helpers shared by tests of several modules: files, tables, the CLI as a user runs it, Kafka."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEST_CONF = ROOT / "conf" / "test.yaml"


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (gzip-compressed, reproducibly, when it ends in ``.gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def write_references(cfg: Any, campaigns: int = 1) -> None:
    """Reference CSVs of ``campaigns`` campaigns ``c0``, ``c1``, ... and one user (``u1``)."""
    from advertisex import contract as C

    write_file(Path(cfg.reference.campaigns), ",".join(C.CAMPAIGN_CSV_COLUMNS) + "\n" + "".join(
        f"c{i},adv{i},Campaign {i},display,1000000,2026-11-01,2026-12-31\n" for i in range(campaigns)))
    write_file(Path(cfg.reference.users), ",".join(C.USER_CSV_COLUMNS) + "\nu1,25-34,f,FR,2026-01-01,x\n")


def executed_plan(df: Any) -> str:
    """The plan ``df`` ran with, after adaptive execution re-planned it."""
    df.collect()
    return df._jdf.queryExecution().executedPlan().toString().split("== Initial Plan ==")[0]


def broadcast_scans(plan: str) -> list[str]:
    """The file scans a broadcast is built from directly (through nodes of one child only)."""
    nodes = [(len(line) - len(line.lstrip(" :+-")), line.strip(" :+-")) for line in plan.splitlines() if line.strip()]

    def children(i: int) -> list[int]:
        depth, out = nodes[i][0], []
        for j in range(i + 1, len(nodes)):
            if nodes[j][0] <= depth:
                break
            if not out or nodes[j][0] == nodes[out[0]][0]:
                out.append(j)
        return out

    found = []
    for i, (_, name) in enumerate(nodes):
        if name.startswith("BroadcastExchange"):
            below = children(i)
            while len(below) == 1:
                if "Scan parquet" in nodes[below[0]][1]:
                    found.append(nodes[below[0]][1])
                below = children(below[0])
    return found


def read_table(spark: Any, cfg: Any, table: Any) -> Any:
    """The Delta table ``table`` of ``cfg``'s lake."""
    return spark.read.format("delta").load(cfg.table_path(table))


CAMPAIGN_DAILY_SCHEMA = (
    "event_date date, campaign_id string, advertiser_id string, campaign_name string, impressions long, "
    "clicks long, unattributed_clicks long, conversions long, view_through_conversions long, "
    "spend_micros long, conversion_value decimal(28,6), ctr double, cvr double"
)
BID_DAILY_SCHEMA = (
    "event_date date, exchange string, bid_requests long, bids long, wins long, win_rate double, "
    "avg_clearing_price_micros double, impressions_matched long"
)


def truth_df(spark: Any, path: Path, schema: str) -> Any:
    """A gold table of the generator's truth (``write_truth``'s JSON) as a DataFrame."""
    rows = json.loads(path.read_text())
    return spark.read.schema(schema).json(spark.sparkContext.parallelize([json.dumps(r) for r in rows]))


def assert_gold_equals_truth(spark: Any, cfg: Any, truth_dir: Path, *, bids: bool = True) -> None:
    """``gold/campaign_daily`` (and ``gold/bid_daily``) equal the truth in ``truth_dir``, whole tables."""
    from chispa import assert_df_equality

    from advertisex import tables

    pairs = [(tables.GOLD_CAMPAIGN_DAILY, "campaign_daily.json", CAMPAIGN_DAILY_SCHEMA)]
    if bids:
        pairs.append((tables.GOLD_BID_DAILY, "bid_daily.json", BID_DAILY_SCHEMA))
    for table, name, schema in pairs:
        got = read_table(spark, cfg, table).select(*table.columns)
        assert_df_equality(got, truth_df(spark, truth_dir / name, schema), ignore_row_order=True,
                           ignore_nullable=True)


def cli(*args: str) -> list[str]:
    """The ``advertisex`` command line (``python -m advertisex.cli ...``) with the test config."""
    return [sys.executable, "-m", "advertisex.cli", *args, "--config", str(TEST_CONF)]


def cli_env() -> dict[str, str]:
    """The environment for :func:`cli` subprocesses: this checkout's ``conf/``."""
    return {**os.environ, "ADVERTISEX_HOME": str(ROOT)}


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end; output captured as text."""
    return subprocess.run(cli(*args), capture_output=True, text=True, env=cli_env(), timeout=timeout)


def isolated_cfg(stack_cfg: Any, tmp: Path, *extra: str) -> Any:
    """The test configuration on ``stack_cfg``'s stack with everything a test writes its own:
    lake, checkpoints, landing and reference under ``tmp``, fresh topics (created), subject and
    transaction ids; ``extra`` overrides."""
    import uuid

    from advertisex.config import folder_overrides, load_config
    from advertisex.stack import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    cfg = load_config(
        TEST_CONF,
        [
            f"stack.run_dir={stack_cfg.stack.run_dir}",
            *folder_overrides(tmp),
            f"kafka.topics.impressions=imp-{suffix}",
            f"kafka.topics.bids=bids-{suffix}",
            f"schema_registry.subject=bids-{suffix}-value",
            f"streaming.txn_app_id=test-{suffix}",
            *extra,
        ],
        environ={},
    )
    ensure_topics(cfg)  # as `stack up` does: the ingest jobs refuse a topic that does not exist
    return cfg


def produce(cfg: Any, topic: str, messages: list[tuple[bytes | None, bytes]], partition: int | None = None) -> None:
    """Produce ``(key, value)`` messages to ``topic`` and wait until every one is acknowledged."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    errors: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in messages:
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, value=value, key=key, on_delivery=report, **kwargs)
    assert producer.flush(30) == 0
    assert errors == []
