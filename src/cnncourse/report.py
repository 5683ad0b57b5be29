"""Key metrics that a notebook records for the ``make run`` report.

A notebook calls :func:`record`; the metrics travel inside the executed notebook as a display output
with their own MIME type, so the runner reads them back without side files (and papermill, Colab and
JupyterLab simply show the plain-text twin).
"""
from __future__ import annotations

import json
import math
import numbers

METRICS_MIME = "application/vnd.cnncourse.metrics+json"


def _plain(value):
    """A JSON-safe scalar: numpy / torch scalars become python numbers, NaN is rejected."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, str)):
        raise TypeError(f"metric values must be numbers or strings, got {type(value).__name__}")
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"metric value is not finite: {value}")
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, int) else value


def record(**metrics) -> dict:
    """Show ``metrics`` in the notebook and tag them for the run report; returns the cleaned dict."""
    from IPython.display import display

    clean = {name: _plain(value) for name, value in metrics.items()}
    text = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in clean.items())
    display({METRICS_MIME: clean, "text/plain": f"recorded: {text}"}, raw=True)
    return clean


def metrics_from_notebook(nb) -> dict:
    """Merge every recorded metric of an executed notebook (later records win)."""
    merged = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if METRICS_MIME in data:
                value = data[METRICS_MIME]
                merged.update(json.loads(value) if isinstance(value, str) else value)
    return merged
