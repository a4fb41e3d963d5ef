"""The local Prometheus server: scrapes the pipeline, evaluates the repository's alert rules
and serves its console templates.

Files under ``{stack.run_dir}/prometheus/``: ``prometheus.yml`` (generated from the project
configuration on each ``stack up``), ``data/`` (the TSDB, kept across restarts),
``prometheus.log`` and ``prometheus.pid``. The rules and consoles are read where they are
in the repository (``stack.rules_dir``, ``stack.consoles_dir``), so an edit takes effect on
the next ``stack up`` (which reloads a running server) without a copy going stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from advertisex.config import Config, StackConfig
from advertisex.stack import process
from advertisex.stack.errors import StackError
from advertisex.stack.webservice import ServiceLayout, duration, find_binary, layout, local_port

BINARIES = ("prometheus",)
DEBIAN_PACKAGE = "prometheus"
CONFIG_NAME = "prometheus.yml"
# Job names the rules and dashboards select on (monitoring/rules/advertisex.yml).
PIPELINE_JOB = "advertisex"
PUSHGATEWAY_JOB = "pushgateway"


def service(cfg: Config, stack: StackConfig) -> ServiceLayout:
    """The Prometheus layout (at ``monitoring.prometheus_url``).

    Raises:
        StackError: the URL is not local.
    """
    lay = layout("prometheus", cfg.monitoring.prometheus_url, "monitoring.prometheus_url", stack.run_dir)
    assert lay is not None  # prometheus_url is a required string
    return lay


def config_file(lay: ServiceLayout) -> Path:
    """``{run_dir}/prometheus/prometheus.yml``."""
    return lay.home / CONFIG_NAME


def _target(url: str, key: str) -> str:
    return f"127.0.0.1:{local_port(url, key)}"


def config(cfg: Config, stack: StackConfig) -> dict[str, Any]:
    """``prometheus.yml`` as data.

    Scrapes the pipeline (job ``advertisex``), the Pushgateway (job ``pushgateway``), itself
    and Alertmanager; loads ``{stack.rules_dir}/*.yml``; sends alerts to
    ``alerting.alertmanager_url``.

    Raises:
        StackError: a configured URL is not a local ``http://127.0.0.1:<port>``.
    """
    mon = cfg.monitoring
    scrapes: list[dict[str, Any]] = [
        {
            "job_name": PIPELINE_JOB,
            # `advertisex_last_success_timestamp_seconds` carries its own `job` label (the
            # pipeline job: gold, silver, ...); without this Prometheus would rename it to
            # `exported_job` and the rules' `{job="gold"}` would match nothing.
            "honor_labels": True,
            "static_configs": [{"targets": [f"127.0.0.1:{mon.metrics_port}"]}],
        },
    ]
    if mon.pushgateway_url:
        scrapes.append({
            "job_name": PUSHGATEWAY_JOB,
            # Pushed series keep the `job`/`instance` of the run that pushed them.
            "honor_labels": True,
            "static_configs": [{"targets": [_target(mon.pushgateway_url, "monitoring.pushgateway_url")]}],
        })
    scrapes.append({"job_name": "prometheus",
                    "static_configs": [{"targets": [_target(mon.prometheus_url, "monitoring.prometheus_url")]}]})
    body: dict[str, Any] = {
        "global": {
            "scrape_interval": duration(mon.scrape_interval_seconds),
            "scrape_timeout": duration(min(mon.scrape_interval_seconds, 10.0)),
            "evaluation_interval": duration(mon.evaluation_interval_seconds),
        },
        "rule_files": [str(Path(stack.rules_dir) / "*.yml")],
        "scrape_configs": scrapes,
    }
    am_url = cfg.alerting.alertmanager_url
    if am_url:
        am_target = _target(am_url, "alerting.alertmanager_url")
        body["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [am_target]}]}]}
        scrapes.append({"job_name": "alertmanager", "static_configs": [{"targets": [am_target]}]})
    return body


def write_config(cfg: Config, stack: StackConfig, lay: ServiceLayout) -> Path:
    """(Re)write ``prometheus.yml``; returns its path."""
    lay.home.mkdir(parents=True, exist_ok=True)
    text = "# Written by advertisex.stack on each `stack up`; edit conf/*.yaml instead.\n"
    text += yaml.safe_dump(config(cfg, stack), sort_keys=False)
    path = config_file(lay)
    path.write_text(text, encoding="utf-8")
    return path


def binary() -> str | None:
    """The ``prometheus`` binary on PATH, or None."""
    return find_binary(*BINARIES)


def start(cfg: Config, stack: StackConfig, lay: ServiceLayout, exe: str) -> int:
    """Start Prometheus detached; returns its pid (the caller waits for readiness).

    Raises:
        StackError: the console folders do not exist.
    """
    for key, folder in (("stack.consoles_dir", stack.consoles_dir),
                        ("stack.console_libraries_dir", stack.console_libraries_dir)):
        if not Path(folder).is_dir():
            raise StackError(f"{key} {folder} is not a folder (the console libraries come with Debian's "
                             "prometheus package)")
    lay.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        f"--config.file={config_file(lay)}",
        f"--storage.tsdb.path={lay.data_dir}",
        f"--storage.tsdb.retention.time={cfg.monitoring.retention_days}d",
        f"--web.listen-address={lay.listen_address}",
        f"--web.external-url={lay.url}",
        "--web.enable-lifecycle",  # POST /-/reload: `stack up` applies a changed config in place
        f"--web.console.templates={stack.consoles_dir}",
        f"--web.console.libraries={stack.console_libraries_dir}",
    ]
    return process.start_detached(cmd, cwd=lay.home, log_file=lay.log_file, pid_file=lay.pid_file)
