"""The ``cnncourse`` command: run the notebooks, release student copies, grade submissions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import layout
from .run import CELL_TIMEOUT_S


def _run(args) -> int:
    from .run import run_all

    report = run_all(args.notebooks, quick=not args.full, device=args.device, build_dir=Path(args.build),
                     timeout=args.timeout)
    print((Path(args.build) / "report.md").read_text())
    if not report["ok"]:
        failed = [row["notebook"] for row in report["notebooks"] if row["status"] != "ok"]
        print(f"FAILED: {', '.join(failed)} (see {args.build}/report.md)", file=sys.stderr)
        return 1
    return 0


def _release(args) -> int:
    from .nbgrader_cli import release

    for path in release(args.notebooks):
        print(f"released {path.relative_to(layout.REPO)}")
    return 0


def _grade(args) -> int:
    from .grading import autograde, collect, write_grades_csv

    layout.notebook_path(args.assignment)
    results = autograde(args.assignment, collect(Path(args.submissions), args.assignment), feedback=True)
    out = write_grades_csv(Path(args.out) / "grades.csv", args.assignment, results)
    print(f"graded {len(results)} submission(s) of {args.assignment} → {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnncourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute solution notebooks with papermill and write build/report.md")
    run.add_argument("notebooks", nargs="*", help="NN_topic names (default: all)")
    run.add_argument("--full", action="store_true", help="full mode (QUICK=False): the homework / GPU run")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    run.add_argument("--build", default=str(layout.BUILD), help="report and executed notebooks folder")
    run.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S,
                     help=f"per-cell timeout in seconds (default {CELL_TIMEOUT_S}, env CNNCOURSE_CELL_TIMEOUT)")
    run.set_defaults(func=_run)

    release = sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    release.add_argument("notebooks", nargs="*", help="NN_topic names (default: all)")
    release.set_defaults(func=_release)

    grade = sub.add_parser("grade", help="autograde a folder of <student>/<notebook>.ipynb submissions")
    grade.add_argument("assignment", help="NN_topic name")
    grade.add_argument("submissions", help="folder of <student>/<NN_topic>.ipynb")
    grade.add_argument("--out", default=str(layout.BUILD / "grades"), help="output folder for grades.csv")
    grade.set_defaults(func=_grade)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"cnncourse {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
