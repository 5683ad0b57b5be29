"""The ``cnncourse`` command: run the notebooks, release student copies, grade submissions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import layout
from .run import CELL_TIMEOUT_S

GRADE_HELP = """Accepted submissions (a zip may hold any of them, inside one wrapper folder or not):
  <student>/<anything>.ipynb      one folder per student (nbgrader's <student>/<NN>/<NN>.ipynb too)
  <student>_<anything>.ipynb      flat LMS files; <student>.ipynb also works
A timestamp.txt beside a notebook gives the submission time (else the file or zip entry time).
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
    from .nbgrader_cli import release

    for path in release(args.notebooks):
        print(f"released {path.relative_to(layout.REPO)}")
    return 0


def _grade(args) -> int:
    from .grading import Grader, summary_table

    layout.notebook_path(args.assignment, Path(args.course).parent / "solutions")
    from .grader import instructor

    instructor.check_options(args.late_policy, args.deadline, args.extensions, args.overrides)
    previous = instructor.load_previous(Path(args.out))
    report = Grader(args.assignment, Path(args.submissions), Path(args.out), course_root=Path(args.course),
                    workers=args.workers, timeout=args.timeout, force=args.force, deadline=args.deadline,
                    scheduler=args.scheduler, all_cells=args.all_cells, progress=not args.quiet).run()
    report = instructor.finish(report, Path(args.out), Path(args.course), previous, overrides_csv=args.overrides,
                               late_policy=args.late_policy, deadline=args.deadline, extensions_csv=args.extensions,
                               export=args.export, export_by=args.export_by)
    print(summary_table(report))
    if instructor.changes_table(report):
        print(instructor.changes_table(report))
    print(f"→ {Path(args.out) / 'grades.csv'}, {Path(args.out) / 'report.json'}, {Path(args.out) / 'feedback'}/, "
          f"{Path(args.out) / 'index.html'}" + (f", {report['export']}" if report.get("export") else ""))
    return 0


def _similarity(args) -> int:
    from .grader.similarity import similarity_report

    found = similarity_report(args.assignment, Path(args.submissions), Path(args.out), Path(args.course))
    flagged = [p for p in found["pairs"] if p["flagged"]]
    print(f"{len(found['pairs'])} pairs compared, {len(flagged)} flagged, groups: "
          + ("; ".join(", ".join(g) for g in found["groups"]) or "none"))
    for p in flagged:
        print(f"  {p['a']} ~ {p['b']}: {p['score']:.0%}")
    print(f"→ {Path(args.out) / 'index.html'}")
    return 0


def _bench(args) -> int:
    import json

    from .bench import grading_throughput

    figures = grading_throughput(args.assignment, args.n, args.workers, stock=not args.no_stock)
    print(json.dumps(figures, indent=1))
    if "ratio" in figures:
        print(f"stock nbgrader autograde: {figures['stock_per_minute']} submissions/min; cnncourse grade: "
              f"{figures['ours_per_minute']} submissions/min with {figures['workers']} workers → "
              f"{figures['ratio']}× (same scores: {figures['same_scores']})")
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
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded in --out")
    grade.add_argument("--deadline", default=None, help="ISO time, e.g. 2026-12-01T23:59+01:00: later is 'late'")
    grade.add_argument("--scheduler", default=None, help="Dask scheduler address: run the jobs on that cluster")
    grade.add_argument("--all-cells", action="store_true", help="also run the cells after the last graded one")
    grade.add_argument("--course", default=str(layout.AUTOGRADER), help="nbgrader course root (default autograder/)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    # instructor tools: overrides, late policy, LMS export (cnncourse.grader.instructor), similarity report
    grade.add_argument("--overrides", type=Path, metavar="CSV",
                       help="student,cell,points,comment; kept in --out and reapplied on every regrade")
    grade.add_argument("--late-policy", metavar="POLICY",
                       help="e.g. grace=15m,per-day=10%%,cap=30%% (needs --deadline)")
    grade.add_argument("--extensions", type=Path, metavar="CSV", help="student,deadline or student,extension (e.g. 2d)")
    grade.add_argument("--export", choices=("canvas", "moodle", "csv"), help="also write --out/export-FORMAT.csv")
    grade.add_argument("--export-by", choices=("notebook", "cell"), default="notebook",
                       help="export columns: one per notebook (default) or one per test cell")
    grade.set_defaults(func=_grade)
    similarity = sub.add_parser("similarity", help="pairs of students whose answers are alike → DIR/index.html")
    similarity.add_argument("assignment", help="NN_topic name")
    similarity.add_argument("submissions", help="a .zip or a folder, as for grade")
    similarity.add_argument("--out", default=str(layout.BUILD / "similarity"), help="output folder")
    similarity.add_argument("--course", default=str(layout.AUTOGRADER), help="nbgrader course root")
    similarity.set_defaults(func=_similarity)

    bench = sub.add_parser("bench", help="class grading throughput: stock nbgrader autograde vs cnncourse grade")
    bench.add_argument("--assignment", default="01_images_as_tensors")
    bench.add_argument("-n", type=int, default=40, help="submissions in the planted class (default 40)")
    bench.add_argument("--workers", type=int, default=None)
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
