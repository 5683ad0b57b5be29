"""The coordinator's side of a job, without running one: what it reads back, passes on and reports."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnncourse.grader import executor, zygote
from cnncourse.grader.files import valid_utf8
from cnncourse.grader.records import Cell, Job


def _log(path, *lines: str):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_child_log_skips_forged_deep_and_cut_lines(tmp_path):
    path = _log(tmp_path / "cells.jsonl", json.dumps({"sandbox": "limits"}), json.dumps({"start": 1}),
                '{"timed_out": false}', '{"index": "x", "outputs": []}', "[" * 100_000, '{"index": 1, "outp',
                json.dumps({"index": 1, "outputs": [{"output_type": "stream", "name": "stdout", "text": "\ud800!"}],
                            "timed_out": False, "seconds": 0.1}))
    log = executor.read_child_log(path)
    assert log.sandbox == "limits" and list(log.done) == [1] and log.running is None
    assert log.done[1].outputs[0]["text"] == "\ufffd!", "a lone surrogate becomes U+FFFD"


def test_child_log_is_never_read_through_a_link_or_a_fifo(tmp_path):
    secret = _log(tmp_path / "secret", json.dumps({"sandbox": "read through a link"}))
    (tmp_path / "link.jsonl").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.jsonl")
    assert executor.read_child_log(tmp_path / "link.jsonl").sandbox is None
    assert executor.read_child_log(tmp_path / "fifo.jsonl").sandbox is None  # returns at once
    assert executor.read_child_log(tmp_path / "absent.jsonl").done == {}


def test_child_log_reads_at_most_its_cap(tmp_path):
    path = _log(tmp_path / "cells.jsonl", json.dumps({"sandbox": "s"}), json.dumps({"start": 3}) + " " * 80,
                json.dumps({"finished": True}))
    log = executor.read_child_log(path, limit=64)
    assert log.sandbox == "s" and log.running is None and not log.finished, "lines past the cap are not read"
    assert executor.read_child_log(path).finished, "the default cap is the job's file-size limit"


def test_jobs_inherit_only_the_listed_environment():
    env = executor.job_environment({"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "k", "CNNCOURSE_DATA": "/d",
                                    "GITHUB_TOKEN": "t", "HOME": "/root", "JPY_SESSION_NAME": "x"})
    assert env == {"PATH": "/bin", "CNNCOURSE_DATA": "/d", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
                   "PYTHONUNBUFFERED": "1"}
    assert executor.job_environment({"PATH": "/bin"}, data=Path("/found"))["CNNCOURSE_DATA"] == "/found"


def test_job_uids_are_unique_per_zygote_and_above_the_relay():
    from cnncourse.grader import sandbox

    uids = [zygote.job_uid(4242, n) for n in range(5000)]
    assert len(set(uids)) == len(uids) and min(uids) >= sandbox.FIRST_UID > sandbox.RELAY_UID
    assert not set(uids) & {zygote.job_uid(4243, n) for n in range(5000)}, "two zygotes never share a uid"
    assert max(zygote.job_uid(p, 2**18 - 1) for p in (4095, 8191)) < 2**31


def test_a_failing_executor_is_one_jobs_crash_not_the_batchs(monkeypatch):
    job = Job(("math",), (Cell(0, "x = 1"), Cell(2, "y = 2")), 5.0)

    def broken(self, job):
        raise executor.ZygoteError("executor died (exit -9)")

    monkeypatch.setattr(executor.Zygote, "execute", broken)
    with executor.runner(("math",), 1) as run_all:
        (key, execution), = list(run_all({"alice": job}))
    assert key == "alice" and {run.status for run in execution.cells.values()} == {"crashed"}
    assert execution.unfinished and "executor died" in execution.attempts[0].log


@pytest.mark.parametrize("value, expected", [("ok", "ok"), ("a\udcffb", "a\ufffdb"),
                                             ({"k\ud800": ["x", "\udc00"]}, {"k\ufffd": ["x", "\ufffd"]}), (3, 3)])
def test_valid_utf8(value, expected):
    clean = valid_utf8(value)
    assert clean == expected
    json.dumps(clean, ensure_ascii=False).encode("utf-8")  # writable as UTF-8


def test_the_zygote_also_imports_what_torch_imports_on_first_use():
    """torch builds its first optimizer by importing torch._dynamo (about 1 s): the zygote does it once, for
    every job it forks; an assignment without torch does not pay for it."""
    from cnncourse.grader.zygote import preload

    assert "torch._dynamo" in preload(["torch", "torch.nn"])
    assert "torch._dynamo" not in preload(["numpy", "math"])
