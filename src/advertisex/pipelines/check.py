"""Job ``check``: Spark + Delta, the broker, the registry, the Kafka connector.

It proves end to end that the session factory, the local jars and the services work
together, and prints a readable summary. ``make demo`` runs it first.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import pyspark.sql.functions as F

from advertisex.config import Config
from advertisex.io.security import spark_options
from advertisex.io.services import check_kafka, check_registry

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CHECK_TABLE = "_checks/session"


def run(spark: SparkSession, cfg: Config, **_: Any) -> dict[str, Any]:
    """Run every check; raise on the first failure.

    Returns:
        A summary: ``{"spark": version, "delta_rows": n, "kafka_topics": [...], ...}``.
    """
    summary: dict[str, Any] = {"spark": spark.version}
    t0 = time.monotonic()
    path = cfg.table_path(CHECK_TABLE)
    today = dt.datetime.now(dt.UTC).date()
    df = spark.createDataFrame(
        [(i, today - dt.timedelta(days=i % 2)) for i in range(10)], "id long, event_date date"
    )
    df.write.format("delta").mode("overwrite").partitionBy("event_date").save(path)
    back = spark.read.format("delta").load(path)
    summary["delta_rows"] = back.count()
    summary["delta_partitions"] = back.select("event_date").distinct().count()
    summary["delta_seconds"] = round(time.monotonic() - t0, 2)
    if not cfg.kafka.enabled:
        summary["kafka"] = "disabled (kafka.enabled=false)"
        return summary
    summary["kafka_topics"] = [t for t in check_kafka(cfg.kafka) if not t.startswith("_")]
    summary["registry_subjects"] = check_registry(cfg.schema_registry)
    topic = cfg.kafka.topics.impressions
    if topic in summary["kafka_topics"]:
        kafka_df = (
            spark.read.format("kafka")
            .options(**spark_options(cfg.kafka))
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
        )
        summary[f"kafka_messages[{topic}]"] = kafka_df.agg(F.count(F.lit(1))).first()[0]
    return summary
