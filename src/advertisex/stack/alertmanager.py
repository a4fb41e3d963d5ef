"""The local Alertmanager: groups, de-duplicates and routes every alert (docs/CONTRACT.md §5).

Files under ``{stack.run_dir}/alertmanager/``: ``alertmanager.yml`` (generated from the
``alerting`` section on each ``stack up``), ``secrets/`` (0600 files holding what the
environment gave for Slack and SMTP; the YAML only names them through Alertmanager's
``*_file`` settings), ``data/`` (silences and the notification log, so a restart does not
notify again what was already sent), ``alertmanager.log`` and ``alertmanager.pid``.

Routing: alerts are grouped by ``alertname, table, event_date, campaign_id``; the webhook
and Slack receive every ``warning`` and ``critical`` alert, e-mail only ``critical`` ones;
an alert without a known severity goes to the ``null`` receiver (nowhere). While
``AdvertisexPipelineDown`` fires, every other alert is muted: its cause is the outage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from advertisex.config import AlertingConfig, Config, StackConfig
from advertisex.stack import process
from advertisex.stack.errors import StackError
from advertisex.stack.webservice import ServiceLayout, duration, find_binary, layout

BINARIES = ("prometheus-alertmanager", "alertmanager")
DEBIAN_PACKAGE = "prometheus-alertmanager"
CONFIG_NAME = "alertmanager.yml"
GROUP_BY = ("alertname", "table", "event_date", "campaign_id")
PIPELINE_DOWN = "AdvertisexPipelineDown"
# What a pipeline that is down makes fire or go quiet on its own, muted while it is down.
# Data alerts (quality, anomalies, quarantine rate) are not: the checks behind them run
# without the always-on process too, and what they say about the data still holds.
FOLLOWS_PIPELINE_DOWN = ("AdvertisexQueryStopped", "AdvertisexQueryRestarting", "AdvertisexEventLagHigh",
                         "AdvertisexKafkaOffsetsBehindGrowing", "AdvertisexGoldRefreshDelayed",
                         "AdvertisexChecksDelayed", "AdvertisexTableStale")
NULL_RECEIVER = "null"
# Which severities each receiver gets: e-mail is for what cannot wait.
ROUTED_SEVERITIES = {"webhook": "warning|critical", "slack": "warning|critical", "email": "critical"}

SLACK_TITLE = '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.table }}'
SLACK_TEXT = '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}'


def service(cfg: Config, stack: StackConfig) -> ServiceLayout | None:
    """The Alertmanager layout (None when ``alerting.alertmanager_url`` is null).

    Raises:
        StackError: the URL is not local.
    """
    return layout("alertmanager", cfg.alerting.alertmanager_url, "alerting.alertmanager_url", stack.run_dir)


def config_file(lay: ServiceLayout) -> Path:
    """``{run_dir}/alertmanager/alertmanager.yml``."""
    return lay.home / CONFIG_NAME


def secrets_dir(lay: ServiceLayout) -> Path:
    """The 0700 folder of the secret files the config names (``*_file`` settings)."""
    return lay.home / "secrets"


def _secret(environ: Mapping[str, str], var: str, why: str) -> str:
    value = environ.get(var, "").strip()
    if not value:
        raise StackError(f"{why} but the environment variable {var} is not set (secrets come only from "
                         "the environment)")
    return value


def receivers(alerting: AlertingConfig, environ: Mapping[str, str], secrets: Path) -> tuple[
        list[dict[str, Any]], dict[Path, str]]:
    """The configured receivers and the secret files they read.

    Args:
        alerting: the ``alerting`` section.
        environ: where the secrets are (the process environment).
        secrets: the folder of the secret files.

    Returns:
        ``(receivers, files)``: Alertmanager receiver entries, ``null`` first, then one per
        configured integration; ``files`` maps each secret file to its content.

    Raises:
        StackError: a receiver is configured without a setting or a secret it needs.
    """
    found: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    files: dict[Path, str] = {}
    hook = alerting.webhook
    if hook.url:
        found.append({"name": "webhook", "webhook_configs": [
            {"url": hook.url, "send_resolved": hook.send_resolved, "max_alerts": 0}]})
    slack = alerting.slack
    if slack.enabled:
        url_file = secrets / "slack_api_url"
        files[url_file] = _secret(environ, slack.webhook_url_env,
                                  f"alerting.slack.enabled is true (alerting.slack.webhook_url_env={slack.webhook_url_env})")
        entry: dict[str, Any] = {"api_url_file": str(url_file), "send_resolved": slack.send_resolved,
                                 "title": SLACK_TITLE, "text": SLACK_TEXT}
        if slack.channel:
            entry["channel"] = slack.channel
        found.append({"name": "slack", "slack_configs": [entry]})
    mail = alerting.email
    if mail.to:
        missing = [k for k in ("sender", "smarthost") if not getattr(mail, k)]
        if missing:
            raise StackError(f"alerting.email.to is set but alerting.email.{missing[0]} is not")
        entry = {"to": mail.to, "from": mail.sender, "smarthost": mail.smarthost,
                 "require_tls": mail.require_tls, "send_resolved": mail.send_resolved}
        if mail.auth_username:
            password_file = secrets / "smtp_password"
            files[password_file] = _secret(environ, mail.auth_password_env,
                                           f"alerting.email.auth_username is set (alerting.email.auth_password_env="
                                           f"{mail.auth_password_env})")
            entry |= {"auth_username": mail.auth_username, "auth_password_file": str(password_file)}
        found.append({"name": "email", "email_configs": [entry]})
    return found, files


def config(alerting: AlertingConfig, environ: Mapping[str, str], secrets: Path) -> tuple[
        dict[str, Any], dict[Path, str]]:
    """``alertmanager.yml`` as data, and the secret files it names.

    Args:
        alerting: the ``alerting`` section.
        environ: where the secrets are.
        secrets: the folder of the secret files.

    Returns:
        ``(config, files)``; see :func:`receivers`.

    Raises:
        StackError: see :func:`receivers`.
    """
    found, files = receivers(alerting, environ, secrets)
    routes = [{"receiver": r["name"], "matchers": [f'severity=~"{ROUTED_SEVERITIES[r["name"]]}"'], "continue": True}
              for r in found if r["name"] != NULL_RECEIVER]
    if routes:
        routes[-1].pop("continue")
    body = {
        "global": {"resolve_timeout": duration(alerting.resolve_timeout_seconds)},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": duration(alerting.group_wait_seconds),
            "group_interval": duration(alerting.group_interval_seconds),
            "repeat_interval": duration(alerting.repeat_interval_seconds),
            "routes": routes,
        },
        "receivers": found,
        "inhibit_rules": [{
            "source_matchers": [f'alertname="{PIPELINE_DOWN}"'],
            "target_matchers": [f'alertname=~"{"|".join(FOLLOWS_PIPELINE_DOWN)}"'],
        }],
    }
    return body, files


def write_config(cfg: Config, lay: ServiceLayout, environ: Mapping[str, str]) -> Path:
    """(Re)write ``alertmanager.yml`` and the secret files (mode 0600, in a 0700 folder).

    Args:
        cfg: the configuration.
        lay: Alertmanager's layout.
        environ: where the secrets are (the process environment).

    Returns:
        The path of ``alertmanager.yml``.

    Raises:
        StackError: see :func:`receivers`.
    """
    body, files = config(cfg.alerting, environ, secrets_dir(lay))
    lay.home.mkdir(parents=True, exist_ok=True)
    if files:
        secrets_dir(lay).mkdir(mode=0o700, exist_ok=True)
        os.chmod(secrets_dir(lay), 0o700)
    for path, value in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file may have been created with other bits
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value)
    text = "# Written by advertisex.stack on each `stack up`; edit conf/*.yaml instead. No secrets here.\n"
    text += yaml.safe_dump(body, sort_keys=False)
    path = config_file(lay)
    path.write_text(text, encoding="utf-8")
    return path


def binary() -> str | None:
    """The Alertmanager binary on PATH (Debian's or upstream's name), or None."""
    return find_binary(*BINARIES)


def start(lay: ServiceLayout, exe: str) -> int:
    """Start Alertmanager detached, clustering off; returns its pid."""
    lay.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        f"--config.file={config_file(lay)}",
        f"--storage.path={lay.data_dir}",
        f"--web.listen-address={lay.listen_address}",
        f"--web.external-url={lay.url}",
        "--cluster.listen-address=",  # one instance: no gossip port (9094) opened
    ]
    return process.start_detached(cmd, cwd=lay.home, log_file=lay.log_file, pid_file=lay.pid_file)
