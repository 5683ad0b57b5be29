"""cnncourse.student: the one-line notices a student sees."""
import pytest

from cnncourse.student import ExerciseNotDone, is_unfinished, needs, passed


def stub(x):
    """Docstring kept by nbgrader."""
    # YOUR CODE HERE
    raise NotImplementedError()


def done(x):
    if x < 0:
        raise NotImplementedError("negative x is not covered")
    return x


class StubNet:
    def __init__(self):
        raise NotImplementedError()


def test_is_unfinished_tells_the_stub_from_real_code():
    assert is_unfinished(stub) and is_unfinished(StubNet)
    assert not is_unfinished(done) and not is_unfinished(len) and not is_unfinished(3)


def test_needs_names_the_exercise_in_one_line():
    with pytest.raises(ExerciseNotDone, match=r"^finish Exercise 3 \(train_epoch\) first$"):
        needs("train_epoch", exercise="Exercise 3 (train_epoch)", namespace={"train_epoch": stub})
    with pytest.raises(ExerciseNotDone, match="`history` is not defined yet"):
        needs("history", namespace={})
    needs("done", namespace={"done": done})  # nothing raised
    assert ExerciseNotDone("finish X first")._render_traceback_() == ["\u26a0 finish X first"]


def test_needs_reads_the_callers_globals():
    with pytest.raises(ExerciseNotDone, match="stub"):
        needs("stub")


def test_passed_prints_one_line(capsys):
    passed("conv1d_full")
    assert capsys.readouterr().out == "\u2713 conv1d_full: passed\n"
