"""``advertisex reset`` of a Kafka job against the real broker: after a lost checkpoint, each
partition goes on from the offset after the last message bronze holds."""

from __future__ import annotations

import json
import shutil

import pytest

from advertisex import tables
from advertisex.io.checkpoints import CheckpointLostError
from advertisex.pipelines import ingest_impressions, reset
from advertisex.pipelines.runner import get_job
from support import isolated_cfg, produce, read_table

pytestmark = pytest.mark.stack


def _message(i: int) -> tuple[bytes, bytes]:
    return b"k", json.dumps({"impression_id": f"imp-{i}", "event_time": "2026-11-20T12:00:00Z", "user_id": "u1",
                             "campaign_id": "c1", "ad_creative_id": "a1", "website": "https://x.example",
                             "cost_micros": i}).encode()


def test_a_reset_kafka_job_reads_every_partition_from_after_what_bronze_holds(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.partitions=2")
    topic = cfg.kafka.topics.impressions
    produce(cfg, topic, [_message(i) for i in range(3)], partition=0)
    ingest_impressions.run(spark, cfg, once=True)
    (stream,) = ingest_impressions.streams(spark, cfg)
    shutil.rmtree(cfg.checkpoint_path(stream.job, stream.query))
    produce(cfg, topic, [_message(i) for i in range(3, 5)], partition=0)
    produce(cfg, topic, [_message(i) for i in range(5, 7)], partition=1)
    with pytest.raises(CheckpointLostError):
        ingest_impressions.run(spark, cfg, once=True)

    done = reset.run(spark, cfg, get_job("ingest_impressions"))
    assert done["kafka"]["starts_at"] == "offsets 0:3, 1:-2"  # partition 1: bronze holds none, from its earliest
    assert ingest_impressions.run(spark, cfg, once=True)["records"] == 4
    got = sorted((r.impression_id, r.kafka_partition, r.kafka_offset)
                 for r in read_table(spark, cfg, tables.BRONZE_IMPRESSIONS).collect())
    assert got == [(f"imp-{i}", 0, i) for i in range(5)] + [("imp-5", 1, 0), ("imp-6", 1, 1)]
