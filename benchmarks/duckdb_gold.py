r"""Single-machine reference for ``gold/campaign_daily``, in DuckDB SQL, from the landing files.

Reads the impression JSON Lines files (``*.jsonl``, ``*.json``, ``.gz`` variants), the
click/conversion CSV files (``*.csv``, ``*.csv.gz``) and the campaigns reference CSV, and
computes ``gold/campaign_daily`` (docs/CONTRACT.md §3, columns of
``tables.GOLD_CAMPAIGN_DAILY.columns``) with no Spark and no Kafka: parsing and
malformed-record rejection (§1.6), normalisation (§1.5), de-duplication (first valid
occurrence in path/line order wins), click and conversion attribution and the daily
aggregation are all DuckDB SQL. Python only lists the files, checks the CSV headers, reads
the (small) campaigns file, and compares the result with a truth folder.

    .venv/bin/python benchmarks/duckdb_gold.py --impressions DIR --clicks DIR \
        --campaigns FILE --now 2026-11-23T01:00:00Z [--check TRUTH_DIR] [--threads N]

With ``--check`` (a folder written by ``advertisex generate``, e.g.
``<out>/truth_files_only``) the result is compared with ``campaign_daily.json`` row by row
(exact: ints, strings, nulls and floats); any difference → exit code 1. ``--now`` defaults
to the truth's ``params.json`` then. The quarantine counts are compared too (reported, not
fatal).

Deliberate mirrors of the truth (``advertisex.generate.truth``) on points the contract
does not pin: ids (``impression_id``, ``event_id``, ``campaign_id``) are used as received
(not trimmed); "strip" removes the contract's white space (Java's ``\s``); the ISO pattern is
``YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|±HH:MM]`` (fraction truncated to ms); a JSON number
event_time must be an integer; CSV fields are read with RFC 4180 quoting.
Known differences from the truth, none of which the generator produces: a JSON object with
a repeated key uses the first value here (Python's ``json`` the last); a file that cannot be
read fails the run here (the truth counts it as ``bad_file``); bytes that are not UTF-8 too; a lone surrogate escape (``"\ud800"``) is bad JSON here; a CSV field with text
after its closing quote is a bad row here (Python's csv module glues it on); the truth's
``\d`` also takes non-ASCII digits in event_time.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from advertisex import contract as C
from advertisex import tables

DAY_MS = 86_400_000
# The contract's white space (contract.WHITESPACE, Java's \s), as an RE2 class.
WS = r"[\t\n\x{0b}\x{0c}\r ]"
# The truth's ISO-8601 pattern (Python's "$" also matches before one final "\n").
ISO_RE = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
          r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?\n?$")
# A comma right before "}" or "]" outside strings: valid for DuckDB's parser, not for JSON.
TRAILING_COMMA_RE = r'^(?:[^"]|"(?:[^"\\]|\\.)*")*,[ \t\r\n]*[\]}]'
# NaN / Infinity outside strings: accepted by DuckDB's parser, not JSON (RFC 8259).
NON_NUMBER_RE = r'^(?:[^"]|"(?:[^"\\]|\\.)*")*[:,\[][ \t\r\n]*-?(?:NaN|Infinity)'
# The same characters spelled out (fast pre-checks before the regular expression).
WS_CHARS = C.WHITESPACE
# conversion_value in plain notation that decimal(18,6) holds exactly (leading/trailing zeros aside).
_INT_DIGITS = C.CONVERSION_VALUE_PRECISION - C.CONVERSION_VALUE_SCALE
VALUE_RE = (rf"[+-]?0*([0-9]{{1,{_INT_DIGITS}}}(\.[0-9]{{0,{C.CONVERSION_VALUE_SCALE}}}0*)?"
            rf"|\.[0-9]{{1,{C.CONVERSION_VALUE_SCALE}}}0*)")
IMP_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
CLICK_SUFFIXES = (".csv", ".csv.gz")


def q(s: str) -> str:
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def pystrip(x: str) -> str:
    """SQL: the contract's strip (its white space) of a VARCHAR expression."""
    return f"regexp_replace({x}, {q('^' + WS + '+|' + WS + '+$')}, '', 'g')"


def iso_ms(v: str) -> str:
    """SQL: epoch ms (BIGINT) of an ISO-8601 VARCHAR ``v`` in the truth's pattern, or NULL.

    The shape is checked by ``ISO_RE``; date and time of day by a TIMESTAMP cast of the
    first 19 characters plus explicit range checks (DuckDB's cast takes 24:00:00 and year
    0); the fraction is truncated to ms and the offset applied by hand.
    """
    return f"""(CASE WHEN regexp_full_match({v}, {q(ISO_RE)})
            AND substr({v}, 12, 2) <= '23' AND substr({v}, 15, 2) <= '59'
            AND substr({v}, 18, 2) <= '59' AND left({v}, 4) <> '0000'
        THEN epoch_ms(TRY_CAST(left({v}, 19) AS TIMESTAMP))
             + CASE WHEN substr({v}, 20, 1) = '.'
                    THEN CAST(rpad(regexp_extract(substr({v}, 21, 3), '^[0-9]*'), 3, '0') AS BIGINT)
                    ELSE 0 END
             - CASE WHEN substr(rtrim({v}, chr(10)), -6, 1) IN ('+', '-')
                    THEN (CASE WHEN substr(rtrim({v}, chr(10)), -6, 1) = '+' THEN 60000 ELSE -60000 END)
                         * (CAST(substr(rtrim({v}, chr(10)), -5, 2) AS BIGINT) * 60
                            + CAST(substr(rtrim({v}, chr(10)), -2, 2) AS BIGINT))
                    ELSE 0 END END)"""


def fast_strip(x: str) -> str:
    """SQL: ``pystrip`` with a fast path for text that neither starts nor ends with white space."""
    return (f"(CASE WHEN contains({q(WS_CHARS)}, left({x}, 1)) OR contains({q(WS_CHARS)}, right({x}, 1)) "
            f"THEN {pystrip(x)} ELSE {x} END)")


def is_blank(x: str) -> str:
    """SQL: ``x`` is empty or only the contract's white space, for a VARCHAR ``x``."""
    return f"({x} = '' OR (contains({q(WS_CHARS)}, left({x}, 1)) AND regexp_full_match({x}, {q(WS + '*')})))"


# --------------------------------------------------------------------------- files


def list_files(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    """Data files under ``folder`` (recursive; hidden / ``_`` names skipped), sorted by path."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        out += [os.path.join(root, f) for f in files
                if f.endswith(suffixes) and not f.startswith((".", "_"))]
    return sorted(out)


def _open_text(path: str) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def classify_click_files(files: list[str]) -> tuple[list[str], list[str]]:
    """(files whose header is §1.2's, files with another header); empty files in neither."""
    good, bad = [], []
    for path in files:
        with _open_text(path) as fh:
            header = next(csv.reader(fh), None)
        if header is None:
            continue
        (good if header == list(C.CLICK_CSV_COLUMNS) else bad).append(path)
    return good, bad


def count_csv_records(path: str) -> int:
    """Records after the header (Python csv; only for files with a bad header)."""
    with _open_text(path) as fh:
        rows = csv.reader(fh)
        next(rows, None)
        n = 0
        while True:
            try:
                next(rows)
            except StopIteration:
                return n
            except csv.Error:
                pass
            n += 1


def read_campaigns(path: str) -> list[tuple[str, str | None, str | None]]:
    """(campaign_id, advertiser_id, campaign_name); the last row of an id wins; empty → None."""
    with _open_text(path) as fh:
        rows = {r["campaign_id"]: (r.get("advertiser_id") or None, r.get("campaign_name") or None)
                for r in csv.DictReader(fh) if r.get("campaign_id") is not None}
    return [(k, a, n) for k, (a, n) in rows.items()]


def parse_now(text: str) -> int:
    """``--now``: ISO-8601 (no zone = UTC) or epoch millis → epoch millis."""
    if text.strip().isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


# --------------------------------------------------------------------------- SQL


def load(con: duckdb.DuckDBPyConnection, imp_files: list[str], click_files: list[str],
         campaigns: list[tuple[str, str | None, str | None]]) -> None:
    """Raw lines / CSV records into temp tables (``n`` = global position in path/line order)."""
    if imp_files:
        # One VARCHAR per line: delimiter \x01 (never valid inside JSON); a second column
        # catches lines that hold one (they are bad JSON). WITH ORDINALITY numbers the lines
        # in file-list order.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE imp_lines AS
            SELECT ordinality AS n, line, rest
            FROM read_csv({imp_files}, columns={{'line': 'VARCHAR', 'rest': 'VARCHAR'}},
                          delim=chr(1), quote='', escape='', header=false, auto_detect=false,
                          null_padding=true, strict_mode=false, new_line='\\n',
                          max_line_size=100000000, compression='auto')
                 WITH ORDINALITY""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE imp_lines (n BIGINT, line VARCHAR, rest VARCHAR)")
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in C.CLICK_CSV_COLUMNS) + "}"
    if click_files:
        # RFC 4180; empty fields stay '' (nullstr never matches); rows with a wrong column
        # count or broken quoting go to reject_errors (counted as bad_csv), not lost.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE click_rows AS
            SELECT ordinality AS n, *
            FROM read_csv({click_files}, columns={cols}, header=true, auto_detect=false,
                          delim=',', quote='"', escape='"', nullstr=chr(1) || 'NULL' || chr(2),
                          strict_mode=true, ignore_errors=true, store_rejects=true,
                          rejects_table='click_rejects', rejects_scan='click_reject_scans',
                          max_line_size=100000000, compression='auto')
                 WITH ORDINALITY""")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE click_rows (n BIGINT, "
                    f"{', '.join(c + ' VARCHAR' for c in C.CLICK_CSV_COLUMNS)})")
        con.execute("CREATE OR REPLACE TEMP TABLE click_rejects (file_id BIGINT, line BIGINT)")
    con.execute("CREATE OR REPLACE TEMP TABLE campaigns "
                "(campaign_id VARCHAR, advertiser_id VARCHAR, campaign_name VARCHAR)")
    if campaigns:
        con.executemany("INSERT INTO campaigns VALUES (?, ?, ?)", campaigns)


def _str_value(j: str) -> str:
    """SQL: the value of the JSON string whose text is the VARCHAR ``j``; NULL for other types."""
    return (f"(CASE WHEN left({j}, 1) = '\"' THEN "
            f"(CASE WHEN contains({j}, '\\') THEN json_extract_string({j}, '$') "
            f"ELSE substr({j}, 2, length({j}) - 2) END) END)")


def compute(con: duckdb.DuckDBPyConnection, now_ms: int, click_minutes: int, conversion_days: int,
            view_hours: int) -> None:
    """Parse, validate, de-duplicate, attribute, aggregate → temp table ``campaign_daily``."""
    future = now_ms + C.FUTURE_TOLERANCE_HOURS * 3_600_000
    fields = list(C.IMPRESSION_FIELDS)
    paths = "[" + ", ".join(q("$." + f) for f in fields) + "]"
    jv = {f: f"j_{f}" for f in fields}          # the field's JSON text (VARCHAR), NULL if absent

    def is_str(f: str) -> str:
        return f"left({jv[f]}, 1) = '\"'"

    def absent(f: str) -> str:
        return f"({jv[f]} IS NULL OR {jv[f]} = 'null')"

    def blank_str(f: str) -> str:
        # a JSON string whose value is only white space (Python: not v.strip())
        return (f"({jv[f]} = '\"\"' OR ({is_str(f)} AND contains({q(WS_CHARS + chr(92))}, substr({jv[f]}, 2, 1))"
                f" AND regexp_full_match(json_extract_string({jv[f]}, '$'), {q(WS + '*')})))")

    missing = " OR ".join(f"{absent(f)} OR {blank_str(f)}" for f in C.IMPRESSION_REQUIRED)
    int_re = "'-?[0-9]+'"
    type_checks = []
    for f, (typ, _) in C.IMPRESSION_FIELDS.items():
        bad = (f"NOT {is_str(f)}" if typ == "string" else
               f"(CASE WHEN {is_str(f)} THEN false ELSE NOT regexp_full_match({jv[f]}, {int_re}) END)"
               if typ == "string|number" else
               f"(NOT regexp_full_match({jv[f]}, {int_re}) OR TRY_CAST({jv[f]} AS BIGINT) IS NULL)")
        type_checks.append(f"(NOT {absent(f)} AND {bad})")
    bad_type = " OR ".join(type_checks)

    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE imp_parsed AS
        WITH j AS (
            SELECT n, CASE WHEN rest IS NULL AND line IS NOT NULL AND json_valid(line)
                            AND starts_with(ltrim(line, ' ' || chr(9) || chr(10) || chr(13)), '{{')
                            AND NOT (regexp_matches(line, ',[ \\t\\r\\n]*[\\]}}]')
                                     AND regexp_matches(line, {q(TRAILING_COMMA_RE)}))
                            AND NOT ((contains(line, 'NaN') OR contains(line, 'Infinity'))
                                     AND regexp_matches(line, {q(NON_NUMBER_RE)}))
                      THEN json_extract(line, {paths}) END AS v
            FROM imp_lines
        ), f AS (
            SELECT n, v IS NULL AS bad_json,
                   {", ".join(f"CAST(v[{i + 1}] AS VARCHAR) AS {jv[f]}" for i, f in enumerate(fields))}
            FROM j
        ), s AS (
            SELECT *, {_str_value('j_event_time')} AS s_event_time,
                   TRY_CAST(j_cost_micros AS HUGEINT) AS cost
            FROM f
        ), t AS (
            SELECT *,
                   CASE WHEN s_event_time IS NOT NULL THEN {iso_ms('s_event_time')}
                        WHEN regexp_full_match(j_event_time, '0*[0-9]{{1,15}}')
                             AND CAST(j_event_time AS BIGINT) <= {C.MAX_EPOCH_MILLIS}
                        THEN CAST(j_event_time AS BIGINT) END AS t_ms
            FROM s
        )
        SELECT n,
               CASE WHEN bad_json THEN '{C.REASON_BAD_JSON}'
                    WHEN {missing} THEN '{C.REASON_MISSING_FIELD}'
                    WHEN {bad_type} THEN '{C.REASON_BAD_TYPE}'
                    WHEN t_ms IS NULL THEN '{C.REASON_BAD_EVENT_TIME}'
                    WHEN t_ms > {future} THEN '{C.REASON_FUTURE_EVENT_TIME}'
                    WHEN cost < 0 THEN '{C.REASON_NEGATIVE_COST}'
                    WHEN cost > {C.MAX_COST_MICROS} THEN '{C.REASON_COST_OUT_OF_RANGE}'
               END AS reason,
               {_str_value('j_impression_id')} AS impression_id, t_ms,
               lower({fast_strip(_str_value('j_user_id'))}) AS user_id,
               {_str_value('j_campaign_id')} AS campaign_id, coalesce(cost, 0) AS cost_micros
        FROM t""")
    # first valid occurrence (path, line order) of each impression_id
    con.execute("""
        CREATE OR REPLACE TEMP TABLE imp AS
        SELECT impression_id, t_ms AS t, user_id, campaign_id, cost_micros,
               CAST(epoch_ms(t_ms) AS DATE) AS event_date
        FROM imp_parsed WHERE reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY impression_id ORDER BY n) = 1""")

    f = {c: f"coalesce({c}, '')" for c in C.CLICK_CSV_COLUMNS}
    required = " OR ".join(is_blank(f[c])
                           for c in ("event_id", "event_type", "event_time", "user_id", "campaign_id"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE click_parsed AS
        WITH a AS (
            SELECT n, {f['event_id']} AS event_id, lower({fast_strip(f['event_type'])}) AS etype,
                   {fast_strip(f['event_time'])} AS tv, lower({fast_strip(f['user_id'])}) AS user_id,
                   {f['campaign_id']} AS campaign_id, {is_blank(f['ad_creative_id'])} AS no_creative,
                   {f['impression_id']} AS impression_id, {fast_strip(f['conversion_value'])} AS cvs,
                   ({required}) AS missing
            FROM click_rows
        ), b AS (
            SELECT *,
                   CASE WHEN regexp_full_match(tv, '[0-9]+')
                        THEN (CASE WHEN regexp_full_match(tv, '0*[0-9]{{1,15}}')
                                    AND CAST(tv AS BIGINT) <= {C.MAX_EPOCH_MILLIS} THEN CAST(tv AS BIGINT) END)
                        ELSE {iso_ms('tv')} END AS t_ms,
                   CASE WHEN cvs = '' THEN CAST(0 AS DECIMAL(38, 10))
                        WHEN regexp_full_match(cvs, {q(VALUE_RE)}) THEN TRY_CAST(cvs AS DECIMAL(38, 10))
                        END AS value
            FROM a
        )
        SELECT n, event_id, etype, t_ms, user_id, campaign_id, impression_id, value,
               CASE WHEN missing THEN '{C.REASON_MISSING_FIELD}'
                    WHEN etype NOT IN ('{C.EVENT_TYPE_CLICK}', '{C.EVENT_TYPE_CONVERSION}')
                        THEN '{C.REASON_UNKNOWN_EVENT_TYPE}'
                    WHEN etype = '{C.EVENT_TYPE_CLICK}' AND no_creative THEN '{C.REASON_MISSING_FIELD}'
                    WHEN t_ms IS NULL THEN '{C.REASON_BAD_EVENT_TIME}'
                    WHEN t_ms > {future} THEN '{C.REASON_FUTURE_EVENT_TIME}'
                    WHEN value IS NULL THEN '{C.REASON_BAD_VALUE}'
                    WHEN value < 0 THEN '{C.REASON_NEGATIVE_VALUE}'
               END AS reason
        FROM b""")
    # first valid occurrence (path, row order) of each event_id; its type decides
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ev AS
        SELECT event_id, etype, t_ms AS t, user_id, campaign_id, impression_id, value,
               CAST(epoch_ms(t_ms) AS DATE) AS event_date
        FROM click_parsed WHERE reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY n) = 1""")

    click_ms, conv_ms, view_ms = click_minutes * 60_000, conversion_days * DAY_MS, view_hours * 3_600_000
    # Click attribution: the named impression if it exists, else the latest impression of
    # the same user+campaign at or before the click (ASOF) if it is within the window.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE clicks AS
        SELECT c.event_id, c.t, c.user_id, c.campaign_id, c.event_date,
               (named.impression_id IS NOT NULL OR (a.t IS NOT NULL AND a.t >= c.t - {click_ms}))
                   AS attributed
        FROM (SELECT * FROM ev WHERE etype = '{C.EVENT_TYPE_CLICK}') c
        LEFT JOIN (SELECT impression_id FROM imp) named
               ON c.impression_id <> '' AND named.impression_id = c.impression_id
        ASOF LEFT JOIN (SELECT user_id, campaign_id, t FROM imp) a
               ON a.user_id = c.user_id AND a.campaign_id = c.campaign_id AND c.t >= a.t""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE conversions AS
        SELECT v.event_id, v.event_date, v.campaign_id, v.value,
               (k.t IS NOT NULL AND k.t >= v.t - {conv_ms}) AS post_click,
               (i.t IS NOT NULL AND i.t >= v.t - {view_ms}) AS seen
        FROM (SELECT * FROM ev WHERE etype = '{C.EVENT_TYPE_CONVERSION}') v
        ASOF LEFT JOIN (SELECT user_id, campaign_id, t FROM clicks WHERE attributed) k
               ON k.user_id = v.user_id AND k.campaign_id = v.campaign_id AND v.t >= k.t
        ASOF LEFT JOIN (SELECT user_id, campaign_id, t FROM imp) i
               ON i.user_id = v.user_id AND i.campaign_id = v.campaign_id AND v.t >= i.t""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE campaign_daily AS
        WITH u AS (
            SELECT event_date, campaign_id, 1 AS imps, cost_micros AS spend, 0 AS clk, 0 AS unattr,
                   0 AS conv, 0 AS vt, CAST(0 AS DECIMAL(38, 10)) AS val FROM imp
            UNION ALL
            SELECT event_date, campaign_id, 0, 0, CAST(attributed AS INT), CAST(NOT attributed AS INT),
                   0, 0, 0 FROM clicks
            UNION ALL
            SELECT event_date, campaign_id, 0, 0, 0, 0, CAST(post_click AS INT),
                   CAST(NOT post_click AND seen AS INT), CASE WHEN post_click THEN value ELSE 0 END
            FROM conversions WHERE post_click OR seen
        ), g AS (
            SELECT event_date, campaign_id, sum(imps) AS impressions, sum(clk) AS clicks,
                   sum(unattr) AS unattributed_clicks, sum(conv) AS conversions,
                   sum(vt) AS view_through_conversions, sum(spend) AS spend_micros,
                   sum(val) AS conversion_value
            FROM u GROUP BY ALL
            HAVING sum(imps) + sum(clk) + sum(unattr) + sum(conv) + sum(vt) > 0
        )
        SELECT strftime(g.event_date, '%Y-%m-%d') AS event_date, g.campaign_id,
               r.advertiser_id, r.campaign_name,
               CAST(impressions AS BIGINT) AS impressions, CAST(clicks AS BIGINT) AS clicks,
               CAST(unattributed_clicks AS BIGINT) AS unattributed_clicks,
               CAST(conversions AS BIGINT) AS conversions,
               CAST(view_through_conversions AS BIGINT) AS view_through_conversions,
               spend_micros, conversion_value,
               CASE WHEN impressions > 0 THEN CAST(clicks AS DOUBLE) / impressions END AS ctr,
               CASE WHEN clicks > 0 THEN CAST(conversions AS DOUBLE) / clicks END AS cvr
        FROM g LEFT JOIN campaigns r ON r.campaign_id = g.campaign_id
        ORDER BY 1, 2""")


def fetch_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """``campaign_daily`` as JSON-like dicts (conversion_value as the float of the exact decimal)."""
    cols = list(tables.GOLD_CAMPAIGN_DAILY.columns)
    sel = ", ".join(f"CAST({c} AS VARCHAR)" if c == "conversion_value" else c for c in cols)
    rows = []
    for rec in con.execute(f"SELECT {sel} FROM campaign_daily ORDER BY event_date, campaign_id").fetchall():
        r = dict(zip(cols, rec, strict=True))
        r["spend_micros"] = int(r["spend_micros"])
        r["conversion_value"] = float(r["conversion_value"])
        rows.append(r)
    return rows


def stats(con: duckdb.DuckDBPyConnection, bad_header_rows: int) -> dict[str, Any]:
    """Counts comparable with the truth's counts.json / quarantine_counts.json."""
    out: dict[str, Any] = {}
    q_imp = dict(con.execute("SELECT reason, count(*) FROM imp_parsed WHERE reason IS NOT NULL "
                             "GROUP BY 1").fetchall())
    q_clk = dict(con.execute("SELECT reason, count(*) FROM click_parsed WHERE reason IS NOT NULL "
                             "GROUP BY 1").fetchall())
    bad_csv = con.execute("SELECT count(*) FROM (SELECT DISTINCT file_id, line FROM click_rejects)").fetchone()[0]
    if bad_csv:
        q_clk[C.REASON_BAD_CSV] = q_clk.get(C.REASON_BAD_CSV, 0) + bad_csv
    if bad_header_rows:
        q_clk[C.REASON_BAD_HEADER] = bad_header_rows
    n_imp = con.execute("SELECT count(*) FROM imp_lines").fetchone()[0]
    n_clk = con.execute("SELECT count(*) FROM click_rows").fetchone()[0] + bad_csv + bad_header_rows
    out["received"] = {C.SOURCE_IMPRESSIONS: n_imp, C.SOURCE_CLICK_EVENTS: n_clk}
    out["valid_distinct"] = {C.SOURCE_IMPRESSIONS: con.execute("SELECT count(*) FROM imp").fetchone()[0],
                             C.SOURCE_CLICK_EVENTS: con.execute("SELECT count(*) FROM ev").fetchone()[0]}
    out["quarantine"] = {C.SOURCE_IMPRESSIONS: dict(sorted(q_imp.items())),
                         C.SOURCE_CLICK_EVENTS: dict(sorted(q_clk.items()))}
    out["clicks"] = dict(con.execute("SELECT CASE WHEN attributed THEN 'attributed' ELSE 'unattributed' END, "
                                     "count(*) FROM clicks GROUP BY 1 ORDER BY 1").fetchall())
    out["conversions"] = dict(con.execute(
        "SELECT CASE WHEN post_click THEN 'post_click' WHEN seen THEN 'post_view' ELSE 'unattributed' END, "
        "count(*) FROM conversions GROUP BY 1 ORDER BY 1").fetchall())
    return out


# --------------------------------------------------------------------------- check


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
    return a == b


def check(rows: list[dict[str, Any]], truth_dir: Path, st: dict[str, Any]) -> int:
    """Compare with ``truth_dir/campaign_daily.json``; print differences; return their number."""
    truth = json.loads((truth_dir / "campaign_daily.json").read_text(encoding="utf-8"))
    cols = list(tables.GOLD_CAMPAIGN_DAILY.columns)
    mine = {(r["event_date"], r["campaign_id"]): r for r in rows}
    theirs = {(r["event_date"], r["campaign_id"]): r for r in truth}
    diffs: list[str] = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if a is None or b is None:
            diffs.append(f"{key}: {'missing here' if a is None else 'not in truth'}")
            continue
        for c in cols:
            if not _same(a[c], b.get(c)):
                diffs.append(f"{key} {c}: duckdb={a[c]!r} truth={b.get(c)!r}")
    if len(rows) != len(truth):
        diffs.append(f"row count: duckdb={len(rows)} truth={len(truth)}")
    for d in diffs[:30]:
        print("  DIFF", d)
    if len(diffs) > 30:
        print(f"  ... {len(diffs) - 30} more")
    print(f"check campaign_daily vs {truth_dir}: {len(truth)} truth rows, "
          f"{'EQUAL' if not diffs else f'{len(diffs)} DIFFERENCES'}")
    qpath = truth_dir / "quarantine_counts.json"
    if qpath.exists():
        tq = json.loads(qpath.read_text(encoding="utf-8"))
        for src in (C.SOURCE_IMPRESSIONS, C.SOURCE_CLICK_EVENTS):
            same = tq.get(src, {}) == st["quarantine"][src]
            print(f"check quarantine {src}: {'equal' if same else 'DIFFERENT'}"
                  + ("" if same else f" (truth {tq.get(src)})"))
    return len(diffs)


# --------------------------------------------------------------------------- main


def run(impressions: str, clicks: str, campaigns: str, now_ms: int, threads: int | None = None,
        click_minutes: int = 30, conversion_days: int = 7, view_hours: int = 24,
        memory_limit: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Compute campaign_daily; returns (rows, stats with timings)."""
    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {q(memory_limit)}")
    con.execute("SET preserve_insertion_order = true")
    imp_files = list_files(impressions, IMP_SUFFIXES)
    click_files = list_files(clicks, CLICK_SUFFIXES)
    good, bad = classify_click_files(click_files)
    bad_header_rows = sum(count_csv_records(p) for p in bad)
    load(con, imp_files, good, read_campaigns(campaigns))
    t1 = time.perf_counter()
    compute(con, now_ms, click_minutes, conversion_days, view_hours)
    rows = fetch_rows(con)
    t2 = time.perf_counter()
    st = stats(con, bad_header_rows)
    st.update(load_s=t1 - t0, compute_s=t2 - t1, cpu_s=time.process_time() - c0, files={"impressions": len(imp_files),
                                                         "clicks": len(click_files),
                                                         "clicks_bad_header": len(bad)})
    con.close()
    return rows, st


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impressions", required=True, help="folder of impression JSON Lines files")
    ap.add_argument("--clicks", required=True, help="folder of click/conversion CSV files")
    ap.add_argument("--campaigns", required=True, help="campaigns reference CSV")
    ap.add_argument("--now", help="processing time (ISO-8601 or epoch ms) for the future rule; "
                                  "default with --check: the truth's params.json")
    ap.add_argument("--check", metavar="TRUTH_DIR", help="compare with TRUTH_DIR/campaign_daily.json")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 4GB")
    ap.add_argument("--click-window-minutes", type=int, default=None)
    ap.add_argument("--conversion-window-days", type=int, default=None)
    ap.add_argument("--view-through-window-hours", type=int, default=None)
    ap.add_argument("--out", help="also write the result as JSON here")
    args = ap.parse_args(argv)

    params: dict[str, Any] = {}
    if args.check and (Path(args.check) / "params.json").exists():
        params = json.loads((Path(args.check) / "params.json").read_text(encoding="utf-8"))
    if args.now:
        now_ms = parse_now(args.now)
    elif "now_ms" in params:
        now_ms = int(params["now_ms"])
    else:
        ap.error("--now is required (or --check with a params.json)")
    win = params.get("windows", {})
    cm = args.click_window_minutes or win.get("click_window_minutes", 30)
    cd = args.conversion_window_days or win.get("conversion_window_days", 7)
    vh = args.view_through_window_hours or win.get("view_through_window_hours", 24)

    rows, st = run(args.impressions, args.clicks, args.campaigns, now_ms, args.threads, cm, cd, vh,
                   args.memory_limit)
    total = st["load_s"] + st["compute_s"]
    print(f"duckdb {duckdb.__version__}, threads={args.threads or 'default'}, "
          f"now={datetime.fromtimestamp(now_ms / 1000, tz=UTC).isoformat()}")
    print(f"wall time: {total:.2f} s (load {st['load_s']:.2f} s, compute {st['compute_s']:.2f} s); "
          f"process CPU {st['cpu_s']:.2f} s")
    print(f"files: {st['files']}")
    print(f"rows in: {st['received']}")
    print(f"valid distinct: {st['valid_distinct']}")
    print(f"quarantined: {st['quarantine']}")
    print(f"clicks: {st['clicks']}  conversions: {st['conversions']}")
    print(f"rows out (campaign_daily): {len(rows)}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    if args.check:
        return 1 if check(rows, Path(args.check), st) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
