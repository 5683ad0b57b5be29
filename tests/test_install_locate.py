"""The course root and the data locator: explicit path, variable, working directory; data via
$CNNCOURSE_DATA, the course's datasets/, or the cache that ``cnncourse data fetch`` fills (checked)."""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from cnncourse import cli, data, layout

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No course anywhere: not in the environment, not above the working directory, no checkout."""
    monkeypatch.delenv(layout.ENV, raising=False)
    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.setattr(layout, "_checkout", lambda: None)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fake_course(root: Path) -> Path:
    (root / "autograder").mkdir(parents=True)
    (root / "autograder" / "nbgrader_config.py").write_text("")
    return root


def test_course_found_from_argument_variable_and_working_directory(nowhere, monkeypatch):
    course = fake_course(nowhere / "course")
    (course / "notebooks" / "deep").mkdir(parents=True)
    assert layout.find_course(course).root == course.resolve()
    assert layout.find_course(course / "autograder").root == course.resolve()  # nbgrader's root works too
    monkeypatch.setenv(layout.ENV, str(course))
    assert layout.find_course().root == course.resolve()
    monkeypatch.delenv(layout.ENV)
    assert layout.find_course(cwd=course / "notebooks" / "deep").root == course.resolve()
    assert layout.find_course(required=False) is None


@pytest.mark.parametrize("how", ["argument", "variable", "nothing"])
def test_no_course_says_how_to_point_at_one(nowhere, monkeypatch, how):
    explicit = None
    if how == "argument":
        explicit = nowhere
    elif how == "variable":
        monkeypatch.setenv(layout.ENV, str(nowhere))
    with pytest.raises(layout.CourseNotFound) as err:
        layout.find_course(explicit)
    message = str(err.value)
    assert "--course PATH" in message and f"{layout.ENV}=PATH" in message
    if how == "nothing":
        assert message.startswith(f"no course found from {nowhere.resolve()};"), message
    else:
        assert str(nowhere) in message and "is not a course folder" in message


def test_cli_without_a_course_exits_2_with_the_hint(nowhere, capsys):
    assert cli.main(["release"]) == 2
    assert "pass --course PATH" in capsys.readouterr().err


def test_public_names_follow_the_course_and_come_back(nowhere):
    course = fake_course(nowhere / "c")
    before = (layout.SOLUTIONS, layout.COURSE)
    with layout.using(course):
        assert (layout.SOLUTIONS, layout.NOTEBOOKS, layout.AUTOGRADER, layout.BUILD) == tuple(
            course.resolve() / n for n in ("solutions", "notebooks", "autograder", "build")
        )
        assert os.environ[layout.ENV] == str(course.resolve())  # for the kernels and nbgrader it starts
        assert layout.assignments() == []
        with pytest.raises(FileNotFoundError, match="known notebooks: none"):
            layout.notebook_path("01_x")
    assert (layout.SOLUTIONS, layout.COURSE) == before and layout.ENV not in os.environ


def test_a_command_leaves_the_process_as_it_found_it(nowhere):
    course = fake_course(nowhere / "c")
    before = (layout.SOLUTIONS, data.DATA_DIR, data.DATA_ORIGIN)
    assert cli.main(["--course", str(course), "release", "01_x"]) == 2  # no such notebook: but the course was used
    assert (layout.SOLUTIONS, data.DATA_DIR, data.DATA_ORIGIN) == before and layout.ENV not in os.environ


def test_packaged_manifest_is_the_repository_manifest():
    assert data.packaged_manifest() == data._parse_manifest((REPO / "datasets" / data.MANIFEST).read_text(), "x")


def test_data_order_variable_course_cache(nowhere, monkeypatch):
    monkeypatch.setattr(data, "CACHE_DIR", nowhere / "cache")
    assert data.locate_data() == (nowhere / "cache" / "datasets", "cache")
    course = fake_course(nowhere / "c")
    (course / "datasets").mkdir()
    (course / "datasets" / data.MANIFEST).write_text("")
    monkeypatch.chdir(course)
    assert data.locate_data() == (course.resolve() / "datasets", "course")
    monkeypatch.setenv("CNNCOURSE_DATA", str(nowhere / "mine"))
    assert data.locate_data() == (nowhere / "mine", "CNNCOURSE_DATA")


def test_missing_cache_points_at_fetch(nowhere, monkeypatch):
    monkeypatch.setattr(data, "DATA_DIR", nowhere / "cache" / "datasets")
    monkeypatch.setattr(data, "DATA_ORIGIN", "cache")
    with pytest.raises(data.DataError, match="cnncourse data fetch SOURCE"):
        data.fashion_mnist("test")


# ---------------------------------------------------------------- cnncourse data fetch on a tiny manifest
@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A course data folder of two small files, and the package expecting exactly them."""
    source = tmp_path / "release" / "datasets"
    files = {"a/one.bin": b"\x00\x01" * 100, "b/two.txt": b"two\n"}
    for rel, blob in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(blob)
    manifest = {rel: hashlib.sha256(blob).hexdigest() for rel, blob in files.items()}
    (source / data.MANIFEST).write_text("".join(f"{d}  {rel}\n" for rel, d in manifest.items()))
    monkeypatch.setattr(data, "packaged_manifest", lambda: dict(manifest))
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("CNNCOURSE_OFFLINE", raising=False)
    return source, files


def _archive(source: Path, out: Path) -> Path:
    if out.suffix == ".zip":
        with zipfile.ZipFile(out, "w") as z:
            for p in source.rglob("*"):
                z.write(p, Path("cnn-course-v1") / "datasets" / p.relative_to(source))
    else:
        with tarfile.open(out, "w:gz") as t:
            t.add(source, arcname="datasets")
    return out


@pytest.mark.parametrize("kind", ["folder", "course", "zip", "tar.gz", "file-url"])
def test_fetch_copies_and_checks(tiny, tmp_path, kind, monkeypatch):
    source, files = tiny
    given = {
        "folder": source,
        "course": source.parent,
        "zip": _archive(source, tmp_path / "d.zip"),
        "tar.gz": _archive(source, tmp_path / "d.tar.gz"),
        "file-url": _archive(source, tmp_path / "d.tar.gz").as_uri(),
    }[kind]
    assert cli.main(["data", "fetch", str(given)]) == 0
    cache = tmp_path / "cache" / "datasets"
    assert {rel: (cache / rel).read_bytes() for rel in files} == files
    monkeypatch.setattr(data, "DATA_DIR", cache)
    assert sorted(data.verify()) == sorted(files)  # the cache has its manifest: loaders can check it


def test_fetch_refuses_a_corrupted_copy_and_copies_nothing(tiny, tmp_path, capsys):
    source, _ = tiny
    (source / "b/two.txt").write_bytes(b"tw0\n")
    assert cli.main(["data", "fetch", str(source)]) == 2
    err = capsys.readouterr().err
    assert "b/two.txt: corrupted" in err and "nothing was copied" in err
    assert not (tmp_path / "cache").exists()


def test_pack_writes_what_fetch_reads(tiny, tmp_path, monkeypatch):
    source, files = tiny
    monkeypatch.setattr(data, "DATA_DIR", source)
    archive = data.pack(tmp_path / "out" / "data.tar.gz")
    assert data.fetch(archive, tmp_path / "elsewhere") == list(files)
    assert (tmp_path / "elsewhere" / "a/one.bin").read_bytes() == files["a/one.bin"]


def test_fetch_offline_and_unreachable_say_what_to_do(tiny, monkeypatch, capsys):
    monkeypatch.setenv("CNNCOURSE_OFFLINE", "1")
    assert cli.main(["data", "fetch", "https://example.invalid/data.tar.gz"]) == 2
    assert "CNNCOURSE_OFFLINE=1: not downloading" in capsys.readouterr().err
    monkeypatch.delenv("CNNCOURSE_OFFLINE")
    import urllib.request

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    assert cli.main(["data", "fetch", "https://example.invalid/data.tar.gz"]) == 2
    err = capsys.readouterr().err
    assert "could not download https://example.invalid/data.tar.gz" in err and "cnncourse data fetch PATH" in err
    assert cli.main(["data", "fetch", "/no/such/place"]) == 2
    assert "does not exist" in capsys.readouterr().err
