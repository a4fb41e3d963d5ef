"""For analysts: the lake's tables by name in a Spark session, and what a notebook needs around them.

    from advertisex.notebook import open_lake, plot
    lake = open_lake()                          # conf/local.yaml; open_lake(config="conf/x.yaml")
    print(lake.status())                        # which tables there are, or how to get some
    daily = lake.table("gold.campaign_daily")   # a DataFrame, also on a lake without that table yet
    lake.spark.sql("SELECT * FROM gold.campaign_daily WHERE campaign_id = 'cmp-0003'").show()

The configuration is read as everywhere else (conf/base.yaml, the overlay, ``ADVERTISEX__*``
environment variables), so ``ADVERTISEX__LAKE__ROOT=/data/lake jupyter lab`` opens another lake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advertisex import tables
from advertisex.catalog import CATALOG_TABLES, register_tables
from advertisex.config import Config, load_config
from advertisex.session import build_spark

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

BY_SQL_NAME: dict[str, tables.Table] = {t.sql_name: t for t in CATALOG_TABLES}

NO_TABLES = ("The lake at {root} holds no tables yet: run `make demo` (or the pipeline, `advertisex pipeline "
             "--once`) and run this notebook again. Until then the cells below run and show nothing.")
NOTHING_TO_DRAW = "Nothing to draw: no rows (on a lake without tables yet, see its status at the top)."


@dataclass(frozen=True)
class Lake:
    """A session on one lake, with the names of the tables it holds (registered in Spark SQL)."""

    spark: SparkSession
    cfg: Config
    names: tuple[str, ...]

    def status(self) -> str:
        """One line: the tables the lake holds, or that it holds none yet and what to do about it."""
        if not self.names:
            return NO_TABLES.format(root=self.cfg.lake.root)
        return f"The lake at {self.cfg.lake.root} holds {len(self.names)} tables: {', '.join(self.names)}."

    def table(self, name: str) -> DataFrame:
        """The table ``name`` (``gold.campaign_daily``); while it does not exist yet, no rows in its
        declared shape, so that a notebook's cells run on a fresh lake and show nothing.

        Raises:
            KeyError: ``name`` is no lake table.
        """
        if name not in BY_SQL_NAME:
            raise KeyError(f"no lake table {name!r}; the tables: {', '.join(BY_SQL_NAME)}")
        return self.spark.table(name) if name in self.names else BY_SQL_NAME[name].empty(self.spark)


def open_lake(config: str | None = None, overrides: Sequence[str] = ()) -> Lake:
    """A Spark session on the lake of ``config`` (+ ``--set``-style ``overrides``) with every table it
    holds registered by name."""
    cfg = load_config(config, overrides)
    spark = build_spark("advertisex-notebook", cfg)
    return Lake(spark, cfg, tuple(register_tables(spark, cfg)))


def session(config: str | None = None, overrides: Sequence[str] = ()) -> SparkSession:
    """A Spark session on the lake of ``config`` (+ ``--set``-style ``overrides``) with names registered."""
    return open_lake(config, overrides).spark


def plot(data: pd.DataFrame, chart: Callable[..., Any], *args: Any) -> None:
    """Show ``chart(data, *args)`` (a function of :mod:`advertisex.charts`), or say there is nothing to
    draw yet when ``data`` has no rows."""
    if data.empty:
        print(NOTHING_TO_DRAW)
    else:
        chart(data, *args).show()
