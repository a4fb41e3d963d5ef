"""Every lake table by name in Spark SQL: ``bronze.*``, ``silver.*``, ``gold.*`` and ``quarantine``.

Tables are external Delta tables over their paths under ``lake.root`` (docs/CONTRACT.md §2), so
registering is cheap and idempotent, and the names work in any session that registers
them: the pipeline does at the end of a run, and analysts get a session with every name
from :func:`advertisex.notebook.session`. The session catalog is in memory on purpose: an
embedded Hive metastore (Derby) would allow one process at a time, and the pipeline and
a notebook must be able to run side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from advertisex import tables
from advertisex.config import Config
from advertisex.io.delta import is_delta

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CATALOG_TABLES = tuple(t for t in tables.TABLES if t.catalog)


def _registered_location(spark: SparkSession, name: str) -> str:
    """The location the session catalog holds for ``name`` (``db.table`` or ``table``), read from
    the catalog itself: ``DESCRIBE DETAIL`` would also load the Delta log."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the catalog's table metadata has no Python API
    db, _, table = name.rpartition(".")
    ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(
        table, jvm.scala.Some(db) if db else jvm.scala.Option.empty()
    )
    location = spark._jsparkSession.sessionState().catalog().getTableMetadata(ident).location()  # noqa: SLF001
    return str(jvm.org.apache.hadoop.fs.Path(location).toString())  # unescaped, as the paths in the config


def register_tables(spark: SparkSession, cfg: Config) -> list[str]:
    """Create the databases and an external table for every lake table that exists.

    Returns:
        The names registered (``gold.campaign_daily``, ...).
    """
    names = []
    for table in CATALOG_TABLES:
        path = cfg.table_path(table)
        if not is_delta(spark, path):
            continue
        name = table.sql_name
        if "." in name:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS {name.split('.')[0]}")
        location = path.replace("'", "\\'")
        if spark.catalog.tableExists(name):
            current = _registered_location(spark, name)
            if current.removeprefix("file:") == path.removeprefix("file:"):
                names.append(name)
                continue
            # Another lake's table under this name (e.g. a second config in one session):
            # dropping an external table removes only the name, never the data.
            spark.sql(f"DROP TABLE {name}")
        spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{location}'")
        names.append(name)
    return names
