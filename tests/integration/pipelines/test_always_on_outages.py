"""The always-on pipeline while its services fail, in the middle of the Kafka streams: the
broker and the registry stopped and started again, then the registry alone. The queries go
on where they stopped (one that fails meanwhile is restarted with back-off), the bid
requests go on landing while only the registry is down, and bronze holds every message once."""

from __future__ import annotations

import datetime as dt
import time

import pyspark.sql.functions as F
import pytest

from advertisex import stack, tables
from advertisex.generate import GenerateParams, Rates, generate, load_manifest
from advertisex.generate.producer import produce
from advertisex.io.delta import is_delta
from advertisex.pipelines import ingest_bids, ingest_impressions
from advertisex.pipelines.always_on import AlwaysOn
from advertisex.stack import process
from advertisex.stack import registry as stack_registry
from support import isolated_cfg, read_table
from support_monitoring import wait_until
from support_pipeline import Running

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_broker_and_registry_restarted_mid_stream_every_message_once(spark, stack_cfg, tmp_path):
    # At most 10 messages a second per feed, so both outages come mid-stream; no refresh of
    # gold meanwhile (not the point).
    cfg = isolated_cfg(stack_cfg, tmp_path, "streaming.trigger_interval_seconds=1", "pipeline.refresh_seconds=3600",
                       "pipeline.restart_backoff_seconds=1", "pipeline.max_restarts=10",
                       "kafka.max_offsets_per_trigger=10")
    # Every schema id registered: a message with an id never seen is looked up, which needs the registry.
    params = GenerateParams(seed=19, start_date=dt.date(2026, 11, 16), days=1, impressions_per_day=150, users=80,
                            campaigns=3, rates=Rates().with_overrides({"unknown_schema_id": 0.0}))
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=tmp_path / "generated",
             workers=1)
    sent = produce(cfg, load_manifest(tmp_path / "generated"), progress=None).messages
    bids_path = cfg.table_path(tables.BRONZE_BID_REQUESTS)

    def held(table, kafka_only: bool = False):
        df = read_table(spark, cfg, table)
        return df.where(F.col("origin").startswith("kafka:")) if kafka_only else df

    streams = [*ingest_impressions.streams(spark, cfg), *ingest_bids.streams(spark, cfg)]
    running = Running(AlwaysOn(spark, cfg, ingest=streams))
    try:
        wait_until(lambda: is_delta(spark, bids_path) and held(tables.BRONZE_BID_REQUESTS).count() > 0, 300,
                   "the first bid batch")
        stack.down(stack_cfg)
        assert held(tables.BRONZE_BID_REQUESTS).count() < sent["bid_requests"]  # mid-stream
        time.sleep(3)  # the queries meet the outage
        stack.up(stack_cfg)
        # Bid requests landing again (just up, the registry may still answer 404 while it reads
        # its storage back: the query is restarted with back-off until it answers).
        landed = held(tables.BRONZE_BID_REQUESTS).count()
        wait_until(lambda: held(tables.BRONZE_BID_REQUESTS).count() > landed, 120, "bid requests after the restart")

        reg = stack_registry.layout(stack_cfg, stack_cfg.stack)
        process.stop(reg.pid_file, reg.marker, what="the schema registry", timeout=30)
        landed = held(tables.BRONZE_BID_REQUESTS).count()
        assert landed < sent["bid_requests"]  # mid-stream
        wait_until(lambda: held(tables.BRONZE_BID_REQUESTS).count() > landed, 60,
                   "bid requests while the registry is down")
        stack.up(stack_cfg)
        wait_until(lambda: held(tables.BRONZE_BID_REQUESTS).count() >= sent["bid_requests"]
                   and held(tables.BRONZE_IMPRESSIONS).count() >= sent["impressions"], 300,
                   "every message after the restarts")
    finally:
        try:
            summary = running.stop()
        finally:
            stack.up(stack_cfg)  # the session's stack is left up, whatever happened above

    for table, n in ((tables.BRONZE_BID_REQUESTS, sent["bid_requests"]), (tables.BRONZE_IMPRESSIONS,
                                                                             sent["impressions"])):
        rows = held(table, kafka_only=True)
        assert rows.count() == rows.select("origin").distinct().count() == n, table.name
    assert set(summary["queries"]) >= {"ingest_impressions.kafka", "ingest_bids.kafka"}
