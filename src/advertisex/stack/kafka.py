"""The local single-node Kafka broker: KRaft, broker and controller in one JVM.

Files under ``{stack.run_dir}/kafka/``: ``server.properties`` and ``log4j2.properties``
(rewritten on each start), ``data/`` (the log dirs, formatted once), ``kafka.log`` (the
broker's output) and ``kafka.pid``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from advertisex.config import Config, StackConfig
from advertisex.io.security import client_settings
from advertisex.stack import process
from advertisex.stack.errors import StackError

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
NODE_ID = 1
MIN_JAVA = 17  # Kafka 4 brokers need Java 17+
# A small broker: the local stack shares a laptop with Spark.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-Djava.awt.headless=true",
)
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
FORMAT_TIMEOUT_SECONDS = 120.0

LOG4J2_PROPERTIES = """\
# Written by advertisex.stack on each start. Kafka logs through SLF4J to Log4j 2;
# everything goes to stdout, which the stack redirects to kafka.log.
status = warn
# Kafka logs its own shutdown from a JVM shutdown hook; keep Log4j's hook from closing first.
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
"""


@dataclass(frozen=True)
class BrokerLayout:
    """Where the broker's files live and which ports it uses."""

    host: str
    port: int
    controller_port: int
    jars_dir: Path
    home: Path
    sasl_port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.home / "log4j2.properties"

    @property
    def log_file(self) -> Path:
        return self.home / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def marker(self) -> str:
        """Text in the broker's command line that identifies it as this stack's broker."""
        return str(self.properties_file)


def first_bootstrap_server(bootstrap_servers: str) -> tuple[str, int]:
    """``"127.0.0.1:9092,..."`` → ``("127.0.0.1", 9092)``.

    Raises:
        StackError: no ``host:port`` in the value.
    """
    first = bootstrap_servers.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise StackError(
            f"kafka.bootstrap_servers must be host:port, got {bootstrap_servers!r}"
        )
    return host, int(port)


def layout(cfg: Config, stack: StackConfig) -> BrokerLayout:
    """The broker layout for ``cfg``; the broker must be on this machine.

    Raises:
        StackError: ``kafka.bootstrap_servers`` is not a local ``host:port``.
    """
    host, port = first_bootstrap_server(cfg.kafka.bootstrap_servers)
    if host not in LOCAL_HOSTS:
        raise StackError(
            f"the local stack runs Kafka on 127.0.0.1 only; kafka.bootstrap_servers is {host}:{port}"
        )
    return BrokerLayout(
        host=host,
        port=port,
        controller_port=stack.kafka_controller_port,
        jars_dir=Path(stack.kafka_jars_dir),
        home=Path(stack.run_dir) / "kafka",
        sasl_port=stack.kafka_sasl_port,
    )


def sasl_users(stack: StackConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """``stack.kafka_sasl_users`` with each password read from its environment variable.

    Raises:
        StackError: a user's variable is not set.
    """
    missing = sorted(f"{env} ({user})" for user, env in stack.kafka_sasl_users.items() if not environ.get(env))
    if missing:
        raise StackError(f"stack.kafka_sasl_users names environment variables that are not set: {', '.join(missing)}")
    return {user: environ[env] for user, env in stack.kafka_sasl_users.items()}


def require_jars(lay: BrokerLayout) -> None:
    """Raise :class:`StackError` unless the broker jars were resolved."""
    brokers = sorted(p.name for p in lay.jars_dir.glob("kafka_2.13-*.jar"))
    if not brokers:
        raise StackError(
            f"Kafka jars not found in {lay.jars_dir} (stack.kafka_jars_dir): run `make deps`"
        )
    if len(brokers) > 1:  # Maven's copy-dependencies never deletes jars of an older version
        raise StackError(
            f"several Kafka versions in {lay.jars_dir} ({', '.join(brokers)}): "
            "delete that folder and run `make deps`"
        )


def server_properties(lay: BrokerLayout, sasl_users: Mapping[str, str] | None = None) -> str:
    """The broker's ``server.properties``: one combined KRaft node on 127.0.0.1; with
    ``lay.sasl_port``, also a SASL_PLAINTEXT listener (mechanism PLAIN) for ``sasl_users``
    (user → password)."""
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{BIND_HOST}:{lay.controller_port}",
        "listeners": f"PLAINTEXT://{BIND_HOST}:{lay.port},CONTROLLER://{BIND_HOST}:{lay.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{lay.host}:{lay.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(lay.data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "auto.create.topics.enable": "true",
        "group.initial.rebalance.delay.ms": "0",
        # A development stack keeps what it is given: generated traffic may carry old
        # timestamps, which time-based retention would delete at once.
        "log.retention.ms": "-1",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if lay.sasl_port is not None:
        lines["listeners"] += f",SASL_PLAINTEXT://{BIND_HOST}:{lay.sasl_port}"
        lines["advertised.listeners"] += f",SASL_PLAINTEXT://{lay.host}:{lay.sasl_port}"
        lines["listener.security.protocol.map"] += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        lines["sasl.enabled.mechanisms"] = "PLAIN"
        users = " ".join(f'user_{name}="{password}"' for name, password in sorted((sasl_users or {}).items()))
        lines["listener.name.sasl_plaintext.plain.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};")
    body = "\n".join(f"{key}={value}" for key, value in lines.items())
    return f"# Written by advertisex.stack on each start; edit conf/*.yaml instead.\n{body}\n"


def _classpath(lay: BrokerLayout) -> str:
    return f"{lay.jars_dir}/*"  # expanded by java itself


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):  # Kafka's own generator avoids these (they read as options)
            return cid


def write_config(lay: BrokerLayout, sasl_users: Mapping[str, str] | None = None) -> None:
    """(Re)write ``server.properties`` (readable by its owner only: it may hold SASL users'
    passwords) and ``log4j2.properties`` from the config."""
    lay.home.mkdir(parents=True, exist_ok=True)
    lay.properties_file.touch(mode=0o600)
    lay.properties_file.chmod(0o600)
    lay.properties_file.write_text(server_properties(lay, sasl_users), encoding="utf-8")
    lay.log4j_file.write_text(LOG4J2_PROPERTIES, encoding="utf-8")


def format_storage_once(lay: BrokerLayout, java: str) -> bool:
    """Format the KRaft log dir unless it already holds ``meta.properties``.

    Returns:
        True when the storage was formatted now.
    """
    if (lay.data_dir / "meta.properties").is_file():
        return False
    lay.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        java, "-Xmx256m", f"-Dlog4j2.configurationFile={lay.log4j_file}",
        "-cp", _classpath(lay), STORAGE_TOOL,
        "format", "--cluster-id", new_cluster_id(), "--config", str(lay.properties_file),
    ]
    out = process.run_to_completion(
        cmd, cwd=lay.home, what="formatting Kafka storage", timeout=FORMAT_TIMEOUT_SECONDS
    )
    log.info("formatted Kafka storage in %s: %s", lay.data_dir, out.splitlines()[-1:] or "")
    return True


def start(lay: BrokerLayout, java: str) -> int:
    """Start the broker detached; returns its pid (the caller waits for readiness)."""
    cmd = [
        java, *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={lay.log4j_file}",
        "-cp", _classpath(lay), MAIN_CLASS, str(lay.properties_file),
    ]
    return process.start_detached(cmd, cwd=lay.home, log_file=lay.log_file, pid_file=lay.pid_file)


def admin_client(settings: Mapping[str, str], timeout_seconds: float) -> AdminClient:
    """An AdminClient (``settings``: at least ``bootstrap.servers``) that gives up on an
    unreachable broker after ``timeout_seconds``."""
    ms = str(max(1000, int(timeout_seconds * 1000)))
    return AdminClient(
        {
            **settings,
            "socket.timeout.ms": ms,
            "socket.connection.setup.timeout.ms": ms,
            "log_level": 2,  # librdkafka: only critical lines; a down broker is reported by us
        }
    )


def answers(lay: BrokerLayout, timeout: float = 3.0) -> bool:
    """Whether the broker accepts connections and serves cluster metadata."""
    if not process.accepts_connections(lay.host, lay.port):
        return False
    try:
        meta = admin_client({"bootstrap.servers": lay.address}, timeout).list_topics(timeout=timeout)
    except KafkaException as exc:
        log.debug("broker at %s not ready: %s", lay.address, exc)
        return False
    return bool(meta.brokers)


def ensure_topics(cfg: Config) -> list[str]:
    """Create the configured topics (impressions, bids) unless they exist.

    Topics get ``kafka.partitions`` partitions and the broker's default replication.
    An existing topic is left as it is, whatever its partition count.

    Args:
        cfg: the configuration; uses ``kafka.bootstrap_servers``, ``kafka.topics`` and
            ``kafka.partitions``.

    Returns:
        The names of the topics created now (empty when all existed).

    Raises:
        StackError: the broker does not answer within ``kafka.connect_timeout_seconds``
            or refuses to create a topic.
    """
    timeout = cfg.kafka.connect_timeout_seconds
    wanted = [cfg.kafka.topics.impressions, cfg.kafka.topics.bids]
    admin = admin_client(client_settings(cfg.kafka), timeout)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise StackError(
            f"Kafka at {cfg.kafka.bootstrap_servers} does not answer: {exc.args[0]}"
        ) from None
    missing = [name for name in dict.fromkeys(wanted) if name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=cfg.kafka.partitions) for name in missing],
        request_timeout=timeout,
    )
    created = []
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise StackError(
                f"Kafka at {cfg.kafka.bootstrap_servers} did not create topic {name!r} "
                f"within {timeout:.0f} s"
            ) from None
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # created concurrently: fine
                continue
            raise StackError(f"cannot create Kafka topic {name!r}: {err.str()}") from None
        created.append(name)
    return created
