"""The optional jars a local env may put on Spark's classpath, and where `make setup` keeps them.

EMR ships its own (EMRFS for s3://, Iceberg and Delta through classifications), so no env for EMR
names any. Locally they come from PyPI archives (Maven Central is not assumed reachable); see
etl/dev/jars.py for how they are fetched and checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ConfigError

JARS_DIR = Path(os.environ.get("ETL_JARS_DIR", Path(__file__).resolve().parents[1] / ".cache" / "jars"))


@dataclass(frozen=True)
class Jar:
    file: str
    sha256: str
    archive: str  # the PyPI requirement whose archive carries it
    archive_sha256: str
    member: str  # its path inside that archive


_SAGEMAKER = ("sagemaker-pyspark==1.4.5", "05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb")
_ICEBERG = ("snowpark-connect-deps-iceberg==1.0.2", "912c9650f275fb317928747472912a6f27d80a4498792bbdd5dcf91ac9934ab7")

# name used in conf/env/*.yaml (spark.jars) -> the jar
JARS: dict[str, Jar] = {
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
    ),
}


def jar_path(name: str) -> Path:
    """The local path of a named jar; a clear error when `make setup` has not fetched it."""
    if name not in JARS:
        raise ConfigError(f"spark.jars: unknown jar {name!r}; known: {', '.join(sorted(JARS))}")
    path = JARS_DIR / JARS[name].file
    if not path.is_file():
        raise ConfigError(f"spark.jars: {path} is missing; `make setup` fetches it (or set ETL_JARS_DIR)")
    return path
