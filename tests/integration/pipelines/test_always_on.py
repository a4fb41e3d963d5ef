"""`advertisex pipeline` always on, as a user runs it, against the real broker, registry,
Prometheus and Alertmanager: traffic with malformed records produced and click files
dropped while it runs, gold equal to the generator's truth, the metrics equal to the
tables, every monitoring expression answered, a clean stop on SIGTERM and a restart that
takes the messages sent meanwhile once, and a failing query ending in one webhook
notification and one line naming it. (A kill mid-batch: tests/integration/pipelines/
test_ingest_impressions.py, and ``make test-crash``.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from chispa import assert_df_equality
from prometheus_client.parser import text_string_to_metric_families

from advertisex import tables
from advertisex.config import Config
from advertisex.generate import GenerateParams, load_manifest
from advertisex.generate.producer import produce
from advertisex.io.delta import is_delta
from advertisex.monitoring.queries import all_queries
from support import cli, cli_env, isolated_cfg, read_table
from support_monitoring import Webhook, promql, wait_until
from support_pipeline import generate_traffic

pytestmark = [pytest.mark.stack, pytest.mark.slow]

FAST = ("streaming.trigger_interval_seconds=2", "pipeline.refresh_seconds=5", "pipeline.restart_backoff_seconds=1",
        "pipeline.stop_timeout_seconds=60")
SELECTOR = re.compile(r"\b(advertisex_[a-z_]+|up)\b(\{[^}]*\})?")


@dataclass
class Pipeline:
    """One `advertisex pipeline` process (always on), its log, and how it was started."""

    args: list[str]
    log: Path
    proc: subprocess.Popen

    @classmethod
    def start(cls, cfg: Config, tmp: Path, name: str, *extra: str) -> Pipeline:
        args = [*cli("pipeline"), *(f"--set={o}" for o in (*overrides(cfg), *extra))]
        log = tmp / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=cli_env(), start_new_session=True)
        return cls(args, log, proc)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)  # the driver's Python process, as a service manager signals it


def overrides(cfg: Config) -> list[str]:
    """What makes the subprocess run on ``cfg``'s lake, topics and ports."""
    return [f"lake.root={cfg.lake.root}", f"checkpoints.root={cfg.checkpoints.root}",
            f"landing.impressions={cfg.landing.impressions}", f"landing.clicks={cfg.landing.clicks}",
            f"reference.campaigns={cfg.reference.campaigns}", f"reference.users={cfg.reference.users}",
            f"kafka.topics.impressions={cfg.kafka.topics.impressions}", f"kafka.topics.bids={cfg.kafka.topics.bids}",
            f"schema_registry.subject={cfg.schema_registry.subject}",
            f"streaming.txn_app_id={cfg.streaming.txn_app_id}", *FAST]


def metrics(cfg: Config) -> dict[tuple[str, tuple], float]:
    """The pipeline's own /metrics, as ``(sample name, sorted labels) → value``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{cfg.monitoring.metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def by_label(samples: dict, name: str, *labels: str) -> dict[tuple, float]:
    return {tuple(dict(k)[label] for label in labels): v for (n, k), v in samples.items() if n == name}


def _caught_up(cfg: Config, *queries: str) -> bool:
    """Each of ``queries`` reports no Kafka offset left behind."""
    try:
        behind = by_label(metrics(cfg), "advertisex_kafka_offsets_behind_latest", "query")
    except OSError:
        return False  # not serving yet
    return all(behind.get((q,)) == 0 for q in queries)


def gold_vs_truth(spark, cfg: Config, truth_dir: Path) -> tuple[set, set]:
    """The rows of gold/campaign_daily missing from the truth, and those of the truth missing from gold."""
    want = {(r["event_date"], r["campaign_id"], r["impressions"], r["clicks"], r["conversions"], r["spend_micros"])
            for r in json.loads((truth_dir / "campaign_daily.json").read_text())}
    if not is_delta(spark, cfg.table_path(tables.GOLD_CAMPAIGN_DAILY)):
        return set(), want
    got = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).select("event_date", "campaign_id", "impressions",
                                                                     "clicks", "conversions", "spend_micros")
    got = {(str(r.event_date), r.campaign_id, r.impressions, r.clicks, r.conversions, r.spend_micros)
           for r in got.collect()}
    return got - want, want - got


def gold_equals_truth(spark, cfg: Config, truth_dir: Path) -> bool:
    return gold_vs_truth(spark, cfg, truth_dir) == (set(), set())


@pytest.fixture(scope="module")
def running(stack_cfg: Config, mon_cfg: Config, tmp_path_factory, spark) -> Iterator[tuple[Config, Pipeline, Path]]:
    """Generated traffic, half of the click files held back; the pipeline started; the Kafka
    part produced and the held-back files dropped while it runs; gold equal to the truth."""
    tmp = tmp_path_factory.mktemp("always_on")
    cfg = isolated_cfg(stack_cfg, tmp, *FAST)
    out = tmp / "generated"
    manifest = generate_traffic(cfg, GenerateParams(seed=13, start_date=dt.date(2026, 11, 16), days=2,
                                                    impressions_per_day=1200, users=150, campaigns=5), out)
    held = tmp / "held"
    held.mkdir()
    clicks = sorted(Path(cfg.landing.clicks).iterdir())
    for p in clicks[len(clicks) // 2:]:
        p.rename(held / p.name)

    pipeline = Pipeline.start(cfg, tmp, "first")
    try:
        assert produce(cfg, manifest, progress=None).failed == 0
        for p in sorted(held.iterdir()):
            (held / p.name).rename(Path(cfg.landing.clicks) / p.name)  # a file lands whole (rename)
        try:
            wait_until(lambda: gold_equals_truth(spark, cfg, out / "truth") or pipeline.proc.poll() is not None, 600,
                       "gold to equal the truth")
        except AssertionError as timeout:
            extra, missing = gold_vs_truth(spark, cfg, out / "truth")
            raise AssertionError(f"{timeout}: gold has {sorted(extra)[:5]}, lacks {sorted(missing)[:5]}; the log ends:\n"
                                 f"{pipeline.text()[-3000:]}") from None
        assert pipeline.proc.poll() is None, pipeline.text()[-3000:]
        yield cfg, pipeline, out
    finally:
        if pipeline.proc.poll() is None:
            pipeline.signal(signal.SIGKILL)
            pipeline.proc.wait(60)


def test_gold_equals_the_truth_and_the_counters_equal_the_tables(running, spark) -> None:
    cfg, _pipeline, out = running
    want = json.loads((out / "truth" / "campaign_daily.json").read_text())
    expected = spark.read.schema(tables.GOLD_CAMPAIGN_DAILY.schema).json(
        spark.sparkContext.parallelize([json.dumps(r) for r in want]))
    got = read_table(spark, cfg, tables.GOLD_CAMPAIGN_DAILY).select(*tables.GOLD_CAMPAIGN_DAILY.columns)
    assert_df_equality(got, expected.select(*tables.GOLD_CAMPAIGN_DAILY.columns), ignore_row_order=True,
                       ignore_nullable=True)

    samples = metrics(cfg)
    bronze = {"impressions": tables.BRONZE_IMPRESSIONS, "click_events": tables.BRONZE_CLICK_EVENTS,
              "bid_requests": tables.BRONZE_BID_REQUESTS}
    ingested = by_label(samples, "advertisex_records_ingested_total", "source")
    assert ingested == {(source,): read_table(spark, cfg, t).count() for source, t in bronze.items()}
    quarantined = by_label(samples, "advertisex_records_quarantined_total", "source", "reason")
    table = {(r.source, r.reason): r["count"]
             for r in read_table(spark, cfg, tables.QUARANTINE).groupBy("source", "reason").count().collect()}
    assert quarantined == table and len(table) >= 5


def test_prometheus_scrapes_it_and_every_expression_has_data(running) -> None:
    """The target is up; every metric every rule reads is emitted; every dashboard and console
    expression answers (those on ALERTS answer while an alert fires, which the delay test shows)."""
    cfg, _pipeline, _out = running
    wait_until(lambda: promql(cfg, 'up{job="advertisex"}') and promql(cfg, 'up{job="advertisex"}')[0]["value"][1]
               == "1", 60, "Prometheus to scrape the pipeline")

    def missing() -> list[str]:
        out = []
        for where, expr in all_queries():
            if where.startswith("rules/"):
                out += [f"{where}: {m[0]}" for m in SELECTOR.findall(expr) if not promql(cfg, "".join(m))]
            elif "ALERTS" not in expr and not promql(cfg, expr):
                out.append(f"{where}: {expr}")
        return out

    try:
        wait_until(lambda: not missing(), 120, "every expression to have data")
    except AssertionError:
        pytest.fail("no data for:\n" + "\n".join(missing()))


def test_sigterm_stops_cleanly_and_a_restart_takes_new_messages_exactly_once(running, spark, tmp_path) -> None:
    cfg, pipeline, out = running
    pipeline.signal(signal.SIGTERM)
    assert pipeline.proc.wait(timeout=180) == 0, pipeline.text()[-3000:]
    assert "Traceback" not in pipeline.text() and "\tat " not in pipeline.text()  # no Python or JVM stack trace
    before = {t: read_table(spark, cfg, t).count() for t in (tables.BRONZE_IMPRESSIONS, tables.BRONZE_BID_REQUESTS)}

    restarted = Pipeline.start(cfg, tmp_path, "restarted")
    try:
        # The same messages again (a producer retrying everything): bronze holds each copy
        # once, silver and gold do not change.
        sent = produce(cfg, load_manifest(out), progress=None)
        want = {tables.BRONZE_IMPRESSIONS: before[tables.BRONZE_IMPRESSIONS] + sent.messages["impressions"],
                tables.BRONZE_BID_REQUESTS: before[tables.BRONZE_BID_REQUESTS] + sent.messages["bid_requests"]}
        wait_until(lambda: all(read_table(spark, cfg, t).count() >= n for t, n in want.items()), 300,
                   "every new message in bronze after the restart")
        wait_until(lambda: _caught_up(cfg, "ingest_impressions.kafka", "ingest_bids.kafka"), 120,
                   "the Kafka queries to catch up")
        assert {t: read_table(spark, cfg, t).count() for t in want} == want  # each message once
        wait_until(lambda: gold_equals_truth(spark, cfg, out / "truth"), 300, "gold after the restart")
        restarted.signal(signal.SIGTERM)
        assert restarted.proc.wait(timeout=180) == 0, restarted.text()[-3000:]
    finally:
        if restarted.proc.poll() is None:
            restarted.signal(signal.SIGKILL)


def test_a_failing_query_alerts_once_and_ends_the_run_naming_it(running, mon_cfg: Config, webhook: Webhook,
                                                                 tmp_path) -> None:
    """A damaged checkpoint (its newest offset-log entry overwritten) fails the click query at
    every restart: Alertmanager notifies the webhook once that it restarts, and past
    max_restarts the run ends with one line."""
    cfg, pipeline, _out = running
    if pipeline.proc.poll() is None:
        pipeline.signal(signal.SIGTERM)
        pipeline.proc.wait(180)
    offsets = Path(cfg.checkpoint_path("ingest_clicks", "files")) / "offsets"
    newest = max(int(p.name) for p in offsets.iterdir() if p.name.isdigit())
    (offsets / str(newest + 1)).write_text("not an offset log entry\n")
    failing = Pipeline.start(cfg, tmp_path, "failing", "pipeline.max_restarts=3")
    code = failing.proc.wait(timeout=600)
    text = failing.text()
    assert code != 0
    last = text.strip().splitlines()[-1]
    assert re.match(r"^advertisex: error: ingest_clicks\.files failed \d+ times in a row, giving up: ", last), last
    # Spark's own ERROR line for each failed batch quotes the Python error; the process ends
    # with the line above, not with a traceback of its own.
    assert not re.search(r"^Traceback \(most recent call last\)", text, re.M)
    wait_until(lambda: webhook.notifications_for("AdvertisexQueryRestarting"), 180, "the restart alert")
    time.sleep(3 * mon_cfg.alerting.group_interval_seconds)
    notices = webhook.notifications_for("AdvertisexQueryRestarting")
    alerts = [a for n in notices for a in n["alerts"] if a["labels"].get("query") == "ingest_clicks.files"]
    assert len({a["fingerprint"] for a in alerts}) == 1 and len(notices) == 1
    labels = alerts[0]["labels"]
    assert labels["severity"] == "warning" and "summary" in alerts[0]["annotations"]
