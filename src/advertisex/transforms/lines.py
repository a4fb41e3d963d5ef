"""Landing files → numbered lines → records, with each record's file and line.

Spark's ``text`` source gives lines without their position; bronze keeps every record
with ``file:<path>:<line>`` as its origin (docs/CONTRACT.md §2), so the lines of each
micro-batch are numbered here (:func:`numbered_lines`) before they are parsed.
"""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Window

from advertisex import contract as C
from advertisex.transforms.normalize import strip


def file_name(uri: Column) -> Column:
    """The file's name as it is named, from Spark's URI of it (``_metadata.file_path``).

    A local file comes as ``file:/path``, whose ``file:`` is dropped (other schemes stay),
    with characters such as a space or ``[`` escaped, which are decoded back (a ``+`` in a
    URI path is itself, so it stays).
    """
    path = F.when(uri.contains("%"), F.url_decode(F.replace(uri, F.lit("+"), F.lit("%2B")))).otherwise(uri)
    return F.regexp_replace(path, "^file:(//)?(?=/)", "")


def capped(df: DataFrame, column: str) -> DataFrame:
    """``df`` with ``_too_large`` (``column`` holds more than :data:`~advertisex.contract.MAX_RECORD_BYTES`
    bytes) and such a ``column`` cut to its first :data:`~advertisex.contract.RAW_KEPT_CHARS`
    characters, before anything else reads it: each expression on a runaway line (a trim, a
    parse, a row copied by a join) would hold another copy of it. Done once: a ``df`` that has
    ``_too_large`` is returned as it is (lines are capped as they are read; a parser caps
    Kafka messages)."""
    if "_too_large" in df.columns:
        return df
    big = F.octet_length(F.col(column)) > C.MAX_RECORD_BYTES
    return df.withColumn("_too_large", big).withColumn(
        column, F.when(F.col("_too_large"), F.left(F.col(column), F.lit(C.RAW_KEPT_CHARS))).otherwise(F.col(column)))


def numbered_lines(scan: DataFrame, *, with_header: bool) -> DataFrame:
    """A text scan's rows → the same rows with their 1-based line number in their file.

    Spark's line reader gives no line numbers, and splits big files across tasks and packs
    small ones into one task. Within a task, though, the lines of one file block come
    contiguously and in order, so ``monotonically_increasing_id`` (task << 33, plus the
    row's position in the task) numbers them consecutively. One small aggregate per block
    (its first id and line count; the blocks of a file are summed in order) turns that into
    the line number. The scan is read twice (for the aggregate, then the rows); both reads
    split the batch's fixed file list the same way. The file's name (:func:`file_name`) is
    worked out in that aggregate, once per block, and reaches the rows through the join.

    Args:
        scan: ``line``, ``file_path`` (``_metadata.file_path``) and ``file_block_start``
            (``_metadata.file_block_start``) straight from a ``text`` scan with ``lineSep``
            ``\\n``, before any filter (and in a batch query: streaming queries do not allow
            ``monotonically_increasing_id``; number a micro-batch inside ``foreachBatch``).
        with_header: also return ``header``, the file's first line, on every row.

    Returns:
        ``line`` (:func:`capped`), ``_too_large``, ``source_file``, ``source_line`` (long) and,
        ``with_header``, ``header``.
    """
    ided = capped(scan.withColumn("_row_id", F.monotonically_increasing_id()), "line")
    blocks = ided.groupBy("file_path", "file_block_start").agg(
        F.min("_row_id").alias("_first_id"),
        F.count(F.lit(1)).alias("_lines"),
        F.min_by("line", "_row_id").alias("_first_line"),
    )
    earlier = Window.partitionBy("file_path").orderBy("file_block_start")
    blocks = blocks.select(
        "file_path",
        file_name(F.col("file_path")).alias("source_file"),
        "file_block_start",
        "_first_id",
        F.coalesce(F.sum("_lines").over(earlier.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0)).alias(
            "_lines_before"
        ),
        F.first("_first_line").over(earlier.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)).alias(
            "header"
        ),
    )
    # One row per file block of the batch: small enough to broadcast whatever the batch size.
    out = ided.join(F.broadcast(blocks), ["file_path", "file_block_start"], "inner").withColumn(
        "source_line", (F.col("_row_id") - F.col("_first_id") + F.col("_lines_before") + F.lit(1)).cast("long")
    )
    return out.select("line", "_too_large", "source_file", "source_line", *(["header"] if with_header else []))


def records_of_lines(df: DataFrame, *, skip_header: bool) -> DataFrame:
    """Numbered physical lines → one row per record.

    Args:
        df: ``line`` (text without the ``\\n``), ``source_file``, ``source_line`` (1-based),
            ``ingested_at`` and, with ``skip_header``, ``header`` (the file's first line);
            one row per physical line of each file (:func:`numbered_lines`).
        skip_header: drop line 1 (the header, kept on every row as ``header``).

    Returns:
        ``source_file``, ``source_line``, ``line`` (:func:`capped`), ``_too_large``, ``header``
        (or null), ``ingested_at``. Blank lines (empty, or only spaces, tabs and other ``\\s``)
        carry no record and are dropped (a line too large is a record, whatever it holds); a
        trailing ``\\r`` (CRLF files) is removed, and from the header a byte-order mark too.
    """

    def no_cr(c: Column) -> Column:
        return F.when(c.endswith("\r"), c.substr(F.lit(1), F.length(c) - 1)).otherwise(c)

    out = capped(df, "line").withColumn("line", no_cr(F.col("line")))
    if skip_header:
        out = out.where(F.col("source_line") > 1).withColumn(
            "header", F.regexp_replace(no_cr(F.col("header")), "^\ufeff", "")
        )
    else:
        out = out.withColumn("header", F.lit(None).cast("string"))
    out = out.where(F.col("_too_large") | (strip(F.col("line")) != ""))
    return out.select("source_file", "source_line", "line", "_too_large", "header", "ingested_at")


def file_origin(file_col: str = "source_file", line_col: str = "source_line") -> Column:
    """``file:<path>:<line>`` (docs/CONTRACT.md §2)."""
    return F.concat(F.lit("file:"), F.col(file_col), F.lit(":"), F.col(line_col).cast("string"))


# --------------------------------------------------------------------------- CSV records over lines
# RFC 4180 lets a quoted field hold line breaks; Spark's line reader splits there. Python's csv
# module (the truth's reader) starts a quoted field only at a field's first character, takes
# "" inside one as a quote, and after the closing quote keeps any characters up to the comma.
_FIELD = r'(?:"(?:[^"]|"")*"(?!")[^,]*|[^,"][^,]*|)'
# A line read from outside a quoted field that ends inside one: whole fields, then an opening
# quote that does not close.
_OPENS = rf'^(?:{_FIELD},)*"(?:[^"]|"")*$'
# A line read from inside a quoted field that ends inside one: the quote does not close, or it
# closes and another one opens.
_STAYS_OPEN = rf'^(?:[^"]|"")*(?:"(?!")[^,]*,(?:{_FIELD},)*"(?:[^"]|"")*)?$'


def opens_quoted_field(line: Column) -> Column:
    """Whether a CSV ``line``, read from its start, ends inside a quoted field (the record goes
    on on the next line)."""
    return line.contains('"') & line.rlike(_OPENS)


def csv_records(lines: DataFrame) -> DataFrame:
    """Numbered physical lines of CSV files (:func:`numbered_lines`) → one row per CSV record:
    a record whose quoted field holds line breaks is its lines joined with ``\\n``, on the row
    of its first line; every other line is its own record, as it was.

    A line's end state (inside a quoted field or not) depends on the state it starts in: from
    outside, :data:`_OPENS` says it ends inside; from inside, :data:`_STAYS_OPEN` does. A line
    for which both say the same sets the state; one that opens from outside and closes from
    inside flips it; one that stays open from inside and closes from outside keeps it. A quote
    never closed makes the rest of its file one record (as Python's csv module reads it), which
    is ``record_too_large`` beyond :data:`~advertisex.contract.MAX_RECORD_BYTES` (measured
    over the joined record).

    Each file's lines are sorted by line number in one task: call this only for the files that
    hold such a line (:func:`opens_quoted_field`).
    """
    # One window: every file's lines in order, in one task (the grouping below keeps that
    # partitioning, so the lines are shuffled once).
    by_line = Window.partitionBy("source_file").orderBy("source_line")
    so_far = by_line.rowsBetween(Window.unboundedPreceding, 0)
    opens = opens_quoted_field(F.col("line"))
    stays = F.col("line").rlike(_STAYS_OPEN)
    df = lines.withColumn("_sets", opens == stays).withColumn("_flips", opens & ~stays).withColumn("_opens", opens)
    # The state after a line: the last setting line's state (outside, before any), flipped once
    # per flipping line since that one.
    df = df.withColumn("_flips_so_far", F.sum(F.col("_flips").cast("int")).over(so_far))
    df = df.withColumn("_set_to", F.last(F.when(F.col("_sets"), F.col("_opens")), ignorenulls=True).over(so_far))
    df = df.withColumn("_flips_at_set", F.last(F.when(F.col("_sets"), F.col("_flips_so_far")), ignorenulls=True)
                       .over(so_far))
    flipped = (F.col("_flips_so_far") - F.coalesce(F.col("_flips_at_set"), F.lit(0))) % 2 == 1
    df = df.withColumn("_open_after", F.coalesce(F.col("_set_to"), F.lit(False)) != flipped)
    starts = ~F.coalesce(F.lag("_open_after").over(by_line), F.lit(False))
    df = df.withColumn("_record", F.sum(starts.cast("int")).over(so_far))
    parts = F.array_sort(F.collect_list(F.struct("source_line", "line", "_too_large")))
    records = df.groupBy("source_file", "_record").agg(
        parts.alias("_parts"),
        *[F.first(c).alias(c) for c in lines.columns if c not in ("source_file", "source_line", "line", "_too_large")],
    )
    size = F.aggregate(F.col("_parts"), F.lit(-1).cast("long"),
                       lambda acc, p: acc + F.octet_length(p["line"]) + 1)
    too_large = F.exists(F.col("_parts"), lambda p: p["_too_large"]) | (size > C.MAX_RECORD_BYTES)
    joined = F.array_join(F.transform(F.col("_parts"), lambda p: p["line"]), "\n")
    return records.select(
        F.col("_parts")[0]["source_line"].alias("source_line"),
        F.when(too_large, F.left(joined, F.lit(C.RAW_KEPT_CHARS))).otherwise(joined).alias("line"),
        too_large.alias("_too_large"),
        *[c for c in lines.columns if c not in ("source_line", "line", "_too_large")],
    ).select(*lines.columns)
