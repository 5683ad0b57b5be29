"""The ``cnncourse`` command: run the notebooks, release student copies, grade submissions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import layout
from .grader import config as grader_config
from .run import CELL_TIMEOUT_S

GRADE_HELP = """Accepted submissions (a zip may hold any of them, inside one wrapper folder or not):
  <student>/<anything>.ipynb      one folder per student (nbgrader's <student>/<NN>/<NN>.ipynb too)
  <student>_<anything>.ipynb      flat LMS files; <student>.ipynb also works
The submission time is the zip entry's time (zip input) or the file's modification time (folder input);
a timestamp.txt beside a notebook (nbgrader's exchange layout) counts only with --trust-timestamps.
Statuses: graded, late, partial, timeout, crashed, tampered, invalid-notebook, missing-notebook."""


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
    from .grader.nbgrader_cli import release

    for path in release(args.notebooks):
        print(f"released {path.relative_to(layout.REPO)}")
    return 0


def _grade(args) -> int:
    from .grader.grading import Grader
    from .grader.report import summary_table

    layout.notebook_path(args.assignment, grader_config.solutions_dir(Path(args.course)))
    report = Grader(args.assignment, Path(args.submissions), Path(args.out), course_root=Path(args.course),
                    workers=args.workers, timeout=args.timeout, force=args.force, deadline=args.deadline,
                    scheduler=args.scheduler, all_cells=args.all_cells, progress=not args.quiet,
                    trust_timestamps=args.trust_timestamps).run()
    print(summary_table(report))
    print(f"→ {Path(args.out) / 'grades.csv'}, {Path(args.out) / 'report.json'}, {Path(args.out) / 'feedback'}/")
    return 0


def _bench(args) -> int:
    from .grader.bench import bench_course, table

    figures = bench_course(args.assignment, args.n, args.workers, stock=not args.no_stock, students=args.students,
                           dask_workers=args.dask_workers, out=Path(args.out))
    print(table(figures))
    print(f"→ {args.out}")
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

    grade = sub.add_parser("grade", help="autograde a class: zip or folder of submissions → grades.csv, "
                                         "report.json, feedback/", description=GRADE_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("assignment", help="NN_topic name")
    grade.add_argument("submissions", help="a .zip or a folder (shapes below)")
    grade.add_argument("--out", default=str(layout.BUILD / "grades"), help="output folder (default build/grades)")
    grade.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU cores)")
    grade.add_argument("--timeout", type=float, default=grader_config.DEFAULT_TIMEOUT_S,
                       help=f"seconds per cell (default {grader_config.DEFAULT_TIMEOUT_S:g})")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded in --out")
    grade.add_argument("--deadline", default=None, help="ISO time, e.g. 2026-12-01T23:59+01:00: later is 'late'")
    grade.add_argument("--trust-timestamps", action="store_true",
                       help="take submission times from timestamp.txt beside each notebook (nbgrader's exchange "
                            "layout; students can write that file): only for a trusted exchange")
    grade.add_argument("--scheduler", default=None, help="Dask scheduler address: run the jobs on that cluster")
    grade.add_argument("--all-cells", action="store_true",
                       help="run every cell (default: only the cells the graded cells depend on)")
    grade.add_argument("--course", default=str(layout.AUTOGRADER), help="nbgrader course root (default autograder/)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(func=_grade)

    bench = sub.add_parser("bench", help="class grading throughput per notebook: stock nbgrader autograde vs "
                                         "cnncourse grade on the same planted class")
    bench.add_argument("--assignment", action="append", default=None,
                       help="NN_topic (repeatable; default: every notebook of the course)")
    bench.add_argument("-n", type=int, default=3, help="submissions per planted class, in thirds (default 3)")
    bench.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU cores)")
    bench.add_argument("--students", type=int, default=200, help="class size of the estimate (default 200)")
    bench.add_argument("--dask-workers", type=int, default=16, help="Dask workers of the estimate (default 16)")
    bench.add_argument("--out", default=str(layout.BUILD / "bench.json"), help="figures (default build/bench.json)")
    bench.add_argument("--no-stock", action="store_true", help="time cnncourse grade only")
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"cnncourse {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
