"""The local schema registry: Apicurio Registry 3 serving the Confluent API.

Apicurio keeps its data in Kafka ("KafkaSQL" storage): every change is appended to the
topic ``kafkasql-journal`` on the local broker and replayed into an in-memory database
at start-up, so subjects, versions and schema ids survive a restart for as long as the
broker's data does. Files under ``{stack.run_dir}/registry/``: ``registry.log`` (its
output), ``registry.pid``, ``registry.jsa`` (a class-data archive that speeds up later
starts) and ``tmp/`` (its snapshot and import work folders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from advertisex.config import Config, StackConfig
from advertisex.io.registry import registry_client, transport_errors
from advertisex.stack import process
from advertisex.stack.errors import StackError

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# The registry does little computing but starts a large Quarkus application on a machine
# that may be busy with Spark: the C1 compiler alone and a class-data archive (created by
# the first run, at its exit) cut its start-up by about half.
JVM_OPTIONS = (
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
JOURNAL_TOPIC = "kafkasql-journal"
# Apicurio Registry 3.3 is compiled for Java 21 (class file 65); it fails at start on 17.
MIN_JAVA = 21


@dataclass(frozen=True)
class RegistryLayout:
    """Where the registry's files live and where it answers."""

    url: str
    host: str
    port: int
    app_dir: Path
    home: Path

    @property
    def log_file(self) -> Path:
        return self.home / "registry.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "registry.pid"

    @property
    def work_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def class_data_archive(self) -> Path:
        return self.home / "registry.jsa"

    @property
    def address(self) -> str:
        return self.url

    @property
    def marker(self) -> str:
        """A system property in the registry's command line naming this stack."""
        return f"-Dadvertisex.stack.home={self.home}"


def layout(cfg: Config, stack: StackConfig) -> RegistryLayout:
    """The registry layout for ``cfg``; the registry must be on this machine.

    Raises:
        StackError: ``schema_registry.url`` is not a local ``http://host:port/...`` URL.
    """
    url = cfg.schema_registry.url.rstrip("/")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or port is None:
        raise StackError(
            "the local stack runs the registry on http://127.0.0.1:<port> only; "
            f"schema_registry.url is {cfg.schema_registry.url}"
        )
    return RegistryLayout(
        url=url,
        host=BIND_HOST,
        port=port,
        app_dir=Path(stack.registry_dir),
        home=Path(stack.run_dir) / "registry",
    )


def runner_jar(lay: RegistryLayout) -> Path:
    """The Quarkus launcher ``quarkus-run.jar`` inside the unpacked registry.

    Raises:
        StackError: the registry was not unpacked (``make deps``).
    """
    direct = lay.app_dir / "quarkus-run.jar"
    if direct.is_file():
        return direct
    found = sorted(lay.app_dir.glob("**/quarkus-run.jar")) if lay.app_dir.is_dir() else []
    if not found:
        raise StackError(
            f"Apicurio Registry not found in {lay.app_dir} (stack.registry_dir): run `make deps`"
        )
    return found[0]


def system_properties(lay: RegistryLayout, bootstrap_servers: str) -> dict[str, str]:
    """The Quarkus/Apicurio settings the registry is started with (as ``-D`` options)."""
    return {
        "advertisex.stack.home": str(lay.home),
        "quarkus.http.host": BIND_HOST,
        "quarkus.http.port": str(lay.port),
        # Health and metrics live on a separate management port (default 9000); a random
        # free port keeps two stacks (local and test) from colliding on it.
        "quarkus.management.host": BIND_HOST,
        "quarkus.management.port": "0",
        "quarkus.http.access-log.enabled": "false",
        "apicurio.storage.kind": "kafkasql",
        "apicurio.kafkasql.bootstrap.servers": bootstrap_servers,
        "apicurio.kafkasql.topic": JOURNAL_TOPIC,
        # Start-up checks poll the journal and snapshot topics until a poll comes back
        # empty; with the default poll timeout those empty polls dominate a start.
        "apicurio.kafkasql.consumer.poll.timeout": "1000",
        "apicurio.storage.snapshot.location": str(lay.work_dir),
        "apicurio.import.work-dir": str(lay.work_dir),
        # The in-memory database behind KafkaSQL needs few connections.
        "apicurio.datasource.jdbc.initial-size": "2",
        "apicurio.datasource.jdbc.min-size": "2",
        "apicurio.datasource.jdbc.max-size": "20",
    }


def start(lay: RegistryLayout, java: str, bootstrap_servers: str) -> int:
    """Start the registry detached; returns its pid (the caller waits for readiness)."""
    lay.work_dir.mkdir(parents=True, exist_ok=True)
    props = [f"-D{key}={value}" for key, value in system_properties(lay, bootstrap_servers).items()]
    cds = ["-XX:+AutoCreateSharedArchive", f"-XX:SharedArchiveFile={lay.class_data_archive}"]  # JDK 19+
    cmd = [java, *JVM_OPTIONS, *cds, *props, "-jar", str(runner_jar(lay))]
    return process.start_detached(cmd, cwd=lay.home, log_file=lay.log_file, pid_file=lay.pid_file)


def answers(lay: RegistryLayout, timeout: float = 3.0) -> bool:
    """Whether ``GET {url}/subjects`` succeeds, asked once within ``timeout``.

    Args:
        lay: the registry's layout.
        timeout: seconds the request may take.

    Returns:
        True when the registry answers with a success, False otherwise (not up yet).
    """
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if not process.accepts_connections(lay.host, lay.port):
        return False
    try:
        registry_client(lay.url, timeout, retries=0).get_subjects()
    except (SchemaRegistryError, *transport_errors(), ValueError) as exc:
        log.debug("registry at %s not ready: %s", lay.url, exc)
        return False
    return True


# A new version of the bid-request subject must read every older one (contract §1.3): the
# registry refuses a producer's incompatible schema before any message uses it.
COMPATIBILITY = "BACKWARD"


def ensure_compatibility(cfg: Config) -> None:
    """Set ``schema_registry.subject``'s compatibility rule to :data:`COMPATIBILITY`."""
    from advertisex.io.registry import registry_errors
    from advertisex.io.security import registry_settings

    url = cfg.schema_registry.url
    with registry_errors(url, f"cannot set the compatibility of subject {cfg.schema_registry.subject!r}"):
        registry_client(url, cfg.schema_registry.timeout_seconds,
                        auth=registry_settings(cfg.schema_registry)).set_compatibility(
            subject_name=cfg.schema_registry.subject, level=COMPATIBILITY)

