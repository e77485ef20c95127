"""spark-submit entry point of an etl release; `etl package` copies this file to dist/main.py.

    spark-submit --py-files etl-<release>.zip main.py --job JOB --env ENV (--run-date D | --from D --to D)

It only hands over to etl.emr.entry inside the zip, so it stays the same from release to release.
"""

import sys

if __name__ == "__main__":
    try:
        from etl.emr.entry import main
    except ImportError as error:
        print(f"etl: error: cannot import the etl package ({error}); pass etl-<release>.zip with spark-submit --py-files", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(main(sys.argv[1:]))
