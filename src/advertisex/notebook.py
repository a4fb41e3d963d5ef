"""For analysts: one call gives a session with every lake table registered by name.

    from advertisex.notebook import session
    spark = session()                      # conf/local.yaml; or session(config="conf/x.yaml")
    spark.sql("SELECT * FROM gold.campaign_daily WHERE campaign_id = 'cmp-0003'").show()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from advertisex.catalog import register_tables
from advertisex.config import load_config
from advertisex.session import build_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def session(config: str | None = None, overrides: Sequence[str] = ()) -> SparkSession:
    """A Spark session on the lake of ``config`` (+ ``--set``-style ``overrides``) with names registered."""
    cfg = load_config(config, overrides)
    spark = build_spark("advertisex-notebook", cfg)
    register_tables(spark, cfg)
    return spark
