"""Spark's floor for the always-on pipeline: the least a Structured Streaming job does with the
same traffic, for `bench_always_on.py --floor` to measure as it measures `advertisex pipeline`.

    .venv/bin/python benchmarks/floor_always_on.py --set key=value ...   # started by the bench

In one driver with the pipeline's Spark settings (`build_spark`, the same config and
overrides): each Kafka topic parsed with a schema (`from_json`; `from_avro` after the
Confluent header) and appended to its bronze table by date; each bronze table read as a
stream, de-duplicated within its batch by id and appended to silver (with ``--probe``, only
the ids silver does not hold yet: the pipeline's probe of the table, ``io.lake.not_in``); every
`pipeline.refresh_seconds`, gold/campaign_daily rewritten from silver/impressions. No
quarantine, no checks, no enrichment, attribution or quality, and without ``--probe`` no
de-duplication against silver: what is left is the cost of streaming these rows through
Delta at all.
SIGTERM stops the queries and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from advertisex.config import load_config  # noqa: E402
from advertisex.contract import bid_schema_text  # noqa: E402
from advertisex.io.delta import is_delta  # noqa: E402
from advertisex.io.lake import not_in  # noqa: E402
from advertisex.session import build_spark  # noqa: E402

IMPRESSION_DDL = ("impression_id STRING, event_time LONG, user_id STRING, campaign_id STRING, ad_creative_id STRING, "
                  "website STRING, device_type STRING, country STRING, bid_request_id STRING, cost_micros LONG")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--probe", action="store_true", help="insert only the ids silver lacks, as the pipeline does")
    args = ap.parse_args()
    cfg = load_config(ROOT / "conf" / "local.yaml", args.overrides, environ={})
    spark = build_spark("advertisex-floor-always-on", cfg)
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import from_avro

    trigger = f"{cfg.streaming.trigger_interval_seconds} seconds"
    checkpoints = Path(cfg.checkpoints.root) / "floor"

    def kafka(topic: str):
        return (spark.readStream.format("kafka").option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
                .option("subscribe", topic).option("startingOffsets", "earliest")
                .option("maxOffsetsPerTrigger", cfg.kafka.max_offsets_per_trigger).load())

    def land(df, table: str):
        return (df.withColumn("date", F.to_date("event_time")).writeStream.format("delta").partitionBy("date")
                .option("checkpointLocation", str(checkpoints / table)).trigger(processingTime=trigger)
                .queryName(table).start(cfg.table_path(table)))

    def dedupe_into(source: str, table: str, key: str):
        def batch(df, batch_id: int) -> None:
            df = df.dropDuplicates([key])
            if args.probe and is_delta(spark, cfg.table_path(table)):
                df = not_in(df, spark.read.format("delta").load(cfg.table_path(table)).select(key), key, probe=True)
            (df.write.format("delta").mode("append").partitionBy("date")
             .option("txnAppId", f"floor-{table}").option("txnVersion", batch_id).save(cfg.table_path(table)))

        return (spark.readStream.format("delta").load(cfg.table_path(source)).writeStream.foreachBatch(batch)
                .option("checkpointLocation", str(checkpoints / table))
                .trigger(processingTime=trigger).queryName(table).start())

    impressions = (kafka(cfg.kafka.topics.impressions)
                   .select(F.from_json(F.col("value").cast("string"), IMPRESSION_DDL).alias("r")).select("r.*")
                   .withColumn("event_time", F.timestamp_millis("event_time")))
    bids = (kafka(cfg.kafka.topics.bids)
            .select(from_avro(F.expr("substring(value, 6)"), bid_schema_text(2)).alias("r"))
            .select("r.bid_request_id", "r.event_time", F.col("r.user.user_id").alias("user_id"),
                    F.col("r.auction.exchange").alias("exchange"), F.col("r.auction.won").alias("won"),
                    F.col("r.auction.bid_price_micros").alias("bid_price_micros"),
                    F.col("r.targeting.campaign_id").alias("campaign_id")))
    queries = [land(impressions, "bronze/impressions"), land(bids, "bronze/bid_requests")]
    # The bench starts its traffic once the pipeline's first refresh wrote silver/dim_users.
    spark.range(0).write.format("delta").mode("overwrite").save(cfg.table_path("silver/dim_users"))
    for table in ("bronze/impressions", "bronze/bid_requests"):
        while not is_delta(spark, cfg.table_path(table)):
            spark.streams.awaitAnyTermination(1)  # raises if a query failed
    queries += [dedupe_into("bronze/impressions", "silver/impressions", "impression_id"),
                dedupe_into("bronze/bid_requests", "silver/bid_requests", "bid_request_id")]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(cfg.pipeline.refresh_seconds):
        silver = cfg.table_path("silver/impressions")
        if is_delta(spark, silver):
            (spark.read.format("delta").load(silver).groupBy("date", "campaign_id")
             .agg(F.count("*").alias("impressions")).write.format("delta").mode("overwrite")
             .save(cfg.table_path("gold/campaign_daily")))
    for query in queries:
        query.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
