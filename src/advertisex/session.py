"""The one SparkSession factory.

No session exists at import time anywhere in the package: entry points call
:func:`build_spark` once and pass ``spark`` down.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from advertisex.config import Config, project_root
from advertisex.errors import AdvertisexError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


class MissingJarsError(AdvertisexError):
    """The configured local jar folder is missing or empty."""


def local_jars(jars_dir: str | None) -> list[str]:
    """Absolute paths of the jars in ``jars_dir`` (sorted); ``[]`` when not configured.

    Raises:
        MissingJarsError: ``jars_dir`` is set but holds no jar.
    """
    if not jars_dir:
        return []
    folder = Path(jars_dir)
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    if not jars:
        raise MissingJarsError(
            f"no Spark connector jars in {folder}: run `make deps` "
            "(or set spark.jars_dir: null and pass --packages on a cluster)"
        )
    return jars


# The driver's console: Spark's routine warnings hidden, the level from spark.log_level.
LOG4J2_PROFILE = Path(__file__).with_name("log4j2.properties")
# The FAIR scheduler's pools an always-on run puts its work in (the file says why).
SCHEDULER_POOLS = Path(__file__).with_name("scheduler_pools.xml")

# Parquet column paths written without dictionary encoding (see spark_conf).
NO_DICTIONARY_COLUMNS = (
    "raw", "origin", "impression_id", "event_id", "bid_request_id", "event_time_raw", "kafka_offset",
    "source_line", "event_time", "auction.auction_id",
)
# Parquet column paths written without min/max statistics: long text no query filters on.
NO_STATISTICS_COLUMNS = ("raw", "origin", "event_time_raw")


def spark_conf(app_name: str, cfg: Config, *, progress: bool = False) -> dict[str, str]:
    """Every setting :func:`build_spark` applies, as plain data (inspectable, testable)."""
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        "spark.sql.warehouse.dir": f"{cfg.lake.root.rstrip('/')}/_warehouse",
        "spark.ui.showConsoleProgress": str(progress).lower(),
        "spark.sql.adaptive.enabled": "true",
        # Spark keeps the classes it compiled for 100 distinct generated sources by default. An
        # always-on driver runs a few hundred (seven queries, the refresh, the checks, Delta's log
        # replays), so it compiled the same sources again and again, and the JIT started over on
        # each copy (docs/BENCHMARKS-HISTORY.md, session 37).
        "spark.sql.codegen.cache.maxEntries": "2000",
        # Delta small files: the scheduled `optimize` job compacts them (and Z-orders). Optimized
        # writes would add a full shuffle to every write (docs/BENCHMARKS-HISTORY.md, session 7)
        # and still leave a file per micro-batch; auto-compaction after every micro-batch doubles
        # the commit time. Either can be switched on through `spark.conf`.
        "spark.databricks.delta.optimizeWrite.enabled": "false",
        "spark.databricks.delta.autoCompact.enabled": "false",
        # Log replay (snapshots, txnAppId checks, the file listing of every Delta scan) runs
        # Spark jobs with this many tasks; for small logs on a small machine Delta's default
        # of 50 is mostly task overhead on every commit.
        "spark.databricks.delta.snapshotPartitions": str(max(1, cfg.spark.delta_snapshot_partitions)),
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Columns (nearly) unique per row (raw records, origins, ids, offsets, event times to the
        # millisecond) never fit a Parquet dictionary: the writer builds one for each row group
        # and then falls back to plain. Skipping the attempt saves CPU on every write
        # (docs/BENCHMARKS-HISTORY.md, session 14); the files come out the same size.
        **{f"spark.hadoop.parquet.enable.dictionary#{col}": "false" for col in NO_DICTIONARY_COLUMNS},
        # Nor would min/max statistics of raw records and origins serve a query: nothing filters
        # on them, and comparing every value (and sizing it) costs CPU. Delta's own statistics
        # (the table property delta.dataSkippingStatsColumns) are not affected.
        **{f"spark.hadoop.parquet.column.statistics.enabled#{col}": "false" for col in NO_STATISTICS_COLUMNS},
        **{f"spark.hadoop.parquet.size.statistics.enabled#{col}": "false" for col in NO_STATISTICS_COLUMNS},
        # Timestamps as INT64 microseconds (the Parquet standard type) instead of Spark's legacy
        # INT96 default: INT96 values go through a fixed-length binary dictionary, copying every
        # new value. Spark, Delta and DuckDB read both, so older files stay readable.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # Kafka's SASL login (kafka.sasl.jaas.config, io/security.py) holds a password: Spark
        # redacts settings and data-source options whose names match these wherever it shows them
        # (plans, the UI, event logs; Spark's defaults plus "jaas"), and the password's text in a
        # plan's string, where a streaming source's options are printed whole.
        "spark.redaction.regex": "(?i)secret|password|token|access[.]?key|jaas",
        "spark.sql.redaction.options.regex": "(?i)url|jaas|password|secret",
        "spark.sql.redaction.string.regex": '(?i)password="[^"]*"',
    }
    if SCHEDULER_POOLS.is_file():  # not inside a zip: pools undefined would share the cores equally
        conf["spark.scheduler.mode"] = "FAIR"
        conf["spark.scheduler.allocation.file"] = str(SCHEDULER_POOLS)
    if cfg.spark.master:
        conf["spark.master"] = cfg.spark.master
    if cfg.spark.driver_memory:
        conf["spark.driver.memory"] = cfg.spark.driver_memory
    jars = local_jars(cfg.spark.jars_dir)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    conf.update(cfg.spark.conf)
    if LOG4J2_PROFILE.is_file():  # not inside a zip given to spark-submit, whose JVM is already running
        conf["spark.driver.extraJavaOptions"] = " ".join(filter(None, (
            f"-Dlog4j2.configurationFile={LOG4J2_PROFILE.as_uri()}", f"-Dadvertisex.log.level={cfg.spark.log_level}",
            conf.get("spark.driver.extraJavaOptions"))))
    return conf


def build_spark(app_name: str, cfg: Config, *, progress: bool = False) -> SparkSession:
    """Build (or get) the SparkSession for ``app_name`` with Delta, UTC and local jars.

    Args:
        app_name: shown in the Spark UI and logs.
        cfg: the loaded configuration; ``spark.*`` keys override the defaults.
        progress: Spark's stage progress bar on stderr (for a person at a terminal).

    Returns:
        The active session.

    Raises:
        MissingJarsError: the local jar folder is configured but empty.
    """
    from pyspark.sql import SparkSession

    conf = spark_conf(app_name, cfg, progress=progress)
    if conf.get("spark.master", "local").startswith("local"):
        # A local run serves nobody else: its driver and UI listen on the loopback interface
        # only (Spark binds its UI to SPARK_LOCAL_IP, else to every interface). Read by the JVM
        # this process starts; under spark-submit, which starts the JVM first, set it there.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.spark.log_level)
    return spark


def maven_coordinates(pom: Path | None = None) -> list[str]:
    """``group:artifact:version`` of the Spark packages in ``deps/spark/pom.xml``.

    These are what ``spark-submit --packages`` needs on a cluster instead of local jars.
    """
    pom = pom or project_root() / "deps" / "spark" / "pom.xml"
    if not pom.is_file():
        raise AdvertisexError(f"cannot list packages: {pom} not found (run from a source checkout)")
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    props = {el.tag.split("}")[1]: (el.text or "") for el in root.find("m:properties", ns)}

    def expand(text: str) -> str:
        for key, value in props.items():
            text = text.replace("${" + key + "}", value)
        return text

    coords = []
    for dep in root.findall("m:dependencies/m:dependency", ns):
        parts = [expand(dep.findtext(f"m:{t}", default="", namespaces=ns)) for t in ("groupId", "artifactId", "version")]
        coords.append(":".join(parts))
    return coords
