"""Job ``ingest_impressions`` against the real broker and real Delta tables: bronze and quarantine,
reruns and replays, a SIGKILL mid-stream, Ctrl-C on a continuous stream, messages deleted unread."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from advertisex import contract as C
from advertisex import tables
from advertisex.errors import InputPathError
from advertisex.io.checkpoints import txn_app_id
from advertisex.io.streaming import StreamFailedError
from advertisex.pipelines import ingest_impressions
from support import cli, cli_env, isolated_cfg, produce, read_table

pytestmark = pytest.mark.stack
EVENT = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _impression(i: int, **over) -> dict:
    rec = {
        "impression_id": f"imp-{i}",
        "event_time": (EVENT + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        "user_id": f"U-{i % 3}",
        "campaign_id": "c1",
        "ad_creative_id": "a1",
        "website": "https://www.example.com/x",
        "cost_micros": 10 * i,
    }
    rec.update(over)
    return rec


def test_impressions_stream_bronze_and_quarantine(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.partitions=1")
    topic = cfg.kafka.topics.impressions
    good = [_impression(i) for i in range(5)]
    messages = [(r["user_id"].encode(), json.dumps(r).encode()) for r in good]
    messages += [
        (b"u", b"{broken"),
        (b"u", json.dumps(_impression(9, cost_micros=-5)).encode()),
        (b"u", json.dumps({k: v for k, v in _impression(10).items() if k != "campaign_id"}).encode()),
        (b"U-0", json.dumps(good[0]).encode()),  # a producer retry: same impression again
    ]
    produce(cfg, topic, messages, partition=0)

    summary = ingest_impressions.run(spark, cfg, once=True)
    assert summary["records"] == len(messages)

    got = spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS)).select(
        "impression_id", "kafka_key", "quarantine_reason", "origin"
    )
    expected_rows = [(f"imp-{i}", f"U-{i % 3}", None, f"kafka:{topic}/0/{i}") for i in range(5)]
    expected_rows += [
        (None, "u", C.REASON_BAD_JSON, f"kafka:{topic}/0/5"),
        ("imp-9", "u", C.REASON_NEGATIVE_COST, f"kafka:{topic}/0/6"),
        ("imp-10", "u", C.REASON_MISSING_FIELD, f"kafka:{topic}/0/7"),
        ("imp-0", "U-0", None, f"kafka:{topic}/0/8"),
    ]
    expected = spark.createDataFrame(
        expected_rows, "impression_id string, kafka_key string, quarantine_reason string, origin string"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)

    quarantine = spark.read.format("delta").load(cfg.table_path(tables.QUARANTINE))
    assert_df_equality(
        quarantine.select("source", "reason", "origin"),
        spark.createDataFrame(
            [
                ("impressions", C.REASON_BAD_JSON, f"kafka:{topic}/0/5"),
                ("impressions", C.REASON_NEGATIVE_COST, f"kafka:{topic}/0/6"),
                ("impressions", C.REASON_MISSING_FIELD, f"kafka:{topic}/0/7"),
            ],
            "source string, reason string, origin string",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert [r.raw for r in quarantine.where("reason = 'bad_json'").collect()] == ["{broken"]

    # Rerun: nothing new on the topic, nothing changes.
    again = ingest_impressions.run(spark, cfg, once=True)
    assert again["records"] == 0
    assert spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS)).count() == len(messages)

    # Replay of batch 0 through the batch function (as after a crash before the checkpoint commit).
    batch = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .load()
        .selectExpr("key", "value", "topic AS kafka_topic", "partition AS kafka_partition",
                    "offset AS kafka_offset", "timestamp AS kafka_timestamp")
    )
    ingest_impressions.batch(cfg, txn_app_id(cfg, "ingest_impressions", "kafka"))(batch, 0)
    assert spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS)).count() == len(messages)
    assert spark.read.format("delta").load(cfg.table_path(tables.QUARANTINE)).count() == 3


def test_sigkill_mid_stream_then_restart_every_message_exactly_once(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.max_offsets_per_trigger=40", "kafka.partitions=2")
    topic = cfg.kafka.topics.impressions
    n = 240
    produce(cfg, topic, [(f"U-{i}".encode(), json.dumps(_impression(i)).encode()) for i in range(n)])
    args = [*cli("run", "ingest_impressions", "--once"),
            "--set", f"lake.root={cfg.lake.root}", "--set", f"checkpoints.root={cfg.checkpoints.root}",
            "--set", f"kafka.topics.impressions={topic}", "--set", "kafka.max_offsets_per_trigger=40",
            "--set", f"streaming.txn_app_id={cfg.streaming.txn_app_id}"]
    env = cli_env()
    with open(tmp_path / "job.log", "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    delta_log = Path(cfg.table_path(tables.BRONZE_IMPRESSIONS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if delta_log.is_dir() and len(list(delta_log.glob("*.json"))) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, (tmp_path / "job.log").read_text()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    partial = spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS)).count()
    assert 0 < partial < n

    # The restart, in the test's own driver on the same checkpoint (no longer locked): the
    # half-written batch is replayed with its recorded offsets, the rest follows.
    ingest_impressions.run(spark, cfg, once=True)
    table = spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS))
    assert_df_equality(
        table.select("impression_id"),
        spark.createDataFrame([(f"imp-{i}",) for i in range(n)], "impression_id string"),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_ctrl_c_stops_a_continuous_stream_cleanly(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.partitions=1")
    topic = cfg.kafka.topics.impressions
    produce(cfg, topic, [(b"u", json.dumps(_impression(i)).encode()) for i in range(20)])
    args = [*cli("run", "ingest_impressions"),  # no --once: continuous
            "--set", f"lake.root={cfg.lake.root}", "--set", f"checkpoints.root={cfg.checkpoints.root}",
            "--set", f"kafka.topics.impressions={topic}", "--set", "streaming.trigger_interval_seconds=1",
            "--set", f"streaming.txn_app_id={cfg.streaming.txn_app_id}"]
    env = cli_env()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    delta_log = Path(cfg.table_path(tables.BRONZE_IMPRESSIONS)) / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(delta_log.glob("*.json")):
        time.sleep(0.5)
    assert proc.poll() is None, "a continuous stream must keep running"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "records" in out
    assert spark.read.format("delta").load(cfg.table_path(tables.BRONZE_IMPRESSIONS)).count() == 20


def test_a_misspelt_topic_is_an_error_naming_it_not_an_empty_success(spark, stack_cfg, tmp_path):
    cfg = isolated_cfg(stack_cfg, tmp_path)
    topic = cfg.kafka.topics.impressions
    typo = topic.replace("imp-", "imps-")
    kafka = cfg.kafka.model_copy(update={"topics": cfg.kafka.topics.model_copy(update={"impressions": typo})})
    with pytest.raises(InputPathError) as err:
        ingest_impressions.run(spark, cfg.model_copy(update={"kafka": kafka}))
    message = str(err.value)
    assert message.startswith(f"Kafka topic {typo!r} (kafka.topics.impressions) does not exist at "
                              f"{cfg.kafka.bootstrap_servers}; did you mean {topic!r}")
    assert message.endswith("? `advertisex stack up` creates the configured topics")
    assert not Path(cfg.table_path(tables.BRONZE_IMPRESSIONS)).exists()


def test_messages_deleted_before_they_were_read_stop_the_job_naming_them(spark, stack_cfg, tmp_path):
    """Retention deletes messages the query has not read yet (here at once, as retention would):
    the job stops with one line naming topic, partition and offsets; told to go on without
    them, it lands every message still there, each once."""
    cfg = isolated_cfg(stack_cfg, tmp_path, "kafka.partitions=1")
    topic = cfg.kafka.topics.impressions
    produce(cfg, topic, [(b"k", json.dumps(_impression(i)).encode()) for i in range(3)], partition=0)
    ingest_impressions.run(spark, cfg, once=True)
    produce(cfg, topic, [(b"k", json.dumps(_impression(i)).encode()) for i in range(3, 8)], partition=0)
    admin = AdminClient({"bootstrap.servers": cfg.kafka.bootstrap_servers})
    for done in admin.delete_records([TopicPartition(topic, 0, 6)]).values():
        done.result()
    with pytest.raises(StreamFailedError) as err:
        ingest_impressions.run(spark, cfg, once=True)
    assert str(err.value).startswith(f"ingest_impressions.kafka failed: Kafka topic {topic} partition 0: messages "
                                     "from offset 3 were deleted before they were read")

    kafka = cfg.kafka.model_copy(update={"fail_on_data_loss": False})
    ingest_impressions.run(spark, cfg.model_copy(update={"kafka": kafka}), once=True)
    got = sorted(r.impression_id for r in read_table(spark, cfg, tables.BRONZE_IMPRESSIONS).collect())
    assert got == [f"imp-{i}" for i in (0, 1, 2, 6, 7)]


def test_over_sasl_it_lands_everything_and_the_password_shows_nowhere(spark, stack_cfg, tmp_path, monkeypatch):
    """The broker's SASL_PLAINTEXT listener (conf/test.yaml) with the session's user: the job
    reads through it with kafka.security; Spark redacts the login in the query's plan; a wrong
    password is refused in one line before anything is read."""
    from advertisex.config import load_config
    from advertisex.errors import ServiceUnavailableError
    from advertisex.io.security import spark_options
    from support import TEST_CONF

    sasl = (f"kafka.bootstrap_servers=127.0.0.1:{stack_cfg.stack.kafka_sasl_port}",
            "kafka.security.protocol=SASL_PLAINTEXT", "kafka.security.username=advertisex",
            "kafka.security.password_env=ADVERTISEX_TEST_KAFKA_PASSWORD")
    cfg = isolated_cfg(stack_cfg, tmp_path, *sasl)  # its topics created through the SASL listener
    topic = cfg.kafka.topics.impressions
    produce(stack_cfg, topic, [(None, json.dumps(_impression(i)).encode()) for i in range(5)])
    assert ingest_impressions.run(spark, cfg, once=True)["records"] == 5
    assert read_table(spark, cfg, tables.BRONZE_IMPRESSIONS).count() == 5

    password = os.environ["ADVERTISEX_TEST_KAFKA_PASSWORD"]
    # The source as the job builds it: its plan prints the options (a failed query's error quotes it).
    source = spark.readStream.format("kafka").options(**spark_options(cfg.kafka)).option("subscribe", topic).load()
    plan = source._jdf.queryExecution().toString()
    assert "SASL_PLAINTEXT" in plan and "(redacted)" in plan and password not in plan

    monkeypatch.setenv("ADVERTISEX_TEST_WRONG_PASSWORD", "not-" + password)
    wrong = load_config(TEST_CONF, [f"lake.root={tmp_path / 'wrong'}", f"kafka.topics.impressions={topic}", *sasl[:-1],
                                    "kafka.security.password_env=ADVERTISEX_TEST_WRONG_PASSWORD"], environ={})
    with pytest.raises(ServiceUnavailableError, match=r"^Kafka at 127\.0\.0\.1:\d+ refused the credentials of user "
                                                      r"'advertisex' \(kafka\.security\)"):
        ingest_impressions.run(spark, wrong, once=True)
