"""What strict parsing costs: lineitem's full range read as the product reads it (as text, split and typed
exactly, malformed lines kept; etl/extract/) against Spark's own typed CSV reader, as the bare script
reads it, given the same daily folders (so that only the parsing differs). One Spark application, each read once untimed (warm-up), then the two in turn `--runs` times, each
written to Spark's `noop` sink (every column converted, nothing stored). Prints one JSON line: the seconds of each read.

    python bench/parse.py --lake bench/work/sf1/lake --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, Observation

from etl.config import ConfigDir
from etl.context import DateWindow, RunContext, new_run_id
from etl.extract import read_source, source_folders
from etl.extract.malformed import observed, well_formed
from etl.session import build_session, stop_session
from etl.zones import Zones

REPO = Path(__file__).resolve().parents[1]
FIRST, LAST = date(1992, 1, 1), date(1998, 12, 31)


def seconds(frame: DataFrame) -> float:
    started = time.monotonic()
    frame.write.format("noop").mode("overwrite").save()
    return round(time.monotonic() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="the bench's lake (raw/tpch/lineitem under it)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first", type=date.fromisoformat, default=FIRST, help="the first day read (default: lineitem's first)")
    parser.add_argument("--last", type=date.fromisoformat, default=LAST, help="the last day read (default: lineitem's last)")
    args = parser.parse_args()
    conf = ConfigDir(REPO / "conf", environ={**os.environ, "ETL_LAKE_ROOT": str(args.lake)})
    env = conf.env("local")
    source = conf.job("sales_warehouse").sources["lineitem"]
    spark = build_session(env, "bench-parse")
    ctx = RunContext(job="bench", env="local", window=DateWindow(args.first, args.last), run_id=new_run_id(), zones=Zones.from_env(env))
    timings: dict[str, list[float]] = {"strict": [], "spark": []}
    folders = source_folders(spark, "lineitem", source, ctx)
    schema = ", ".join(f"{name} {kind}" for name, kind in source.types.items())
    typed_reader = spark.read.schema(schema).option("header", "true").option("basePath", f"{ctx.zones.raw}/tpch/lineitem")
    reads = {
        "strict": lambda: well_formed(observed(read_source(spark, "lineitem", source, ctx), Observation())),
        "spark": lambda: typed_reader.csv(folders),
    }
    try:
        for read in reads.values():  # warm-up, not timed: the JIT compiles both readers' code once
            seconds(read())
        for _ in range(args.runs):
            for way, read in reads.items():
                timings[way].append(seconds(read()))
    finally:
        stop_session(spark)
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
