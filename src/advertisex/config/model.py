"""The configuration's schema: one frozen pydantic model per section of ``conf/base.yaml``.

Types are strict, so a value means what it says: a bool key takes only ``true``/``false``
(not ``1``, not ``"yes"``), an integer key takes no bool and no float, a number key takes
an integer too. A string key also takes a number (YAML reads a port-only value or a numeric
topic name as one) and keeps its text. ``spark.conf`` holds Spark's own settings, all text.
:func:`advertisex.config.validation.validate` turns pydantic's report into one
:class:`ConfigError` naming the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict


class ConfigError(ValueError):
    """A configuration file, key or value is wrong; the message names the key."""


def _number_as_text(value: Any) -> Any:
    """A number given for a string key becomes its text (``8081``, a topic named ``42``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _spark_value(value: Any) -> str:
    """How Spark expects a setting: booleans in lower case, an empty value as ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _spark_settings(value: Any) -> Any:
    """A mapping of any keys and values becomes ``dict[str, str]``; anything else is left
    for the strict ``dict`` check to refuse."""
    if isinstance(value, Mapping):
        return {str(k): _spark_value(v) for k, v in value.items()}
    return value


Text = Annotated[str, Strict(), BeforeValidator(_number_as_text)]
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]  # strict float still takes an int, and returns a float
SparkSettings = Annotated[dict[str, str], Strict(), BeforeValidator(_spark_settings)]


class Section(BaseModel):
    """Base of every section: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class LakeConfig(Section):
    root: Text


class CheckpointsConfig(Section):
    root: Text


class LandingConfig(Section):
    impressions: Text
    clicks: Text


class ReferenceConfig(Section):
    campaigns: Text
    users: Text


class TopicsConfig(Section):
    impressions: Text = "ad-impressions"
    bids: Text = "bid-requests"


class KafkaSecurityConfig(Section):
    """How the jobs authenticate to Kafka (io/security.py). The password is a secret: only the
    *name* of the environment variable holding it is configuration, so it is never printed,
    stored or shown in a query plan."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    username: Text | None = None
    password_env: Text = "ADVERTISEX_KAFKA_PASSWORD"
    ssl_ca_location: Text | None = None  # a PEM file of the CAs to trust (SSL, SASL_SSL)


class KafkaConfig(Section):
    bootstrap_servers: Text
    enabled: Bool = True
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    partitions: Int = 2
    starting_offsets: Text = "earliest"
    max_offsets_per_trigger: Int = 500_000
    fail_on_data_loss: Bool = True
    connect_timeout_seconds: Number = 15.0
    security: KafkaSecurityConfig = Field(default_factory=KafkaSecurityConfig)


class SchemaRegistryConfig(Section):
    url: Text
    subject: Text = "bid-requests-value"
    timeout_seconds: Number = 10.0
    unknown_id_recheck_seconds: Number = 300.0
    username: Text | None = None  # HTTP basic authentication; the password from password_env
    password_env: Text = "ADVERTISEX_REGISTRY_PASSWORD"


class AttributionConfig(Section):
    click_window_minutes: Int = 30
    conversion_window_days: Int = 7
    view_through_window_hours: Int = 24


class StreamingConfig(Section):
    trigger_interval_seconds: Number = 10.0
    txn_app_id: Text = "advertisex"
    max_files_per_trigger: Int = 1000


class MonitoringConfig(Section):
    """Prometheus: what the pipeline serves and where the server that watches it runs.

    ``prometheus_url`` and ``pushgateway_url`` are where the pipeline and the local stack
    find those services; ``advertisex stack up`` starts them there when ``enabled``.
    """

    enabled: Bool = False
    metrics_port: Int = 9108
    prometheus_url: Text = "http://127.0.0.1:9090"
    pushgateway_url: Text | None = None
    scrape_interval_seconds: Number = 15.0
    evaluation_interval_seconds: Number = 15.0
    retention_days: Int = 15


class WebhookConfig(Section):
    url: Text | None = None
    send_resolved: Bool = True


class SlackConfig(Section):
    """A Slack receiver; the incoming-webhook URL is a secret, so only the *name* of the
    environment variable holding it is configuration."""

    enabled: Bool = False
    channel: Text | None = None
    webhook_url_env: Text = "ADVERTISEX_SLACK_WEBHOOK_URL"
    send_resolved: Bool = True


class EmailConfig(Section):
    """An e-mail receiver (critical alerts only); the SMTP password comes from the
    environment variable named by ``auth_password_env``."""

    to: Text | None = None
    sender: Text | None = None
    smarthost: Text | None = None
    auth_username: Text | None = None
    auth_password_env: Text = "ADVERTISEX_SMTP_PASSWORD"
    require_tls: Bool = True
    send_resolved: Bool = False


class AlertingConfig(Section):
    """Alertmanager: where it runs, how it groups and repeats, and whom it notifies."""

    alertmanager_url: Text | None = "http://127.0.0.1:9095"
    group_wait_seconds: Number = 30.0
    group_interval_seconds: Number = 300.0
    repeat_interval_seconds: Number = 14400.0
    resolve_timeout_seconds: Number = 300.0
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)


class SparkConfig(Section):
    master: Text | None = "local[2]"
    shuffle_partitions: Int = 4
    delta_snapshot_partitions: Int = 1
    driver_memory: Text | None = "4g"
    log_level: Text = "ERROR"
    jars_dir: Text | None = None
    conf: SparkSettings = Field(default_factory=dict)


class StackConfig(Section):
    run_dir: Text
    kafka_jars_dir: Text
    registry_dir: Text
    kafka_controller_port: Int = 9093
    # A SASL_PLAINTEXT listener (mechanism PLAIN) beside the plain one, for these users:
    # user name → the environment variable holding its password.
    kafka_sasl_port: Int | None = None
    kafka_sasl_users: dict[str, Text] = Field(default_factory=dict)
    start_timeout_seconds: Number = 120.0
    # The monitoring services of the local stack (when monitoring.enabled).
    rules_dir: Text = "monitoring/rules"
    consoles_dir: Text = "monitoring/consoles"
    console_libraries_dir: Text = "/usr/share/doc/prometheus/examples/console_libraries"


class PipelineConfig(Section):
    """How ``advertisex pipeline`` runs its jobs (``--once``) and supervises them (always on)."""

    concurrent: Bool = True
    refresh_seconds: Number = 60.0
    max_restarts: Int = 5
    restart_backoff_seconds: Number = 5.0
    stop_timeout_seconds: Number = 60.0


class QualityConfig(Section):
    """Data quality (docs/CONTRACT.md §6): the Great Expectations project and what it writes.

    ``gx_dir`` is the GX file Data Context (suites, validation definitions and checkpoints
    as GX's own files, committed with the code); ``data_docs_dir`` is where GX's
    ``UpdateDataDocsAction`` builds the HTML site and ``validations_dir`` GX's validation
    results store, which that site is rendered from. ``freshness_hours``: a table whose
    newest event is older than this when checked gets a warning (null: not checked).
    ``validations_kept``: GX validation results kept per suite (older ones are deleted;
    the ``quality/results`` table keeps the history).
    """

    gx_dir: Text = "gx"
    data_docs_dir: Text = ".run/quality/data_docs"
    validations_dir: Text = ".run/quality/validations"
    freshness_hours: Number | None = 36.0
    validations_kept: Int = 20


class ReportConfig(Section):
    """``advertisex report``: where the data-health page is written (``--out`` writes elsewhere)."""

    path: Text = ".run/report/health.html"


class MaintenanceConfig(Section):
    optimize_days: Int | None = None


class ImpressionsDropConfig(Section):
    """``anomaly.impressions_drop``: an hour's impressions far below the same hour on earlier days."""

    enabled: Bool = True
    min_baseline: Number = 1000.0          # overall impressions per hour below which the rule is silent
    min_baseline_campaign: Number = 200.0  # the same floor for one campaign
    min_days: Int = 7                      # earlier days with the same hour needed for a baseline
    max_days: Int = 14                     # how far back the baseline looks
    z: Number = 4.0                        # fire when the robust z is below -z ...
    max_ratio: Number = 0.5                # ... and the hour is under this share of the baseline
    critical_ratio: Number = 0.1           # under this share of the baseline: critical
    settle_minutes: Int = 30               # an hour is judged once it ended this long ago


class CtrSpikeConfig(Section):
    """``anomaly.ctr_spike``: a campaign's hourly CTR far above its trailing CTR."""

    enabled: Bool = True
    min_impressions: Int = 1000            # a campaign-hour with fewer is never flagged
    min_clicks: Int = 20                   # nor one with fewer clicks
    z: Number = 4.0                        # binomial z above this ...
    min_ratio: Number = 2.0                # ... and the CTR above this multiple of the trailing CTR
    trailing_days: Int = 7
    min_history_days: Int = 3              # trailing days with impressions needed


class QuarantineRateConfig(Section):
    """``anomaly.quarantine_rate``: a source's hourly share of quarantined records far above its usual share."""

    enabled: Bool = True
    hour: Literal["event", "ingestion"] = "event"  # event: the hour a record is about; ingestion: when it arrived
    min_records: Int = 500                 # an hour with fewer records is never flagged
    min_quarantined: Int = 20              # nor one with fewer quarantined records
    z: Number = 4.0
    min_ratio: Number = 3.0
    baseline_days: Int = 7                 # the usual share: the same hour on this many earlier days
    min_history_days: Int = 3


class StaleTableConfig(Section):
    """``anomaly.stale_table``: no commit adding rows while the table's feed is expected to deliver."""

    enabled: Bool = True
    minutes: Int = 120
    tables: tuple[Text, ...] = ("bronze/impressions", "bronze/click_events", "bronze/bid_requests")
    expected: tuple[Text, ...] = ()        # always expected to deliver (a production feed)
    live_lag_minutes: Int = 120            # otherwise: only while its last delivery was this recent in event time


class MissingPartitionConfig(Section):
    """``anomaly.missing_partition``: a date with no impressions between dates that have them."""

    enabled: Bool = True
    lookback_days: Int = 31                # only dates this close to gold's newest are judged


class AnomalyConfig(Section):
    """The anomaly rules (docs/CONTRACT.md §6); every key is documented in conf/base.yaml."""

    enabled: Bool = True
    evaluate_days: Int = 31                # at most the newest this many dates are evaluated per run
    alert_hold_minutes: Int = 240          # a posted alert holds this long unless posted again
    impressions_drop: ImpressionsDropConfig = Field(default_factory=ImpressionsDropConfig)
    ctr_spike: CtrSpikeConfig = Field(default_factory=CtrSpikeConfig)
    quarantine_rate: QuarantineRateConfig = Field(default_factory=QuarantineRateConfig)
    stale_table: StaleTableConfig = Field(default_factory=StaleTableConfig)
    missing_partition: MissingPartitionConfig = Field(default_factory=MissingPartitionConfig)


class Config(Section):
    """The whole configuration, passed down explicitly to every job."""

    lake: LakeConfig
    checkpoints: CheckpointsConfig
    landing: LandingConfig
    reference: ReferenceConfig
    kafka: KafkaConfig
    schema_registry: SchemaRegistryConfig
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    stack: StackConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data, sections in declaration order.

        Returns:
            Nested dicts of the values (what ``config show`` prints).
        """
        return self.model_dump()

    def to_yaml(self) -> str:
        """The configuration as YAML, keys in declaration order.

        Returns:
            The text ``advertisex config show`` prints.
        """
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def table_path(self, table: Any) -> str:
        """Path of a lake table.

        Args:
            table: an :class:`advertisex.tables.Table`, or its name under ``lake.root``,
                e.g. ``"gold/campaign_daily"``.

        Returns:
            ``{lake.root}/{name}``.
        """
        return join_path(self.lake.root, getattr(table, "name", table))

    def checkpoint_path(self, job: str, query: str) -> str:
        """The one checkpoint folder of a streaming query.

        Args:
            job: the job running the query.
            query: the query's name within the job.

        Returns:
            ``{checkpoints.root}/{job}/{query}``.
        """
        return join_path(self.checkpoints.root, job, query)


# Keys whose values are filesystem paths (resolved against the project root when relative).
PATH_KEYS = (
    "lake.root",
    "checkpoints.root",
    "landing.impressions",
    "landing.clicks",
    "reference.campaigns",
    "reference.users",
    "spark.jars_dir",
    "stack.run_dir",
    "stack.kafka_jars_dir",
    "stack.registry_dir",
    "stack.rules_dir",
    "stack.consoles_dir",
    "stack.console_libraries_dir",
    "quality.gx_dir",
    "quality.data_docs_dir",
    "quality.validations_dir",
    "report.path",
)


def join_path(base: str, *parts: str) -> str:
    """Join path segments for local paths and URIs (``s3a://b/x``) alike.

    Args:
        base: a folder or URI; a trailing ``/`` is dropped.
        parts: segments to append; their own leading and trailing ``/`` are dropped.

    Returns:
        The joined path, segments separated by one ``/``.
    """
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out
