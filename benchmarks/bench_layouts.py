"""Benchmark: the same impressions in four file layouts → gold, each run as a user runs it.

    .venv/bin/python benchmarks/bench_layouts.py [--impressions 2000000] [--days 3] [--layouts a,b,c,d] [--profile] [--jfr]

Generates one data set (files only, seed 7), lays its impression records out four ways, and
for each layout times, in the same run:
  * ``advertisex pipeline --once`` as a whole process (cold JVM, Kafka off), with each job's
    seconds from its own ``--output json`` results;
  * Spark's floor as a whole process: the same files read as JSON and CSV with a schema and
    written as Parquet (no parsing rules, no de-duplication, no Delta);
  * DuckDB computing the same gold table (benchmarks/duckdb_gold.py);
and checks ``gold/campaign_daily`` against the generator's truth.

With ``--profile`` each pipeline run also reports where its CPU went: the driver JVM's CPU
seconds by kind of thread (executor tasks, the C2 and C1 JIT compilers, GC, py4j, streaming;
sampled every second with psutil, named from ``/proc``: Linux only) and, from Spark's event
log, how many Spark jobs ran and their tasks' wall and CPU seconds. With ``--jfr`` the driver
JVM also runs Java Flight Recorder (``settings=profile``), and the run's Java execution samples
are counted by what they were doing (:data:`OPERATIONS`: parsing JSON, writing Parquet,
trimming, planning...), read with the JDK's ``jfr`` tool. The recorder costs a few percent of
the run's time; the JIT compilers and GC are native threads, which it does not sample.

Layouts: (a) ~70 mid-size plain files (about what the generator writes), (b) 4 plain files
of the whole, (c) one gzip per event day, (d) ~3,000 small gzip files. Click and conversion
CSV files stay as generated. Results go in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

LAYOUTS = {
    "a": "~70 mid-size plain files",
    "b": "4 plain files",
    "c": "one gzip per event day",
    "d": "~3,000 small gzip files",
}


def records(folder: Path) -> Iterator[bytes]:
    """Every line of every impression file of ``folder``, in file-name order."""
    for path in sorted(folder.iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            yield from f


def write_split(lines: list[bytes], folder: Path, parts: int, *, compress: bool, prefix: str) -> None:
    """``lines`` in ``parts`` files of about equal size, in order."""
    folder.mkdir(parents=True)
    size = -(-len(lines) // parts)
    for i in range(parts):
        chunk = lines[i * size:(i + 1) * size]
        if not chunk:
            break
        name = folder / f"{prefix}-{i:05d}.jsonl{'.gz' if compress else ''}"
        with (gzip.open(name, "wb", compresslevel=6) if compress else open(name, "wb")) as out:
            out.writelines(chunk)


def lay_out(generated: Path, work: Path, layout: str) -> Path:
    """The generated impression files of ``generated`` in ``layout``; returns its folder."""
    folder = work / f"layout-{layout}" / "impressions"  # beside it: clicks/, and the run's lake
    lines = list(records(generated))
    if layout == "a":
        write_split(lines, folder, 70, compress=False, prefix="mid")
    elif layout == "b":
        write_split(lines, folder, 4, compress=False, prefix="big")
    elif layout == "c":
        by_day: dict[str, list[bytes]] = {}
        for line in lines:
            try:
                day = str(json.loads(line).get("event_time", ""))[:10]
            except (ValueError, AttributeError):
                day = "unparsed"
            by_day.setdefault(day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else "other", []).append(line)
        folder.mkdir(parents=True)
        for day, chunk in sorted(by_day.items()):
            with gzip.open(folder / f"day-{day}.jsonl.gz", "wb", compresslevel=6) as out:
                out.writelines(chunk)
    else:
        write_split(lines, folder, 3000, compress=True, prefix="small")
    return folder


class JvmThreadCpu:
    """CPU seconds of the Spark driver JVMs that run while it samples, by kind of thread (the
    times from psutil, the names from ``/proc``): a thread's name as the kernel keeps it (its
    first 15 characters, e.g. ``Executor task l``), without a trailing number (``GC Thread#1``
    and ``GC Thread#0`` are one kind)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JvmThreadCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for proc in psutil.process_iter(["cmdline"]):
                if "org.apache.spark.deploy.SparkSubmit" not in (proc.info["cmdline"] or ()):
                    continue
                try:
                    for thread in proc.threads():  # psutil has the times; the name only /proc has
                        name = Path(f"/proc/{proc.pid}/task/{thread.id}/comm").read_text().strip()
                        self._last[(proc.pid, thread.id)] = (name, thread.user_time + thread.system_time)
                except (psutil.Error, OSError):  # a process or thread that ended meanwhile
                    continue

    def by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, seconds in self._last.values():
            kind = re.sub(r"[\s\-#]*\d+$", "", name) or name
            out[kind] = out.get(kind, 0.0) + seconds
        return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.05}


def event_log_summary(folder: Path) -> dict[str, float]:
    """Spark jobs, and their tasks' wall and CPU seconds, from the (uncompressed) event log in ``folder``."""
    jobs, wall, cpu = 0, 0.0, 0.0
    for events in sorted(folder.glob("*/events_*")) or sorted(p for p in folder.glob("*") if p.is_file()):
        for line in events.open():
            event = json.loads(line)
            if event["Event"] == "SparkListenerJobStart":
                jobs += 1
            elif event["Event"] == "SparkListenerTaskEnd":
                info, metrics = event["Task Info"], event.get("Task Metrics") or {}
                wall += (info["Finish Time"] - info["Launch Time"]) / 1000
                cpu += metrics.get("Executor CPU Time", 0) / 1e9
    return {"spark_jobs": jobs, "task_seconds": round(wall, 1), "task_cpu_seconds": round(cpu, 1)}


# What a Java execution sample was doing: the first of these whose pattern matches a frame of
# its stack (so the order matters: a trim inside generated code is a trim).
OPERATIONS = (
    ("Janino compiling generated code", r"org\.codehaus\.(janino|commons)"),
    ("class loading", r"ClassLoader\.(loadClass|defineClass)|ZipFile"),
    ("JSON parsing (from_json)", r"JacksonParser|com\.fasterxml\.jackson|JsonToStructs"),
    ("Delta statistics of written files", r"DeltaTaskStatisticsTracker|DeltaJobStatisticsTracker"),
    ("Parquet writing", r"ParquetWriteSupport|ParquetOutputWriter|org\.apache\.parquet\.(column|hadoop)\."),
    ("Parquet reading", r"VectorizedParquetRecordReader|VectorizedColumnReader|Vectorized\w*ValuesReader"),
    ("regular expressions", r"java\.util\.regex"),
    ("trimming (btrim)", r"UTF8String\.trim"),
    ("hash joins (build and probe)", r"HashedRelation"),
    ("aggregation", r"UnsafeFixedWidthAggregationMap|hashAgg_|ObjectAggregationIterator|SortBasedAggregat"),
    ("sorting", r"UnsafeExternalSorter|UnsafeInMemorySorter|RadixSort|TimSort"),
    ("shuffle I/O", r"UnsafeRowSerializer|DiskBlockObjectWriter|ShuffleBlockFetcher|BlockStoreShuffleReader|LZ4"),
    ("reading text lines", r"LineReader|HadoopLineRecordReader|GzipCodec|Inflater"),
    ("planning (analyzer, optimizer, planner)", r"catalyst\.(analysis|optimizer)|RuleExecutor|QueryPlanner"),
    ("scheduling, task and closure serialisation", r"ObjectOutputStream|ObjectInputStream|ClosureCleaner|"
     r"DAGScheduler|TaskSetManager|AsyncEventQueue|ListenerBus"),
    ("Delta log and snapshots", r"org\.apache\.spark\.sql\.delta\.(Snapshot|DeltaLog|OptimisticTransaction|actions|"
     r"stats\.DataSkipping|files\.Tahoe)"),
    ("other generated code (fused row processing)", r"GeneratedClass"),
    ("the rest of what Python's calls do (py4j)", r"py4j\."),
)


def jfr_operations(recording: Path) -> dict[str, int]:
    """The recording's Java execution samples by :data:`OPERATIONS` (``other`` for the rest)."""
    jfr = shutil.which("jfr") or str(Path(shutil.which("java") or "java").resolve().parent / "jfr")
    text = subprocess.run([jfr, "print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", str(recording)],
                          capture_output=True, text=True, check=True).stdout
    out = dict.fromkeys([name for name, _ in OPERATIONS] + ["other"], 0)
    patterns = [(name, re.compile(pattern)) for name, pattern in OPERATIONS]
    for sample in text.split("jdk.ExecutionSample {")[1:]:
        stack = sample.split("stackTrace = [", 1)[-1]
        out[next((name for name, pattern in patterns if pattern.search(stack)), "other")] += 1
    return out


def run_json(cmd: list[str]) -> tuple[float, dict]:
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}


def floor_and_check(args: argparse.Namespace) -> int:
    """In its own process: Spark's floor on the layout's files, then gold against the truth."""
    from bench_ingest import _impression_schema

    from advertisex import tables
    from advertisex.config import folder_overrides, load_config
    from advertisex.session import build_spark

    cfg = load_config(ROOT / "conf" / "local.yaml", [*folder_overrides(args.floor), "kafka.enabled=false"], environ={})
    t0 = time.monotonic()
    spark = build_spark("advertisex-floor", cfg)
    out = Path(args.floor) / "floor"
    spark.read.schema(_impression_schema()).json(str(Path(args.floor) / "impressions")).write.mode(
        "overwrite").parquet(str(out / "impressions"))
    spark.read.option("header", "true").option("escape", '"').csv(str(Path(args.floor) / "clicks")).write.mode(
        "overwrite").parquet(str(out / "clicks"))
    floor = time.monotonic() - t0
    want = {(r["event_date"], r["campaign_id"], r["impressions"], r["clicks"], r["conversions"], r["spend_micros"])
            for r in json.loads((Path(args.truth) / "campaign_daily.json").read_text())}
    got = {(str(r.event_date), r.campaign_id, r.impressions, r.clicks, r.conversions, r.spend_micros)
           for r in spark.read.format("delta").load(cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)).collect()}
    print(json.dumps({"floor_seconds": round(floor, 1), "gold_equal": got == want, "gold_rows": len(got),
                      "missing": len(want - got), "extra": len(got - want)}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impressions", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--campaigns", type=int, default=200)
    ap.add_argument("--layouts", default="a,b,c,d")
    ap.add_argument("--workdir", default=None, help="default: a temporary folder (removed at the end)")
    ap.add_argument("--profile", action="store_true", help="also report each pipeline run's CPU by JVM thread kind "
                    "and its Spark jobs (event log)")
    ap.add_argument("--jfr", action="store_true", help="also record each pipeline run with Java Flight Recorder and "
                    "count its Java samples by operation")
    ap.add_argument("--floor", help=argparse.SUPPRESS)  # internal: one layout's floor and check
    ap.add_argument("--truth", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor:
        return floor_and_check(args)

    import duckdb_gold
    from bench_pipeline import generate_files

    from advertisex.config import folder_overrides, load_config
    from advertisex.generate import compute_truth, load_manifest, write_truth

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ax-layouts-"))
    base = load_config(ROOT / "conf" / "local.yaml", [*folder_overrides(work / "generated-files"),
                                                      "kafka.enabled=false"], environ={})
    generate_files(base, work / "generated-files", impressions=args.impressions, days=args.days, users=args.users,
                   campaigns=args.campaigns)
    t0 = time.monotonic()
    generated = work / "generated-files" / "generated"
    truth = generated / "truth_files_only"
    write_truth(compute_truth(load_manifest(generated), include_kafka=False), truth)
    now_ms = json.loads((truth / "params.json").read_text())["now_ms"]
    print(f"truth computed in {time.monotonic() - t0:.0f} s", flush=True)
    rows = []
    for layout in args.layouts.split(","):
        t0 = time.monotonic()
        root = work / f"layout-{layout}"
        imp = lay_out(Path(base.landing.impressions), work, layout)
        shutil.copytree(base.landing.clicks, root / "clicks")
        files = sorted(imp.iterdir())
        mb = sum(p.stat().st_size for p in files) / 1e6
        print(f"layout {layout} ({LAYOUTS[layout]}): {len(files)} impression files, {mb:,.0f} MB, laid out in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        sets = [*folder_overrides(root), f"landing.impressions={imp}", f"landing.clicks={root / 'clicks'}",
                f"reference.campaigns={base.reference.campaigns}", f"reference.users={base.reference.users}",
                "kafka.enabled=false", "monitoring.enabled=false", "alerting.alertmanager_url=null"]
        event_log = root / "eventlog"
        if args.profile:
            event_log.mkdir(parents=True, exist_ok=True)
            sets += ["spark.conf.spark.eventLog.enabled=true", f"spark.conf.spark.eventLog.dir={event_log.as_uri()}",
                     "spark.conf.spark.eventLog.compress=false"]
        recording = root / "pipeline.jfr"
        if args.jfr:  # added to the configured driver options (GC, JIT thresholds), not instead of them
            java_options = base.spark.conf.get("spark.driver.extraJavaOptions", "")
            sets.append(f"spark.conf.spark.driver.extraJavaOptions={java_options} "
                        f"-Xlog:jfr+startup=off -XX:StartFlightRecording=filename={recording},settings=profile")
        sampler = JvmThreadCpu()
        with sampler if args.profile else contextlib.nullcontext():
            seconds, result = run_json([str(ROOT / ".venv" / "bin" / "advertisex"), "pipeline", "--once", "--quiet",
                                        "--output", "json", *(f"--set={s}" for s in sets)])
        jobs = {name: s.get("seconds") for name, s in result.get("jobs", {}).items() if isinstance(s, dict)}
        _, checked = run_json([sys.executable, __file__, "--floor", str(root), "--truth", str(truth)])
        _, st = duckdb_gold.run(str(imp), str(root / "clicks"), str(base.reference.campaigns),
                                now_ms, threads=2)
        row = {"layout": layout, "what": LAYOUTS[layout], "files": len(files), "mb": round(mb),
               "pipeline_s": round(seconds, 1), "jobs": jobs, "floor_s": checked["floor_seconds"],
               "ratio": round(seconds / checked["floor_seconds"], 2),
               "duckdb_s": round(st["load_s"] + st["compute_s"], 1), "gold_equal": checked["gold_equal"]}
        if args.profile:
            row["jvm_cpu_s"] = sampler.by_kind()
            row.update(event_log_summary(event_log))
        if args.jfr:
            row["jfr_samples"] = jfr_operations(recording)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.impressions:,} impressions over {args.days} days")
    print("| layout | files | MB | pipeline --once (process) | Spark floor (process) | ratio | DuckDB | gold = truth "
          "| slowest jobs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        slow = ", ".join(f"{k} {v}" for k, v in sorted(r["jobs"].items(), key=lambda kv: -(kv[1] or 0))[:4])
        print(f"| {r['layout']}: {r['what']} | {r['files']} | {r['mb']} | {r['pipeline_s']} s | {r['floor_s']} s | "
              f"{r['ratio']}x | {r['duckdb_s']} s | {'yes' if r['gold_equal'] else 'NO'} | {slow} |")
    if args.profile:
        print("\n| layout | JVM CPU s | tasks | C2 | C1 | GC | py4j (Thread) | Spark jobs | task s (CPU s) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            cpu = r["jvm_cpu_s"]
            print(f"| {r['layout']} | {sum(cpu.values()):.1f} | {cpu.get('Executor task l', 0)} | "
                  f"{cpu.get('C2 CompilerThre', 0)} | {cpu.get('C1 CompilerThre', 0)} | {cpu.get('GC Thread', 0)} | "
                  f"{cpu.get('Thread', 0)} | {r['spark_jobs']} | {r['task_seconds']} ({r['task_cpu_seconds']}) |")
    if args.jfr:
        print("\nJava execution samples by operation (Java Flight Recorder; share of each run's samples):")
        print("| operation | " + " | ".join(r["layout"] for r in rows) + " |")
        print("|---|" + "---|" * len(rows))
        totals = [sum(r["jfr_samples"].values()) for r in rows]
        for name in sorted(rows[0]["jfr_samples"], key=lambda n: -sum(r["jfr_samples"][n] for r in rows)):
            cells = [f"{100 * r['jfr_samples'][name] / max(1, total):.1f} %" for r, total in zip(rows, totals, strict=True)]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print("| samples | " + " | ".join(str(total) for total in totals) + " |")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["gold_equal"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
