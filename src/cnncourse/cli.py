"""The ``cnncourse`` command: run the notebooks, release student copies, grade submissions."""
from __future__ import annotations

import argparse
import contextlib
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

    args.build = args.build or str(args.course.build)
    report = run_all(args.notebooks, quick=not args.full, device=args.device, build_dir=Path(args.build),
                     timeout=args.timeout, solutions=args.course.solutions)
    print((Path(args.build) / "report.md").read_text())
    if not report["ok"]:
        failed = [row["notebook"] for row in report["notebooks"] if row["status"] != "ok"]
        print(f"FAILED: {', '.join(failed)} (see {args.build}/report.md)", file=sys.stderr)
        return 1
    return 0


def _release(args) -> int:
    from .grader.nbgrader_cli import release

    for path in release(args.notebooks, course_root=args.course.autograder):
        print(f"released {path.relative_to(args.course.root)}")
    return 0


def _grade(args) -> int:
    from .grader.grading import Grader
    from .grader.report import summary_table

    from .grader import instructor

    layout.notebook_path(args.assignment, args.course.solutions)
    args.out = args.out or str(args.course.build / "grades")
    instructor.check_options(args.late_policy, args.deadline, args.extensions, args.overrides)
    previous = instructor.load_previous(Path(args.out))
    report = Grader(args.assignment, Path(args.submissions), Path(args.out), course_root=args.course.autograder,
                    workers=args.workers, timeout=args.timeout, force=args.force, deadline=args.deadline,
                    scheduler=args.scheduler, all_cells=args.all_cells, progress=not args.quiet,
                    trust_timestamps=args.trust_timestamps, budget=args.budget).run()
    report = instructor.finish(report, Path(args.out), args.course.autograder, previous,
                               overrides_csv=args.overrides, late_policy=args.late_policy, deadline=args.deadline,
                               extensions_csv=args.extensions, export=args.export, export_by=args.export_by)
    print(summary_table(report))
    if instructor.changes_table(report):
        print(instructor.changes_table(report))
    print(f"→ {Path(args.out) / 'grades.csv'}, {Path(args.out) / 'report.json'}, {Path(args.out) / 'feedback'}/, "
          f"{Path(args.out) / 'index.html'}" + (f", {report['export']}" if report.get("export") else ""))
    return 0


def _similarity(args) -> int:
    from .grader.similarity import similarity_report

    args.out = args.out or str(args.course.build / "similarity")
    found = similarity_report(args.assignment, Path(args.submissions), Path(args.out), args.course.autograder)
    flagged = [p for p in found["pairs"] if p["flagged"]]
    print(f"{len(found['pairs'])} pairs compared, {len(flagged)} flagged, groups: "
          + ("; ".join(", ".join(g) for g in found["groups"]) or "none"))
    for p in flagged:
        print(f"  {p['a']} ~ {p['b']}: {p['score']:.0%}")
    print(f"→ {Path(args.out) / 'index.html'}")
    return 0


def _bench(args) -> int:
    from .grader.bench import bench_course, table

    figures = bench_course(args.assignment, args.n, args.workers, stock=not args.no_stock, students=args.students,
                           dask_workers=args.dask_workers, out=Path(args.out))
    print(table(figures))
    print(f"→ {args.out}")
    return 0


def _check(args) -> int:
    from .grader.check import check, pack

    result = check(Path(args.notebook), timeout=args.timeout)
    if args.zip is not None:
        if not args.name:
            raise ValueError("--zip needs --name YOUR_NAME (the name your submission is graded under)")
        print(f"→ {pack(Path(args.notebook), args.name, Path(args.zip) if args.zip else None)}")
    return 0 if result["ok"] else 1


def _data(args) -> int:
    from . import data

    if args.action == "fetch":
        if not args.source:
            raise ValueError("cnncourse data fetch SOURCE: give a release archive URL, a course clone, "
                             "a datasets/ folder or an archive")
        dest = Path(args.dest) if args.dest else data.CACHE_DIR / "datasets"
        files = data.fetch(args.source, dest)
        print(f"{len(files)} files checked and copied to {dest}")
    elif args.action == "pack":
        print(f"→ {data.pack(Path(args.source or 'build/cnncourse-datasets.tar.gz'))}")
    else:
        print(f"data folder: {data.DATA_DIR} (from {data.DATA_ORIGIN})")
        files = data.verify()
        print(f"{len(files)} files match {data.MANIFEST}")
    return 0


@contextlib.contextmanager
def _data_of_the_course():
    """Locate the data again for the course now in use (it was located on import), and restore it after."""
    data = sys.modules.get("cnncourse.data")
    if data is None:
        yield
        return
    saved = data.DATA_DIR, data.DATA_ORIGIN
    data.DATA_DIR, data.DATA_ORIGIN = data.locate_data()
    try:
        yield
    finally:
        data.DATA_DIR, data.DATA_ORIGIN = saved


NEEDS_COURSE = ("run", "release", "grade", "similarity", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnncourse", description=__doc__)
    parser.add_argument("--course", default=None,
                        help=f"the course folder (default: ${layout.ENV}, else the working directory or a parent)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute solution notebooks with papermill and write build/report.md")
    run.add_argument("notebooks", nargs="*", help="NN_topic names (default: all)")
    run.add_argument("--full", action="store_true", help="full mode (QUICK=False): the homework / GPU run")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    run.add_argument("--build", default=None, help="report and executed notebooks folder (default COURSE/build)")
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
    grade.add_argument("--out", default=None, help="output folder (default COURSE/build/grades)")
    grade.add_argument("--workers", type=int, default=None, help="parallel submissions (default: CPU cores)")
    grade.add_argument("--timeout", type=float, default=grader_config.DEFAULT_TIMEOUT_S,
                       help=f"seconds per cell (default {grader_config.DEFAULT_TIMEOUT_S:g})")
    grade.add_argument("--budget", type=float, default=None,
                       help=f"wall seconds per submission, both runs together (default "
                            f"{grader_config.BUDGET_PER_TIMEOUT} x --timeout)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded in --out")
    grade.add_argument("--deadline", default=None, help="ISO time, e.g. 2026-12-01T23:59+01:00: later is 'late'")
    grade.add_argument("--trust-timestamps", action="store_true",
                       help="take submission times from timestamp.txt beside each notebook (nbgrader's exchange "
                            "layout; students can write that file): only for a trusted exchange")
    grade.add_argument("--scheduler", default=None, help="Dask scheduler address: run the jobs on that cluster")
    grade.add_argument("--all-cells", action="store_true",
                       help="run every cell (default: only the cells the graded cells depend on)")
    grade.add_argument("--course", default=argparse.SUPPRESS,
                       help="the course folder or its autograder/ (nbgrader course root); as cnncourse --course")
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
    similarity.add_argument("--out", default=None, help="output folder (default COURSE/build/similarity)")
    similarity.add_argument("--course", default=argparse.SUPPRESS,
                            help="the course folder or its autograder/ (nbgrader course root); as cnncourse --course")
    similarity.set_defaults(func=_similarity)

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

    check = sub.add_parser("check", help="students: run your notebook's visible tests as the grader does, "
                                         "and optionally zip it for submission")
    check.add_argument("notebook", help="your notebook, e.g. notebooks/05_first_cnn_lenet/05_first_cnn_lenet.ipynb")
    check.add_argument("--timeout", type=float, default=grader_config.DEFAULT_TIMEOUT_S,
                       help=f"seconds per cell (default {grader_config.DEFAULT_TIMEOUT_S:g}, as the grader)")
    check.add_argument("--zip", nargs="?", const="", default=None, metavar="OUT.zip",
                       help="also write a submission zip (default NOTEBOOK-NAME.zip beside the notebook)")
    check.add_argument("--name", default=None, help="your name or student id, for --zip")
    check.set_defaults(func=_check)

    data = sub.add_parser("data", help="where the datasets are; fill the cache from a release or a local copy",
                          description="fetch SOURCE: copy and check the course data into the user cache "
                                      "(SOURCE: a release archive URL, a course clone, a datasets/ folder or "
                                      ".zip/.tar.gz); verify: say which folder is used and check it; "
                                      "pack [OUT]: write the archive that fetch reads (for a release)")
    data.add_argument("action", choices=["fetch", "verify", "pack"])
    data.add_argument("source", nargs="?", default=None, help="fetch: URL or path; pack: output archive")
    data.add_argument("--dest", default=None, help="fetch into this folder instead of the user cache")
    data.set_defaults(func=_data)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command not in NEEDS_COURSE:
            return args.func(args)
        with layout.using(args.course) as args.course, _data_of_the_course():
            return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"cnncourse {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
