"""Files → numbered lines → records: line numbers per file, CRLF, byte-order marks, blank lines, size."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from chispa import assert_column_equality, assert_df_equality

from advertisex import contract as C
from advertisex.transforms import lines as L
from advertisex.transforms.lines import file_name, file_origin, records_of_lines

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def test_records_of_lines_drops_blank_lines_the_header_and_trailing_cr(spark) -> None:
    physical = spark.createDataFrame(
        [("\ufeffa,b\r", "/l/x.csv", 1, "\ufeffa,b\r"), ("1,2\r", "/l/x.csv", 2, "\ufeffa,b\r"),
         ("  ", "/l/x.csv", 3, "\ufeffa,b\r"), ("3,4", "/l/x.csv", 4, "\ufeffa,b\r")],
        "line string, source_file string, source_line long, header string",
    ).withColumn("ingested_at", F.lit(NOW))
    got = records_of_lines(physical, skip_header=True).drop("ingested_at")
    expected = spark.createDataFrame(
        [("/l/x.csv", 2, "1,2", False, "a,b"), ("/l/x.csv", 4, "3,4", False, "a,b")],
        "source_file string, source_line long, line string, _too_large boolean, header string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    kept = records_of_lines(physical, skip_header=False)
    assert [r.source_line for r in kept.orderBy("source_line").collect()] == [1, 2, 4]
    assert kept.where(F.col("header").isNotNull()).count() == 0


def test_a_line_over_the_record_size_is_cut_and_kept_as_a_record_whatever_it_holds(spark) -> None:
    """Measured in bytes (``é`` is two): one byte over is too large, even when it is all blanks."""
    at_limit = "é" * (C.MAX_RECORD_BYTES // 2)
    physical = spark.createDataFrame(
        [(at_limit, 1), (at_limit + "x", 2), (" " * (C.MAX_RECORD_BYTES + 1), 3)],
        "line string, source_line long",
    ).select("line", F.lit("/l/x.jsonl").alias("source_file"), "source_line", F.lit(NOW).alias("ingested_at"))
    got = {r.source_line: (r._too_large, len(r.line))
           for r in records_of_lines(physical, skip_header=False).collect()}
    assert got == {1: (False, C.MAX_RECORD_BYTES // 2), 2: (True, C.RAW_KEPT_CHARS), 3: (True, C.RAW_KEPT_CHARS)}


def test_file_name_decodes_spark_uris_and_origin_names_the_line(spark) -> None:
    df = spark.createDataFrame(
        [("file:/l/odd%20%5B1%5D.csv", "/l/odd [1].csv"), ("file:///l/a+b.csv", "/l/a+b.csv"),
         ("s3a://bucket/k%25.csv", "s3a://bucket/k%.csv")],
        "uri string, expected string",
    ).withColumn("got", file_name(F.col("uri")))
    assert_column_equality(df, "got", "expected")
    row = spark.createDataFrame([("/l/a.csv", 7)], "source_file string, source_line long").select(
        file_origin().alias("origin")).first()
    assert row.origin == "file:/l/a.csv:7"


def _python_csv_records(text: str) -> dict[int, str]:
    """Python's csv module's records of ``text``: first line number → the record's lines as read."""
    import csv
    import io

    read: list[str] = []

    def lines():
        for line in io.StringIO(text, newline=""):
            read.append(line)
            yield line

    out, at = {}, 1
    for _ in csv.reader(lines()):
        out[at] = "".join(read).removesuffix("\n")
        at += len(read)
        read.clear()
    return out


def test_csv_records_join_quoted_line_breaks_as_pythons_csv_module_reads_them(spark) -> None:
    import random

    fixed = ['a,"multi', 'line",x', 'b,"q""', '",', 'c,x"y,z', 'd,"a","b', 'c"', 'e,"x', "", 'z"',
             'f,"one', 'two",3,"four', 'five"', 'g,""', 'h,"""",end', 'i,"a""b', 'c""",x', "j,last"]
    rng = random.Random(7)
    pieces = ['"', '""', ",", "a", "b", " ", "x,y"]
    randomly = ["".join(rng.choice(pieces) for _ in range(rng.randrange(6))) for _ in range(400)]
    files = {"/l/fixed.csv": fixed, "/l/random.csv": randomly}
    rows = [(line, False, name, n + 1, "h", NOW) for name, lines in files.items() for n, line in enumerate(lines)]
    physical = spark.createDataFrame(
        rows, "line string, _too_large boolean, source_file string, source_line long, header string, ingested_at timestamp")
    got = {(r.source_file, r.source_line): r.line for r in L.csv_records(physical).collect()}
    expected = {(name, at): record for name, lines in files.items()
                for at, record in _python_csv_records("".join(f"{ln}\n" for ln in lines)).items()}
    assert got == expected
    assert got[("/l/fixed.csv", 1)] == 'a,"multi\nline",x' and got[("/l/fixed.csv", 5)] == 'c,x"y,z'
