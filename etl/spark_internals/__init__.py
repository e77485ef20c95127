"""Calls into Spark's JVM side and PySpark's private attributes, with what differs between Spark 3.5
(EMR 7) and Spark 4.0 (EMR 8) decided here, once.

The rest of the project asks this package rather than reaching into `_jvm`, `_jsc` or py4j itself:
    this module        the Spark line, JVM errors, UTF-8 repair, the JVM's start, classes, observations
    fs                 Hadoop's FileSystem, for file://, s3:// and hdfs:// alike
    session_catalog    the session catalog's tables and partitions (what SQL cannot do without side effects)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway
from pyspark.sql import Column, Observation, SparkSession
from pyspark.sql import functions as F

# "3.5" or "4.0": the Spark this process imports.
SPARK_LINE = ".".join(pyspark.__version__.split(".")[:2])


def java_exception(error: BaseException) -> Any:
    """The JVM Throwable behind a PySpark error, or None: Spark 3.5 keeps it as `java_exception`, 4.0 as `_origin`."""
    return getattr(error, "java_exception", None) or getattr(error, "_origin", None)


def innermost_java_cause(error: BaseException) -> Any:
    """The deepest cause of the JVM Throwable behind a PySpark error (where Spark says what was wrong with the data), or None."""
    java = java_exception(error)
    while java is not None and java.getCause() is not None:
        java = java.getCause()
    return java


def utf8_repaired(text: Column) -> Column:
    """The text with each byte sequence that is not UTF-8 made U+FFFD. Spark 3.5's decode() does that;
    4.0's raises MALFORMED_CHARACTER_CODING instead, and has make_valid_utf8() for it."""
    if SPARK_LINE == "3.5":
        return F.decode(text.cast("binary"), "utf-8")
    return F.make_valid_utf8(text)  # type: ignore[attr-defined]  # Spark 4.0 only


def utf8_invalid(text: Column) -> Column:
    """Whether the text's bytes are not valid UTF-8. Spark 3.5: re-encoding changes them (encode() replaces
    what it cannot map); 4.0's encode() raises there, and is_valid_utf8() says it."""
    if SPARK_LINE == "3.5":
        return text.cast("binary") != F.encode(text, "UTF-8")
    return ~F.is_valid_utf8(text)  # type: ignore[attr-defined]  # Spark 4.0 only


# Spark 4.0's launcher always adds --add-modules=jdk.incubator.vector, and the JVM then starts by printing
# this on stderr: a line on every command's console that says nothing to its reader.
_INCUBATOR_WARNING = b"WARNING: Using incubator modules: jdk.incubator.vector\n"


def start_jvm(settings: Mapping[str, str]) -> None:
    """Start Spark's JVM with these settings, once per process. On Spark 4.0 its stderr goes through a pipe
    that drops the incubator-module warning it starts with and passes everything else on as it comes
    (progress bars included); Spark 3.5 prints no such line, and starts its JVM itself. Under
    spark-submit (a step on EMR) the JVM runs already and started this process: nothing to do."""
    if SPARK_LINE == "3.5" or SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return
    conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    gateway = launch_gateway(conf, popen_kwargs={"stderr": subprocess.PIPE})
    threading.Thread(target=_pass_stderr_on, args=(gateway.proc.stderr,), name="jvm-stderr", daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway, conf=conf)


def stop_jvm() -> None:
    """Shut the gateway to Spark's JVM (the session stopped) and wait for the JVM to exit."""
    gateway = SparkContext._gateway
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if process is not None and process.stdin is not None:
        process.stdin.close()  # the JVM's gateway server exits when its stdin closes
        process.wait(timeout=60)


def _pass_stderr_on(pipe: Any) -> None:
    """To file descriptor 2, where the JVM would have written (sys.stderr may be a test's capture)."""
    start: bytes | None = b""  # the output up to its first line break, until it is known (then None)
    with contextlib.suppress(OSError):  # our stderr closed at exit: nothing left to say
        while chunk := os.read(pipe.fileno(), 1 << 16):
            if start is not None:
                start += chunk
                if b"\n" not in start:
                    continue
                chunk, start = start.removeprefix(_INCUBATOR_WARNING), None
            os.write(2, chunk)


def class_available(spark: SparkSession, name: str) -> bool:
    """Whether the driver's JVM can load the class (a jar on the classpath brings it)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.java.lang.Class.forName(name)
    except Exception:  # py4j wraps the ClassNotFoundException
        return False
    return True


def wait_for_listeners(spark: SparkSession) -> None:
    """Until Spark's listener bus has delivered every event so far (observations' metrics among them)."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # type: ignore[union-attr]


def observation_delivered(observation: Observation) -> bool | None:
    """Whether Spark has delivered an observation's metrics (Observation.get blocks until it has, forever
    if it never will); None where that cannot be known. Spark 4.0 has a public future to ask; 3.5 keeps
    them in a private field."""
    java: Any = observation._jo
    if java is None:  # never attached to a query
        return False
    try:
        if SPARK_LINE == "3.5":
            field = java.getClass().getDeclaredField("metrics")
            field.setAccessible(True)
            return not field.get(java).isEmpty()
        return bool(java.future().isCompleted())
    except Exception:  # another Spark's Observation
        return None
