"""The nightly-load benchmark: sales_warehouse through the product against a hand-written PySpark script.

    python bench/run.py --sf 1 --runs 3          # make bench
    python bench/run.py --scales 0.1,1,3         # make bench-scale
    python bench/run.py --history 24000          # make bench-history

Lands TPC-H raw data with `etl demo-data` (kept under bench/work/ between calls), then runs, in turn and
each `--runs` times: `etl backfill sales_warehouse` over the TPC-H range up to the day before its last
order date (the product path), the bare script (bench/bare_sales.py) over the same days, the product
path with validation switched off (a copy of conf/ whose targets name no suite), and the nightly run of
the last order date by each (`etl run sales_warehouse`, and the script for that day). The product's runs
find the warehouse loaded, as every night but the first does (an untimed warm-up run creates its tables
and metastore once); the bare script overwrites its output folders (the day's partitions, one day).

--history N measures the nightly run alone, with fact_sales and agg_sales_daily as they are (about
2,400 partitions each) and grown to N partitions each by metastore entries (bench/history.py).

Prints wall time (median, min-max), rows per second, peak memory (all the run's processes together)
and the ratios product / bare and validation's share of the product path; writes them as JSON and a
chart of time per stage under bench/results/. Ratios are taken run by run (product run i over bare run
i), so that a machine's drift during the call moves both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import yaml

from etl.jars import JARS_DIR

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ETL = Path(sys.executable).parent / "etl"
LOCAL_FS_JAR = JARS_DIR / "etl-local-fs.jar"
# The backfill's days, and the nightly run's day after them: the last order date of TPC-H.
FIRST, LAST, NIGHT = "1992-01-01", "1998-08-01", "1998-08-02"
PRODUCT, BARE, NO_VALIDATION = "product", "bare script", "product, validation off"
NIGHTLY, NIGHTLY_BARE = "product, one day", "bare script, one day"
STAGES = re.compile(r"stage seconds: (\{.*\})")


@dataclass
class Run:
    variant: str
    wall_seconds: float
    peak_mib: float
    stages: dict[str, float] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (default 3)")
    parser.add_argument("--scales", help="a scaling run instead: comma-separated scale factors, product and bare script only")
    parser.add_argument("--history", type=int, help="the nightly run alone, at the tables' partitions and grown to this many")
    parser.add_argument("--work", type=Path, default=BENCH / "work", help="where the raw data and the runs' output go")
    args = parser.parse_args()
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.history:
        report = {"machine": machine(), **history(args.work, args.sf, args.runs, args.history)}
        name = f"history-{stamp}"
        (results / f"{name}.json").write_text(json.dumps(report, indent=2))
        print(f"\nwritten: {results / name}.json")
        return
    if args.scales:
        scales = [float(s) for s in args.scales.split(",")]
        report = {"machine": machine(), "scaling": [measure(args.work, sf, args.runs, (PRODUCT, BARE)) for sf in scales]}
        report["fit"] = print_scaling(report["scaling"])
        name = f"scaling-{stamp}"
    else:
        report = {"machine": machine(), **measure(args.work, args.sf, args.runs, (PRODUCT, BARE, NO_VALIDATION, NIGHTLY, NIGHTLY_BARE))}
        report["strict_parsing"] = parsing_cost(args.work / f"sf{args.sf:g}" / "lake", args.runs, report["summary"])
        print_table(report)
        name = f"sf{args.sf:g}-{stamp}"
    (results / f"{name}.json").write_text(json.dumps(report, indent=2))
    chart(report, results / f"{name}.png")
    print(f"\nwritten: {results / name}.json and .png")


def measure(work: Path, sf: float, runs: int, variants: tuple[str, ...]) -> dict:
    root = work / f"sf{sf:g}"
    lineitems = land(root, sf)
    warm_up(root)
    timings: list[Run] = []
    for number in range(1, runs + 1):
        for variant in variants:
            print(f"[sf {sf:g}, run {number}/{runs}] {variant} ...", end=" ", flush=True)
            run = timed(variant, *command_of(variant, root))
            print(f"{run.wall_seconds:.1f} s, peak {run.peak_mib:.0f} MiB")
            timings.append(run)
    return {"sf": sf, "lineitems": lineitems, "runs": [asdict(run) for run in timings], "summary": summarize(timings, lineitems)}


def land(root: Path, sf: float) -> int:
    """The raw zone for this scale factor, landed once and reused; the number of lineitems."""
    marker = root / "landed.json"
    if marker.exists():
        return int(json.loads(marker.read_text())["lineitems"])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"landing TPC-H at scale factor {sf:g} with etl demo-data ...", flush=True)
    started = time.monotonic()
    env = {**os.environ, "ETL_LAKE_ROOT": str(root / "lake"), "ETL_CONF_DIR": str(REPO / "conf")}
    done = subprocess.run(
        [str(ETL), "demo-data", "--env", "local", "--scale", str(sf)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"etl demo-data failed:\n{done.stderr[-3000:]}")
    found = re.search(r"(\d+) lineitems", done.stderr)
    lineitems = int(found.group(1)) if found else 0
    marker.write_text(json.dumps({"sf": sf, "lineitems": lineitems, "seconds": round(time.monotonic() - started, 1)}))
    return lineitems


def without_suites(conf: Path) -> Path:
    """A copy of conf/ whose sales_warehouse targets name no expectation suite: no validation at all."""
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(REPO / "conf", conf)
    job_file = conf / "jobs" / "sales_warehouse.yaml"
    job = yaml.safe_load(job_file.read_text())
    for target in job["targets"].values():
        target.pop("suite", None)
    job_file.write_text(yaml.safe_dump(job, sort_keys=False))
    return conf


def warm_up(root: Path) -> None:
    """The warehouse loaded by an untimed first backfill, once per lake (again when the days changed: the
    bookmarks of other days' runs would hide the files)."""
    marker = root / "lake" / "warmed.json"
    days = {"from": FIRST, "to": LAST}
    if marker.exists() and json.loads(marker.read_text()) == days:
        return
    for folder in (root / "lake").iterdir():
        if folder.name != "raw":
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
    shutil.rmtree(root / "bare", ignore_errors=True)
    print(f"[{root.name}] warm-up: a first backfill creates the warehouse (not timed) ...", flush=True)
    timed("warm-up", *command_of(PRODUCT, root))
    marker.write_text(json.dumps(days))


def command_of(variant: str, root: Path) -> tuple[list[str], dict[str, str]]:
    """A variant's command and its environment."""
    lake = {"ETL_LAKE_ROOT": str(root / "lake")}
    if variant in (BARE, NIGHTLY_BARE):
        command = [sys.executable, str(BENCH / "bare_sales.py"), "--raw", str(root / "lake" / "raw"), "--out", str(root / "bare")]
        command += ["--from", FIRST, "--to", LAST] if variant == BARE else ["--from", NIGHT, "--to", NIGHT]
        return command + (["--local-fs-jar", str(LOCAL_FS_JAR)] if LOCAL_FS_JAR.is_file() else []), lake
    conf = without_suites(root / "conf-no-validation") if variant == NO_VALIDATION else REPO / "conf"
    etl = [str(ETL), "backfill", "sales_warehouse", "--env", "local", "--from", FIRST, "--to", LAST]
    if variant == NIGHTLY:
        etl = [str(ETL), "run", "sales_warehouse", "--env", "local", "--run-date", NIGHT]
    return etl, {**lake, "ETL_CONF_DIR": str(conf)}


def history(work: Path, sf: float, runs: int, partitions: int) -> dict:
    """The nightly run with the tables as the backfill left them, then grown to `partitions` each. In a
    lake of its own: tens of thousands of entries added and removed leave the embedded metastore's
    database slower (Derby does not compact it), which would skew the other benchmarks."""
    root = work / f"sf{sf:g}-history"
    land(root, sf)
    warm_up(root)
    grow = [sys.executable, str(BENCH / "history.py")]
    env = {**os.environ, **command_of(NIGHTLY, root)[1]}
    timings: dict[str, list[float]] = {}
    for label, arguments in (("as loaded", ["--remove"]), (f"{partitions:,} partitions", ["--partitions", str(partitions)])):
        print(
            f"[history] {label}: {subprocess.run([*grow, *arguments], env=env, capture_output=True, text=True, check=True).stdout.strip()}"
        )
        for number in range(1, runs + 1):
            run = timed(NIGHTLY, *command_of(NIGHTLY, root))
            print(f"[history, {label}, run {number}/{runs}] {run.wall_seconds:.1f} s; stages {run.stages}")
            timings.setdefault(label, []).append(run.wall_seconds)
    subprocess.run([*grow, "--remove"], env=env, capture_output=True, check=True)
    medians = {label: statistics.median(seconds) for label, seconds in timings.items()}
    grown, loaded = medians[f"{partitions:,} partitions"], medians["as loaded"]
    print(f"\none-day nightly, median s: {loaded:.1f} as loaded, {grown:.1f} at {partitions:,} partitions ({grown / loaded:.2f}x)")
    return {"sf": sf, "partitions": partitions, "nightly_s": timings, "grown_over_loaded": round(grown / loaded, 3)}


def timed(variant: str, command: list[str], env: dict[str, str]) -> Run:
    """Run a command to its end: wall seconds, the peak of its processes' summed memory, its stage seconds
    (a debug line of etl's, in the lake's logs/etl.log: what the run appends to it)."""
    log = Path({**os.environ, **env}.get("ETL_LAKE_ROOT", REPO / "lake")) / "logs" / "etl.log"
    offset = log.stat().st_size if log.is_file() else 0
    started = time.monotonic()
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    peak = PeakMemory(process.pid)
    peak.start()
    _, stderr = process.communicate()
    wall = time.monotonic() - started
    peak.stop()
    if process.returncode != 0:
        sys.exit(f"{variant} failed (exit {process.returncode}):\n{stderr[-3000:]}")
    stages = STAGES.findall(log.read_bytes()[offset:].decode(errors="replace")) if log.is_file() else []
    return Run(variant, round(wall, 2), round(peak.mib, 1), json.loads(stages[-1]) if stages else {})


class PeakMemory(threading.Thread):
    """The largest sum, sampled every 0.2 s, of the resident memory of the processes of one group (the
    command's Python process and the Spark JVM it starts)."""

    def __init__(self, group: int) -> None:
        super().__init__(daemon=True)
        self.group, self.mib, self._done = group, 0.0, threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._done.wait(0.2):
            total = 0
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[2]) == self.group:
                        total += int(Path(entry.path, "statm").read_text().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    continue
            self.mib = max(self.mib, total / 2**20)

    def stop(self) -> None:
        self._done.set()
        self.join()


def summarize(runs: list[Run], lineitems: int) -> dict:
    by_variant: dict[str, list[Run]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    summary: dict = {}
    for variant, own in by_variant.items():
        walls = [r.wall_seconds for r in own]
        stage_names = list(dict.fromkeys(name for r in own for name in r.stages))
        summary[variant] = {
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "rows_per_s": None if variant in (NIGHTLY, NIGHTLY_BARE) else round(lineitems / statistics.median(walls)),
            "peak_mib": statistics.median(r.peak_mib for r in own),
            "stages_median_s": {name: statistics.median(r.stages.get(name, 0.0) for r in own) for name in stage_names},
        }
    for key, (product, bare) in {"product_over_bare": (PRODUCT, BARE), "nightly_over_bare": (NIGHTLY, NIGHTLY_BARE)}.items():
        if product in by_variant and bare in by_variant:
            ratios = [p.wall_seconds / b.wall_seconds for p, b in zip(by_variant[product], by_variant[bare], strict=True)]
            summary[key] = {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)}
    if PRODUCT in summary and BARE in summary:
        summary["peak_over_bare"] = round(summary[PRODUCT]["peak_mib"] / summary[BARE]["peak_mib"], 2)
    if PRODUCT in by_variant and NO_VALIDATION in by_variant:
        shares = [
            (p.wall_seconds - n.wall_seconds) / p.wall_seconds for p, n in zip(by_variant[PRODUCT], by_variant[NO_VALIDATION], strict=True)
        ]
        summary["validation_share"] = {
            "median": round(statistics.median(shares), 3),
            "min": round(min(shares), 3),
            "max": round(max(shares), 3),
        }
        validate_s = summary[PRODUCT]["stages_median_s"].get("check and validate", 0.0)
        summary["validate_stage_share"] = round(validate_s / summary[PRODUCT]["median_s"], 3)
    return summary


def parsing_cost(lake: Path, runs: int, summary: dict) -> dict:
    """bench/parse.py: lineitem read strictly (the product) and by Spark's typed reader (the bare script),
    in turn; the extra seconds as a share of the product's median run, beside validation's share."""
    print("strict parsing: lineitem's full range read both ways ...", flush=True)
    env = {**os.environ, "ETL_LAKE_ROOT": str(lake)}
    done = subprocess.run(
        [sys.executable, str(BENCH / "parse.py"), "--lake", str(lake), "--runs", str(runs)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"bench/parse.py failed:\n{done.stderr[-3000:]}")
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    extra = [strict - spark for strict, spark in zip(seconds["strict"], seconds["spark"], strict=True)]
    return {
        "lineitem_read_s": seconds,
        "extra_s_median": round(statistics.median(extra), 1),
        "share_of_product": round(statistics.median(extra) / summary[PRODUCT]["median_s"], 3),
    }


def print_table(report: dict) -> None:
    summary = report["summary"]
    print(f"\nsales_warehouse, TPC-H SF {report['sf']:g} ({report['lineitems']:,} lineitems), {report['machine']['cores']} cores")
    print(f"{'':26} {'median s':>9} {'min-max s':>14} {'rows/s':>10} {'peak MiB':>9}")
    for variant in (PRODUCT, BARE, NO_VALIDATION, NIGHTLY, NIGHTLY_BARE):
        if variant in summary:
            s = summary[variant]
            rate = f"{s['rows_per_s']:10,}" if s["rows_per_s"] else f"{'':10}"
            print(f"{variant:26} {s['median_s']:9.1f} {s['min_s']:6.1f}-{s['max_s']:<7.1f} {rate} {s['peak_mib']:9.0f}")
    if "product_over_bare" in summary:
        r = summary["product_over_bare"]
        print(f"\nproduct / bare script:       {r['median']:.3f} (runs: {r['min']:.3f}-{r['max']:.3f})  target <= 1.15")
    if "nightly_over_bare" in summary:
        r = summary["nightly_over_bare"]
        print(f"one-day nightly, product / bare: {r['median']:.3f} (runs: {r['min']:.3f}-{r['max']:.3f})  target <= 1.5")
    if "validation_share" in summary:
        v = summary["validation_share"]
        print(f"validation share of product: {v['median']:.1%} (runs: {v['min']:.1%}-{v['max']:.1%})  target <= 10%")
    if "peak_over_bare" in summary:
        print(f"peak memory, product / bare: {summary['peak_over_bare']:.2f}  target <= 1.2")
    if "strict_parsing" in report:
        cost = report["strict_parsing"]
        strict, spark = (statistics.median(cost["lineitem_read_s"][way]) for way in ("strict", "spark"))
        print(
            f"strict parsing (lineitem read, median): {strict:.1f} s vs Spark's typed reader {spark:.1f} s: "
            f"+{cost['extra_s_median']:.1f} s, {cost['share_of_product']:.1%} of the product's run; must stay inside the validation share"
        )
    stages = summary.get(PRODUCT, {}).get("stages_median_s", {})
    if stages:
        print("product stages (median s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items()))


def print_scaling(points: list[dict]) -> dict:
    """The table of wall time by scale factor, and per variant the straight line through it (fixed seconds
    plus seconds per scale factor, least squares): linear growth leaves residuals within the noise."""
    print(f"\n{'SF':>5} {'lineitems':>12} {'product s':>10} {'bare s':>8} {'product/bare':>13} {'product +s/SF':>14} {'bare +s/SF':>11}")
    for before, point in zip([None, *points], points, strict=False):
        s = point["summary"]
        product, bare = s[PRODUCT]["median_s"], s[BARE]["median_s"]
        ratio = s["product_over_bare"]["median"]
        if before:  # the seconds each variant added per scale factor since the previous point
            step = point["sf"] - before["sf"]
            slopes = [(s[v]["median_s"] - before["summary"][v]["median_s"]) / step for v in (PRODUCT, BARE)]
            added = f"{slopes[0]:14.1f} {slopes[1]:11.1f}"
        else:
            added = f"{'':>14} {'':>11}"
        print(f"{point['sf']:5g} {point['lineitems']:12,} {product:10.1f} {bare:8.1f} {ratio:13.3f} {added}")
    if len(points) < 3:
        return {}
    fits = {}
    for variant in (PRODUCT, BARE):
        sfs, seconds = [p["sf"] for p in points], [p["summary"][variant]["median_s"] for p in points]
        line = statistics.linear_regression(sfs, seconds)
        residuals = [round(y - (line.intercept + line.slope * x), 1) for x, y in zip(sfs, seconds, strict=True)]
        fits[variant] = {"fixed_s": round(line.intercept, 1), "s_per_sf": round(line.slope, 1), "residuals_s": residuals}
        print(f"{variant}: {line.intercept:.1f} s + {line.slope:.1f} s per SF (residuals: {', '.join(map(str, residuals))} s)")
    return fits


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 4))
    if "scaling" in report:
        sfs = [p["sf"] for p in report["scaling"]]
        for variant in (PRODUCT, BARE):
            axes.plot(sfs, [p["summary"][variant]["median_s"] for p in report["scaling"]], marker="o", label=variant)
        axes.set(xlabel="TPC-H scale factor", ylabel="wall seconds (median)", title="sales_warehouse backfill: time by data size")
        axes.legend()
    else:
        summary = report["summary"]
        variants = [v for v in (PRODUCT, NO_VALIDATION, BARE) if v in summary]
        stage_names = list(dict.fromkeys(name for v in variants for name in summary[v]["stages_median_s"]))
        for row, variant in enumerate(variants):
            stages = summary[variant]["stages_median_s"] or {"whole script": summary[variant]["median_s"]}
            other = summary[variant]["median_s"] - sum(stages.values())
            left = 0.0
            for name, seconds in [*stages.items(), ("start-up and exit", max(other, 0.0))]:
                colour = f"C{stage_names.index(name)}" if name in stage_names else ("C9" if name == "whole script" else "0.7")
                axes.barh(row, seconds, left=left, color=colour, label=name)
                left += seconds
        axes.set_yticks(range(len(variants)), variants)
        axes.set(xlabel="wall seconds (median of runs)", title=f"sales_warehouse backfill, TPC-H SF {report['sf']:g}: time per stage")
        handles, labels = axes.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        axes.legend(unique.values(), unique.keys(), fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "pyspark": version("pyspark"),
        "commit": commit,
    }


if __name__ == "__main__":
    main()
