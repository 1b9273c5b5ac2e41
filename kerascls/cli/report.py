"""kerascls-report: one self-contained HTML page about a run, or comparing runs.

kerascls-report                          the newest run -> <run>/report.html
kerascls-report logs/cifar10/resnet20-20260101-120000
kerascls-report RUN_A RUN_B RUN_C        a comparison -> ./comparison.html (--out to move it)

The page embeds its images and style: open it anywhere, offline. Sections whose files are
missing (no exports, no history, the data folder moved) say so instead of failing.
"""

from __future__ import annotations

import argparse

from kerascls.cli.common import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascls-report",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "runs", nargs="*", metavar="RUN", help="run folders (default: the newest run)"
    )
    parser.add_argument("--logdir", default="logs", help="where to look for runs (default: logs)")
    parser.add_argument(
        "--out",
        default=None,
        help="the HTML file (default: <run>/report.html; with several runs ./comparison.html)",
    )
    parser.add_argument(
        "--recompute", action="store_true", help="predict again instead of reading predictions.npz"
    )
    return parser


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from kerascls.report import write_comparison, write_report
    from kerascls.runs import load_run

    runs = [load_run(path) for path in args.runs] or [load_run(logdir=args.logdir)]
    if len(runs) == 1:
        print(f"run: {runs[0].path}")
        print(f"wrote {write_report(runs[0], args.out, recompute=args.recompute)}")
    else:
        print(f"wrote {write_comparison(runs, args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
