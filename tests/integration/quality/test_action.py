"""A failed expectation reaches a webhook through the real Alertmanager, with the contract's
labels and a summary saying what was expected and what was seen (docs/CONTRACT.md §5)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from advertisex import tables
from advertisex.quality import checks as K
from advertisex.quality.profile import profile
from advertisex.quality.validation import new_run_id, validate
from support_quality import CAMPAIGNS, bad, frame

pytestmark = pytest.mark.stack


def test_a_quality_failure_reaches_the_webhook_through_alertmanager(spark, mon_cfg, webhook, tmp_path):
    cfg = mon_cfg.model_copy(update={
        "lake": mon_cfg.lake.model_copy(update={"root": str(tmp_path / "lake")}),
        "quality": mon_cfg.quality.model_copy(update={"data_docs_dir": str(tmp_path / "docs"),
                                                      "validations_dir": str(tmp_path / "validations")}),
    })
    suite = K.suite_of(tables.SILVER_IMPRESSIONS)
    check = next(c for c in suite.checks if c.name == "user_id_not_null")
    day = dt.date(2026, 11, 20)
    prof = profile(frame(spark, suite, bad(suite, check, day)), suite, {day}, known_campaigns=CAMPAIGNS)
    rows = validate(spark, cfg, prof, run_id=new_run_id("test"))
    assert [r["expectation"] for r in rows if not r["success"]] == ["user_id_not_null"]

    deadline = time.monotonic() + 60
    while not webhook.notifications_for("user_id_not_null") and time.monotonic() < deadline:
        time.sleep(0.5)
    notices = webhook.notifications_for("user_id_not_null")
    assert len(notices) == 1, webhook.received
    alert = notices[0]["alerts"][0]
    assert alert["status"] == "firing"
    assert alert["labels"] == {"alertname": "user_id_not_null", "severity": "critical",
                               "table": "silver/impressions", "event_date": "2026-11-20"}
    assert alert["annotations"]["summary"] == (
        "silver/impressions 2026-11-20: expected user_id is never null (= 0); seen 1 of 20 rows")
