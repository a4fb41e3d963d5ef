"""Checkpoint names: one transaction id per query and generation, and back."""

from __future__ import annotations

from advertisex.io.checkpoints import query_of, txn_app_id


def test_txn_app_id_and_query_of_round_trip(lake_cfg) -> None:
    app_id = txn_app_id(lake_cfg, "ingest_clicks", "files")
    assert app_id == f"{lake_cfg.streaming.txn_app_id}.ingest_clicks.files"
    assert query_of(app_id) == ("ingest_clicks", "files")
    assert query_of("with.dots.in.prefix.silver.impressions") == ("silver", "impressions")


def test_a_reset_generation_is_a_new_txn_app_id_of_the_same_query(lake_cfg) -> None:
    again = txn_app_id(lake_cfg, "ingest_clicks", "files", 2)
    assert again == f"{lake_cfg.streaming.txn_app_id}-reset2.ingest_clicks.files"
    assert query_of(again) == ("ingest_clicks", "files")
