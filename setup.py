from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec(Path("etl/version.py").read_text(), version)

setup(
    name="emr-etl",
    version=version["__version__"],
    description="Extract / transform / validate / load jobs for PySpark on Amazon EMR, runnable on a laptop.",
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.14",
    packages=find_packages(include=["etl", "etl.*", "jobs", "jobs.*"]),
    install_requires=[
        # EMR 7.13's Spark 3.5.6 or EMR 8.0's Spark 4.0.2: `make setup` (SPARK=3.5 or 4.0) installs one exactly.
        "pyspark>=3.5.6,<4.1",
        "great-expectations>=1.5,<2",
        "pydantic>=2.5,<3",
        "pyyaml>=6",
        # pyspark 3.5 was built against pandas 1.x/2.x; GE pulls pandas in.
        "pandas>=2,<3",
        # etl submit / make deploy talk to EMR and S3.
        "boto3>=1.34",
    ],
    extras_require={
        # EMR 7.13's Delta (Python API only: the jars come with the cluster).
        "delta": ["delta-spark==3.3.2"],
        "demo": ["tpchgen-cli>=2,<5"],
        "bench": ["matplotlib>=3.8"],
        # etl report JOB --history draws its charts with matplotlib.
        "report": ["matplotlib>=3.8"],
        "dev": [
            *["pytest>=8", "pytest-xdist>=3.5", "chispa>=0.10", "duckdb>=1.1", "ruff", "mypy", "types-PyYAML"],
            # local stand-ins and the report's browser test
            *["moto[server]>=5,<6", "boto3-stubs[emr,s3]", "selenium>=4.20"],
            # the metastore service asked over Thrift, not through Spark (table and column comments)
            "hmsclient==0.1.1",
            # etl package --venv-pack: the Python requirements as one archive, for EMR Serverless
            "venv-pack>=0.2",
        ],
    },
    entry_points={"console_scripts": ["etl=etl.cli:main"]},
)
