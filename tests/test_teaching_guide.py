"""The teacher guide (docs/teaching-guide.md) against the notebooks' stored outputs.

The guide cites measured numbers with a tag that names the lesson printing them:

    **0.802** [L02]          the text 0.802 appears in notebooks/02_*.ipynb's stored outputs
    **0.69 at step 24** [L05] a short phrase works too, checked verbatim
    **38 s** [run L01]       seconds from the first to the last executed cell of lesson 01,
                             read from the stored cell timestamps (metadata.execution)
    **261 s** [run all]      the same summed over every lesson

A number matches only as a whole number: 0.70 does not match 10.70, 0.700 or -0.70.
"Stored outputs" are stream text, text/plain and text/markdown of every code cell: exactly what
a reader sees under the cells, nothing from the code or the markdown cells. The test never
executes a notebook.

Training numbers change slightly when the notebooks are re-executed (thread count, CPU). After a
rebuild, run this file as a script to see every citation with its status and, for a stale one,
the closest candidates the lesson now prints, with their context:

    .venv/bin/python tests/test_teaching_guide.py          # all citations
    .venv/bin/python tests/test_teaching_guide.py --stale  # only those to update

Also checked: a section per lesson 01..08, the seed's three quiz prompts quoted with an answer
each (citing the lessons that teach them), and no decimal number or percentage in the guide
without a tag (except the few course constants in ALLOWED_UNTAGGED).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from functools import cache
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "teaching-guide.md"
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))  # every lesson

CITATION = re.compile(r"\*\*([^*\n]+?)\*\*\s*\[L(\d\d)\]")
RUN_CITATION = re.compile(r"\*\*(\d+) s\*\*\s*\[run (L\d\d|all)\]")
# A run time depends on the machine's load (the same lessons took 105 s and 167 s of cell time on
# the same 2 cores), so a stated time may be off by a factor of 2 either way, or by 3 s for the
# short lessons; a time from another lesson, or a table never updated after a lesson doubled or
# halved, still fails.
RUN_TOLERANCE = (2.0, 3.0)

# The seed lesson's three quiz prompts (../shared/seed-lesson.txt), verbatim, and the lessons
# whose numbers each model answer must cite.
SEED_PROMPTS = {
    1: (
        "In one paragraph, explain the three stages of RLHF training: SFT, reward model "
        "training, and RL optimization. What is the goal of each stage, and what data does each "
        "require?",
        {"01", "02"},
    ),
    2: (
        "Walk me through why PPO is used for RLHF instead of simpler policy gradient algorithms. "
        "What is the clipping objective protecting against, and what happens to training "
        "stability if you remove the clip (set eps=1000)?",
        {"03", "05", "09"},
    ),
    3: (
        "I'm comparing RLHF (with PPO) to DPO for a preference alignment task. I have 100K "
        "preference pairs and a 13B model. Walk me through: (1) the infrastructure difference "
        "(how many GPU hours, how many model copies), (2) expected quality comparison on "
        "MT-Bench at the same compute budget, (3) failure modes unique to each method, and (4) "
        "which I should use given a 2-week timeline and 4×A100 80GB cluster.",
        {"06", "07"},
    ),
}

# Decimals and percentages the guide may write without a tag: constants of the course, not
# measurements (each with its reason).
ALLOWED_UNTAGGED = {
    "0.2593": "the seed lesson's reward-model loss, quoted in lesson 02's quiz",
    "1.4927": "the seed lesson's flipped loss, quoted in lesson 02's quiz",
    "2.0": "the seed lesson's Try it 1 input: log-ratios all 2.0",
    "0.95": "lam, GAE's default (lesson 04's quiz)",
    "30%": "the guide's own tolerance for run times",
    "40%": "lesson 07's assumed MFU for training passes (an assumption, not a measurement)",
    "10%": "lesson 07's assumed MFU for generation",
}
NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?%|(?<![\w.])[-+−]?\d+\.\d+(?!\w|\.\d)")


def normalise(text: str) -> str:
    """Unicode minus to '-', non-breaking and thin spaces to spaces, runs of spaces to one."""
    text = text.replace("−", "-").replace("\u00a0", " ").replace("\u2009", " ")
    return re.sub(r"[ \t]+", " ", text)


def notebook_path(lesson: str) -> Path:
    matches = sorted(NOTEBOOKS.glob(f"{lesson}_*.ipynb"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one notebooks/{lesson}_*.ipynb, found {matches}")
    return matches[0]


@cache
def stored_outputs(lesson: str) -> str:
    """Everything a reader sees under the code cells of a lesson, as one normalised string."""
    nb = nbformat.read(notebook_path(lesson), as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                for mime in ("text/markdown", "text/plain"):
                    if mime in out.get("data", {}):
                        parts.append(out["data"][mime])
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return normalise("\n".join(parts))


@cache
def run_seconds(lesson: str) -> float:
    """First executed cell's start to last cell's reply, from the stored cell timestamps."""
    nb = nbformat.read(notebook_path(lesson), as_version=4)
    stamps = [c.metadata["execution"] for c in nb.cells if "execution" in c.get("metadata", {})]
    if not stamps:
        raise ValueError(f"lesson {lesson} stores no cell timestamps (metadata.execution)")

    def when(s: str) -> datetime:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    start = min(when(s["iopub.execute_input"]) for s in stamps)
    end = max(when(s["shell.execute_reply"]) for s in stamps)
    return (end - start).total_seconds()


def pattern_for(cited: str) -> re.Pattern:
    """The cited text as a whole: no digit, sign or dot glued before it, no digit after it."""
    cited = normalise(cited.strip())
    before = r"(?<![\d.+\-])" if re.match(r"[\d.]", cited) else ""
    before = r"(?<![\d.])" if cited[:1] in "+-" else before
    after = r"(?!\d)" if cited[-1:].isdigit() else ""
    return re.compile(before + re.escape(cited) + after)


def is_present(cited: str, lesson: str) -> bool:
    return bool(pattern_for(cited).search(stored_outputs(lesson)))


def candidates(cited: str, lesson: str, k: int = 4) -> list[str]:
    """The lesson's printed numbers closest to the cited one (same decimals first), in context."""
    first = re.search(r"[-+]?\d+(?:\.\d+)?", normalise(cited))
    text = stored_outputs(lesson)
    if first is None:
        return []
    value, decimals = float(first.group()), len(first.group().partition(".")[2])
    found = []
    for m in re.finditer(r"(?<![\w.])[-+]?\d+(?:\.\d+)?", text):
        same = len(m.group().partition(".")[2]) == decimals
        context = text[max(0, m.start() - 40) : m.end() + 30].replace("\n", " ⏎ ")
        found.append((not same, abs(float(m.group()) - value), m.group(), context))
    found.sort(key=lambda f: f[:2])
    shown: dict[str, str] = {}  # one context per distinct number
    for _, _, num, ctx in found:
        shown.setdefault(num, ctx)
    return [f"{num!r} in ...{ctx}..." for num, ctx in list(shown.items())[:k]]


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def citations() -> list[tuple[int, str, str]]:
    """(line number, cited text, lesson) for every **text** [Lnn] in the guide."""
    text = guide_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in CITATION.finditer(text)
    ]


def run_citations() -> list[tuple[int, int, str]]:
    text = guide_text()
    return [
        (text.count("\n", 0, m.start()) + 1, int(m.group(1)), m.group(2))
        for m in RUN_CITATION.finditer(text)
    ]


def measured_run(which: str) -> float:
    if which == "all":
        return sum(run_seconds(lesson) for lesson in LESSONS)
    return run_seconds(which[1:])


def run_ok(stated: int, measured: float) -> bool:
    factor, absolute = RUN_TOLERANCE
    close = abs(stated - measured) <= absolute
    return close or measured / factor <= stated <= measured * factor


# ---------------------------------------------------------------------------- tests


def test_the_guide_cites_numbers_from_several_lessons():
    cited = citations()
    assert len(cited) >= 60, f"only {len(cited)} tagged citations: did the tag format change?"
    assert {lesson for _, _, lesson in cited} >= set(LESSONS), "a lesson has no cited number"


def test_every_cited_number_is_in_the_lessons_stored_outputs():
    # one test for the whole guide, reporting every stale citation at once (issue 15, item 5)
    stale = []
    for line, cited, lesson in citations():
        if not is_present(cited, lesson):
            near = "; ".join(candidates(cited, lesson)) or "(no number in the outputs)"
            stale.append(
                f"docs/teaching-guide.md:{line} cites **{cited}** [L{lesson}], but "
                f"{notebook_path(lesson).relative_to(ROOT)}'s stored outputs do not print it; "
                f"closest: {near}"
            )
    assert not stale, (
        f"{len(stale)} stale citation(s) (re-executed notebooks?): update the guide to what the "
        "lessons print now:\n" + "\n".join(stale)
    )


def test_run_times_match_the_stored_cell_timestamps():
    cited = run_citations()
    assert {which for _, _, which in cited} == {f"L{n}" for n in LESSONS} | {"all"}, (
        "the guide should state a run time for every lesson and the total"
    )
    wrong = [
        f"line {line}: **{stated} s** [run {which}] but the stored timestamps give "
        f"{measured_run(which):.0f} s"
        for line, stated, which in cited
        if not run_ok(stated, measured_run(which))
    ]
    assert not wrong, "run times out of date (re-executed notebooks?):\n" + "\n".join(wrong)


def test_every_lesson_has_a_section():
    headings = re.findall(r"^## Lesson (\d\d) ", guide_text(), flags=re.M)
    assert headings == LESSONS, (
        f"expected '## Lesson NN' sections {LESSONS} in order, got {headings}"
    )
    for section in re.split(r"^## ", guide_text(), flags=re.M):
        if section.startswith("Lesson "):
            lesson = section[7:9]
            for part in ("**Learning goals.**", "**Timing.**", "**Discussion questions"):
                assert part in section, f"lesson {lesson}'s section lacks {part}"
            assert "(estimate" in section, (
                f"lesson {lesson}: say that minutes to present is an estimate"
            )
            assert f"[run L{lesson}]" in section, f"lesson {lesson}: no measured run time"
            questions = re.findall(r"^\d+\. ", section.partition("**Discussion questions")[2], re.M)
            assert len(questions) >= 3, (
                f"lesson {lesson}: only {len(questions)} discussion questions"
            )


def _answers() -> dict[int, str]:
    """The text under each '### Quiz prompt N' heading, up to the next heading."""
    parts = re.split(r"^### Quiz prompt (\d) .*$", guide_text(), flags=re.M)
    return {int(parts[i]): parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("number", sorted(SEED_PROMPTS))
def test_seed_quiz_prompt_is_quoted_and_answered_with_the_courses_numbers(number):
    prompt, lessons = SEED_PROMPTS[number]
    answers = _answers()
    assert number in answers, f"no '### Quiz prompt {number}' section"
    section = answers[number]
    quoted = " ".join(
        line.lstrip("> ").strip() for line in section.splitlines() if line.startswith(">")
    )
    assert normalise(prompt) in normalise(quoted), f"quiz prompt {number} is not quoted verbatim"
    answer = "\n".join(line for line in section.splitlines() if not line.startswith(">"))
    assert len(answer.split()) >= 150, f"quiz prompt {number}'s answer is too short"
    cited = {m.group(2) for m in CITATION.finditer(answer)}
    assert lessons <= cited, f"quiz prompt {number}'s answer should cite lessons {sorted(lessons)}"


@pytest.mark.parametrize("number", sorted(SEED_PROMPTS))
def test_seed_quiz_prompt_is_the_one_the_lessons_ask(number):
    # The same prompt appears in the quiz of a lesson the guide names: one text, not two drifting.
    prompt, lessons = SEED_PROMPTS[number]
    words = normalise(prompt).replace("*", "").split()
    for lesson in sorted(lessons):
        nb = nbformat.read(notebook_path(lesson), as_version=4)
        markdown = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
        flat = " ".join(normalise(markdown).replace(">", " ").replace("*", "").split())
        if " ".join(words[:12]) in flat:
            return
    pytest.fail(f"quiz prompt {number} is not in the quiz of lessons {sorted(lessons)}")


def test_no_untagged_measured_number():
    text = CITATION.sub("", RUN_CITATION.sub("", guide_text()))
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks
    text = re.sub(r"`[^`]*`", "", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    loose = sorted({m.group() for m in NUMBER.finditer(normalise(text))} - set(ALLOWED_UNTAGGED))
    assert not loose, (
        f"untagged numbers in docs/teaching-guide.md: {loose}. Cite each as **n** [Lnn] "
        "(the lesson that prints it) or, if it is a constant, add it to ALLOWED_UNTAGGED"
    )


def test_the_checker_rejects_what_it_should():
    # The matcher is whole-number: these must not pass for lesson 02's 0.802 and 0.868.
    assert is_present("0.802", "02")
    assert not is_present("0.80", "02")
    assert not is_present("0.8020", "02")
    assert not is_present("-0.802", "02")
    assert not is_present("0.86", "02")
    assert run_ok(38, 37.6) and run_ok(20, 37.6) and run_ok(75, 37.6) and run_ok(4, 8.0)
    assert not run_ok(18, 37.6) and not run_ok(76, 37.6) and not run_ok(1, 8.0)


# ---------------------------------------------------------------------------- script mode


def report_citation(where: str, cited: str, lesson: str, only_stale: bool) -> int:
    """Print one [Lnn] citation's status (if stale, with the closest candidates); 1 if stale.
    Shared with tests/test_answers.py's script mode."""
    ok = is_present(cited, lesson)
    if not (ok and only_stale):
        print(f"{'ok   ' if ok else 'STALE'} {where}  L{lesson}  **{cited}**")
        if not ok:
            for near in candidates(cited, lesson):
                print(f"        candidate {near}")
    return int(not ok)


def main(argv: list[str]) -> int:
    """Print every citation with its status; for a stale one, the closest candidates."""
    only_stale = "--stale" in argv
    stale = 0
    for line, cited, lesson in citations():
        stale += report_citation(f"line {line:4d}", cited, lesson, only_stale)
    for line, stated, which in run_citations():
        measured = measured_run(which)
        ok = run_ok(stated, measured)
        stale += not ok
        if ok and only_stale:
            continue
        status = "ok   " if ok else "STALE"
        print(f"{status} line {line:4d}  run {which}: guide {stated} s, stored {measured:.0f} s")
    print(f"{stale} stale citation(s) in {GUIDE.relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
