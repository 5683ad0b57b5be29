"""Intake against hostile or unlucky submission folders and zips: nothing hangs, nothing merges, every
skipped entry is listed with its reason, and submission times come only from trusted sources."""
from __future__ import annotations

import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cnncourse.grader import intake

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
WHEN = datetime(2026, 11, 30, 10, tzinfo=timezone.utc)


def _student(root: Path, name, text=NB, when=WHEN) -> Path:
    folder = root / name if isinstance(name, str) else Path(os.fsdecode(os.fsencode(root) + b"/" + name))
    folder.mkdir(parents=True)
    path = folder / "00_tiny.ipynb"
    path.write_text(text)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def test_names_that_sanitize_alike_never_merge(tmp_path):
    names = ["victim", "victim_", "Zoé", "Zoë", "张伟", "李娜", "José", "a b", "a_b", "bob"]
    for name in names:
        _student(tmp_path, name)
    found, _ = intake.collect(tmp_path, "00_tiny")
    ids = [s.student for s in found]
    assert len(ids) == len(set(ids)) == len(names), ids
    assert {"victim", "Jose", "bob"} <= set(ids), "names that stay unique keep their readable id"
    assert all(i.isascii() for i in ids)
    again, _ = intake.collect(tmp_path, "00_tiny")
    assert [s.student for s in again] == ids, "ids are stable across runs"


def test_non_utf8_folder_name_is_graded_and_printable(tmp_path):
    _student(tmp_path, b"caf\xe9")
    _student(tmp_path, "cafe")
    found, _ = intake.collect(tmp_path, "00_tiny")
    assert len(found) == 2
    for submission in found:
        submission.origin.encode("utf-8")  # valid UTF-8, whatever the file system held
        assert submission.problem is None and submission.sha256


def test_hidden_linked_and_special_entries_are_listed_not_followed(tmp_path):
    secret = tmp_path / "solution.ipynb"
    secret.write_text(NB)
    subs = tmp_path / "subs"
    _student(subs, ".sneaky")
    (subs / "linker").mkdir(parents=True)
    (subs / "linker" / "00_tiny.ipynb").symlink_to(secret)
    (subs / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    (subs / "fifo").mkdir()
    os.mkfifo(subs / "fifo" / "00_tiny.ipynb")
    _student(subs, "honest")
    found, ignored = intake.collect(subs, "00_tiny")
    by = {s.student: s for s in found}
    assert by["honest"].problem is None
    assert by["linker"].problem[0] == "missing-notebook" and by["fifo"].problem[0] == "missing-notebook"
    text = "\n".join(ignored)
    assert ".sneaky (hidden name)" in text
    assert "linker/00_tiny.ipynb (symbolic link: not followed)" in text
    assert "dirlink (symbolic link: not followed)" in text
    assert "fifo/00_tiny.ipynb (not a regular file" in text


def test_read_regular_refuses_links_fifos_and_oversize(tmp_path):
    target = tmp_path / "real.ipynb"
    target.write_text(NB)
    (tmp_path / "link.ipynb").symlink_to(target)
    os.mkfifo(tmp_path / "pipe.ipynb")
    assert intake.read_regular(target, intake.MAX_NOTEBOOK_BYTES) == NB.encode()
    with pytest.raises(OSError):
        intake.read_regular(tmp_path / "link.ipynb", intake.MAX_NOTEBOOK_BYTES)
    with pytest.raises(OSError, match="not a regular file"):
        intake.read_regular(tmp_path / "pipe.ipynb", intake.MAX_NOTEBOOK_BYTES)  # returns at once: O_NONBLOCK
    with pytest.raises(ValueError, match="too large"):
        intake.read_regular(target, limit=10)
    cells, _, problem = intake.read_notebook(tmp_path / "pipe.ipynb")
    assert cells is None and "regular file" in problem


def test_a_students_own_timestamp_is_not_trusted_by_default(tmp_path):
    late = WHEN.replace(day=2, month=12)
    path = _student(tmp_path, "dodger", when=late)
    (path.parent / "timestamp.txt").write_text("2026-11-01 00:00:00 UTC")
    (submission,), _ = intake.collect(tmp_path, "00_tiny")
    assert (submission.timestamp, submission.timestamp_source) == (late, intake.FILE_TIME)
    (trusted,), _ = intake.collect(tmp_path, "00_tiny", trust_stamps=True)
    assert trusted.timestamp == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert trusted.timestamp_source == intake.STAMP_FILE


def test_crafted_zip_skips_bad_entries_one_by_one(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("good/00_tiny.ipynb", date_time=(2026, 11, 30, 10, 0, 0)), NB)
        zf.writestr("clash", "a file")
        zf.writestr("clash/00_tiny.ipynb", NB)  # a folder where a file already is
        zf.writestr("broken/00_tiny.ipynb", NB)
        zf.writestr("../escape.ipynb", NB)
    raw = bytearray(archive.read_bytes())
    at = raw.find(b"broken/00_tiny.ipynb", 0) + len("broken/00_tiny.ipynb")  # first copy: the local header
    raw[at + 5] ^= 0xFF  # corrupt the entry's data: bad CRC on read
    archive.write_bytes(bytes(raw))
    folder, skipped = intake.unpack(archive, tmp_path / "out")
    text = "\n".join(skipped)
    assert "clash/00_tiny.ipynb (cannot be extracted" in text
    assert "broken/00_tiny.ipynb (cannot be extracted" in text
    assert "../escape.ipynb (path outside the archive)" in text
    assert not (tmp_path / "escape.ipynb").exists() and not (folder / "broken" / "00_tiny.ipynb").exists()
    found, _ = intake.collect(folder, "00_tiny", time_source=intake.ZIP_TIME)
    good = next(s for s in found if s.student == "good")
    assert good.problem is None and good.timestamp_source == intake.ZIP_TIME
    assert good.timestamp == datetime(2026, 11, 30, 10).astimezone(timezone.utc)


def test_an_oversized_zip_entry_is_skipped_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 1000)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big/00_tiny.ipynb", " " * 5000)
        zf.writestr("small/00_tiny.ipynb", NB)
    folder, skipped = intake.unpack(archive, tmp_path / "out")
    assert skipped == ["big/00_tiny.ipynb (larger than 1000 bytes)"]
    assert not (folder / "big").exists() and (folder / "small" / "00_tiny.ipynb").is_file()
