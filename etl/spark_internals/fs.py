"""Small file-system operations through Hadoop's FileSystem API, so they work on file://, s3:// and hdfs:// alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession


def same_spelling(uri: str) -> str:
    """Spark and Hadoop report file:/x for file:///x; the project spells local URIs file:///x everywhere."""
    if uri.startswith("file:/") and not uri.startswith("file://"):
        return "file://" + uri.removeprefix("file:")
    return uri


def _path_and_fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def list_folders(spark: SparkSession, uri: str) -> list[str]:
    """Names of the sub-folders of uri (not hidden ones such as _temporary or .spark-staging); [] if uri is missing."""
    return _visible_children(spark, uri, folders=True)


def list_files(spark: SparkSession, uri: str) -> list[str]:
    """Names of the files directly in uri (not hidden ones such as _SUCCESS); [] if uri is missing."""
    return _visible_children(spark, uri, folders=False)


def _visible_children(spark: SparkSession, uri: str, folders: bool) -> list[str]:
    path, fs = _path_and_fs(spark, uri)
    if not fs.exists(path):
        return []
    names = [status.getPath().getName() for status in fs.listStatus(path) if status.isDirectory() == folders]
    return sorted(name for name in names if not name.startswith(("_", ".")))


def read_text(spark: SparkSession, uri: str) -> str:
    """The whole of a small text file."""
    path, fs = _path_and_fs(spark, uri)
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    stream = fs.open(path)
    try:
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def glob(spark: SparkSession, pattern: str) -> list[str]:
    """The URIs a Hadoop glob pattern matches, files and folders, in one call into the JVM: the paths come
    back as one string, not one py4j round trip each (thousands of partition folders)."""
    path, filesystem = _path_and_fs(spark, pattern)
    statuses = filesystem.globStatus(path)
    if not statuses:
        return []
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    joined = str(jvm.scala.Predef.genericWrapArray(jvm.org.apache.hadoop.fs.FileUtil.stat2Paths(statuses)).mkString("\n"))
    return [same_spelling(uri) for uri in joined.split("\n")]


def glob_escaped(uri: str) -> str:
    """uri with the characters a Hadoop glob pattern gives a meaning to escaped, so it matches only itself."""
    return "".join(f"\\{c}" if c in "\\{}[]*?" else c for c in uri)


def file_statuses(spark: SparkSession, uri: str) -> Iterator[tuple[str, int, int]]:
    """(uri, size in bytes, modification time in epoch milliseconds) of every file below uri, hidden ones
    (_SUCCESS, .crc) left out; one flat listing (on S3 a request per thousand files, not one per folder)."""
    path, filesystem = _path_and_fs(spark, uri)
    if not filesystem.exists(path):
        return
    files = filesystem.listFiles(path, True)
    while files.hasNext():
        status = files.next()
        name = str(status.getPath().getName())
        if not name.startswith(("_", ".")):
            yield same_spelling(str(status.getPath().toString())), int(status.getLen()), int(status.getModificationTime())


def exists(spark: SparkSession, uri: str) -> bool:
    path, fs = _path_and_fs(spark, uri)
    return bool(fs.exists(path))


def mkdirs(spark: SparkSession, uri: str) -> None:
    path, fs = _path_and_fs(spark, uri)
    fs.mkdirs(path)


def delete(spark: SparkSession, uri: str) -> None:
    path, fs = _path_and_fs(spark, uri)
    fs.delete(path, True)


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Move a file (one rename; on S3 one copy, so the target appears whole)."""
    path, fs = _path_and_fs(spark, source)
    if not fs.rename(path, _path_and_fs(spark, target)[0]):
        raise OSError(f"could not move {source} to {target}")


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (or replace) a small text file."""
    path, fs = _path_and_fs(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def copy_from_local(spark: SparkSession, folder: Path, uri: str) -> None:
    """Copy a local folder's contents under uri, merging into folders that exist already.
    A folder new to the target goes over in one call (thousands of small files in one JVM call)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    _, target_fs = _path_and_fs(spark, uri)
    for child in sorted(folder.iterdir()):
        target = f"{uri}/{child.name}"
        if child.is_dir() and target_fs.exists(hadoop_path(target)):
            copy_from_local(spark, child, target)
        else:  # file:// + str, not as_uri(): Hadoop does not decode the %3D that as_uri() makes of '='
            target_fs.copyFromLocalFile(False, True, hadoop_path(f"file://{child}"), hadoop_path(target))


def set_modified(spark: SparkSession, uri: str, millis: int) -> None:
    """Set a file's modification time (local and HDFS files; S3 keeps the upload time and ignores it)."""
    path, fs = _path_and_fs(spark, uri)
    fs.setTimes(path, millis, -1)
