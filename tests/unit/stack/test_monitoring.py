"""The monitoring services' generated configuration, checked by Prometheus' and Alertmanager's
own tools (promtool, amtool); no service is started here."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from advertisex.config import Config, load_config
from advertisex.stack import StackError, alertmanager, monitoring, prometheus
from support import ROOT
from support_monitoring import run_tool

SECRETS = {"ADVERTISEX_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/s3cr3t-slack",
           "ADVERTISEX_SMTP_PASSWORD": "s3cr3t-smtp"}
EVERY_RECEIVER = (
    "alerting.webhook.url=http://127.0.0.1:18999/alerts",
    "alerting.slack.enabled=true",
    "alerting.slack.channel=#advertisex-alerts",
    "alerting.email.to=oncall@example.com",
    "alerting.email.sender=advertisex@example.com",
    "alerting.email.smarthost=smtp.example.com:587",
    "alerting.email.auth_username=advertisex@example.com",
)


def config(tmp_path: Path, *overrides: str) -> Config:
    return load_config(ROOT / "conf" / "test.yaml", [f"stack.run_dir={tmp_path / 'stack'}", *overrides], environ={})


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    """promtool checks the generated prometheus.yml and the rule files it loads."""
    cfg = config(tmp_path)
    path = prometheus.write_config(cfg, cfg.stack, prometheus.service(cfg, cfg.stack))

    out = run_tool("promtool", "check", "config", path)

    assert "SUCCESS: 9 rules found" in out
    body = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job for job in body["scrape_configs"]}
    assert jobs["advertisex"]["static_configs"] == [{"targets": ["127.0.0.1:19108"]}]
    assert jobs["advertisex"]["honor_labels"] and jobs["pushgateway"]["honor_labels"]
    assert jobs["pushgateway"]["static_configs"] == [{"targets": ["127.0.0.1:19091"]}]
    assert set(jobs) == {"advertisex", "pushgateway", "prometheus", "alertmanager"}
    assert body["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:19095"]}]}]
    assert body["rule_files"] == [str(ROOT / "monitoring" / "rules" / "*.yml")]
    assert body["global"]["scrape_interval"] == "1s"


def test_alertmanager_config_with_every_receiver(tmp_path: Path) -> None:
    """Webhook, Slack and e-mail configured; the secrets reach 0600 files named through
    Alertmanager's *_file settings and never the YAML; amtool accepts the result."""
    cfg = config(tmp_path, *EVERY_RECEIVER)
    lay = alertmanager.service(cfg, cfg.stack)
    path = alertmanager.write_config(cfg, lay, SECRETS)

    out = run_tool("amtool", "check-config", path)

    assert "SUCCESS" in out and "1 inhibit rules" in out
    text = path.read_text()
    assert all(secret not in text for secret in SECRETS.values())
    secrets = alertmanager.secrets_dir(lay)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    files = {p.name: p for p in secrets.iterdir()}
    assert {name: p.read_text() for name, p in files.items()} == {
        "slack_api_url": SECRETS["ADVERTISEX_SLACK_WEBHOOK_URL"], "smtp_password": SECRETS["ADVERTISEX_SMTP_PASSWORD"]}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files.values()} == {0o600}
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    assert set(receivers) == {"null", "webhook", "slack", "email"}
    assert receivers["slack"]["slack_configs"][0]["api_url_file"] == str(files["slack_api_url"])
    assert receivers["email"]["email_configs"][0]["auth_password_file"] == str(files["smtp_password"])


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=AdvertisexTableStale", "severity=warning", "table=silver/impressions"], "webhook,slack"),
        (["alertname=AdvertisexPipelineDown", "severity=critical"], "webhook,slack,email"),
        (["alertname=gold_ctr_out_of_range", "severity=critical", "table=gold/campaign_daily",
          "event_date=2025-03-14", "campaign_id=c-7"], "webhook,slack,email"),
        (["alertname=Watchdog"], "null"),
        (["alertname=AdvertisexX", "severity=info"], "null"),
    ],
)
def test_routes(tmp_path: Path, labels: list[str], receivers: str) -> None:
    """amtool proves the routing: labels -> receivers (it exits non-zero on a mismatch)."""
    cfg = config(tmp_path, *EVERY_RECEIVER)
    path = alertmanager.write_config(cfg, alertmanager.service(cfg, cfg.stack), SECRETS)

    out = run_tool("amtool", "config", "routes", "test", f"--config.file={path}",
                   f"--verify.receivers={receivers}", *labels)

    assert out.splitlines()[0] == receivers


def test_grouping_and_inhibition(tmp_path: Path) -> None:
    cfg = config(tmp_path, "alerting.webhook.url=http://127.0.0.1:18999/alerts")
    path = alertmanager.write_config(cfg, alertmanager.service(cfg, cfg.stack), {})
    body = yaml.safe_load(path.read_text())

    out = run_tool("amtool", "config", "routes", f"--config.file={path}")

    assert "receiver: webhook" in out
    assert body["route"]["group_by"] == ["alertname", "table", "event_date", "campaign_id"]
    assert (body["route"]["group_wait"], body["route"]["group_interval"]) == ("1s", "2s")
    assert body["inhibit_rules"] == [{"source_matchers": ['alertname="AdvertisexPipelineDown"'],
                                      "target_matchers": [f'alertname=~"{"|".join(alertmanager.FOLLOWS_PIPELINE_DOWN)}"']}]
    rules = yaml.safe_load((ROOT / "monitoring" / "rules" / "advertisex.yml").read_text())
    health = {r["alert"] for group in rules["groups"] for r in group["rules"]} - {"AdvertisexPipelineDown"}
    # Every pipeline-health rule but the quarantine rate (about the data) follows a pipeline down.
    assert set(alertmanager.FOLLOWS_PIPELINE_DOWN) == health - {"AdvertisexQuarantineRateHigh"}
    assert not alertmanager.secrets_dir(alertmanager.service(cfg, cfg.stack)).exists()


def test_no_receiver_configured_means_null(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = alertmanager.write_config(cfg, alertmanager.service(cfg, cfg.stack), {})
    run_tool("amtool", "check-config", path)
    run_tool("amtool", "config", "routes", "test", f"--config.file={path}", "--verify.receivers=null",
             "alertname=AdvertisexTableStale", "severity=critical")


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        (["alerting.slack.enabled=true"], {},
         "alerting.slack.enabled is true .* environment variable ADVERTISEX_SLACK_WEBHOOK_URL is not set"),
        (["alerting.slack.enabled=true", "alerting.slack.webhook_url_env=MY_HOOK"], SECRETS,
         "environment variable MY_HOOK is not set"),
        (["alerting.email.to=a@example.com", "alerting.email.sender=b@example.com",
          "alerting.email.smarthost=smtp:25", "alerting.email.auth_username=b"], {},
         "environment variable ADVERTISEX_SMTP_PASSWORD is not set"),
        (["alerting.email.to=a@example.com"], {}, "alerting.email.to is set but alerting.email.sender is not"),
        (["monitoring.prometheus_url=http://prometheus.internal:9090"], {},
         "runs its services on http://127.0.0.1:<port> only; monitoring.prometheus_url is"),
        (["alerting.alertmanager_url=http://127.0.0.1:19095/am"], {}, "alerting.alertmanager_url is"),
    ],
)
def test_checked_before_anything_starts(tmp_path: Path, overrides: list[str], environ: dict[str, str],
                                        message: str) -> None:
    cfg = config(tmp_path, *overrides)
    with pytest.raises(StackError, match=message):
        monitoring.check(cfg, cfg.stack, environ)


def test_missing_binaries_give_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No binary on PATH: nothing is started and one line names the Debian packages."""
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = config(tmp_path)

    warnings = monitoring.up(cfg, cfg.stack, environ={})

    assert len(warnings) == 1
    assert "prometheus-alertmanager, prometheus-pushgateway, prometheus not installed" in warnings[0]
    assert "apt-get install prometheus prometheus-alertmanager prometheus-pushgateway" in warnings[0]
    assert not (tmp_path / "stack").exists()
