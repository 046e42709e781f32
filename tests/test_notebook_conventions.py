"""The notebook conventions of DESIGN.md, checked on every committed lesson (notebooks/*.ipynb).

Each check fails with the notebook, the cell index and what to fix. The notebooks are built by
scripts/notebook_builder.py, which follows these conventions; this test catches a notebook that
was edited by hand, saved half-run, renamed, or whose prose types in a number that a code cell
should print.

Prose that cannot go stale: a markdown cell may not type in a measured number. Any decimal
number (0.83, 1.1e19) or percentage (80%) in a markdown cell fails the test unless it is

- a constant of the course, listed in ALLOWED_NUMBERS below with the reason it is allowed
  (a hyperparameter such as clip_eps = 0.2, an input tensor of the seed lesson, or a number the
  seed lesson prints, which the course must repeat verbatim); or
- a version (TRL 1.12.0, torch 2.13), an arXiv id (2403.17031) or a section/figure/equation
  number (Section 3.2): see ALLOWED_PATTERNS; or
- inside code (`margin=0.0`), a link target or an HTML tag.

An illustrative number ("a reward of 1.7 means nothing on its own") is still flagged: write it
as an integer or a symbol, or print it.

A lesson author who hits this test either prints the number from a code cell
(`display(Markdown(f"... {acc:.2f} ..."))`) or, if it really is a constant, adds it here with
its reason. Set RLHF_LESSONS_NOTEBOOKS=<folder> to check notebooks elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("RLHF_LESSONS_NOTEBOOKS", ROOT / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Lessons without an exercise (explicit, so that a missing one elsewhere fails).
NO_EXERCISE = {"08_full_scale_gpu.ipynb"}
MAX_BYTES = 2_000_000

# ── Prose numbers: the allow-list (keep it small; every entry says why it is a constant) ──
ALLOWED_NUMBERS: dict[str, str] = {
    # Matched as written: "0.2" is allowed, "0.20" is not (a constant has one spelling).
    # hyperparameters the course fixes and names in prose
    "0.2": "clip_eps = 0.2 and vf_clip = 0.2 (PPO's default)",
    "0.8": "1 - clip_eps: the low edge of the clip range; also a seed input",
    "1.2": "1 + clip_eps: the high edge of the clip range; also a seed input",
    "0.95": "lam = 0.95 (GAE, Stiennon et al. 2020)",
    "0.1": "beta = 0.1 (DPO's default); also a seed input",
    "0.05": "beta = 0.05 (PPO in the toy world, Stiennon et al. 2020)",
    "0.04": "beta = 0.04 (GRPO, DeepSeekMath)",
    "0.02": "beta = 0.02 (InstructGPT)",
    "1.0": "gamma = 1.0; also a seed input",
    "0.5": "the 1/2 of the k2 estimator; also a seed input",
    "0.693": "log 2, the Bradley-Terry loss at a tie",
    # the seed lesson's inputs (score_chosen, score_rejected, log_ratios, advantages, try-its)
    "1.5": "seed input: score_chosen",
    "2.0": "seed input: score_chosen; the try-it's log_ratios 2.0 and advantage -2.0",
    "1.8": "seed input: score_chosen",
    "0.3": "seed input: score_rejected, log_ratios",
    # the numbers the seed lesson prints, which the course repeats exactly
    "0.2593": "seed output: reward model loss",
    "1.4927": "seed output: reward model loss, wrong order",
    "1.2073": "seed output: the PPO clip loss, -1.2073",
    "1.1050": "seed output: unclipped ratio exp(0.1)",
    "1.3500": "seed output: unclipped ratio exp(0.3)",
    "0.9050": "seed output: unclipped ratio exp(-0.1)",
    "1.6490": "seed output: unclipped ratio exp(0.5)",
    "1.2000": "seed output: clipped ratio 1 + clip_eps",
}
ALLOWED_PATTERNS = [
    r"\b\d+\.\d+\.\d+\b",  # versions: 1.12.0
    r"(?i)\b(?:torch|pytorch|trl|transformers|datasets|python|peft|cuda|version|release|v)"
    r"\s*[<>=≥≤~]*\s*\d+\.\d+",  # versions: torch 2.13, Python >= 3.11, v1.2
    r"\b\d{4}\.\d{4,5}(?:v\d+)?\b",  # arXiv ids: 2403.17031
    r"(?i)(?:section|sec\.|§|eq\.|equation|figure|fig\.|table|appendix|chapter)"
    r"\s*\(?\d+(?:\.\d+)+",  # Section 3.2, Eq. (4.1)
]
# a decimal (0.83, .5, 1.1e19) or a percentage (80%, 2.5%); a sentence's full stop may follow
_NUMBER = re.compile(r"(?<![\w.])(?:\d*\.\d+(?:[eE][-+]?\d+)?%?|\d+%)(?!\w|\.\d)")
# skipped: link targets, URLs, HTML tags, code (`margin=0.0` is a signature, not a claim)
_SKIP = re.compile(r"```.*?```|`[^`\n]*`|\]\([^)]*\)|https?://\S+|</?[A-Za-z][^>]*>", re.DOTALL)


def prose_numbers(markdown: str) -> list[str]:
    """The typed-in numbers of a markdown text that are neither allowed constants nor
    versions, arXiv ids or section numbers (links, URLs, HTML tags and code are skipped)."""
    text = _SKIP.sub(" ", markdown)
    for pattern in ALLOWED_PATTERNS:
        text = re.sub(pattern, " ", text)
    found = []
    for match in _NUMBER.finditer(text):
        token = match.group()
        if token in ALLOWED_NUMBERS:
            continue
        found.append(token)
    return found


def test_prose_number_scanner_flags_measurements_and_spares_constants():
    assert prose_numbers("The reward model reaches 0.80 accuracy, 83% of the ceiling.") == [
        "0.80",
        "83%",
    ]
    assert prose_numbers("a bill of about 1.1e19 FLOPs") == ["1.1e19"]
    assert prose_numbers("With clip_eps = 0.2 the ratio stays in [0.8, 1.2]; lam = 0.95.") == []
    assert prose_numbers("TRL 1.12.0 was the last with PPO; torch 2.13; Python >= 3.11.") == []
    assert prose_numbers("See arXiv 2403.17031, Section 3.2 and Eq. (4.1).") == []
    assert prose_numbers("[paper](https://arxiv.org/abs/2305.18290) from 2023, 4 epochs") == []
    assert prose_numbers("Call `f(margin=0.0)`:\n```python\nx = 0.37\n```\nthen 0.37") == ["0.37"]
    assert prose_numbers("The seed prints -1.2073 and 0.2593.") == []
    assert prose_numbers("eps is 0.2, not 0.20; 50% of tokens; .5 nats") == ["0.20", "50%", ".5"]
    assert prose_numbers("gold rose by 0.56") == ["0.56"]


# ── helpers ────────────────────────────────────────────────────────────────────────────────
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MACHINE_PATH = re.compile(
    r"(?:^|[\s'\"(=\[:,])/(?:tmp|root|home|Users|work|private|mnt|var/folders)/"
)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _output_texts(cell) -> list[str]:
    """Every piece of text an output of a code cell shows (stream, data, error traceback)."""
    texts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    texts.append(data if isinstance(data, str) else json.dumps(data))
        elif out.output_type == "error":
            texts.append(_ANSI.sub("", "\n".join([out.ename, out.evalue, *out.traceback])))
    return texts


def _expected_colab_url(name: str) -> str:
    """Recomputed from pyproject's project.urls.Repository (not from the builder)."""
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    owner_repo = re.sub(r"^https://github\.com/", "", repo.rstrip("/"))
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{name}"


def _where(path: Path, index: int) -> str:
    return f"{path.name} cell {index}"


nb_param = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


# ── the checks ─────────────────────────────────────────────────────────────────────────────
@nb_param
def test_valid_and_small(path):
    nbformat.validate(_read(path))
    size = path.stat().st_size
    assert size < MAX_BYTES, (
        f"{path.name} is {size / 1e6:.1f} MB (limit {MAX_BYTES / 1e6:.0f} MB): smaller figures?"
    )


@nb_param
def test_executed_in_order_without_unexpected_errors(path):
    nb = _read(path)
    last = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        count = cell.execution_count
        assert count is not None, f"{_where(path, i)} was never executed: rebuild the notebook"
        assert count > last, (
            f"{_where(path, i)} has execution count {count} after {last}: "
            "run the notebook top to bottom (rebuild it: make notebooks LESSONS=NN)"
        )
        last = count
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in _tags(cell):
            assert errors, f"{_where(path, i)} is tagged raises-exception but raised nothing"
        else:
            assert not errors, (
                f"{_where(path, i)} stores an error ({errors[0].ename}: {errors[0].evalue}) "
                "without the raises-exception tag"
            )


@nb_param
def test_solution_cells_are_tagged_collapsed_code(path):
    nb = _read(path)
    solutions = [i for i, c in enumerate(nb.cells) if "solution" in _tags(c)]
    for i in solutions:
        cell = nb.cells[i]
        assert cell.cell_type == "code", f"{_where(path, i)} is tagged solution but is not code"
        hidden = cell.metadata.get("jupyter", {}).get("source_hidden")
        assert hidden is True, (
            f"{_where(path, i)} is tagged solution but not collapsed "
            "(metadata.jupyter.source_hidden must be true: code(..., solution=True))"
        )
    if path.name in NO_EXERCISE:
        return
    assert solutions, (
        f"{path.name} has no exercise: no cell tagged solution "
        f"(add one, or list the lesson in NO_EXERCISE with a reason)"
    )
    # every solution cell grades itself (solution_x), so it shows the checker's "✅ correct"
    for i in solutions:
        said = _output_texts(nb.cells[i])
        assert any("✅ correct" in t for t in said), (
            f"{_where(path, i)}: a solution cell must end with its checker on solution_x, "
            "and its stored output must say '✅ correct: ...'"
        )


@nb_param
def test_first_cell_has_colab_badge_for_this_notebook(path):
    cell = _read(path).cells[0]
    assert cell.cell_type == "markdown", f"{_where(path, 0)} must be the title (markdown)"
    url = _expected_colab_url(path.name)
    assert f"]({url})" in cell.source, (
        f"{_where(path, 0)} has no 'Open in Colab' badge linking to {url} "
        "(renamed notebook or changed repository URL? rebuild it)"
    )
    assert "colab-badge.svg" in cell.source, f"{_where(path, 0)}: the badge image is missing"


_INSTALL_PROBE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    calls = []
    def refuse(*args, **kwargs):
        calls.append(repr(args[0] if args else kwargs))
        raise RuntimeError("the install cell tried to run a command")
    subprocess.run = subprocess.call = subprocess.check_call = subprocess.Popen = refuse
    os.system = refuse
    cwd, path = os.getcwd(), list(sys.path)
    exec(compile(sys.stdin.read(), "<install cell>", "exec"), {})
    print(json.dumps({"calls": calls, "cwd_changed": os.getcwd() != cwd,
                      "path_changed": sys.path != path}))
    """
)


@nb_param
def test_install_cell_is_a_noop_where_the_package_is_installed(path, tmp_path):
    nb = _read(path)
    index, cell = next((i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert 'find_spec("rlhf_lessons")' in cell.source, (
        f"{_where(path, index)}: the first code cell must be the install cell, guarded by "
        'importlib.util.find_spec("rlhf_lessons")'
    )
    proc = subprocess.run(
        [sys.executable, "-c", _INSTALL_PROBE],
        input=cell.source,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, f"{_where(path, index)}: the install cell failed:\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"calls": [], "cwd_changed": False, "path_changed": False}, (
        f"{_where(path, index)}: the install cell did something although rlhf_lessons is "
        f"installed: {result}"
    )
    assert not list(tmp_path.iterdir()), (
        f"{_where(path, index)} wrote files: {list(tmp_path.iterdir())}"
    )


@nb_param
def test_outputs_print_no_path_of_this_machine(path):
    for i, cell in enumerate(_read(path).cells):
        for text in _output_texts(cell):
            for line in text.splitlines():
                found = MACHINE_PATH.search(line)
                assert not found, (
                    f"{_where(path, i)} prints a path of the machine that built it: "
                    f"...{line[max(0, found.start() - 60) : found.end() + 60]!r}... (print a path "
                    "relative to the repository, silence the warning, or trim the traceback)"
                )


@nb_param
def test_a_progress_bar_is_stored_as_its_last_state(path):
    # scripts/notebook_builder.py coalesces streams: a trainer's text bar redraws itself with
    # carriage returns; stored, every redraw would be a line in viewers that do not fold "\r"
    for i, cell in enumerate(_read(path).cells):
        for out in [o for o in cell.get("outputs", []) if o.output_type == "stream"]:
            assert not re.search(r"\r(?!\n)", out.text), (
                f"{_where(path, i)} stores a bare carriage return (a progress bar's redraws)"
            )


def test_the_builder_keeps_only_a_bars_last_state():
    sys.path.insert(0, str(ROOT / "scripts"))
    from notebook_builder import coalesce_streams

    def stream(text, name="stdout"):
        return nbformat.v4.new_output("stream", name=name, text=text)

    merged = coalesce_streams(
        [
            stream("config\n"),
            stream("bar 10%\rbar 50%"),
            stream("\rbar 100%\n"),
            stream("!", "stderr"),
        ]
    )
    assert [(o.name, o.text) for o in merged] == [("stdout", "config\nbar 100%\n"), ("stderr", "!")]


@nb_param
def test_markdown_types_in_no_measured_number(path):
    problems = []
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "markdown":
            problems += [f"cell {i}: {n}" for n in prose_numbers(cell.source)]
    assert not problems, (
        f"{path.name}: markdown types in numbers ({'; '.join(problems)}). Print a measured "
        "number from a code cell (display(Markdown(f'...'))), or, if it is a constant, add it "
        "to ALLOWED_NUMBERS in tests/test_notebook_conventions.py with its reason."
    )
