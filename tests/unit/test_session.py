"""The session factory: Delta works, the clock is UTC, local jars are on the classpath."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType

from advertisex.config import load_config
from advertisex.pipelines import always_on
from advertisex.session import MissingJarsError, maven_coordinates, spark_conf
from support import ROOT, TEST_CONF


def test_partitioned_delta_round_trip(spark, tmp_path: Path) -> None:
    schema = StructType(
        [
            StructField("impression_id", StringType(), False),
            StructField("cost_micros", LongType(), True),
            StructField("event_date", DateType(), False),
        ]
    )
    rows = [
        ("i-1", 1200, dt.date(2026, 11, 20)),
        ("i-2", None, dt.date(2026, 11, 20)),
        ("i-3", 5, dt.date(2026, 11, 21)),
    ]
    expected = spark.createDataFrame(rows, schema)
    path = str(tmp_path / "t")
    expected.write.format("delta").partitionBy("event_date").save(path)

    actual = spark.read.format("delta").load(path)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    # Really partitioned by date, as Delta records it.
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").select("format", "partitionColumns").first()
    assert detail.format == "delta"
    assert list(detail.partitionColumns) == ["event_date"]
    assert sorted(p.name for p in Path(path).iterdir() if p.name.startswith("event_date=")) == [
        "event_date=2026-11-20",
        "event_date=2026-11-21",
    ]


def test_parquet_column_settings_apply(spark, tmp_path: Path) -> None:
    import duckdb

    # Two distinct values each: without the setting both columns would be dictionary-encoded.
    df = spark.range(1000).selectExpr(
        "CAST(id % 2 AS STRING) AS raw",
        "CAST(id % 2 AS STRING) AS campaign_id",
        "TIMESTAMP_SECONDS(id) AS ingested_at",
    )
    path = tmp_path / "t"
    df.coalesce(1).write.format("delta").save(str(path))
    (data_file,) = path.glob("*.parquet")
    meta = {
        r[0]: r[1:]
        for r in duckdb.sql(
            f"SELECT path_in_schema, encodings, stats_max_value, type FROM parquet_metadata('{data_file}')"
        ).fetchall()
    }
    # Unique text (raw records) is written plain and without min/max statistics; other text
    # keeps its dictionary and statistics.
    assert "DICTIONARY" not in meta["raw"][0]
    assert meta["raw"][1] is None
    assert "DICTIONARY" in meta["campaign_id"][0]
    assert meta["campaign_id"][1] == "1"
    # Timestamps are INT64 microseconds, not Spark's legacy INT96.
    assert meta["ingested_at"][2] == "INT64"
    assert spark.read.format("delta").load(str(path)).agg(F.max("ingested_at")).first()[0] == dt.datetime(
        1970, 1, 1, 0, 16, 39
    )


def test_session_clock_is_utc(spark) -> None:
    got = spark.range(1).select(
        F.date_format(F.to_timestamp(F.lit("2026-11-20T23:30:00.000+01:00")), "yyyy-MM-dd HH:mm").alias("t")
    )
    assert got.first().t == "2026-11-20 22:30"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_delta_and_connector_classes_load(spark) -> None:
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - checking the classpath the factory built
    for cls in (
        "io.delta.tables.DeltaTable",
        "org.apache.spark.sql.kafka010.KafkaSourceProvider",
        "org.apache.spark.sql.avro.AvroFileFormat",
    ):
        jvm.java.lang.Class.forName(cls, False, jvm.Thread.currentThread().getContextClassLoader())


def test_spark_conf_overridable_from_config(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "conf" / "test.yaml",
        ["spark.shuffle_partitions=7", "spark.conf={spark.sql.adaptive.enabled: 'false'}", "spark.master=local[1]",
         "spark.delta_snapshot_partitions=3"],
        environ={},
    )
    conf = spark_conf("x", cfg)
    assert conf["spark.sql.shuffle.partitions"] == "7"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "3"
    assert spark_conf("x", load_config(ROOT / "conf" / "test.yaml", [], environ={}))[
        "spark.databricks.delta.snapshotPartitions"] == "1"
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    jars = conf["spark.jars"].split(",")
    assert any("spark-sql-kafka-0-10_2.13-4.1.1" in j for j in jars)
    assert all(Path(j).is_file() for j in jars)


def test_the_always_on_pools_come_with_the_package_and_put_the_checks_last() -> None:
    conf = spark_conf("x", load_config(ROOT / "conf" / "test.yaml", [], environ={}))
    assert conf["spark.scheduler.mode"] == "FAIR"
    pools = {p.get("name"): p for p in ET.parse(conf["spark.scheduler.allocation.file"]).getroot().iter("pool")}
    assert set(pools) == {always_on.PIPELINE_POOL, always_on.CHECKS_POOL}
    share = {name: int(p.findtext("minShare")) for name, p in pools.items()}
    # Offered every free core first, whatever the cluster's size; the checks take what is left.
    assert share[always_on.PIPELINE_POOL] >= 10_000 and share[always_on.CHECKS_POOL] == 0
    assert all(p.findtext("schedulingMode") == "FIFO" for p in pools.values())
    overridden = spark_conf("x", load_config(ROOT / "conf" / "test.yaml", ["spark.conf={spark.scheduler.mode: FIFO}"],
                                             environ={}))
    assert overridden["spark.scheduler.mode"] == "FIFO"


def test_missing_jars_dir_is_one_clear_error(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "conf" / "test.yaml", [f"spark.jars_dir={tmp_path / 'none'}"], environ={})
    with pytest.raises(MissingJarsError, match="run `make deps`"):
        spark_conf("x", cfg)


def test_packages_for_cluster_match_pyspark() -> None:
    import pyspark

    coords = maven_coordinates()
    assert f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}" in coords
    assert f"org.apache.spark:spark-avro_2.13:{pyspark.__version__}" in coords
    assert any(c.startswith("io.delta:delta-spark_4.1_2.13:") for c in coords)


# A local session with the project's settings, as the CLI builds it: prints its UI's port and
# every address its driver JVM listens on.
_LISTENING = """
import sys, psutil
from advertisex.config import load_config
from advertisex.session import build_spark
spark = build_spark("ui-check", load_config(sys.argv[1], [], environ={}))
port = int(spark.sparkContext.uiWebUrl.rsplit(":", 1)[1])
jvm = [p for p in psutil.Process().children(recursive=True) if "java" in p.name()]
addrs = {c.laddr.ip for p in jvm for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
print(port, *sorted(addrs))
spark.stop()
"""


def test_a_local_run_listens_on_the_loopback_interface_only():
    """The driver and its UI (port 4040 and up) serve nobody but this machine (issue 23 §8)."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    done = subprocess.run([sys.executable, "-c", _LISTENING, str(TEST_CONF)], capture_output=True, text=True,
                          env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    port, *addrs = done.stdout.split()
    assert int(port) >= 4040
    assert addrs and set(addrs) <= {"127.0.0.1", "::ffff:127.0.0.1"}, addrs
