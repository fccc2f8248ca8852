"""``python -m bench [--quick | --smoke] [--out DIR] [--loadgen auto|wrk|python] [--only PHASE,...]``."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from . import runner, wrk
from .results import targets
from .services import PROXYD
from .settings import Settings

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark proxyd on loopback.")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--quick", action="store_true", help="a short run (a few minutes): fewer requests and streams")
    length.add_argument(
        "--smoke",
        action="store_true",
        help="every phase, a few seconds each (~1 minute): proves the benchmark runs; exit 1 if a phase fails",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where report.md and results.json go")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="closed-loop throughput driver (auto: wrk when installed)",
    )
    parser.add_argument("--log-level", default="info", help="proxyd's LOG_LEVEL (default: info, as deployed)")
    parser.add_argument(
        "--only",
        default=",".join(runner.PHASES),
        help=f"comma-separated phases to run (default: all of {', '.join(runner.PHASES)})",
    )
    parser.add_argument(
        "--proxyd", default=PROXYD, help="the proxyd command to benchmark (default: the venv's; quote extra words)"
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary work directory (logs, DBs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    only = frozenset(p.strip() for p in args.only.split(",") if p.strip())
    unknown = only - set(runner.PHASES)
    if unknown:
        print(f"unknown phase(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if wrk.available() else "python"
    elif loadgen == "wrk" and not wrk.available():
        print("--loadgen wrk: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    settings = Settings.for_run(
        args.out.resolve(), args.quick, loadgen, args.log_level, tuple(shlex.split(args.proxyd)), smoke=args.smoke
    )
    try:
        results = runner.main(settings, argv, only, args.keep_tmp)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process the benchmark started has been stopped", file=sys.stderr)
        return 130
    md, js = runner.write(results, settings)
    print(md.read_text())
    print(f"wrote {md} and {js}", file=sys.stderr)
    if results.errors:
        return 1
    missed = [t for t in targets(results, settings.quick) if t.status == "MISS"]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
