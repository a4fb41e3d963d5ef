"""File-system helpers on Hadoop's ``FileSystem`` API, so the same code serves local paths
and any cluster file system (HDFS, S3A, ABFS, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from advertisex.errors import InputPathError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """``(file system, Hadoop Path)`` of ``path`` (local or any Hadoop file system)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop FileSystem has no Python API
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath  # noqa: SLF001


def require_path(spark: SparkSession, path: str, what: str) -> None:
    """Raise :class:`InputPathError` naming ``path`` unless it exists (local or any Hadoop FS)."""
    fs, hpath = hadoop_path(spark, path)
    if not fs.exists(hpath):
        raise InputPathError(f"{what} path does not exist: {path}")


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, replacing it; readers see the old file or the whole
    new one, never a part (written beside it under a dot name, then renamed into place)."""
    fs, hpath = hadoop_path(spark, path)
    tmp = hpath.getParent().suffix(f"/.{hpath.getName()}.tmp")
    out = fs.create(tmp, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    if fs.exists(hpath):
        fs.delete(hpath, False)
    if not fs.rename(tmp, hpath):
        raise OSError(f"could not rename {tmp.toString()} to {path}")


def read_text(spark: SparkSession, path: str) -> str:
    """The UTF-8 text of the file at ``path``."""
    fs, hpath = hadoop_path(spark, path)
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    stream = fs.open(hpath)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def list_files(spark: SparkSession, folder: str, suffix: str) -> list[str]:
    """Paths of the files directly under ``folder`` whose name ends with ``suffix`` (names
    starting with ``.`` or ``_`` are skipped: files being written); ``[]`` without the folder."""
    fs, hpath = hadoop_path(spark, folder)
    if not fs.exists(hpath):
        return []
    names = []
    for st in fs.listStatus(hpath):
        name = st.getPath().getName()
        if st.isFile() and name.endswith(suffix) and not name.startswith((".", "_")):
            names.append(st.getPath().toString())
    return sorted(names)


def delete_file(spark: SparkSession, path: str) -> None:
    """Delete the file at ``path`` (nothing when it is gone already)."""
    fs, hpath = hadoop_path(spark, path)
    fs.delete(hpath, False)
