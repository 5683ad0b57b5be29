"""Per-student state files that make a re-run resume: a result is reused while its key is unchanged."""
from __future__ import annotations

import json
from pathlib import Path

from .config import GRADER_VERSION
from .files import atomic_write
from .report import StudentResult


class ResumeState:
    def __init__(self, out: Path, fingerprint: str, timeout: float, all_cells: bool, force: bool,
                 budget: float | None = None):
        self.folder, self.force = Path(out) / ".state", force
        self.settings = f"{GRADER_VERSION}:{fingerprint}:{{sha256}}:{timeout:g}:{all_cells}:{budget}"

    def _key(self, sha256: str) -> str:
        return self.settings.format(sha256=sha256)

    def _path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def cached(self, submission) -> StudentResult | None:
        path = self._path(submission.student)
        if self.force or not path.exists():
            return None
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if saved.get("key") != self._key(submission.sha256):
            return None
        result = StudentResult.from_dict(saved["result"])
        result.resumed = True
        return result

    def save(self, submission, result: StudentResult) -> None:
        if submission.sha256:
            atomic_write(self._path(submission.student),
                         json.dumps({"key": self._key(submission.sha256), "result": result.to_dict()}))
