# make setup  -> .venv with everything the tests and the demo need
# make test   -> the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help setup test unit integration lint demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(BIN)/etl ## create .venv and install the project with its test and demo tools

$(BIN)/etl: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,demo,delta]"
	@touch $@

test: setup ## run the whole suite (unit + integration)
	$(BIN)/pytest

unit: setup ## unit tests only
	$(BIN)/pytest tests/unit

integration: setup ## end-to-end runs of the etl command
	$(BIN)/pytest tests/integration

lint: setup ## ruff and mypy
	$(BIN)/ruff check etl jobs tests
	$(BIN)/ruff format --check etl jobs tests
	$(BIN)/mypy etl jobs

demo: setup ## demo data at SF 0.01, then a three-month backfill, in ./lake
	$(BIN)/etl demo-data --env local --scale 0.01
	$(BIN)/etl backfill sales_warehouse --env local --from 1992-01-01 --to 1992-03-31
	$(BIN)/etl sql --env local "SELECT order_date, nation, market_segment, orders, lines, net_revenue FROM warehouse.agg_sales_daily ORDER BY order_date, nation, market_segment LIMIT 20"

clean: ## remove the local lake and build output (not .venv)
	rm -rf lake dist build *.egg-info .pytest_cache
