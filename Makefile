# make setup  -> .venv with everything the tests and the demo need
# make test   -> the whole test suite
# SPARK=4.0 (EMR 8: Spark 4.0.2, Scala 2.13) does the same in .venv-spark4, on Python 3.12.
SPARK ?= 3.5
# A Python that runs (a pyenv shim of a version not selected does not).
runs = $(firstword $(foreach p,$(1),$(shell $(p) -c 'import sys' 2>/dev/null && command -v $(p))))
ifeq ($(SPARK),3.5)
PYTHON  ?= $(or $(call runs,python3.11),python3)
VENV    := .venv
PYSPARK := 3.5.6
EXTRAS  := dev,demo,delta,bench,report
JAR_DIR := .cache/jars
JAVA_RELEASE := 8
else ifeq ($(SPARK),4.0)
# EMR 8 runs Python 3.11 to 3.13; the lane takes the middle one, else 3.11.
PYTHON  ?= $(or $(call runs,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)),$(call runs,python3.11),python3)
VENV    := .venv-spark4
PYSPARK := 4.0.2
EXTRAS  := dev,demo,bench,report
JAR_DIR := .cache/jars-spark4.0
JAVA_RELEASE := 17
else
$(error SPARK=$(SPARK): the lanes are SPARK=3.5 (EMR 7) and SPARK=4.0 (EMR 8))
endif
BIN    := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help setup test unit integration lint demo clean metastore-up metastore-down bench bench-scale bench-history

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

LOCAL_FS_JAR := $(JAR_DIR)/etl-local-fs.jar
HMS_LOOPBACK_JAR := $(JAR_DIR)/etl-hms-loopback.jar
CATALOG_JAR  := $(JAR_DIR)/etl-catalog.jar

JARS_STAMP   := $(JAR_DIR)/.fetched
, := ,

# The AWS CLI the README's commands use, in a venv of its own (it pins its own botocore), for the tests that run it.
AWS_CLI := .venv-awscli/bin/aws
AWS_CLI_VERSION := 1.46.3
# Airflow and its Amazon provider, the versions of Amazon MWAA's Airflow 2.10.3 (its constraints file pins
# the provider), in a venv of their own, for the test that loads examples/airflow/ with Airflow's DagBag.
AIRFLOW := .venv-airflow/bin/airflow
AIRFLOW_VERSION := 2.10.3
AIRFLOW_AMAZON_VERSION := 9.0.0

setup: $(BIN)/etl $(LOCAL_FS_JAR) $(CATALOG_JAR) $(HMS_LOOPBACK_JAR) $(JARS_STAMP) $(AWS_CLI) $(AIRFLOW) ## create .venv, install the project with its test and demo tools, fetch the jars

$(BIN)/etl: setup.py
	@case "$$($(PYTHON) -c 'import sys; print(sys.version_info[1])')" in 11) [ "$(SPARK)" = 3.5 ] || echo "Python 3.12 not found: the Spark $(SPARK) lane uses $(PYTHON)";; esac
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]" "pyspark==$(PYSPARK)"
	@touch $@

$(AWS_CLI):
	$(PYTHON) -m venv .venv-awscli
	.venv-awscli/bin/pip install --quiet "awscli==$(AWS_CLI_VERSION)"

# Airflow's constraints file is not on PyPI: the two pins alone resolve in about a minute (350 MB).
$(AIRFLOW):
	$(PYTHON) -m venv .venv-airflow
	.venv-airflow/bin/pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" "apache-airflow-providers-amazon==$(AIRFLOW_AMAZON_VERSION)"

# $(call compile_jar,<java sources>,<classes folder>,<top package folder>,<what happens without javac>[,<Java release>]):
# the optional helpers of etl/jvm/, compiled against the Spark jars pip installed.
define compile_jar
@if ! command -v javac >/dev/null; then echo "javac not found: $(4)"; exit 0; fi; \
spark_jars=$$($(BIN)/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))'); \
rm -rf $(2) && mkdir -p $(2) $(dir $@) && \
javac --release $(or $(5),$(JAVA_RELEASE)) -nowarn -d $(2) -cp "$$spark_jars/*" $(1) && \
jar cf $@ -C $(2) $(3)
endef

# A file system for file:// that sets permissions without forking chmod (see etl/jvm/); optional.
$(LOCAL_FS_JAR): $(wildcard etl/jvm/etl/hadoop/*.java) $(BIN)/etl
	$(call compile_jar,$(wildcard etl/jvm/etl/hadoop/*.java),.cache/classes-$(SPARK),etl,local writes will use Hadoop's slower file system)

# Reads and relocates a table's partitions in one JVM call, not py4j calls per partition (see etl/jvm/); optional.
# It ships in the release for EMR 7 and 8 alike: Java 8 bytecode, the same bytes from either lane's jars.
$(CATALOG_JAR): $(wildcard etl/jvm/etl/hive/*.java) $(BIN)/etl
	$(call compile_jar,$(wildcard etl/jvm/etl/hive/*.java),.cache/classes-catalog-$(SPARK),etl,partitions will be switched through py4j$(,) one call at a time,8)

# Hive 2.3's metastore listens on every interface; this class of Hive's name binds 127.0.0.1 (see etl/jvm/hms/); optional.
$(HMS_LOOPBACK_JAR): $(wildcard etl/jvm/hms/org/apache/hadoop/hive/common/auth/*.java) $(BIN)/etl
	$(call compile_jar,$(wildcard etl/jvm/hms/org/apache/hadoop/hive/common/auth/*.java),.cache/classes-hms-$(SPARK),org,the local Hive metastore will listen on all interfaces)

# S3A (hadoop-aws + AWS SDK) and Iceberg's Spark runtime, from PyPI archives, checksums checked (etl/jars.py).
$(JARS_STAMP): etl/jars.py etl/dev/jars.py $(BIN)/etl
	$(BIN)/python -m etl.dev.jars >/dev/null
	@touch $@

# Two pytest workers (pytest-xdist), each module's tests in one of them: most of an integration test's time
# is an etl command starting its JVM, which leaves the other core idle. Each worker has its one session-scoped
# SparkSession; WORKERS=0 runs everything in this process.
WORKERS ?= 2
PYTEST := $(BIN)/pytest $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --dist loadfile)

test: setup ## run the whole suite (unit + integration; WORKERS=2 pytest workers)
	$(PYTEST)

unit: setup ## unit tests only
	$(PYTEST) tests/unit

integration: setup ## end-to-end runs of the etl command
	$(PYTEST) tests/integration

lint: setup ## ruff and mypy
	$(BIN)/ruff check etl jobs tests bench examples
	$(BIN)/ruff format --check etl jobs tests bench examples
	$(BIN)/mypy etl jobs

SF     ?= 1
RUNS   ?= 3
SCALES ?= 0.1,1,3
PARTITIONS ?= 24000

bench: setup ## the nightly load against a hand-written PySpark script (SF=1 RUNS=3); results in bench/results/
	$(BIN)/python bench/run.py --sf $(SF) --runs $(RUNS)

bench-scale: setup ## how the nightly load's time grows with the data (SCALES=0.1,1,3)
	$(BIN)/python bench/run.py --scales $(SCALES) --runs 1

bench-history: setup ## the one-day nightly run as loaded and with PARTITIONS per table (default 24000)
	$(BIN)/python bench/run.py --history $(PARTITIONS) --runs $(RUNS)

# A Hive metastore service on MariaDB, as EMR's external one on RDS (etl/dev/metastore.py); needs mariadb-server and libmariadb-java.
METASTORE_DIR ?= .cache/metastore

metastore-up: $(BIN)/etl $(HMS_LOOPBACK_JAR) ## start a Hive metastore on MariaDB, left running (METASTORE_DIR=, S3_ENDPOINT=); prints its thrift URI
	$(BIN)/python -m etl.dev.metastore up --state-dir $(METASTORE_DIR) $(if $(S3_ENDPOINT),--s3-endpoint $(S3_ENDPOINT))

metastore-down: ## stop what metastore-up started
	$(BIN)/python -m etl.dev.metastore down --state-dir $(METASTORE_DIR)

demo: setup ## demo data at SF 0.01, then a three-month backfill, in ./lake
	$(BIN)/etl demo-data --env local --scale 0.01
	$(BIN)/etl backfill sales_warehouse --env local --from 1992-01-01 --to 1992-03-31
	$(BIN)/etl sql --env local "SELECT order_date, nation, market_segment, orders, lines, net_revenue FROM warehouse.agg_sales_daily ORDER BY order_date, nation, market_segment LIMIT 20"

.PHONY: package deploy
package: $(BIN)/etl ## build dist/: etl-<version>.zip (etl, jobs, conf), main.py, conf/, requirements.txt (reproducible)
	$(BIN)/etl package --out dist

# ARTIFACTS=s3://bucket/prefix/ (default: emr.artifacts of ENV); ENV defaults to emr. A local S3 server: AWS_ENDPOINT_URL.
deploy: package ## upload dist/ to ARTIFACTS=s3://bucket/prefix/
	$(BIN)/etl deploy --dist dist $(if $(ARTIFACTS),--artifacts $(ARTIFACTS)) $(if $(ENV),--env $(ENV))

clean: ## remove the local lake and build output (not .venv)
	rm -rf lake dist build *.egg-info .pytest_cache bench/work
