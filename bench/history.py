"""Give sales_warehouse's partitioned tables a longer history, cheaply: metastore entries only.

    python bench/history.py --partitions 24000    # each table then has 24,000 partitions
    python bench/history.py --remove              # back to the partitions the runs wrote

The entries are days before the TPC-H range (from 1900-01-01 on), each pointing at one empty folder: no
data is written, and no query of the one-day nightly run reads them, so a run that looked up every
partition of a table would pay for them and a run that looks up only its own would not. Run with the
lake's env (ETL_LAKE_ROOT, ETL_CONF_DIR) and no other `etl` command on that lake.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from etl import catalog
from etl.config import ConfigDir, find_conf_dir
from etl.session import build_session, stop_session
from etl.spark_internals import fs
from etl.zones import Zones, join

# Metastore requests of 1,000 entries: fewer round trips for tens of thousands of them.
catalog.PARTITION_BATCH = 1000

TABLES = ("warehouse.fact_sales", "warehouse.agg_sales_daily")
FIRST_DAY = date(1900, 1, 1)
FOLDER = "history-of-metastore-entries-only"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--partitions", type=int, help="grow each table to this many partitions")
    action.add_argument("--remove", action="store_true", help="remove the entries added")
    args = parser.parse_args()
    env = ConfigDir(find_conf_dir()).env("local")
    zones = Zones.from_env(env)
    spark = build_session(env, "bench-history")
    try:
        for table in TABLES:
            listed = catalog.partitions(spark, table).locations
            fake = [values for values, location in listed.items() if location.rstrip("/").endswith(FOLDER)]
            if args.remove:
                catalog.drop_partitions(spark, table, ["order_date"], fake)
                print(f"{table}: {len(fake)} entries removed, {len(listed) - len(fake)} partitions left")
                continue
            folder = join(catalog.table_location(zones, table), FOLDER)
            fs.mkdirs(spark, folder)
            missing = max(args.partitions - len(listed), 0)
            days = (FIRST_DAY + timedelta(days=len(fake) + n) for n in range(missing))
            catalog.add_partitions(spark, table, ["order_date"], {(day.isoformat(),): folder for day in days})
            print(f"{table}: {missing} entries added, {len(listed) + missing} partitions")
    finally:
        stop_session(spark)


if __name__ == "__main__":
    main()
