"""Benchmark: the always-on pipeline under sustained traffic, freshness measured from outside.

    .venv/bin/python benchmarks/bench_always_on.py --seconds 600 --impressions-rate 10000 --bids-rate 25000
    .venv/bin/python benchmarks/bench_always_on.py --seconds 180 --metrics off    # the same without metrics
    .venv/bin/python benchmarks/bench_always_on.py --seconds 600 --floor          # Spark's floor, same traffic

Starts the local stack (Kafka, registry, Prometheus; conf/local.yaml), then `advertisex
pipeline` (always on) as a user runs it, on a lake of its own. Two producer processes send
impressions (JSON) and bid requests (Confluent Avro) at fixed rates, each record stamped
with its produce time as its event time, and a click file lands every `--click-every`
seconds. Every second the bench reads the tables' Delta logs (no Spark of its own):

* produce → silver: now minus the newest event time silver holds (from the log's
  statistics), and now minus the produce time of the N-th record when silver holds N;
* produce → gold: now minus the produce time of the N-th impression when gold counts N;
* lag: records produced minus records in bronze, sampled over the run (growing or not);
* the pipeline's processes: peak resident memory, and CPU seconds per million records;
* every process's CPU over the run, by role (pipeline, broker, registry, producers,
  monitoring), the pipeline JVM's CPU by kind of thread (tasks, JIT, GC, ...), and its
  executors' CPU by query or refresh step (from the Spark UI's REST API).

With ``--floor`` the bench runs ``benchmarks/floor_always_on.py`` instead of the pipeline:
the least Spark does with the same traffic in the same driver settings (``--floor probe``:
plus the pipeline's probe of silver for the ids it holds), measured the same way.

Prints percentiles and the figures for docs/BENCHMARKS.md; with metrics on, also every
metric family the pipeline serves and every alert rule's state at the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bench_layouts import JvmThreadCpu  # noqa: E402

from advertisex.config import Config, folder_overrides, load_config  # noqa: E402

CAMPAIGNS, USERS = 50, 20_000
DAY_MS = 86_400_000


# --------------------------------------------------------------------------- producers


def _zigzag(n: int) -> bytes:
    """Avro's long encoding: zig-zag, then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bid_parts(schema_id: int) -> tuple[bytes, bytes]:
    """A bid request v2 message cut around its id and time: header + id length, and what
    follows the time (the rest of the record), so each message is spliced, not encoded."""
    import fastavro

    from advertisex.contract import bid_schema_text

    schema = fastavro.parse_schema(json.loads(bid_schema_text(2)))
    t0 = int(time.time() * 1000)
    record = {
        "bid_request_id": "bb-000000000000", "event_time": t0,
        "user": {"user_id": "u-000001", "segments": ["sports_fan"], "country": "US", "device_type": "mobile",
                 "consent": True},
        "auction": {"auction_id": "a-1", "exchange": "adx", "floor_price_micros": 100_000, "bid_price_micros": 150_000,
                    "won": True, "clearing_price_micros": 120_000, "deal_id": None},
        "targeting": {"campaign_id": "cmp-0001", "website": "news.example.com", "ad_slot": "banner_300x250",
                      "keywords": ["news"]},
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    body = buf.getvalue()
    id_len = _zigzag(len(record["bid_request_id"]))
    assert body.startswith(id_len + b"bb-000000000000")
    rest = body[len(id_len) + 15 + len(_zigzag(t0)):]
    return b"\x00" + struct.pack(">I", schema_id) + id_len, rest


def produce_loop(bootstrap: str, topic: str, kind: str, rate: float, seconds: float, timeline: str,
                 schema_id: int) -> None:
    """Send ``kind`` records at ``rate`` per second for ``seconds``, each stamped with its
    produce time; every quarter second append ``wall_ms count`` to ``timeline``."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20, "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    head, rest = _bid_parts(schema_id) if kind == "bids" else (b"", b"")
    start, sent, last_note = time.monotonic(), 0, 0.0
    with open(timeline, "w") as out:
        while (now := time.monotonic()) - start < seconds:
            due = int((now - start) * rate)
            ms = int(time.time() * 1000)
            while sent < due:
                n = sent
                if kind == "bids":
                    value = head + f"bb-{n:012d}".encode() + _zigzag(ms) + rest
                else:
                    value = (f'{{"impression_id":"bi-{n:012d}","event_time":{ms},"user_id":"u-{n % USERS:06d}",'
                             f'"campaign_id":"cmp-{n % CAMPAIGNS:04d}","ad_creative_id":"cr-1",'
                             f'"website":"news.example.com","device_type":"mobile","country":"US",'
                             f'"bid_request_id":"bb-{n:012d}","cost_micros":1200}}').encode()
                try:
                    producer.produce(topic, value)
                except BufferError:
                    producer.poll(0.05)
                    continue
                sent += 1
            producer.poll(0)
            if now - last_note >= 0.25:
                out.write(f"{ms} {sent}\n")
                out.flush()
                last_note = now
            time.sleep(0.005)
        producer.flush(60)
        out.write(f"{int(time.time() * 1000)} {sent}\n")


def read_timeline(path: Path) -> tuple[list[int], list[int]]:
    """``(wall ms, records sent)`` pairs a producer noted."""
    times, counts = [], []
    for line in path.read_text().splitlines():
        t, n = line.split()
        times.append(int(t))
        counts.append(int(n))
    return times, counts


def stamp_of(n: int, timeline: tuple[list[int], list[int]]) -> int | None:
    """When the producer had sent ``n`` records (its n-th record's stamp, to a quarter second)."""
    times, counts = timeline
    i = bisect_left(counts, n)
    return times[i] if i < len(times) else None


# --------------------------------------------------------------------------- the tables, from their logs


class DeltaLog:
    """A table's active files from its JSON commits, read incrementally (the table is new)."""

    def __init__(self, path: str) -> None:
        self.log = Path(path) / "_delta_log"
        self.version = -1
        self.files: dict[str, dict] = {}

    def refresh(self) -> DeltaLog:
        if not self.log.is_dir():
            return self
        while (commit := self.log / f"{self.version + 1:020d}.json").exists():
            for line in commit.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    stats = json.loads(action["add"].get("stats") or "{}")
                    self.files[action["add"]["path"]] = stats
                elif "remove" in action:
                    self.files.pop(action["remove"]["path"], None)
            self.version += 1
        return self

    def rows(self) -> int:
        return sum(s.get("numRecords", 0) for s in self.files.values())

    def newest(self, column: str = "event_time") -> int | None:
        """The newest value of ``column`` the statistics know (epoch ms)."""
        import datetime as dt

        values = [s.get("maxValues", {}).get(column) for s in self.files.values()]
        values = [v for v in values if v]
        if not values:
            return None
        return int(max(dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values).timestamp() * 1000)

    def paths(self) -> list[str]:
        return [str(self.log.parent / p) for p in self.files]


def gold_impressions(log: DeltaLog) -> int:
    """Impressions gold/campaign_daily counts (DuckDB over its active files)."""
    import duckdb

    paths = log.refresh().paths()
    if not paths:
        return 0
    return int(duckdb.sql(f"SELECT coalesce(sum(impressions), 0) FROM read_parquet({paths!r})").fetchall()[0][0])


# --------------------------------------------------------------------------- the run


def _cfg(work: Path, args: argparse.Namespace) -> tuple[Config, list[str]]:
    suffix = uuid.uuid4().hex[:8]
    overrides = [*folder_overrides(work), f"kafka.topics.impressions=bench-aon-{suffix}",
                 f"kafka.topics.bids=bench-aon-bids-{suffix}", f"schema_registry.subject=bench-aon-{suffix}-value",
                 f"streaming.txn_app_id=bench-aon-{suffix}", f"kafka.partitions={args.partitions}",
                 f"streaming.trigger_interval_seconds={args.trigger}", f"pipeline.refresh_seconds={args.refresh}",
                 f"monitoring.enabled={'true' if args.metrics == 'on' else 'false'}", *args.overrides]
    return load_config(ROOT / "conf" / "local.yaml", overrides, environ={}), overrides


def _references(cfg: Config) -> None:
    Path(cfg.reference.campaigns).parent.mkdir(parents=True, exist_ok=True)
    with open(cfg.reference.campaigns, "w") as out:
        out.write("campaign_id,advertiser_id,campaign_name,channel,daily_budget_micros,start_date,end_date\n")
        for c in range(CAMPAIGNS):
            out.write(f"cmp-{c:04d},adv-{c % 7},Campaign {c},display,1000000000,2026-01-01,2027-12-31\n")
    with open(cfg.reference.users, "w") as out:
        out.write("user_id,age_band,gender,country,signup_date,segment\n")
        for u in range(USERS):
            out.write(f"u-{u:06d},25-34,f,US,2025-01-01,sports_fan\n")
    for folder in (cfg.landing.impressions, cfg.landing.clicks):
        Path(folder).mkdir(parents=True, exist_ok=True)


def _click_file(cfg: Config, first: int, last: int, k: int) -> None:
    """``k`` clicks on impressions ``first``..``last`` (already produced), now; written, then renamed."""
    if last <= first:
        return
    ms = int(time.time() * 1000)
    step = max(1, (last - first) // k)
    lines = ["event_id,event_type,event_time,user_id,campaign_id,ad_creative_id,impression_id,"
             "conversion_type,conversion_value"]
    for n in range(first, last, step):
        lines.append(f"bc-{n:012d},click,{ms},u-{n % USERS:06d},cmp-{n % CAMPAIGNS:04d},cr-1,bi-{n:012d},,")
    tmp = Path(cfg.landing.clicks) / f".clicks-{ms}.csv.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(Path(cfg.landing.clicks) / f"clicks-{ms}.csv")


def _tree(pid: int) -> list:
    import psutil

    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


# Every process's role, by a piece of its command line (the first that matches).
ROLES = (("org.apache.spark.deploy.SparkSubmit", "pipeline (driver JVM)"), ("advertisex.cli", "pipeline (Python)"),
         ("pyspark.daemon", "pipeline (Python workers)"), ("kafka.Kafka", "Kafka broker"), ("apicurio", "schema registry"), ("produce_loop", "producers"),
         ("multiprocessing", "producers"), ("prometheus", "monitoring"), ("alertmanager", "monitoring"),
         ("bench_always_on", "this bench"))


class CpuByRole:
    """CPU seconds every process used since the first :meth:`sample`, summed by role; a process
    that ends between samples (a producer) counts up to its last sample."""

    def __init__(self) -> None:
        self._first: dict[int, float] | None = None
        self._last: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        import psutil

        for proc in psutil.process_iter(["cmdline", "cpu_times"]):
            cmd, times = " ".join(proc.info["cmdline"] or ()), proc.info["cpu_times"]
            if times is not None:
                role = next((r for key, r in ROLES if key in cmd), "other")
                self._last[proc.pid] = (role, times.user + times.system)
        if self._first is None:
            self._first = {pid: cpu for pid, (_, cpu) in self._last.items()}

    def used(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (role, cpu) in self._last.items():
            out[role] = out.get(role, 0.0) + cpu - (self._first or {}).get(pid, 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


class CpuByQuery:
    """Executor CPU seconds of the pipeline's Spark stages, summed by what ran them: a query
    (``silver.bid_requests``) or a refresh step (``gold (refresh)``), from the description of
    each stage's job, read through the driver's UI (its REST API). Polled often enough that
    the UI still holds every stage (it keeps the last 1,000)."""

    def __init__(self, url: str) -> None:
        self.url, self._app = url, None
        self._jobs: dict[int, dict] = {}
        self._stages: dict[tuple[int, int], dict] = {}

    def _get(self, path: str) -> Any:
        import urllib.request

        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def sample(self) -> None:
        try:
            self._app = self._app or self._get("/api/v1/applications")[0]["id"]
            for j in self._get(f"/api/v1/applications/{self._app}/jobs"):
                self._jobs[j["jobId"]] = j
            for s in self._get(f"/api/v1/applications/{self._app}/stages?status=complete"):
                self._stages[(s["stageId"], s["attemptId"])] = s
        except (OSError, ValueError, http.client.HTTPException):  # the UI is not up yet, already down, or cut its answer short
            pass

    @staticmethod
    def _owner(job: dict | None) -> str:
        desc = ((job or {}).get("description") or "").split("<br/>")[0].split("\n")[0]
        desc = desc.removeprefix("Delta: ").split(":")[0].strip()  # Delta's own jobs name their caller
        return desc or "other"

    def used(self) -> dict[str, float]:
        job_of = {sid: j for j in self._jobs.values() for sid in j["stageIds"]}
        out: dict[str, float] = {}
        for (sid, _), s in self._stages.items():
            owner = self._owner(job_of.get(sid))
            out[owner] = out.get(owner, 0.0) + s["executorCpuTime"] / 1e9
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def monitoring_sample(cfg: Config) -> list[str]:
    """Lines for the closing note: every metric family the pipeline serves, with its number of
    series and the series of the highest value, and every alert rule's state in Prometheus
    with the number of series its expression returns now."""
    import urllib.parse
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from advertisex.monitoring.queries import monitoring_dir, rule_queries

    def get(url: str) -> str:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    lines = []
    text = get(f"http://127.0.0.1:{cfg.monitoring.metrics_port}/metrics")
    for family in text_string_to_metric_families(text):
        samples = [s for s in family.samples if s.name.startswith("advertisex_")
                   and not s.name.endswith(("_created", "_bucket"))]
        if samples:
            top = max(samples, key=lambda s: s.value)
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(top.labels.items()))
            lines.append(f"    {family.name} ({family.type}, {len(samples)} series): {top.name}{{{labels}}} {top.value:,.6g}")
    prom = cfg.monitoring.prometheus_url
    states = {r["name"]: (r.get("state", "-"), r.get("health", "-"), len(r.get("alerts", [])))
              for g in json.loads(get(f"{prom}/api/v1/rules"))["data"]["groups"] for r in g["rules"]}
    for where, expr in rule_queries(monitoring_dir() / "rules"):
        name = where.split(":", 1)[1]
        found = json.loads(get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))["data"]["result"]
        state, health, alerts = states.get(name, ("not loaded", "-", 0))
        lines.append(f"    {name}: {state}, health {health}, {alerts} alert(s); its expression returns {len(found)} series now")
    return lines


def _clean_up(cfg: Config, work: Path) -> None:
    """Delete the run's topics and lake (some 5 GB each at the target load; runs add up on one
    disk), keeping the pipeline's log and the producers' timelines."""
    from advertisex.stack.kafka import admin_client

    admin = admin_client({"bootstrap.servers": cfg.kafka.bootstrap_servers}, 30)  # held until the futures resolve
    for topic, done in admin.delete_topics([cfg.kafka.topics.impressions, cfg.kafka.topics.bids]).items():
        try:
            done.result(30)
        except Exception as exc:  # noqa: BLE001 - said, and the lake is removed all the same
            print(f"  topic {topic} not deleted: {exc}", flush=True)
    for path in work.iterdir():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tree_sum(pid: int, read: Callable[[Any], float]) -> float:
    """``read(process)`` summed over ``pid`` and its children (a Python worker may end meanwhile)."""
    import psutil

    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += read(proc)
    return total


def _cpu(proc: Any) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main() -> int:  # noqa: PLR0915 - one measured run, read top to bottom
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--impressions-rate", type=float, default=10_000)
    ap.add_argument("--bids-rate", type=float, default=25_000)
    ap.add_argument("--click-every", type=float, default=60)
    ap.add_argument("--clicks-per-file", type=int, default=2_000)
    ap.add_argument("--trigger", type=float, default=5)
    ap.add_argument("--refresh", type=float, default=30)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--metrics", choices=("on", "off"), default="on")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--floor", nargs="?", const="plain", choices=("plain", "probe"),
                    help="run Spark's floor (benchmarks/floor_always_on.py) instead of the pipeline; "
                         "`probe`: its silver inserts only the ids silver lacks")
    args = ap.parse_args()

    from advertisex import stack
    from advertisex.generate.producer import register_bid_schemas

    work = Path(tempfile.mkdtemp(prefix="ax-bench-aon-"))
    ui_port = _free_port()
    args.overrides.append(f"spark.conf.spark.ui.port={ui_port}")
    cfg, overrides = _cfg(work, args)
    stack.up(cfg)
    stack.ensure_topics(cfg)
    _references(cfg)
    ids, _unknown = register_bid_schemas(cfg.schema_registry.url, cfg.schema_registry.subject)
    command = ([str(ROOT / "benchmarks" / "floor_always_on.py"), *(["--probe"] if args.floor == "probe" else [])]
               if args.floor else ["-m", "advertisex.cli", "pipeline"])
    pipeline = subprocess.Popen([sys.executable, *command, *(f"--set={o}" for o in overrides)],
                                stdout=open(work / "pipeline.log", "w"), stderr=subprocess.STDOUT,
                                env={**os.environ, "ADVERTISEX_HOME": str(ROOT)}, start_new_session=True)
    silver_imp = DeltaLog(cfg.table_path("silver/impressions"))
    silver_bids = DeltaLog(cfg.table_path("silver/bid_requests"))
    bronze_imp = DeltaLog(cfg.table_path("bronze/impressions"))
    gold = DeltaLog(cfg.table_path("gold/campaign_daily"))
    # The pipeline is up (its first refresh ran) before traffic starts.
    deadline = time.monotonic() + 300
    while not (Path(cfg.table_path("silver/dim_users")) / "_delta_log").is_dir() and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2 * args.trigger)
    cpu0 = _tree_sum(pipeline.pid, _cpu)
    roles, jvm, queries = CpuByRole(), JvmThreadCpu().__enter__(), CpuByQuery(f"http://127.0.0.1:{ui_port}")
    roles.sample()

    ctx = mp.get_context("spawn")
    timelines = {kind: work / f"timeline-{kind}.txt" for kind in ("impressions", "bids")}
    producers = [ctx.Process(target=produce_loop, args=(cfg.kafka.bootstrap_servers, topic, kind, rate, args.seconds,
                                                          str(timelines[kind]), ids[2]))
                 for kind, topic, rate in (("impressions", cfg.kafka.topics.impressions, args.impressions_rate),
                                           ("bids", cfg.kafka.topics.bids, args.bids_rate))]
    for p in producers:
        p.start()
    t_start = time.monotonic()
    samples: dict[str, list[float]] = {"silver_newest": [], "silver_count": [], "bids_newest": [], "gold_count": []}
    lag: list[tuple[float, int]] = []
    peak_rss = 0
    next_click, clicked = t_start + args.click_every, 0
    print(f"{'t(s)':>6} {'produced':>10} {'bronze':>10} {'silver':>10} {'gold':>10} {'silver age':>10} "
          f"{'gold age':>9}", flush=True)
    while any(p.is_alive() for p in producers) or time.monotonic() - t_start < args.seconds:
        time.sleep(1)
        now_ms = int(time.time() * 1000)
        tl = {k: read_timeline(v) if v.exists() else ([], []) for k, v in timelines.items()}
        produced = tl["impressions"][1][-1] if tl["impressions"][1] else 0
        newest = silver_imp.refresh().newest()
        n_silver = silver_imp.rows()
        n_bronze = bronze_imp.refresh().rows()
        n_gold = gold_impressions(gold)
        if newest:
            samples["silver_newest"].append((now_ms - newest) / 1000)
        for name, n, timeline in (("silver_count", n_silver, tl["impressions"]), ("gold_count", n_gold,
                                                                                  tl["impressions"])):
            stamp = stamp_of(n, timeline) if n else None
            if stamp:
                samples[name].append((now_ms - stamp) / 1000)
        bids_newest = silver_bids.refresh().newest()
        if bids_newest:
            samples["bids_newest"].append((now_ms - bids_newest) / 1000)
        elapsed = time.monotonic() - t_start
        lag.append((elapsed, produced - n_bronze))
        peak_rss = max(peak_rss, _tree_sum(pipeline.pid, lambda p: p.memory_info().rss))
        if time.monotonic() >= next_click and produced:
            _click_file(cfg, clicked, produced, args.clicks_per_file)
            clicked, next_click = produced, next_click + args.click_every
        if int(elapsed) % 10 == 0:
            roles.sample()
            queries.sample()
            s_age = f"{samples['silver_newest'][-1]:.1f}" if samples["silver_newest"] else "-"
            g_age = f"{samples['gold_count'][-1]:.1f}" if samples["gold_count"] else "-"
            print(f"{elapsed:6.0f} {produced:10,} {n_bronze:10,} {n_silver:10,} {n_gold:10,} {s_age:>10} {g_age:>9}",
                  flush=True)
        if pipeline.poll() is not None:
            print(f"the pipeline ended ({pipeline.returncode}); see {work / 'pipeline.log'}", flush=True)
            break
    cpu1 = _tree_sum(pipeline.pid, _cpu)
    sampled = monitoring_sample(cfg) if args.metrics == "on" and not args.floor and pipeline.poll() is None else []
    roles.sample()
    queries.sample()
    jvm.__exit__()
    tl = {k: read_timeline(v) for k, v in timelines.items()}
    total = tl["impressions"][1][-1] + tl["bids"][1][-1]
    pipeline.send_signal(signal.SIGTERM)
    code = pipeline.wait(300)
    _clean_up(cfg, work)

    third = len(lag) // 3
    early = statistics.mean(x for _, x in lag[third:2 * third]) if third else float("nan")
    late = statistics.mean(x for _, x in lag[2 * third:]) if third else float("nan")
    print(f"\nsustained {args.seconds:.0f}s: impressions {args.impressions_rate:,.0f}/s, bids {args.bids_rate:,.0f}/s, "
          f"a click file every {args.click_every:.0f}s; trigger {args.trigger:g}s, refresh {args.refresh:g}s, "
          f"metrics {args.metrics}" + (f"; Spark's floor ({args.floor}), not the pipeline" if args.floor else ""))
    for name, label in (("silver_newest", "produce → silver (newest record's age)"),
                        ("silver_count", "produce → silver (by count)"),
                        ("bids_newest", "produce → silver bid requests (newest's age)"),
                        ("gold_count", "produce → gold (by count)")):
        v = samples[name]
        print(f"  {label:<46} p50 {_pct(v, .5):6.1f}s  p95 {_pct(v, .95):6.1f}s  max {max(v, default=float('nan')):6.1f}s"
              f"  ({len(v)} samples)")
    print(f"  lag (produced − bronze impressions): middle third {early:,.0f}, last third {late:,.0f}")
    print(f"  pipeline processes: peak RSS {peak_rss / 2**20:,.0f} MiB; CPU {cpu1 - cpu0:,.0f}s for {total:,} records "
          f"= {(cpu1 - cpu0) / max(total, 1) * 1e6:,.1f} CPU-s per million; SIGTERM exit {code}")
    print(f"  CPU seconds over the run, by role (2 cores = {2 * elapsed:,.0f}): "
          + ", ".join(f"{role} {sec:,.0f}" for role, sec in roles.used().items() if sec >= 1))
    print(f"  the driver JVM since its start, by thread: {jvm.by_kind()}")
    print("  executor CPU seconds since the start, by query or refresh step (Spark's UI): "
          + ", ".join(f"{owner} {sec:,.1f}" for owner, sec in queries.used().items() if sec >= 0.1))
    if sampled:
        print("  at the end of the run, the pipeline's metrics (the highest series of each) and the alert rules:")
        print("\n".join(sampled))
    print(f"  log: {work / 'pipeline.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
