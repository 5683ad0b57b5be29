# Two commands do everything on a fresh machine:  make run  (execute all notebooks → build/report.md)
#                                                  make test (pytest: unit + notebook contract tests)
# Both create .venv when it is missing. Other targets: release, grade, bench, lab, lab-instructor, setup, clean.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader shells out to `alembic` when it creates a gradebook: the venv's bin/ must come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

NOTEBOOKS   ?=
PYTEST_ARGS ?=
ASSIGNMENT  ?= 01_images_as_tensors
SUBMISSIONS ?= submissions
OUT         ?= build/grades

.PHONY: setup run run-full test release grade bench lab lab-instructor lint clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cnn-course)"
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)  ## execute every solution notebook in quick mode, write build/report.md and build/report.json
	$(BIN)/cnncourse run $(NOTEBOOKS)

run-full: $(STAMP)  ## the same in full mode (QUICK=False): homework / GPU run
	$(BIN)/cnncourse run --full $(NOTEBOOKS)

test: $(STAMP)  ## unit + contract tests on every core; a notebook's checks share one worker (tests/conftest.py)
	$(BIN)/python -m pytest -n auto --dist loadscope --durations=15 $(PYTEST_ARGS)

release: $(STAMP)  ## stamp the repository URL into the Colab cells, regenerate notebooks/ from solutions/
	$(BIN)/python scripts/stamp_colab.py
	$(BIN)/cnncourse release $(NOTEBOOKS)

grade: $(STAMP)  ## make grade ASSIGNMENT=01_images_as_tensors SUBMISSIONS=class.zip OUT=build/grades
	$(BIN)/cnncourse grade $(ASSIGNMENT) $(SUBMISSIONS) --out $(OUT)

bench: $(STAMP)  ## grading throughput per notebook (all, or NOTEBOOKS=...): stock nbgrader vs cnncourse grade
	@mkdir -p build
	$(BIN)/cnncourse bench $(foreach nb,$(NOTEBOOKS),--assignment $(nb)) --out build/bench.json | tee build/bench.txt

lab: $(STAMP)  ## students' JupyterLab on notebooks/: no nbgrader instructor tools (check with `cnncourse check`)
	$(BIN)/python scripts/lab_config.py student build/jupyter/student
	JUPYTER_CONFIG_DIR=$(CURDIR)/build/jupyter/student $(BIN)/jupyter lab notebooks

lab-instructor: $(STAMP)  ## JupyterLab with nbgrader's formgrader, Create Assignment and course list
	$(BIN)/python scripts/lab_config.py instructor build/jupyter/instructor
	cd autograder && JUPYTER_CONFIG_DIR=$(CURDIR)/build/jupyter/instructor $(CURDIR)/$(BIN)/jupyter lab \
	    --ServerApp.root_dir=$(CURDIR)

lint: $(STAMP)  ## ruff over the package, tests, scripts and solution notebooks; no outputs in notebooks/ (also in make test)
	$(BIN)/python -m pytest -q tests/test_hygiene.py

clean:  ## remove build outputs and nbgrader runtime folders (keeps .venv)
	rm -rf build autograder/gradebook.db autograder/submitted autograder/autograded autograder/feedback \
	       autograder/release_check
