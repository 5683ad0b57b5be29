"""Execute solution notebooks with papermill and write the run report (``make run``).

Every notebook runs, even after one fails; the report says which cell failed and the command's exit
status is non-zero when any did.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import nbformat

from . import layout
from .report import metrics_from_notebook

# Per-cell limit for papermill and nbgrader alike: a stalled cell (e.g. a widget waiting for a front end)
# fails with a reason instead of hanging the run.
CELL_TIMEOUT_S = int(os.environ.get("CNNCOURSE_CELL_TIMEOUT", "600"))


def _failure(error: Exception, source: Path) -> dict:
    """Why a notebook failed and where: the failing cell's 1-based position in the source notebook."""
    info = {"ename": getattr(error, "ename", type(error).__name__),
            "evalue": str(getattr(error, "evalue", error)).strip()[:500]}
    if getattr(error, "cell_index", None) is not None:
        # papermill counts cells of the executed copy (with its injected-parameters cell); count the source's
        cells = nbformat.read(source, as_version=4).cells
        positions = [k + 1 for k, cell in enumerate(cells) if cell.source == error.source]
        info["cell"] = positions[0] if positions else None
        info["execution_count"] = error.exec_count
        info["source_head"] = (error.source or "").strip().splitlines()[:3]
    return info


def run_notebook(path: Path, out_dir: Path, quick: bool = True, device: str = "auto",
                 timeout: int | None = CELL_TIMEOUT_S, kernel_name: str = "python3") -> dict:
    """Run one notebook with papermill; returns its report row (status, seconds, metrics, error)."""
    import papermill as pm

    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / path.name
    row = {"notebook": path.stem, "status": "ok", "seconds": 0.0, "metrics": {}, "output": str(executed)}
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(executed), parameters={"QUICK": quick, "DEVICE": device},
                            kernel_name=kernel_name, cwd=str(path.parent), progress_bar=False,
                            execution_timeout=timeout)
    except Exception as error:  # noqa: BLE001 — any failure becomes a report row, the batch goes on
        row.update(status="failed", error=_failure(error, path))
    row["seconds"] = round(time.perf_counter() - start, 2)
    if executed.exists():
        row["metrics"] = metrics_from_notebook(nbformat.read(executed, as_version=4))
    return row


def _environment(quick: bool, device: str) -> dict:
    import torch

    from .train import choose_device

    return {"generated": dt.datetime.now().isoformat(timespec="seconds"), "mode": "quick" if quick else "full",
            "device": device, "resolved_device": str(choose_device(device)), "python": platform.python_version(),
            "torch": torch.__version__, "machine": platform.machine(), "processor": platform.processor() or "?"}


def _format_metrics(metrics: dict) -> str:
    return ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in metrics.items())


def render_markdown(report: dict) -> str:
    """The human twin of ``report.json``."""
    env = report["environment"]
    lines = [f"# Run report ({env['mode']} mode)", "",
             f"{env['generated']} · device {env['device']} → {env['resolved_device']} · python {env['python']} "
             f"· torch {env['torch']} · total {report['total_seconds']:.1f} s", "",
             "| notebook | status | seconds | metrics |", "| --- | --- | ---: | --- |"]
    for row in report["notebooks"]:
        lines.append(f"| {row['notebook']} | {row['status']} | {row['seconds']:.1f} | {_format_metrics(row['metrics'])} |")
    failures = [row for row in report["notebooks"] if row["status"] != "ok"]
    if failures:
        lines += ["", "## Failures", ""]
        for row in failures:
            err = row["error"]
            where = (f"cell {err['cell']} (execution count {err['execution_count']})" if "execution_count" in err
                     else "before any cell ran")
            lines.append(f"- **{row['notebook']}** failed at {where}: `{err['ename']}: {err['evalue'][:200]}`")
            for src in err.get("source_head", []):
                lines.append(f"    - `{src}`")
    return "\n".join(lines) + "\n"


def run_all(names=None, quick: bool = True, device: str = "auto", build_dir: Path = layout.BUILD,
            timeout: int | None = CELL_TIMEOUT_S, solutions: Path = layout.SOLUTIONS) -> dict:
    """Run the named solution notebooks (all by default), write report.md/.json; returns the report."""
    from tqdm.auto import tqdm

    names = list(names) if names else layout.assignments(solutions)
    if not names:
        raise FileNotFoundError(f"no solution notebooks found under {solutions}")
    paths = [layout.notebook_path(name, solutions) for name in names]
    build_dir = Path(build_dir)
    rows, start = [], time.perf_counter()
    with tqdm(paths, desc="notebooks", unit="nb") as bar:
        for path in bar:
            bar.set_postfix_str(path.stem)
            rows.append(run_notebook(path, build_dir / "executed", quick, device, timeout))
            bar.write(f"{rows[-1]['status']:>6}  {rows[-1]['seconds']:7.1f} s  {path.stem}")
    report = {"environment": _environment(quick, device), "total_seconds": round(time.perf_counter() - start, 2),
              "notebooks": rows, "ok": all(row["status"] == "ok" for row in rows)}
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (build_dir / "report.md").write_text(render_markdown(report))
    return report
