"""`make bench`: measure the runner against its performance targets, print one table.

    python bench/run.py [--quick] [--only NAME ...] [--workdir DIR]

Generates its inputs in a temporary folder (or --workdir, kept afterwards), starts
`runner sandbox --port 0` processes as needed, runs `runner` commands as separate
processes and prints one table with the machine it ran on. The figures are also
written to bench/out/results.json (results-quick.json, results-load.json, ... for
partial runs). Benchmarks are not tests: a missed target is reported, never
raised; the exit code is 0 unless a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from cases import CASES as RUNNER_CASES
from cases import FULL, QUICK, Context, Figure
from common import machine
from limiters import bench_limiters
from pg_accounts import bench_postgresql_accounts
from postgresql import bench_postgresql
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).with_name("out")
# limiters.py imports cases.py, so it is registered here, right after "rate"
# (a dict union keeps the position of the keys of its left side).
CASES = {"rate": RUNNER_CASES["rate"], "limiters": bench_limiters} | RUNNER_CASES
CASES["postgresql"] = bench_postgresql  # the load and the drain on both backends
CASES["postgresql_accounts"] = bench_postgresql_accounts  # two workers share the accounts
console = Console(stderr=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, < 1 min")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(CASES),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(CASES)}",
    )
    parser.add_argument("--workdir", type=Path, help="keep inputs and databases in this folder")
    parser.add_argument(
        "--accounts", type=int, help="accounts of both accounts benchmarks (default: the size's)"
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    console.log(message)


def run_case(name: str, context: Context) -> tuple[list[Figure], bool]:
    """The figures of one benchmark; a failure becomes a row, not a crash."""
    started = time.perf_counter()
    try:
        figures = CASES[name](context)
    except Exception as error:  # a broken benchmark must not hide the others
        traceback.print_exc()
        return [Figure(name, None, "error", "", False, f"{type(error).__name__}: {error}")], False
    log(f"{name}: done in {time.perf_counter() - started:.1f} s")
    return figures, True


def render(figures: list[Figure], info: dict[str, object], quick: bool) -> Table:
    note = " (--quick: small sizes; the targets are for the full sizes)" if quick else ""
    title = (
        f"runner benchmarks{note}"
        f"\n{info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"SQLite {info['sqlite_library']} (sqlite3 CLI {info['sqlite_cli'] or 'not found'}); "
        f"runner at {info['runner']}"
    )
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("figure", ratio=3)
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("met", justify="center", no_wrap=True)
    table.add_column("detail", ratio=4)
    for figure in figures:
        met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[figure.met]
        table.add_row(figure.name, figure.shown, figure.target, met, figure.detail)
    return table


def save(figures: list[Figure], info: dict[str, object], args: argparse.Namespace) -> Path:
    """bench/out/results[-quick][-NAME...].json: a partial run does not replace a full one."""
    OUT.mkdir(exist_ok=True)
    parts = ["results", *(["quick"] if args.quick else []), *sorted(args.only or [])]
    path = OUT / ("-".join(parts) + ".json")
    document = {"machine": info, "quick": args.quick, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def run_all(root: Path, args: argparse.Namespace) -> tuple[list[Figure], bool]:
    sizes = QUICK if args.quick else FULL
    if args.accounts is not None:
        sizes = dataclasses.replace(sizes, accounts=args.accounts, pg_accounts=args.accounts)
    context = Context(root, sizes, log)
    figures: list[Figure] = []
    ok = True
    for name in CASES:
        if args.only and name not in args.only:
            continue
        log(f"[bold]{name}[/bold]")
        found, worked = run_case(name, context)
        figures += found
        ok = ok and worked
    return figures, ok


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    info = machine()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures, ok = run_all(args.workdir.resolve(), args)
    else:
        with tempfile.TemporaryDirectory(prefix="runner-bench-") as folder:
            figures, ok = run_all(Path(folder), args)
    Console(width=max(Console().width, 160)).print(render(figures, info, args.quick))
    log(f"figures saved to {save(figures, info, args)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
