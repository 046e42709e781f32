"""The model answers (docs/answers/NN.md) against the notebooks' stored outputs.

Like the teacher guide (tests/test_teaching_guide.py, whose matcher this file reuses), an
answer cites every measured number with a tag naming the lesson that prints it:

    **0.802** [L02]     the text 0.802 appears in notebooks/02_*.ipynb's stored outputs

so an answer cannot drift from what the learner sees after a rebuild. A number from the full
reward–KL sweep, which no lesson prints, is tagged **0.721** [frontier] and checked the same way
against benchmarks/results/frontier.md (rerun benchmarks/frontier.py after the toy models
change). Numbers that are not
measurements (a hyperparameter, the seed lesson's inputs, a worked example's arithmetic) are
listed, each with its reason, in the answer file's last line:

    <!-- constants: 0.2 (clip_eps), 0.95 (lam), 2.0 (Try it 1's log-ratio) -->

Numbers inside inline code, code blocks or $math$ are not checked. After a rebuild:

    .venv/bin/python tests/test_answers.py --stale   # the stale citations, with candidates
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_teaching_guide import (  # noqa: E402
    CITATION,
    NUMBER,
    ROOT,
    candidates,
    is_present,
    normalise,
    notebook_path,
    pattern_for,
    report_citation,
)

ANSWERS = ROOT / "docs" / "answers"
FRONTIER = ROOT / "benchmarks" / "results" / "frontier.md"
FRONTIER_CITATION = re.compile(r"\*\*([^*\n]+?)\*\*\s*\[frontier\]")
CONSTANTS = re.compile(r"<!--\s*constants:(.*?)-->", re.S)


def answer_files() -> list[Path]:
    return sorted(ANSWERS.glob("[0-9][0-9].md"))


def citations(path: Path) -> list[tuple[int, str, str]]:
    """(line number, cited text, lesson) for every **text** [Lnn] in one answer file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in CITATION.finditer(text)
    ]


def frontier_citations(path: Path) -> list[tuple[int, str]]:
    """(line number, cited text) for every **text** [frontier] in one answer file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FRONTIER_CITATION.finditer(text)
    ]


def in_frontier_table(cited: str) -> bool:
    return bool(pattern_for(cited).search(normalise(FRONTIER.read_text(encoding="utf-8"))))


def constants(path: Path) -> set[str]:
    """The numbers the file declares as constants in its <!-- constants: ... --> comment."""
    found = CONSTANTS.search(path.read_text(encoding="utf-8"))
    if found is None:
        return set()
    listed = re.sub(r"\([^)]*\)", "", found.group(1))  # drop the reasons
    return {m.group() for m in NUMBER.finditer(normalise(listed))}


def untagged(path: Path) -> list[str]:
    """Decimals and percentages in prose that are neither cited nor declared constants."""
    text = CONSTANTS.sub("", path.read_text(encoding="utf-8"))
    text = FRONTIER_CITATION.sub("", CITATION.sub("", text))
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks
    text = re.sub(r"`[^`]*`", "", text)  # inline code
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)  # display math
    text = re.sub(r"\$[^$\n]*\$", "", text)  # inline math
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    return sorted({m.group() for m in NUMBER.finditer(normalise(text))} - constants(path))


ALL_CITATIONS = [(p, *c) for p in answer_files() for c in citations(p)]
ALL_FRONTIER = [(p, *c) for p in answer_files() for c in frontier_citations(p)]


def test_there_is_an_answer_file_per_lesson_and_they_cite_numbers():
    assert [p.stem for p in answer_files()] == [f"{n:02d}" for n in range(1, 11)]
    assert len(ALL_CITATIONS) >= 40, f"only {len(ALL_CITATIONS)} tagged citations in the answers"


# One test per answer file, reporting every stale citation at once (issue 15, item 5): an edit
# that moves lines renames no test, and a re-executed lesson shows all it broke in one run.


@pytest.mark.parametrize("path", answer_files(), ids=lambda p: f"answer{p.stem}")
def test_every_cited_number_is_in_the_lessons_stored_outputs(path):
    stale = []
    for line, cited, lesson in citations(path):
        if not is_present(cited, lesson):
            near = "; ".join(candidates(cited, lesson)) or "(no number in the outputs)"
            stale.append(
                f"{path.relative_to(ROOT)}:{line} cites **{cited}** [L{lesson}], but "
                f"{notebook_path(lesson).relative_to(ROOT)}'s stored outputs do not print it. "
                f"Closest: {near}"
            )
    assert not stale, f"{len(stale)} stale citation(s):\n" + "\n".join(stale)


@pytest.mark.parametrize("path", answer_files(), ids=lambda p: f"answer{p.stem}")
def test_every_frontier_number_is_in_the_sweeps_table(path):
    stale = [
        f"{path.relative_to(ROOT)}:{line} cites **{cited}** [frontier], but "
        f"{FRONTIER.relative_to(ROOT)} does not print it (a new sweep?): update the answer"
        for line, cited in frontier_citations(path)
        if not in_frontier_table(cited)
    ]
    assert not stale, f"{len(stale)} stale frontier citation(s):\n" + "\n".join(stale)


@pytest.mark.parametrize("path", answer_files(), ids=lambda p: f"answer{p.stem}")
def test_no_untagged_measured_number(path):
    loose = untagged(path)
    assert not loose, (
        f"untagged numbers in {path.relative_to(ROOT)}: {loose}. Cite each as **n** [Lnn] (the "
        "lesson that prints it) or, if it is a constant, list it with its reason in the file's "
        "<!-- constants: ... --> line"
    )


def test_the_checks_reject_what_they_should(tmp_path):
    sample = tmp_path / "99.md"
    sample.write_text(
        "Accuracy **0.80** [L02] and 0.55 untagged; `lr=0.3` and $0.7$ are not prose.\n"
        "Swept: **0.333** [frontier].\n"
        "<!-- constants: 0.25 (a constant) -->\n"
    )
    assert citations(sample) == [(1, "0.80", "02")]
    assert frontier_citations(sample) == [(2, "0.333")]
    assert not is_present("0.80", "02")  # lesson 02 prints 0.802, not 0.80
    assert untagged(sample) == ["0.55"]
    assert constants(sample) == {"0.25"}


def main(argv: list[str]) -> int:
    """Print every citation with its status; for a stale one, the closest candidates."""
    only_stale = "--stale" in argv
    stale = 0
    for path, line, cited, lesson in ALL_CITATIONS:
        stale += report_citation(f"{path.name}:{line:<4d}", cited, lesson, only_stale)
    for path, line, cited in ALL_FRONTIER:
        if not in_frontier_table(cited):
            stale += 1
            print(f"STALE {path.name}:{line:<4d} frontier  **{cited}**")
    for path in answer_files():
        loose = untagged(path)
        if loose:
            print(f"UNTAGGED {path.name}: {loose}")
    print(f"{stale} stale citation(s) in docs/answers/")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
