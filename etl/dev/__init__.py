"""Local stand-ins for the services EMR provides, for the tests and the make targets: an S3 API
server, a Hive metastore service on MariaDB, a Spark standalone cluster, and the jars they need.
Not part of the spark-submit artifact."""
