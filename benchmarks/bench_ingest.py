"""Benchmark: bronze ingestion rates, each next to its floor (the same input read and written
as plain Parquet by Spark in the same run).

    .venv/bin/python benchmarks/bench_ingest.py files  --impressions 2000000 --csv-rows 3000000 [--warmup 200000]
    .venv/bin/python benchmarks/bench_ingest.py kafka  --messages 2000000 [--warmup 100000]  # needs `advertisex stack up`
    .venv/bin/python benchmarks/bench_ingest.py sustain --rate 50000 --seconds 300 # needs the stack
    .venv/bin/python benchmarks/bench_ingest.py sustain --feed bids --rate 75000 --seconds 300

`files`: backfill of historical impression JSON Lines and CSV clicks/conversions into bronze.
`kafka`: impressions (JSON) and bid requests (Confluent Avro) already on the topics → bronze,
`--once`. `sustain`: a producer process sends impressions (or, `--feed bids`, bid requests
encoded beforehand) at --rate for --seconds while the continuous ingest stream runs; the
lag (the topic's end offsets − those of the query's last batch) is printed every 10 s: it must not grow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import pickle
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from advertisex.config import Config, folder_overrides, load_config  # noqa: E402
from advertisex.generate import GenerateParams, Rates, generate, load_manifest  # noqa: E402
from advertisex.io.streaming import kafka_source, txn_app_id  # noqa: E402
from advertisex.pipelines import backfill_impressions, ingest_bids, ingest_clicks, ingest_impressions  # noqa: E402
from advertisex.session import build_spark  # noqa: E402


def _cfg(work: Path, *extra: str) -> Config:
    return load_config(
        ROOT / "conf" / "local.yaml",
        [
            *folder_overrides(work),
            f"streaming.txn_app_id=bench-{uuid.uuid4().hex[:8]}",
            *extra,
        ],
        environ={},
    )


def _generate(cfg: Config, work: Path, impressions: int, days: int = 7, kafka_share: float = 0.5) -> None:
    per_day = impressions // days
    params = GenerateParams(seed=5, start_date=dt.date(2026, 11, 2), days=days, impressions_per_day=per_day,
                            users=200_000, campaigns=200,
                            rates=Rates().with_overrides({"kafka_share": kafka_share}))
    t0 = time.monotonic()
    generate(params, landing_impressions=cfg.landing.impressions, landing_clicks=cfg.landing.clicks,
             campaigns_csv=cfg.reference.campaigns, users_csv=cfg.reference.users, out_dir=work / "generated")
    print(f"generated {per_day * days:,} impressions in {time.monotonic() - t0:.1f}s", flush=True)


def _rate(n: int, s: float) -> str:
    return f"{n:>11,} rows in {s:6.1f}s = {n / s:>9,.0f} rows/s"


def bench_files(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="ax-bench-files-"))
    cfg = _cfg(work)
    _generate(cfg, work, args.impressions, kafka_share=0.0)
    # CSV volume: the generated click files repeated under new names up to --csv-rows.
    clicks = Path(cfg.landing.clicks)
    originals = sorted(clicks.iterdir())
    lines = sum(_count_lines(p) - 1 for p in originals)
    copies = max(1, args.csv_rows // max(lines, 1))
    for k in range(1, copies):
        for p in originals:
            shutil.copy(p, clicks / f"copy{k:03d}-{p.name}")
    imp_mb = sum(p.stat().st_size for p in Path(cfg.landing.impressions).iterdir()) / 1e6
    csv_mb = sum(p.stat().st_size for p in clicks.iterdir()) / 1e6
    print(f"input: impressions {imp_mb:.0f} MB, click CSV {csv_mb:.0f} MB ({lines * copies:,} rows)", flush=True)

    spark = build_spark("advertisex-bench-files", cfg)
    spark.range(1000).selectExpr("sum(id)").collect()
    if args.warmup:
        # JIT warm-up: the same two jobs on a small data set of their own, in the same JVM, so the
        # measured runs (and their floors, which run after them anyway) find the code compiled.
        wwork = work / "warmup"
        wcfg = _cfg(wwork)
        _generate(wcfg, wwork, args.warmup, kafka_share=0.0)
        t0 = time.monotonic()
        backfill_impressions.run(spark, wcfg, once=True)
        ingest_clicks.run(spark, wcfg, once=True)
        print(f"warm-up: backfill + CSV of {args.warmup:,} impressions in {time.monotonic() - t0:.1f}s", flush=True)

    t0 = time.monotonic()
    res = backfill_impressions.run(spark, cfg, once=True)
    back_s = time.monotonic() - t0
    n_imp = spark.read.format("delta").load(cfg.table_path("bronze/impressions")).count()
    t0 = time.monotonic()
    spark.read.text(cfg.landing.impressions).write.mode("overwrite").parquet(str(work / "floor_imp_text"))
    floor_text = time.monotonic() - t0
    t0 = time.monotonic()
    spark.read.schema(_impression_schema()).json(cfg.landing.impressions).write.mode("overwrite").parquet(
        str(work / "floor_imp_json"))
    floor_json = time.monotonic() - t0
    print(f"backfill JSONL -> bronze/impressions : {_rate(n_imp, back_s)} ({res['batches']} batches)")
    print(f"  floor: text -> parquet             : {_rate(n_imp, floor_text)}  ratio {back_s / floor_text:.1f}x")
    print(f"  floor: json(schema) -> parquet     : {_rate(n_imp, floor_json)}  ratio {back_s / floor_json:.1f}x",
          flush=True)

    t0 = time.monotonic()
    ingest_clicks.run(spark, cfg, once=True)
    csv_s = time.monotonic() - t0
    n_csv = spark.read.format("delta").load(cfg.table_path("bronze/click_events")).count()
    t0 = time.monotonic()
    spark.read.option("header", "true").option("escape", '"').csv(cfg.landing.clicks).write.mode("overwrite") \
        .parquet(str(work / "floor_csv"))
    floor_csv = time.monotonic() - t0
    print(f"CSV -> bronze/click_events           : {_rate(n_csv, csv_s)}")
    print(f"  floor: csv(header) -> parquet      : {_rate(n_csv, floor_csv)}  ratio {csv_s / floor_csv:.1f}x",
          flush=True)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


def bench_kafka(args: argparse.Namespace) -> None:
    from advertisex.generate.producer import produce

    work = Path(tempfile.mkdtemp(prefix="ax-bench-kafka-"))
    suffix = uuid.uuid4().hex[:8]
    cfg = _cfg(work, f"kafka.topics.impressions=bench-imp-{suffix}", f"kafka.topics.bids=bench-bids-{suffix}",
               f"kafka.partitions={args.partitions}", f"kafka.max_offsets_per_trigger={args.max_offsets}")
    from advertisex import stack

    stack.ensure_topics(cfg)
    # Impressions on Kafka are about half of all generated impressions.
    _generate(cfg, work, args.messages * 2)
    manifest = load_manifest(work / "generated")
    t0 = time.monotonic()
    stats = produce(cfg, manifest, progress=None)
    print(f"produced in {time.monotonic() - t0:.1f}s: {stats.summary()}", flush=True)

    spark = build_spark("advertisex-bench-kafka", cfg)
    spark.range(1000).selectExpr("sum(id)").collect()
    if args.warmup:
        # JIT warm-up: both jobs on topics and tables of their own, same JVM.
        wsuffix = uuid.uuid4().hex[:8]
        wwork = work / "warmup"
        wcfg = _cfg(wwork, f"kafka.topics.impressions=bench-imp-{wsuffix}", f"kafka.topics.bids=bench-bids-{wsuffix}",
                    f"kafka.partitions={args.partitions}")
        stack.ensure_topics(wcfg)
        _generate(wcfg, wwork, args.warmup * 2)
        produce(wcfg, load_manifest(wwork / "generated"), progress=None)
        t0 = time.monotonic()
        ingest_impressions.run(spark, wcfg, once=True)
        ingest_bids.run(spark, wcfg, once=True)
        print(f"warm-up: both streams on about {args.warmup:,} impression messages in {time.monotonic() - t0:.1f}s",
              flush=True)
    for job, fn, topic, table in (
        ("impressions", ingest_impressions.run, cfg.kafka.topics.impressions, "bronze/impressions"),
        ("bid requests", ingest_bids.run, cfg.kafka.topics.bids, "bronze/bid_requests"),
    ):
        t0 = time.monotonic()
        res = fn(spark, cfg, once=True)
        secs = time.monotonic() - t0
        n = spark.read.format("delta").load(cfg.table_path(table)).count()
        t0 = time.monotonic()
        (spark.read.format("kafka").option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
         .option("subscribe", topic).load().write.mode("overwrite").parquet(str(work / f"floor_{suffix}_{topic}")))
        floor = time.monotonic() - t0
        print(f"Kafka {job:<12} -> bronze : {_rate(n, secs)} ({res['batches']} batches)")
        print(f"  floor: kafka -> parquet       : {_rate(n, floor)}  ratio {secs / floor:.1f}x", flush=True)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


def _producer_loop(bootstrap: str, topic: str, payload_file: str, rate: float, seconds: float,
                   counter: mp.Value) -> None:
    from confluent_kafka import Producer

    with open(payload_file, "rb") as fh:
        values: list[bytes] = pickle.load(fh)  # noqa: S301 - the benchmark's own file
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20, "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    start = time.monotonic()
    sent = 0
    i = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate)
        while sent < due:
            try:
                producer.produce(topic, values[i % len(values)])
            except BufferError:
                producer.poll(0.05)
                continue
            sent += 1
            i += 1
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(60)
    counter.value = sent


def bench_sustain(args: argparse.Namespace) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from advertisex import stack

    work = Path(tempfile.mkdtemp(prefix="ax-bench-sustain-"))
    suffix = uuid.uuid4().hex[:8]
    cfg = _cfg(work, f"kafka.topics.impressions=bench-sus-{suffix}", f"kafka.topics.bids=bench-sus-bids-{suffix}",
               f"schema_registry.subject=bench-sus-bids-{suffix}-value", f"kafka.partitions={args.partitions}",
               f"streaming.trigger_interval_seconds={args.trigger}", "kafka.max_offsets_per_trigger=2000000")
    stack.ensure_topics(cfg)
    _generate(cfg, work, 400_000)
    manifest = load_manifest(work / "generated")
    # The messages the producer cycles through, encoded beforehand: its loop only sends.
    if args.feed == "impressions":
        topic, table, make_batch = cfg.kafka.topics.impressions, "bronze/impressions", ingest_impressions.batch
        values = [line for p in manifest["kafka_impression_values"] for line in Path(p).read_bytes().split(b"\n")
                  if line]
    else:
        from advertisex.generate.bids import item_bytes, iter_bid_items, load_bid_pools
        from advertisex.generate.producer import register_bid_schemas

        topic, table, make_batch = cfg.kafka.topics.bids, "bronze/bid_requests", ingest_bids.batch
        ids, unknown = register_bid_schemas(cfg.schema_registry.url, cfg.schema_registry.subject)
        pools = load_bid_pools(Path(manifest["bids_files"][0]).parent)
        items = iter_bid_items(manifest["bids_files"], pools)
        values = [item_bytes(item, ids, unknown) for _, item in zip(range(args.distinct), items, strict=False)]
    payload_file = work / "payloads.pkl"
    with open(payload_file, "wb") as fh:
        pickle.dump(values, fh)
    print(f"{len(values):,} distinct {args.feed} messages to cycle through", flush=True)

    spark = build_spark("advertisex-bench-sustain", cfg)
    spark.range(1000).selectExpr("sum(id)").collect()
    counter = mp.get_context("spawn").Value("q", 0)
    proc = mp.get_context("spawn").Process(
        target=_producer_loop,
        args=(cfg.kafka.bootstrap_servers, topic, str(payload_file), args.rate, args.seconds, counter))
    source = kafka_source(spark, cfg, topic)  # the jobs' own source
    writer = (source.writeStream.option("checkpointLocation", cfg.checkpoint_path("bench", "sustain"))
              .foreachBatch(make_batch(cfg, txn_app_id(cfg, "bench", "sustain")))
              .trigger(processingTime=f"{args.trigger} seconds"))
    q = writer.start()
    consumer = Consumer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "group.id": "bench-lag"})
    parts = [TopicPartition(topic, p) for p in range(args.partitions)]

    def end_offsets() -> int:
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)

    def processed() -> int:
        # Messages the query has done: the end offsets of its last batch, summed over the
        # partitions (the topic is new, so offsets count messages). Summing numInputRows
        # instead counted the bid stream's first batch twice: it reads that batch twice.
        for prog in reversed(q.recentProgress):
            # Spark's own JSON of the progress holds endOffset as an object ({topic: {partition: offset}}).
            sources = json.loads(prog.json).get("sources") or []
            if sources and sources[0].get("endOffset"):
                return sum(int(o) for o in sources[0]["endOffset"].get(topic, {}).values())
        return 0

    proc.start()
    t0 = time.monotonic()
    print(f"{'t(s)':>6} {'produced':>12} {'ingested':>12} {'lag':>10} {'rows/s (last batch)':>20}", flush=True)
    stop = threading.Event()
    try:
        while proc.is_alive() or time.monotonic() - t0 < args.seconds + 30:
            time.sleep(10)
            try:
                end, done = end_offsets(), processed()
            except KafkaException as exc:  # a busy broker may not answer the probe in time: try again
                print(f"{time.monotonic() - t0:6.0f} lag probe failed: {exc}", flush=True)
                continue
            rate = (q.lastProgress or {}).get("processedRowsPerSecond", 0)
            print(f"{time.monotonic() - t0:6.0f} {end:12,} {done:12,} {end - done:10,} {rate:20,.0f}", flush=True)
            if not proc.is_alive() and end - done == 0:
                break
    except BaseException:
        traceback.print_exc()  # now, not after the producer's remaining seconds
        raise
    finally:
        stop.set()
        q.stop()
        proc.join()
    elapsed = time.monotonic() - t0
    n = spark.read.format("delta").load(cfg.table_path(table)).count()
    print(f"sustained {args.feed}: produced {counter.value:,} at target {args.rate:,.0f}/s for {args.seconds}s; "
          f"bronze has {n:,} rows after {elapsed:.0f}s", flush=True)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


def _count_lines(path: Path) -> int:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return sum(1 for _ in fh)


def _impression_schema() -> str:
    return ("impression_id string, event_time string, user_id string, campaign_id string, ad_creative_id string, "
            "website string, device_type string, country string, bid_request_id string, cost_micros long")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("files")
    f.add_argument("--impressions", type=int, default=2_000_000)
    f.add_argument("--csv-rows", type=int, default=3_000_000)
    f.add_argument("--warmup", type=int, default=0, metavar="N",
                   help="first run both jobs on N generated impressions of their own (JIT warm-up; 0: none)")
    k = sub.add_parser("kafka")
    k.add_argument("--messages", type=int, default=2_000_000, help="impression messages (about)")
    k.add_argument("--partitions", type=int, default=2)
    k.add_argument("--warmup", type=int, default=0, metavar="N",
                   help="first run both streams on about N impression messages of their own (JIT warm-up)")
    k.add_argument("--max-offsets", type=int, default=5_000_000,
                   help="kafka.max_offsets_per_trigger (default 5M, as conf/cluster.example.yaml: one batch per "
                        "topic for up to 5M messages; sessions up to 8 used 1M, which split 1.01M impressions into "
                        "a 1M batch and a 13k one)")
    s = sub.add_parser("sustain")
    s.add_argument("--rate", type=float, default=50_000)
    s.add_argument("--seconds", type=float, default=300)
    s.add_argument("--trigger", type=float, default=5)
    s.add_argument("--partitions", type=int, default=2)
    s.add_argument("--feed", choices=("impressions", "bids"), default="impressions",
                   help="impressions (JSON) or bid requests (Confluent Avro, v1 and v2 mixed)")
    s.add_argument("--distinct", type=int, default=300_000, help="bids: distinct messages encoded beforehand")
    args = ap.parse_args()
    {"files": bench_files, "kafka": bench_kafka, "sustain": bench_sustain}[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
