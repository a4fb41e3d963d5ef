"""What the command line says: job lines, figures counted once, JSON results, verbosity."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from advertisex import cli, console
from advertisex.errors import BatchInterruptedError


def test_figures_sum_what_every_stream_of_a_job_committed():
    silver = {"impressions": {"batches": 2, "rows_written": 10}, "click_events": {"batches": 1, "rows_written": 3},
              "bid_requests": "no bronze table yet", "attribution": {"click_dates": 4}, "seconds": 2.5}
    assert console.figures(silver) == {"records": 0, "quarantined": 0, "rows_written": 13}
    assert console.figures({"records": 7, "quarantined": 2, "rows_written": 9}) == {
        "records": 7, "quarantined": 2, "rows_written": 9}


def test_job_lines_say_what_a_job_committed_or_its_first_figures():
    ingest = {"batches": 1, "records": 87520, "quarantined": 520, "rows_written": 88040, "seconds": 42.81}
    assert console.job_line("ingest_clicks", ingest) == (
        "ingest_clicks          done   42.8 s, 87,520 records in, 520 quarantined, 88,040 rows written")
    assert console.job_line("gold", {"campaign_dates": 3, "bid_dates": 2, "withheld": {}, "seconds": 5.0}) == (
        "gold                   done   5.0 s, campaign_dates 3, bid_dates 2")
    assert console.job_line("ingest_bids", {"skipped": "kafka.enabled=false"}) == (
        "ingest_bids            skipped (kafka.enabled=false)")


def test_job_lines_are_silent_when_quiet(capsys):
    console.JobLines(console.QUIET)("gold", None)
    assert capsys.readouterr().err == ""
    console.JobLines(console.NORMAL)("gold", None)
    assert capsys.readouterr().err.rstrip().endswith("gold                   started")


def test_a_failure_with_output_json_is_a_json_document_naming_it(capsys):
    assert cli.main(["config", "show", "--set", "no_such.key=1", "--output", "json"]) == 2
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert (doc["status"], doc["exit_code"], doc["jobs"]) == ("failed", 2, {})
    assert doc["command"] == "advertisex config show --set no_such.key=1 --output json"
    assert doc["error"].startswith("config error: ") and "no_such" in doc["error"]
    assert out.err.strip().splitlines() == [f"advertisex: {doc['error']}"]


@pytest.mark.parametrize(("flags", "level"), [([], "ERROR"), (["--verbose"], "WARN"), (["--quiet"], "ERROR"),
                                              (["--verbose", "--set", "spark.log_level=INFO"], "INFO")])
def test_verbosity_sets_the_jvm_console_level_unless_a_set_says_otherwise(capsys, flags, level):
    assert cli.main(["config", "show", *flags]) == 0
    assert f"log_level: {level}" in capsys.readouterr().out


def test_py4j_keeps_its_traceback_of_a_batch_to_itself_only_for_an_interrupted_one():
    def record(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:  # noqa: BLE001 - a record as py4j's logger.exception makes it
            return logging.LogRecord("py4j.clientserver", logging.ERROR, __file__, 1,
                                     "There was an exception while executing the Python Proxy", (), sys.exc_info())

    console.configure_logging(console.NORMAL)
    py4j = logging.getLogger("py4j.clientserver")
    assert not py4j.filter(record(BatchInterruptedError("interrupted")))
    assert py4j.filter(record(RuntimeError("a batch that failed")))
