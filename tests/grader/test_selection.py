"""cnncourse.grader.selection: which cells the graded cells depend on."""
from __future__ import annotations

import pytest

from cnncourse.grader.selection import analyse, select

SETUP = "import torch\nfrom cnncourse.train import fit"
PARAMS = "QUICK = True\nDEVICE = 'cpu'\nSEED = 0"


def _run(*sources, required):
    """Indices run, for cells given in order; ``required``: indices that always run."""
    return select(dict(enumerate(sources)), set(required)).run


def test_an_experiment_no_test_reads_is_skipped():
    cells = [SETUP, PARAMS, "def double(x):\n    return 2 * x",  # 2: answer
             "assert double(2) == 4",  # 3: test
             "model = torch.nn.Linear(2, 2)\nhistory = fit(model, loader, epochs=3, device=DEVICE)",  # 4
             "assert double(torch.ones(1)).item() == 2"]  # 5: test
    chosen = select(dict(enumerate(cells)), {2, 3, 5})
    assert chosen.skipped == (1, 4) and chosen.run == (0, 2, 3, 5)


def test_a_cell_defining_a_name_a_test_reads_runs_transitively():
    cells = [SETUP, "base = 3", "scale = base * 2", "x = torch.ones(scale)", "unused = 1",
             "def f(t):\n    return t.sum()", "assert f(x) == 6"]
    assert _run(*cells, required={5, 6}) == (0, 1, 2, 3, 5, 6)


def test_the_latest_unconditional_definition_hides_earlier_ones():
    assert _run("x = expensive()", "x = 1", "assert x == 1", required={2}) == (1, 2)


def test_a_conditional_definition_does_not_hide_earlier_ones():
    assert _run("x = 0", "if flag:\n    x = 1", "assert x in (0, 1)", required={2}) == (0, 1, 2)


@pytest.mark.parametrize("mutation", ["fit(model)", "model.train()", "model.weight = None", "model[0] = 1",
                                      "model += 1", "del model", "for model in []:\n    pass"])
def test_a_cell_that_may_change_a_name_a_test_reads_runs(mutation):
    assert _run("model = make()", mutation, "assert model is not None", required={2}) == (0, 1, 2)


def test_changing_an_alias_counts_for_the_aliased_name():
    cells = ["model = make()", "w = model.weight", "w.zero_()", "assert model.weight.sum() == 0"]
    assert _run(*cells, required={3}) == (0, 1, 2, 3)


def test_calling_a_function_that_changes_a_global_counts():
    cells = ["log = []", "def step():\n    log.append(1)", "step()", "assert log == [1]"]
    assert _run(*cells, required={3}) == (0, 1, 2, 3)


@pytest.mark.parametrize("effect", ["torch.manual_seed(0)", "np.random.seed(1)", "torch.set_default_dtype(torch.float64)",
                                    "torch.backends.cudnn.deterministic = True", "import numpy as np",
                                    "%matplotlib inline", "def broken(:", "warnings.filterwarnings('ignore')"])
def test_cells_with_effects_beyond_their_names_run(effect):
    assert analyse(effect, {"torch", "np", "warnings"}).effects, effect
    assert _run("import torch\nimport numpy as np\nimport warnings", effect, "assert True", required={2}) == (0, 1, 2)


def test_settings_passed_to_a_call_are_read_not_changed():
    use = analyse("model.to(DEVICE)\nrun(model, QUICK)")
    assert "DEVICE" in use.reads and "DEVICE" not in use.changes and "model" in use.changes


def test_names_local_to_a_function_are_not_read_from_outside():
    use = analyse("def train_epoch(model, loader):\n    for xb, yb in loader:\n        out = model(xb)\n"
                  "    return out, DEVICE")
    assert use.reads == {"DEVICE"} and use.binds == {"train_epoch"}


def test_seeding_inside_an_experiment_does_not_make_it_needed():
    cells = ["import torch", "torch.manual_seed(0)\nmodel = make()\nfit(model)", "assert torch.ones(1).sum() == 1"]
    assert _run(*cells, required={2}) == (0, 2)


def test_a_device_passed_to_a_call_is_read_not_changed():
    cells = ["import torch", "device = torch.device('cpu')", "model = make().to(device)\nfit(model, device)",
             "assert f(device)"]
    assert _run(*cells, required={3}) == (0, 1, 3)


def test_a_comprehension_reads_what_its_cell_bound_before_it():
    """A list comprehension runs where it stands; a lambda or a function may run later, so it reads its free
    names from wherever they are when it does."""
    assert "layers" not in analyse("layers = list(m)\nnames = [type(x) for x in layers]").reads
    assert "layers" in analyse("names = [type(x) for x in layers]\nlayers = list(m)").reads
    assert "layers" in analyse("f = lambda: layers\nlayers = list(m)").reads
    cells = {0: "layers = [1]\nmodel = train(layers)", 1: "layers = [2]\nprint([n for n in layers])"}
    assert select(cells, {1}).skipped == (0,)


def test_a_function_given_to_a_call_or_whose_result_is_used_is_read_not_changed():
    """``fit(loss_fn=mse_loss)`` and ``mse_loss(a, b).item()`` cannot change ``mse_loss``: the experiment that
    does both is skipped when the test reads only ``mse_loss``."""
    cells = [SETUP, "def mse_loss(a, b):\n    return ((a - b) ** 2).mean()",  # 1: answer
             "def train(model):\n    return fit(model, loader, loss_fn=mse_loss)",  # 2
             "model = torch.nn.Linear(2, 2)\nlosses = train(model)\nfinal = mse_loss(model(x), y).item()",  # 3
             "assert mse_loss(torch.ones(2), torch.zeros(2)) == 1"]  # 4: test
    assert _run(*cells, required={1, 4}) == (0, 1, 4)


@pytest.mark.parametrize("binding", [
    "mse_loss = torch.nn.MSELoss()",  # an object with state, not a def
    "@functools.lru_cache\ndef mse_loss(a, b):\n    return a",  # a decorated def is a wrapper object
    "def mse_loss(a, b):\n    return a\nmse_loss = wrap(mse_loss)",  # bound again, not only by def
    "def mse_loss(a, b):\n    return a\ndef rebind():\n    global mse_loss\n    mse_loss = None",
])
def test_a_name_not_bound_only_by_a_plain_def_stays_changed_when_passed(binding):
    cells = [SETUP, binding, "history = fit(model, loader, loss_fn=mse_loss)", "assert mse_loss is not None"]
    assert _run(*cells, required={1, 3}) == (0, 1, 2, 3)


def test_a_method_called_on_a_function_itself_still_changes_it():
    cells = ["def f():\n    return 1", "f.__dict__.update(calls=0)", "assert f() == 1"]
    assert _run(*cells, required={0, 2}) == (0, 1, 2)
