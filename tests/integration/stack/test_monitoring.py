"""The monitoring stack against the real services: Prometheus, Alertmanager, the Pushgateway
(started by the stack code on conf/test.yaml's ports) and a headless Chromium.

The pipeline's side is played by this test process: it serves
:data:`advertisex.monitoring.metrics.REGISTRY` on ``monitoring.metrics_port`` with synthetic
values on every metric, moving on each tick so that rates, increases and derivatives have
data, and chosen above every alert threshold so that every rule's expression has a result.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway, start_http_server

from advertisex.config import Config
from advertisex.monitoring import metrics as m
from advertisex.monitoring.queries import all_queries, console_queries
from advertisex.stack import monitoring
from support import ROOT
from support_monitoring import Webhook, get_json, post_json, promql, wait_until

from . import chromium

pytestmark = pytest.mark.stack

TICK_SECONDS = 0.5
DATA_TIMEOUT_SECONDS = 60.0
PIPELINE_DOWN = "rules/advertisex.yml:AdvertisexPipelineDown"


class PipelineMetrics:
    """Synthetic values on every metric of ``REGISTRY``, served like the running pipeline."""

    def __init__(self, port: int) -> None:
        self.server, _thread = start_http_server(port, addr="127.0.0.1", registry=m.REGISTRY)
        self.ticks = 0
        self._stop = threading.Event()
        self.tick()
        self._feeder = threading.Thread(target=self._run, daemon=True)
        self._feeder.start()

    def tick(self) -> None:
        """Every value above its alert threshold; counters and the backlog move on each tick."""
        self.ticks += 1
        for source in ("impressions", "clicks", "bid_requests"):
            m.RECORDS_INGESTED.labels(source=source).inc(100)
        m.RECORDS_QUARANTINED.labels(source="impressions", reason="bad_json").inc(10)  # 10% > 5%
        m.RECORDS_QUARANTINED.labels(source="clicks", reason="bad_csv").inc(1)
        m.ROWS_WRITTEN.labels(table="bronze/impressions").inc(90)
        m.STREAM_INPUT_ROWS.labels(query="ingest_impressions").inc(100)
        m.STREAM_INPUT_RATE.labels(query="ingest_impressions").set(200)
        m.STREAM_PROCESSED_RATE.labels(query="ingest_impressions").set(190)
        m.BATCH_DURATION.labels(query="ingest_impressions").observe(0.8)
        m.BATCH_DURATION.labels(query="ingest_bids").observe(3.0)
        m.EVENT_LAG.labels(query="ingest_impressions").set(1200)  # > 15m
        m.EVENT_LAG.labels(query="ingest_bids").set(30)
        m.KAFKA_OFFSETS_BEHIND.labels(query="ingest_bids").set(20_000 + 1000 * self.ticks)  # > 10000, growing
        m.QUERY_ACTIVE.labels(query="ingest_impressions").set(1)
        m.QUERY_ACTIVE.labels(query="silver_clicks").set(0)
        m.QUERY_RESTARTS.labels(query="silver_clicks").inc()
        m.TABLE_FRESHNESS.labels(table="silver/impressions").set(7200)  # > 1h
        m.TABLE_FRESHNESS.labels(table="gold/campaign_daily").set(120)
        m.LAST_SUCCESS.labels(job="gold").set(time.time() - 7200)  # > 30m ago
        m.LAST_SUCCESS.labels(job="silver").set(time.time())
        m.LAST_SUCCESS.labels(job="quality").set(time.time() - 7200)  # > 30m ago
        m.GOLD_REFRESH_DURATION.observe(12)
        m.QUALITY_FAILURES.labels(table="gold/campaign_daily", severity="critical").set(1)
        m.ANOMALIES_OPEN.labels(rule="ctr_spike", severity="warning").set(2)

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def stop_serving(self) -> None:
        """The pipeline "goes down": nothing answers on the metrics port any more."""
        self._stop.set()
        self._feeder.join()
        self.server.shutdown()
        self.server.server_close()

    def close(self) -> None:
        if not self._stop.is_set():
            self.stop_serving()
        # Leave the process-wide registry as the pipeline's own tests expect it: empty.
        for metric in (m.RECORDS_INGESTED, m.RECORDS_QUARANTINED, m.ROWS_WRITTEN, m.STREAM_INPUT_ROWS,
                       m.STREAM_INPUT_RATE, m.STREAM_PROCESSED_RATE, m.BATCH_DURATION, m.EVENT_LAG,
                       m.KAFKA_OFFSETS_BEHIND, m.QUERY_ACTIVE, m.QUERY_RESTARTS, m.TABLE_FRESHNESS,
                       m.LAST_SUCCESS, m.QUALITY_FAILURES, m.ANOMALIES_OPEN):
            metric.clear()
        m.GOLD_REFRESH_DURATION._metric_init()  # an unlabelled metric has no public reset


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pipeline(mon_cfg: Config) -> Iterator[PipelineMetrics]:
    served = PipelineMetrics(mon_cfg.monitoring.metrics_port)
    try:
        yield served
    finally:
        served.close()


# ----------------------------------------------------------------------------- tests


def test_status_and_up_again(mon_cfg: Config) -> None:
    """Each service answers on its configured URL; a second `up` reloads, it does not restart."""
    before = monitoring.status(mon_cfg, mon_cfg.stack)
    assert {name: info["state"] for name, info in before.items()} == {
        "alertmanager": "up", "pushgateway": "up", "prometheus": "up"}
    assert before["prometheus"]["address"] == mon_cfg.monitoring.prometheus_url

    assert monitoring.up(mon_cfg, mon_cfg.stack, environ={}) == []

    after = monitoring.status(mon_cfg, mon_cfg.stack)
    assert {name: info["pid"] for name, info in after.items()} == {name: info["pid"] for name, info in before.items()}

    def rule_health() -> dict[str, str]:
        groups = get_json(f"{mon_cfg.monitoring.prometheus_url}/api/v1/rules")["data"]["groups"]
        return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}

    wait_until(lambda: set(rule_health().values()) == {"ok"}, 30, "every rule evaluated")  # not "unknown"/"err"
    assert set(rule_health()) == {where.split(":")[1] for where, _ in all_queries() if where.startswith("rules/")}


def test_every_expression_returns_data(mon_cfg: Config, pipeline: PipelineMetrics) -> None:
    """Every PromQL expression of the rules, the Grafana dashboard and the console template
    has a result once the pipeline's metrics are scraped (the pipeline-down rule's only when
    the pipeline is down: see the last test)."""
    expressions = [(where, expr) for where, expr in all_queries() if where != PIPELINE_DOWN]
    assert len(expressions) >= 30

    def empty() -> list[str]:
        return [f"{where}: {expr}" for where, expr in expressions if not promql(mon_cfg, expr)]

    try:
        wait_until(lambda: not empty(), DATA_TIMEOUT_SECONDS, "every expression to return data")
    except AssertionError:
        pytest.fail("no data for:\n" + "\n".join(empty()))
    assert promql(mon_cfg, 'up{job="advertisex"}')[0]["value"][1] == "1"


def test_alertmanager_notifies_the_webhook_once(mon_cfg: Config, webhook: Webhook) -> None:
    """An alert posted twice reaches the webhook once, in Alertmanager's standard JSON, with
    its labels; the empty `event_date` does not arrive at all (Alertmanager drops labels
    whose value is empty)."""
    name = f"AdvertisexTestDelivery{uuid.uuid4().hex[:8]}"
    labels = {"alertname": name, "severity": "warning", "table": "gold/campaign_daily",
              "event_date": "", "campaign_id": "c-42"}
    alert = {"labels": labels, "annotations": {"summary": "expected 1 row, saw 0"},
             "startsAt": datetime.now(UTC).isoformat()}
    api = f"{mon_cfg.alerting.alertmanager_url}/api/v2/alerts"
    post_json(api, [alert])
    post_json(api, [alert])

    wait_until(lambda: webhook.notifications_for(name), 30, "the webhook notification")
    time.sleep(3 * (mon_cfg.alerting.group_wait_seconds + mon_cfg.alerting.group_interval_seconds))
    post_json(api, [alert])  # still the same alert while it holds: not notified again
    time.sleep(3 * mon_cfg.alerting.group_interval_seconds)

    notices = webhook.notifications_for(name)
    assert len(notices) == 1, notices
    notice = notices[0]
    assert (notice["version"], notice["status"], notice["receiver"]) == ("4", "firing", "webhook")
    assert notice["groupLabels"] == {"alertname": name, "table": "gold/campaign_daily", "campaign_id": "c-42"}
    assert len(notice["alerts"]) == 1
    delivered = notice["alerts"][0]
    assert delivered["labels"] == {k: v for k, v in labels.items() if v != ""}
    assert "event_date" not in delivered["labels"]
    assert delivered["annotations"] == {"summary": "expected 1 row, saw 0"}
    assert delivered["status"] == "firing" and delivered["fingerprint"]


def test_pipeline_down_mutes_the_alerts_that_follow_from_it(mon_cfg: Config, webhook: Webhook) -> None:
    api = f"{mon_cfg.alerting.alertmanager_url}/api/v2/alerts"
    tag = uuid.uuid4().hex[:8]
    down = {"labels": {"alertname": "AdvertisexPipelineDown", "severity": "critical", "job": f"inhibit-{tag}"},
            "annotations": {"summary": "test"}}
    other = {"labels": {"alertname": "AdvertisexTableStale", "severity": "critical", "table": f"gold/test_{tag}"},
             "annotations": {"summary": "test"}}
    data = {"labels": {"alertname": f"AdvertisexTestData{tag}", "severity": "warning", "table": "gold"},
            "annotations": {"summary": "a data alert, not a consequence of the pipeline being down"}}
    post_json(api, [down])
    wait_until(lambda: any(a["labels"].get("job") == f"inhibit-{tag}" for a in get_json(api)),
               10, "the pipeline-down alert")
    post_json(api, [other, data])
    muted = wait_until(lambda: [a for a in get_json(api) if a["labels"].get("table") == other["labels"]["table"]
                                and a["status"]["inhibitedBy"]], 10, "the other alert to be inhibited")
    assert muted[0]["status"]["state"] == "suppressed"
    time.sleep(3 * (mon_cfg.alerting.group_wait_seconds + mon_cfg.alerting.group_interval_seconds))
    assert not [n for n in webhook.notifications_for("AdvertisexTableStale")
                if n["groupLabels"].get("table") == other["labels"]["table"]]
    assert webhook.notifications_for(data["labels"]["alertname"])
    ended = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    post_json(api, [{**down, "endsAt": ended}, {**other, "endsAt": ended}, {**data, "endsAt": ended}])


def test_pushgateway_push_is_scraped(mon_cfg: Config) -> None:
    """A one-shot run's push keeps its own `job` label through the scrape (honor_labels)."""
    job = f"test_push_{uuid.uuid4().hex[:8]}"
    registry = CollectorRegistry()
    Gauge("advertisex_last_success_timestamp_seconds", "test push", registry=registry).set(1234.5)
    gateway = mon_cfg.monitoring.pushgateway_url
    push_to_gateway(gateway, job=job, registry=registry)
    try:
        found = wait_until(lambda: promql(mon_cfg, f'advertisex_last_success_timestamp_seconds{{job="{job}"}}'),
                           DATA_TIMEOUT_SECONDS, "the pushed value in Prometheus")
        assert found[0]["value"][1] == "1234.5"
    finally:
        delete_from_gateway(gateway, job=job)


CONSOLE_STATE_JS = """(() => {
  const graphs = PromConsole._graph_registry.map(g => ({
    id: g.params.node.id,
    rendered: g.rendered_data !== null,
    series: g.rendered_data ? g.rendered_data.reduce((n, d) => n + d.data.result.length, 0) : 0,
    points: g.rendered_data ? g.rendered_data.reduce(
      (n, d) => n + d.data.result.reduce((k, r) => k + r.values.length, 0), 0) : 0,
  }));
  return {
    graphs,
    errors: [...document.querySelectorAll('.prom_graph_error')].map(e => e.textContent),
    empty_values: [...document.querySelectorAll('a.prom_query_drilldown')]
      .filter(a => a.textContent.trim() === '-').map(a => a.href),
    alerts_listed: [...document.querySelectorAll('.prom_console_rhs td')].map(td => td.textContent.trim()),
  };
})()"""


def test_console_page_shows_data(mon_cfg: Config, pipeline: PipelineMetrics, tmp_path: Path) -> None:
    """/consoles/advertisex.html in headless Chromium: every graph rendered with points,
    every value in the side table filled, no graph error and nothing logged as an error."""
    exe = chromium.binary()
    assert exe, "install the Debian package chromium (make setup does, as root)"
    wait_until(lambda: promql(mon_cfg, "ALERTS{alertstate='firing'}"), DATA_TIMEOUT_SECONDS, "a firing alert")
    expected_graphs = {where.split("#")[1] for where, _ in console_queries(ROOT / "monitoring" / "consoles")
                       if "graph #" in where}
    with chromium.page(exe) as tab:
        tab.navigate(f"{mon_cfg.monitoring.prometheus_url}/consoles/advertisex.html")
        tab.wait_for("typeof PromConsole !== 'undefined' && PromConsole._graph_registry.length > 0 && "
                     "PromConsole._graph_registry.every(g => g.rendered_data !== null)", 30)
        state = tab.evaluate(CONSOLE_STATE_JS)
        shot = tab.screenshot(tmp_path / "advertisex-console.png")
        errors = list(tab.errors)

    assert shot.stat().st_size > 10_000
    assert {g["id"] for g in state["graphs"]} == expected_graphs
    assert [g for g in state["graphs"] if not (g["rendered"] and g["series"] and g["points"])] == []
    assert state["errors"] == [] and state["empty_values"] == []
    assert "AdvertisexQueryRestarting" in state["alerts_listed"]
    assert errors == []


def test_pipeline_down_expression(mon_cfg: Config, pipeline: PipelineMetrics) -> None:
    """Last: once the pipeline stops answering, the pipeline-down rule's expression has a result."""
    expr = dict(all_queries())[PIPELINE_DOWN]
    assert promql(mon_cfg, expr) == []
    pipeline.stop_serving()
    found = wait_until(lambda: promql(mon_cfg, expr), DATA_TIMEOUT_SECONDS, "up == 0")
    assert found[0]["metric"] == {"__name__": "up", "job": "advertisex",
                                  "instance": f"127.0.0.1:{mon_cfg.monitoring.metrics_port}"}
    assert found[0]["value"][1] == "0"
