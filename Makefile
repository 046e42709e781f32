# rlhf-lessons: `make lab` opens the course, `make test` runs every check.
# Both create .venv on first use. torch is installed first, pinned, so that pip does
# not pull a multi-GB CUDA build on a CPU machine; GPU users override it, e.g.
#   make lab TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Cell timeout (s) for nbval; every lesson is designed to run in well under a minute.
NBVAL_TIMEOUT ?= 300
# The extras `make venv` installs ([dev] is all of them; a learner needs only classroom,gpu).
EXTRAS ?= dev
# Every package but torch (TORCH_SPEC) and the course is pinned here: `make constraints` wrote it.
CONSTRAINTS := constraints.txt
# `jupyter lab` as root (a container) needs --allow-root; with no display, no browser to open.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root) \
	$(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)
# Parallel pytest workers: each worker runs torch with one thread (RLHF_LESSONS_THREADS).
PYTEST_WORKERS ?= 2

.PHONY: lab test venv constraints typecheck lint format pytest nbval browser-deps student present slides notebooks notebooks-check lessons-percent benchmark-course data clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/activate
	$(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

lab: venv
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/

test: venv lint typecheck pytest nbval

# Re-pin constraints.txt from this venv (after changing pyproject's dependencies; then `make test`).
constraints: | $(BIN)/activate
	@echo "# pip constraints: the versions the course is tested with (make constraints wrote it" > $(CONSTRAINTS)
	@echo "# from .venv; torch is pinned by the Makefile's TORCH_SPEC, the course is installed itself)." >> $(CONSTRAINTS)
	$(BIN)/pip freeze --exclude-editable | grep -v -i -E '^(torch|rlhf-lessons|rlhf_lessons)==| @ ' \
		| LC_ALL=C sort -f >> $(CONSTRAINTS)

# The public API's types (pyproject [tool.mypy] lists the modules checked).
typecheck: venv
	$(BIN)/mypy

lint: venv
	$(BIN)/ruff check rlhf_lessons tests benchmarks scripts notebooks lessons
	$(BIN)/ruff format --check rlhf_lessons tests benchmarks scripts
	$(BIN)/codespell

format: venv
	$(BIN)/ruff check --fix rlhf_lessons tests benchmarks scripts notebooks lessons
	$(BIN)/ruff format rlhf_lessons tests benchmarks scripts

pytest: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile tests/

# One notebook: make nbval NB=notebooks/03_ppo_clip.ipynb
NB ?= notebooks/
nbval: venv
	$(BIN)/pytest -p no:randomly --nbval-lax --nbval-current-env --nbval-cell-timeout=$(NBVAL_TIMEOUT) \
		-n $(PYTEST_WORKERS) --dist loadfile $(NB)

# Debian's Chromium for the real-browser test (needs root / sudo).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium chromium-driver)

# Classroom (docs/classroom.md): student edition, Voilà, reveal.js slides.
student: venv
	$(PY) -m rlhf_lessons student-edition --out student

LESSON ?= 03
present: venv
	VOILA=$(abspath $(BIN))/voila scripts/present.sh $(LESSON)

slides: venv
	mkdir -p slides
	$(BIN)/jupyter nbconvert --to slides --output-dir slides notebooks/*.ipynb

# Rebuild and execute lessons from their sources (lessons/NN_*.py, jupytext py:percent), in
# order: all, or some with LESSONS="09 10".
LESSONS ?=
notebooks: venv
	$(PY) scripts/notebook_builder.py $(LESSONS)

# The committed notebooks' cells (source, type, metadata) are what their lesson sources build.
notebooks-check: venv
	$(PY) scripts/notebook_builder.py --check $(LESSONS)

# Convert string-list lessons (scripts/lessons/lessonNN.py) to lessons/NN_*.py, and check them.
lessons-percent: venv
	$(PY) scripts/lessons_to_percent.py $(LESSONS)
	$(PY) scripts/lessons_to_percent.py --check $(LESSONS)

# Time the whole course, kernel starts included, and write the table into README.md.
benchmark-course: venv
	$(PY) benchmarks/course_time.py --write-readme

data: venv
	$(PY) -m rlhf_lessons.toy.generate --seed 0 --out data/toy

clean:
	rm -rf $(VENV) .cache build *.egg-info
