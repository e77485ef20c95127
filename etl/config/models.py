"""Typed configuration. Unknown keys are errors; every field says what it is for."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from etl.schema import parse_type

ZoneName = Literal["raw", "curated", "quarantine", "dq", "checkpoints"]
ZONE_NAMES: tuple[ZoneName, ...] = ("raw", "curated", "quarantine", "dq", "checkpoints")
TableFormat = Literal["parquet", "delta", "iceberg"]
LoadMode = Literal["append", "overwrite", "overwrite_partitions", "merge"]
Severity = Literal["error", "warn", "quarantine"]
LINE_FORMATS = ("csv", "json", "cloudfront")  # formats read line by line, whose lines may not parse

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(name: str) -> str:
    """A column or database name that is safe to put into SQL unquoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid identifier (letters, digits and _; not starting with a digit)")
    return name


def table_name(name: str) -> str:
    """A table name qualified with its database: 'warehouse.fact_sales'."""
    parts = name.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ValueError(f"{name!r} is not a table name of the form database.table")
    return name


def column_type(name: str) -> str:
    parse_type(name)
    return name


Identifier = Annotated[str, AfterValidator(identifier)]
ColumnType = Annotated[str, AfterValidator(column_type)]
TableName = Annotated[str, AfterValidator(table_name)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- environment: conf/base.yaml + conf/env/<env>.yaml -------------------------------------------------


class SparkSettings(Strict):
    master: str | None = Field(None, description="Spark master URL; leave empty on EMR, where spark-submit sets it (YARN).")
    driver_memory: str | None = Field(None, description="spark.driver.memory; only takes effect when Python starts the JVM (local runs).")
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = Field(
        "WARN", description="Spark's log level on the console (`etl -v` makes it INFO); locally the log file keeps everything."
    )
    progress_bar: bool | None = Field(
        None, description="Show Spark's console progress bar for long stages; default: only when stderr is a terminal."
    )
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings, passed to the session as they are.")
    jars: list[str] = Field(
        default_factory=list,
        description="Jars from the local jar cache (etl/jars.py names: hadoop-aws, aws-java-sdk-bundle, iceberg-spark-runtime) "
        "for the driver and executor classpath. Empty on EMR, which ships its own.",
    )


class MetastoreSettings(Strict):
    kind: Literal["derby", "thrift", "cluster"] = Field(
        description="derby: embedded, under the lake root; thrift: a Hive metastore service at `uris`; "
        "cluster: whatever the cluster's hive-site.xml says (EMR: external metastore or Glue)."
    )
    uris: str | None = Field(None, description="thrift://host:port[,thrift://...] for kind thrift.")

    @model_validator(mode="after")
    def _uris_for_thrift(self) -> MetastoreSettings:
        if self.kind == "thrift" and not self.uris:
            raise ValueError("kind 'thrift' needs 'uris' (thrift://host:port)")
        return self


class ZoneSettings(Strict):
    raw: str | None = Field(None, description="Landing zone of the source extracts. Default: <lake_root>/raw.")
    curated: str | None = Field(None, description="Warehouse tables (database locations). Default: <lake_root>/curated.")
    quarantine: str | None = Field(None, description="Rejected rows with their reasons. Default: <lake_root>/quarantine.")
    dq: str | None = Field(None, description="Validation results. Default: <lake_root>/dq.")
    checkpoints: str | None = Field(None, description="Streaming checkpoints. Default: <lake_root>/checkpoints.")


class S3Settings(Strict):
    """s3:// through Hadoop's S3A connector (locally; on EMR s3:// is EMRFS and this section is absent).
    Credentials never come from config: S3A takes them from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    or from the instance profile."""

    endpoint: str | None = Field(None, description="S3 API endpoint, e.g. http://127.0.0.1:9000 for a local server; empty for AWS.")
    region: str | None = Field(None, description="The bucket's region (fs.s3a.endpoint.region).")
    path_style_access: bool = Field(False, description="http://host/bucket/key instead of http://bucket.host/key (local servers).")


class InstanceGroup(Strict):
    instance_type: str = Field("m5.xlarge", description="EC2 instance type of the group's nodes.")
    count: int = Field(1, ge=1, description="Nodes in the group.")


class ClusterSettings(Strict):
    """The transient cluster `etl cluster` creates for a night and terminates after it."""

    applications: list[str] = Field(default_factory=lambda: ["Spark"], description="EMR applications to install.")
    primary: InstanceGroup = Field(default_factory=InstanceGroup, description="The primary node.")
    core: InstanceGroup = Field(default_factory=lambda: InstanceGroup(count=2), description="The core nodes.")
    configurations: list[str] = Field(
        default_factory=list,
        description="Files of bootstrap/configurations/ (names without .json), merged into the cluster's Configurations; "
        "one of them must keep the tables outside the cluster (glue-data-catalog or external-hive-metastore).",
    )
    log_uri: str | None = Field(
        None, description="s3://... where EMR writes the cluster's and steps' logs; default: <lake_root>/emr-logs/."
    )
    service_role: str = Field("EMR_DefaultRole", description="The IAM role EMR acts with.")
    instance_profile: str = Field("EMR_EC2_DefaultRole", description="The EC2 instance profile of the nodes (the cluster's role).")
    subnet_id: str | None = Field(None, description="The VPC subnet to start in; default: EMR's.")
    idle_timeout_minutes: int = Field(
        60, ge=1, description="A backstop: EMR terminates the cluster after this long without work, whatever happened."
    )


class ServerlessSettings(Strict):
    """EMR Serverless: where `etl submit --serverless` and `etl schedule` start a job run, and with what."""

    application_id: str | None = Field(
        None, pattern=r"^[0-9a-z]{1,64}$", description="The EMR Serverless application (Spark) the job runs start on (or --serverless ID)."
    )
    execution_role_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-zA-Z0-9-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
        description="arn:aws:iam::ACCOUNT:role/NAME: the role the job run acts with (reads the artifacts, the lake and the "
        "Glue Data Catalog). Required to start a run.",
    )
    log_uri: str | None = Field(
        None, description="s3://... where EMR Serverless writes the runs' logs; default: <lake_root>/emr-serverless-logs/."
    )
    execution_timeout_minutes: int = Field(
        720, ge=5, le=1_000_000, description="EMR Serverless cancels a run that takes longer than this (the API's executionTimeoutMinutes)."
    )
    venv_archive: bool = Field(
        True,
        description="Ship the Python requirements as <artifacts>/pyspark_venv.tar.gz (`etl package --venv-pack`), unpacked as "
        "./environment on the driver and executors; false when the application's custom image has them.",
    )
    jars: list[str] = Field(
        default_factory=list,
        description="More jars for the run's --jars, after the catalog helper: a table format's jars on the EMR Serverless "
        "image (e.g. /usr/share/aws/delta/lib/delta-spark.jar and delta-storage.jar) or s3:// URIs.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="More Spark settings for the run's spark-submit (--conf key=value)."
    )

    @model_validator(mode="after")
    def _log_uri_on_s3(self) -> ServerlessSettings:
        if self.log_uri and not self.log_uri.startswith("s3://"):
            raise ValueError(f"log_uri must be an s3:// URI, got {self.log_uri!r}")
        for jar in self.jars:
            if not jar or "," in jar or any(char.isspace() for char in jar):
                raise ValueError(f"jars: {jar!r}: a path or URI without spaces or commas")
        for key, value in self.spark_conf.items():
            if not key or any(char.isspace() for char in key + value):
                raise ValueError(f"spark_conf: {key!r}: keys and values without spaces (they go into sparkSubmitParameters)")
        return self


class EmrSettings(Strict):
    """Where `etl submit` sends steps and where `make deploy` puts the artifact."""

    cluster_id: str | None = Field(None, description="j-XXXXXXXX: the cluster `etl submit` adds steps to (or --cluster-id).")
    region: str | None = Field(None, description="AWS region of the cluster; default: the AWS SDK's own lookup.")
    artifacts: str | None = Field(
        None,
        description="s3://bucket/prefix/ holding the deployed dist/ (etl-<v>.zip, main.py, conf/, requirements.txt): "
        "where `etl deploy` uploads and the steps read (or --artifacts).",
    )
    endpoint: str | None = Field(None, description="EMR API endpoint override (tests against a local EMR API); empty for AWS.")
    release_label: str | None = Field(
        None,
        pattern=r"^emr-(spark-)?\d+\.\d+\.\d+$",
        description="The EMR release the env's clusters run: emr-7.x (Spark 3.5) or emr-spark-8.x (Spark 4.0).",
    )
    cluster: ClusterSettings = Field(default_factory=ClusterSettings, description="The transient cluster of `etl cluster`.")
    python: Literal["python3.11", "python3.12", "python3.13"] = Field(
        "python3.11",
        description="The Python the bootstrap action installs the requirements into and PYSPARK_PYTHON names "
        "(bootstrap/configurations/python3XX.json).",
    )
    serverless: ServerlessSettings = Field(
        default_factory=ServerlessSettings, description="EMR Serverless: `etl submit --serverless` and `etl schedule`."
    )

    @model_validator(mode="after")
    def _artifacts_on_s3(self) -> EmrSettings:
        if self.artifacts and not self.artifacts.startswith("s3://"):
            raise ValueError(f"artifacts must be an s3://bucket/prefix/ URI (EMR reads the release from S3), got {self.artifacts!r}")
        return self

    @property
    def spark_line(self) -> str | None:
        """The Spark the release label's clusters run: "3.5" (EMR 7), "4.0" (EMR 8)."""
        if self.release_label is None:
            return None
        major = int(self.release_label.removeprefix("emr-").removeprefix("spark-").split(".")[0])
        return {7: "3.5", 8: "4.0"}.get(major)


class AlertSettings(Strict):
    """Where a failed run is announced: one message to an SNS topic (etl/alerts.py)."""

    sns_topic_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$",
        description="arn:aws:sns:REGION:ACCOUNT:TOPIC: the topic a failed run publishes to (e-mail, chat or pager subscriptions).",
    )
    region: str | None = Field(None, description="The topic's region; default: the region in its ARN.")

    @property
    def topic_region(self) -> str:
        return self.region or self.sns_topic_arn.split(":")[3]


class TableSettings(Strict):
    default_format: TableFormat = Field("parquet", description="Table format of targets that do not name one.")
    iceberg_catalog: Literal["hive", "glue"] = Field(
        "hive", description="Where Iceberg keeps its tables: the Hive metastore (also EMR's external one) or the AWS Glue Data Catalog."
    )


class EnvConfig(Strict):
    name: str = Field(description="The env's name: the file name under conf/env/.")
    lake_root: str = Field(description="Root URI of all zones: a local folder, or s3://bucket/prefix.")
    local_state: str | None = Field(
        None, description="Local folder for the Derby metastore, spark-warehouse and logs (laptop and test envs); empty on EMR."
    )
    zones: ZoneSettings = Field(default_factory=ZoneSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    metastore: MetastoreSettings
    tables: TableSettings = Field(default_factory=TableSettings)
    s3: S3Settings | None = Field(None, description="Set to read and write s3:// through S3A (local S3 servers); absent on EMR.")
    emr: EmrSettings = Field(default_factory=EmrSettings)
    streams_from: Literal["files", "kinesis"] = Field(
        "files",
        description="Where stream sources read: files arriving under their path (as Kinesis Data Firehose delivers them to "
        "S3; laptops and tests), or their Kinesis data stream (EMR 7's aws-kinesis source).",
    )
    alerts: AlertSettings | None = Field(None, description="Announce failed runs on an SNS topic; absent: no alerts.")


# --- jobs: conf/jobs/<job>.yaml --------------------------------------------------------------------------


class VolumeCheck(Strict):
    """Rows per day read from a source, against the previous successful runs of the job in the audit log."""

    history: int = Field(7, ge=1, description="How many of the job's latest successful runs to compare with.")
    min_runs: int = Field(3, ge=1, description="Fewer successful runs than this in the log: no check yet.")
    min_ratio: float = Field(0.5, ge=0, description="Fail when rows per day < min_ratio x the median of those runs.")
    max_ratio: float = Field(2.0, gt=0, description="Fail when rows per day > max_ratio x the median of those runs.")

    @model_validator(mode="after")
    def _ordered(self) -> VolumeCheck:
        if self.min_ratio >= self.max_ratio:
            raise ValueError("min_ratio must be below max_ratio")
        return self


class WaitFor(Strict):
    """An input sensor: before reading, wait until each day of the window has landed."""

    marker: str | None = Field(
        None, description="A file the producer writes last into a day's folder, such as _SUCCESS: the day is complete when it is there."
    )
    min_files: int | None = Field(None, ge=1, description="The day is complete when its folder holds at least this many data files.")
    poll_seconds: float = Field(60, gt=0, description="Seconds between two looks.")
    timeout_minutes: float = Field(60, ge=0, description="Give up after this long: the job fails, naming what is missing.")

    @model_validator(mode="after")
    def _one_condition(self) -> WaitFor:
        if (self.marker is None) == (self.min_files is None):
            raise ValueError("give one of 'marker' (a file such as _SUCCESS) and 'min_files'")
        if self.marker is not None and ("/" in self.marker or self.marker in ("", ".", "..")):
            raise ValueError("'marker' is a file name in the day's folder, not a path")
        return self


class KinesisSettings(Strict):
    """A Kinesis data stream, read with the `aws-kinesis` source EMR 7.x ships (credentials: the instance profile)."""

    stream_name: str = Field(description="The data stream's name.")
    region: str | None = Field(None, description="Its region; default: the cluster's.")
    endpoint: str | None = Field(None, description="Endpoint override, e.g. https://kinesis.us-east-1.amazonaws.com.")
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = Field(
        "TRIM_HORIZON", description="Where a query with no checkpoint starts: the oldest record kept, or new records only."
    )


class ColumnSpec(Strict):
    """A declared column of a csv or json source. In YAML either its type alone (`l_orderkey: bigint`,
    required) or `{type: string, nullable: true}`."""

    type: ColumnType = Field(description="Spark SQL type: string, int, bigint, decimal(p,s), date, timestamp, double, boolean, ...")
    nullable: bool = Field(
        False,
        description="May the field be empty? A required (not nullable) column with an empty field makes the line malformed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _type_alone(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": column_type(value)}  # checked here, so an error names the column, not column.type
        return value


Encoding = Literal["utf-8", "iso-8859-1", "windows-1252"]


class SourceConfig(Strict):
    format: Literal["csv", "json", "parquet", "table", "cloudfront"] = Field(
        description="How to read it; `table` reads a metastore table; `cloudfront` reads CloudFront standard access logs "
        "(their own columns: etl/extract/cloudfront.py)."
    )
    zone: ZoneName = Field("raw", description="The zone `path` is relative to.")
    path: str | None = Field(None, description="Folder under the zone (file formats).")
    table: TableName | None = Field(None, description="database.table (format table).")
    date_partition: Identifier | None = Field(
        None, description="Folder key of daily partitions (e.g. dt for dt=YYYY-MM-DD); the run reads the days of its window."
    )
    days_before: int = Field(
        0,
        ge=0,
        description="Read the N days before the run's window instead of the window (needs date_partition): context a "
        "transform needs, such as the evening before for visits that go on after midnight. Days not landed are skipped; "
        "their malformed lines are not counted or quarantined again (the run of their own day did).",
    )
    allow_empty: bool = Field(False, description="Accept a daily partition that exists but holds no rows.")
    incremental: bool = Field(
        False,
        description="Read only the files no run of another date has taken (file bookmarks in etl_audit.bookmarks, written when "
        "a run succeeds): hourly or nightly runs pick up exactly the new files; a rerun of a day takes that day's files again. "
        "For targets that append or merge: an overwrite would replace earlier rows with the new files' only.",
    )
    stream: bool = Field(
        False,
        description="format json only: read as a stream, with Spark Structured Streaming: the JSON records of files arriving "
        "under `path` (a glob such as iot/*/*/*/*), or of the `kinesis` stream when the env's streams_from is kinesis.",
    )
    files_per_batch: int | None = Field(None, ge=1, description="A stream of files: at most this many new files per micro-batch.")
    kinesis: KinesisSettings | None = Field(None, description="The Kinesis data stream this stream source reads on EMR.")
    wait_for: WaitFor | None = Field(
        None,
        description="Wait for each day of the window to land (a marker file, or a number of files) before reading; "
        "needs date_partition. On timeout the run fails naming the missing days, and a pipeline skips the jobs that need it.",
    )
    optional: bool = Field(False, description="format table only: a table that does not exist yet reads as empty, with `columns`.")
    columns: dict[Identifier, ColumnSpec] = Field(
        default_factory=dict,
        description="Explicit schema in file order (csv, json): column -> Spark SQL type (required), or "
        "{type: ..., nullable: true}. Every value must be exactly what its text says in that type, else the line is malformed.",
    )
    encoding: Encoding = Field(
        "utf-8",
        description="csv, json: the files' character encoding. A line with bytes that are not valid in it is malformed.",
    )
    multiline: bool = Field(
        False,
        description="csv: records may hold line breaks inside quoted fields (RFC 4180). Each file is then read whole by "
        "one task; without it, a line with an unterminated quote is malformed.",
    )
    options: dict[str, str] = Field(default_factory=dict, description="Extra reader options.")
    volume: VolumeCheck | None = Field(
        None, description="Fail the run when the input is far smaller or larger than usual (rows per day vs. earlier runs)."
    )
    schema_drift: Literal["fail", "ignore"] = Field(
        "fail",
        description="json: a field no declared column names, or a declared column no record has, stops the run (fail), "
        "or is ignored (ignore: new fields are not read, missing ones are empty: null where the column is nullable). CSV headers are always checked.",
    )
    malformed: Literal["quarantine", "fail"] = Field(
        "quarantine",
        description="csv, json, cloudfront: a line that does not parse with `columns` (wrong number of fields, a value of the wrong type, "
        "broken JSON) goes with its raw text to quarantine.<job>_<source> (quarantine), or stops the run (fail).",
    )

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        if self.format == "table":
            if not self.table:
                raise ValueError("format 'table' needs 'table' (database.table)")
        elif not self.path:
            raise ValueError(f"format '{self.format}' needs 'path' (a folder under the zone)")
        if self.format in ("csv", "json") and not self.columns:
            raise ValueError(f"format '{self.format}' needs 'columns': an explicit schema, never inferred")
        if self.format == "cloudfront" and self.columns:
            raise ValueError("format 'cloudfront' has its own columns (etl/extract/cloudfront.py): remove 'columns'")
        if self.format not in LINE_FORMATS and "malformed" in self.model_fields_set:
            raise ValueError("'malformed' is for formats csv, json and cloudfront")
        if self.stream and (self.format != "json" or self.date_partition or self.days_before):
            raise ValueError("'stream' is for format json, without date_partition or days_before (a stream has no days)")
        if self.incremental and (self.format not in ("csv", "json", "parquet", "cloudfront") or self.stream or self.days_before):
            raise ValueError("'incremental' is for file sources (csv, json, parquet, cloudfront), not streams or days_before")
        if (self.kinesis or self.files_per_batch) and not self.stream:
            raise ValueError("'kinesis' and 'files_per_batch' are for stream sources (stream: true)")
        if self.days_before and not self.date_partition:
            raise ValueError("'days_before' needs 'date_partition' (the days are folders)")
        if self.wait_for and (not self.date_partition or self.days_before):
            raise ValueError("'wait_for' needs 'date_partition' (it waits for the window's daily folders), without days_before")
        if self.format not in ("csv", "json") and "encoding" in self.model_fields_set:
            raise ValueError("'encoding' is for formats csv and json")
        if self.multiline and (self.format != "csv" or self.stream):
            raise ValueError("'multiline' is for format csv")
        if self.format != "json" and "schema_drift" in self.model_fields_set:
            raise ValueError("'schema_drift' is for format json (a CSV header must always match the columns)")
        if self.optional and (self.format != "table" or not self.columns):
            raise ValueError("'optional' is for format 'table' and needs 'columns' (the schema of the empty result)")
        return self

    @property
    def types(self) -> dict[str, str]:
        """column -> Spark SQL type"""
        return {name: column.type for name, column in self.columns.items()}


# What the metastores keep of a comment: Hive's COLUMNS_V2.COMMENT is varchar(256), Glue's column Comment
# 255 characters and its table Description 2048.
COLUMN_COMMENT_LIMIT = 255
TABLE_COMMENT_LIMIT = 2048


class TargetConfig(Strict):
    table: TableName = Field(description="database.table to load.")
    format: TableFormat | None = Field(None, description="Table format; default: the env's tables.default_format.")
    mode: LoadMode = Field(
        description="append | overwrite (whole table) | overwrite_partitions (only partitions in the new data) | merge (upsert on merge_keys)."
    )
    partition_by: list[Identifier] = Field(default_factory=list, description="Partition columns, in order.")
    merge_keys: list[Identifier] = Field(default_factory=list, description="Business key columns for mode merge.")
    suite: str | None = Field(None, description="Expectation suite in conf/expectations/<suite>.yaml, checked before the write.")
    rows_from: Identifier | None = Field(
        None,
        description="The source each row of this target comes from, one to one (fact_sales from lineitem): the run then checks "
        "that every row read from it is loaded, quarantined or dropped by a named rule, and fails when the counts do not add up.",
    )
    description: str | None = Field(
        None,
        max_length=TABLE_COMMENT_LIMIT,
        description="What the table holds: its comment in the metastore (Glue, Athena and DESCRIBE TABLE EXTENDED show it).",
    )
    columns: dict[Identifier, Annotated[str, Field(max_length=COLUMN_COMMENT_LIMIT)]] = Field(
        default_factory=dict,
        description="column -> what it holds (unit, how it is computed): the column's comment in the metastore. Given, it "
        "names every column of the table: a described column the data lacks fails the run, one it does not describe is a warning.",
    )

    @model_validator(mode="after")
    def _mode_needs(self) -> TargetConfig:
        if self.mode == "merge" and not self.merge_keys:
            raise ValueError("mode 'merge' needs 'merge_keys'")
        if self.mode == "overwrite_partitions" and not self.partition_by:
            raise ValueError("mode 'overwrite_partitions' needs 'partition_by'")
        undescribed = [column for column in dict.fromkeys([*self.partition_by, *self.merge_keys]) if column not in self.columns]
        if self.columns and undescribed:
            raise ValueError(f"columns: no description of {', '.join(undescribed)} (named in partition_by or merge_keys)")
        for column, text in self.columns.items():
            if not text.strip():
                raise ValueError(f"columns.{column}: an empty description (leave the column out instead)")
        if self.description is not None and not self.description.strip():
            raise ValueError("description: empty (leave it out instead)")
        return self


class JobConfig(Strict):
    name: str = Field(description="The job's name: the file name under conf/jobs/.")
    description: str = Field(description="One line shown by `etl list`.")
    job_class: str = Field(alias="class", description="module:Class of the Job subclass, e.g. jobs.sales_warehouse:SalesWarehouse.")
    sources: dict[Identifier, SourceConfig] = Field(default_factory=dict)
    targets: dict[Identifier, TargetConfig] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict, description="Job-specific settings, typed by the job's Params model.")

    @model_validator(mode="after")
    def _class_path(self) -> JobConfig:
        if not re.match(r"^[\w.]+:\w+$", self.job_class):
            raise ValueError(f"'class' must look like package.module:ClassName, got {self.job_class!r}")
        for name, target in self.targets.items():
            if target.rows_from and target.rows_from not in self.sources:
                raise ValueError(f"targets.{name}.rows_from: {target.rows_from!r} is not one of the sources ({', '.join(self.sources)})")
        return self


# --- pipelines: conf/pipelines/<pipeline>.yaml -------------------------------------------------------------


class PipelineJob(Strict):
    depends_on: list[Identifier] = Field(
        default_factory=list, description="Jobs of this pipeline that must have succeeded first (their tables are this job's input)."
    )


class PipelineConfig(Strict):
    name: str = Field(description="The pipeline's name: the file name under conf/pipelines/.")
    description: str = Field(description="One line shown by `etl pipeline show`.")
    jobs: dict[Identifier, PipelineJob] = Field(
        min_length=1, description="The night's jobs, by their names under conf/jobs/, each with the jobs it waits for."
    )

    def cycle(self) -> list[str] | None:
        """A chain of depends_on that leads back to its start ([a, b, a]), or None."""
        state: dict[str, str] = {}  # job -> "open" while its dependencies are walked, then "done"

        def walk(job: str, path: list[str]) -> list[str] | None:
            if state.get(job) == "open":
                return [*path[path.index(job) :], job]
            if state.get(job) == "done" or job not in self.jobs:
                return None
            state[job] = "open"
            for dependency in self.jobs[job].depends_on:
                found = walk(dependency, [*path, job])
                if found:
                    return found
            state[job] = "done"
            return None

        return next((found for job in self.jobs if (found := walk(job, []))), None)

    def order(self) -> list[str]:
        """The jobs, each after every job it depends on; otherwise in the file's order. (No cycle: ConfigDir checks.)"""
        done: list[str] = []
        while len(done) < len(self.jobs):
            done.append(next(name for name, job in self.jobs.items() if name not in done and set(job.depends_on) <= set(done)))
        return done


# --- expectation suites: conf/expectations/<suite>.yaml ---------------------------------------------------


class ExpectationConfig(Strict):
    type: Identifier = Field(description="Great Expectations expectation, snake_case: expect_column_values_to_not_be_null.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Its arguments, as Great Expectations names them.")
    severity: Severity = Field(
        description="error: fail the run before anything is written; warn: record and go on; quarantine (row-level "
        "expectations only): move the rows that fail it to quarantine.<table> with the rule's name, load the others."
    )
    name: str | None = Field(None, description="The rule's name in quarantine tables and the audit log; default: the type and its columns.")


class SuiteConfig(Strict):
    name: str = Field(description="The suite's name: the file name under conf/expectations/.")
    description: str = ""
    expectations: list[ExpectationConfig] = Field(min_length=1)
