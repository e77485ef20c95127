"""The project's exceptions. Each message is one line a person can act on at 3 a.m."""


class EtlError(Exception):
    """Base of every error the framework raises on purpose; the CLI prints its message as is."""


class ConfigError(EtlError):
    """Configuration that cannot be loaded: names the file and the key."""


class SourceError(EtlError):
    """An input that is missing, empty when it must not be, or unreadable."""


class ValidationFailed(EtlError):
    """An expectation of severity `error` failed: nothing was written."""


class RowAccountingFailed(EtlError):
    """Rows read != rows loaded + quarantined + dropped by named rules: nothing was written."""


class VolumeAnomaly(EtlError):
    """A source far smaller or larger than in the job's earlier runs: nothing was written."""


class JobLocked(EtlError):
    """Another run of the job holds its lock."""


class MetastoreInUse(EtlError):
    """Another etl command holds the env's embedded (Derby) metastore, which admits one process."""


class LoadError(EtlError):
    """A write that cannot be done as configured (schema mismatch, bad mode for the format)."""


class TableFormatUnavailable(EtlError):
    """The table format's runtime (jars) is not on the Spark classpath."""


class JobNotFound(EtlError):
    """No job of that name in conf/jobs."""


# The start of a message the project raises from inside a Spark query (raise_error): the one-line error
# shows what follows it, without the JVM exception's class or Spark's error-class decoration.
RAISED_IN_QUERY = "[etl] "
