"""The reference job on real Delta tables: SCD-2 refresh, and untouched files skipped by fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

from advertisex.pipelines import reference
from advertisex.tables import DIM_CAMPAIGNS, DIM_USERS

CAMPAIGNS_HEADER = "campaign_id,advertiser_id,campaign_name,channel,daily_budget_micros,start_date,end_date\n"
USERS_HEADER = "user_id,age_band,gender,country,signup_date,segment\n"


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def _version(spark, cfg, table: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_path(table)}` LIMIT 1").first().version


def _current(spark, cfg, table: str, key: str) -> list[tuple]:
    df = spark.read.format("delta").load(cfg.table_path(table)).where("valid_to IS NULL")
    return sorted((r[key], r.asDict()) for r in df.collect())


def test_reference_refresh_skips_untouched_files_and_keeps_history(spark, lake_cfg):
    cfg = lake_cfg
    _write(cfg.reference.campaigns, CAMPAIGNS_HEADER + "cmp-1,adv-1,Alpha,search,100,2026-11-01,\n")
    _write(cfg.reference.users, USERS_HEADER + "U-001,25-34,f,gb,2025-01-02,sports\n")

    assert reference.run(spark, cfg) == {"dim_campaigns": "created", "dim_users": "created"}
    versions = (_version(spark, cfg, DIM_CAMPAIGNS), _version(spark, cfg, DIM_USERS))

    # Untouched files: nothing read, nothing committed.
    assert reference.run(spark, cfg) == {"dim_campaigns": "unchanged", "dim_users": "unchanged"}
    assert (_version(spark, cfg, DIM_CAMPAIGNS), _version(spark, cfg, DIM_USERS)) == versions
    # Proof that an untouched file is not read: bytes swapped behind the file system's back
    # (same size, same modification time) go unnoticed.
    before = os.stat(cfg.reference.campaigns)
    _write(cfg.reference.campaigns, CAMPAIGNS_HEADER + "cmp-1,adv-1,Alphb,search,100,2026-11-01,\n")
    os.utime(cfg.reference.campaigns, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert reference.run(spark, cfg)["dim_campaigns"] == "unchanged"
    assert _version(spark, cfg, DIM_CAMPAIGNS) == versions[0]

    # Touched but identical (same bytes, new modification time): content unchanged, and the
    # new fingerprint is recorded so the next run skips again.
    users_before = _current(spark, cfg, DIM_USERS, "user_id")
    st = os.stat(cfg.reference.users)
    os.utime(cfg.reference.users, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert reference.run(spark, cfg)["dim_users"] == "unchanged"
    assert _current(spark, cfg, DIM_USERS, "user_id") == users_before
    touched = _version(spark, cfg, DIM_USERS)
    assert reference.run(spark, cfg)["dim_users"] == "unchanged"
    assert _version(spark, cfg, DIM_USERS) == touched

    # A changed campaign (a new file of another size): the old version is closed, the new
    # one is current.
    _write(cfg.reference.campaigns, CAMPAIGNS_HEADER + "cmp-1,adv-1,Alpha v2,search,100,2026-11-01,\n")
    assert reference.run(spark, cfg)["dim_campaigns"] == "updated"
    rows = spark.read.format("delta").load(cfg.table_path(DIM_CAMPAIGNS)).orderBy("valid_from").collect()
    assert [(r.campaign_name, r.valid_to is None) for r in rows] == [("Alpha", False), ("Alpha v2", True)]
    assert rows[0].valid_to == rows[1].valid_from
    assert reference.run(spark, cfg)["dim_campaigns"] == "unchanged"
