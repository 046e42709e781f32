"""Run All grades the learner's code, never a hidden solution (issue 12 item 1).

For every exercise in every lesson source (lessons/NN_*.py) and its committed notebook:
- the stub cell is followed by its checker cell, which calls the checker on the stub's name;
- no solution cell redefines a stub's name (it defines `solution_x` and grades that);
- executing the stub cell and the checker cell, as Run All does, prints "⏳ not done yet";
- executing a plausible wrong answer in place of the stub, then the same checker cell, prints
  "❌ not yet" (the checker grades what the learner wrote);
- the committed notebook shows "⏳ not done yet" under each checker and "✅ correct" under each
  solution.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))

# A plausible wrong answer per exercise (the name the stub defines -> source).
WRONG = {
    "my_sft_loss": """
def my_sft_loss(logits, batch):  # averages over the padding too
    P = batch.prompt_len
    return F.cross_entropy(logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids)
""",
    "my_reward_model_loss": """
def my_reward_model_loss(score_chosen, score_rejected, margin=0.0):  # minus sign lost
    return F.logsigmoid(score_chosen - score_rejected - margin).mean()
""",
    "my_ppo_clip_loss": """
def my_ppo_clip_loss(log_ratio, advantages, eps=0.2):  # no clip
    return -(log_ratio.exp() * advantages).mean()
""",
    "my_gae": """
def my_gae(rewards, values, gamma, lam, mask):  # returns without the values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * lam * running
        advantages[:, t] = running
    return advantages * mask, advantages * mask
""",
    "my_update_beta": """
def my_update_beta(beta, kl, target, horizon, n_steps):  # error not clipped
    return beta * (1 + (kl / target - 1) * n_steps / horizon)
""",
    "my_group_advantages": """
def my_group_advantages(rewards, group_size, eps=1e-4):  # normalised over the whole batch
    return (rewards - rewards.mean()) / (rewards.std() + eps)
""",
    "my_dpo_loss": """
def my_dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
                ref_rejected_logps, beta=0.1):  # no reference
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps)).mean()
""",
    "my_reinforce_loss": """
def my_reinforce_loss(seq_logprobs, rewards, baseline):  # no baseline
    return -(rewards.detach() * seq_logprobs).mean()
""",
    "my_ppo_update": """
def my_ppo_update(policy, value_model, optimizer, rollout, config, generator):  # no minibatches
    m = rollout.mask
    adv = whiten(rollout.advantages, m) * m
    ratio = ((response_logprobs(policy, rollout.batch, config.temperature) - rollout.logprobs) * m).exp()
    eps = config.clip_eps
    pg = -(torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv) * m).sum() / m.sum()
    v = response_values(value_model, rollout.batch)
    vc = rollout.values + (v - rollout.values).clamp(-config.vf_clip, config.vf_clip)
    err = torch.max((v - rollout.returns) ** 2, (vc - rollout.returns) ** 2)
    optimizer.zero_grad()
    (pg + config.vf_coef * 0.5 * (err * m).sum() / m.sum()).backward()
    params = [*policy.parameters(), *value_model.parameters()]
    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
""",
    "my_grpo_loss": """
def my_grpo_loss(per_token_loss, mask, loss_type):  # one token mean for every loss type
    m = mask.float()
    return (per_token_loss * m).sum() / m.sum()
""",
    "ppo_bytes_per_param": """
def ppo_bytes_per_param(lora_fraction):  # only the trained copies
    return 32
""",
    "dpo_flops": """
def dpo_flops(n_params, n_pairs, seq_tokens, epochs):  # chosen only, no reference
    return 6 * n_params * n_pairs * seq_tokens * epochs
""",
}


def _code(cell) -> str:
    return cell.source if cell.cell_type == "code" else ""


def _is_solution(cell) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def exercises(path: Path) -> list[tuple[list[str], str, str]]:
    """(stub names, stub cell source, checker cell source) for each stub cell of a lesson."""
    cells = jupytext.read(path).cells
    found = []
    for i, cell in enumerate(cells):
        src = _code(cell)
        if "raise NotImplementedError" not in src or _is_solution(cell):
            continue
        names = re.findall(r"(?m)^def (\w+)\(", src)
        following = [c for c in cells[i + 1 :] if c.cell_type == "code"]
        assert following, f"{path.name}: stub {names} has no checker cell after it"
        found.append((names, src, _code(following[0])))
    return found


CASES = [
    pytest.param(path, names, stub, checker, id=f"{path.stem[:2]}-{'+'.join(names)}")
    for path in LESSONS
    for names, stub, checker in exercises(path)
]


def _run(*sources: str) -> str:
    """Execute cells in one namespace, as a kernel does; return what they printed."""
    namespace = {"torch": torch, "F": F, "math": math}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for source in sources:
            exec(compile(source, "<cell>", "exec"), namespace)
    return out.getvalue()


def test_every_lesson_with_a_solution_has_an_exercise():
    with_solutions = {
        p.name for p in LESSONS if any(_is_solution(c) for c in jupytext.read(p).cells)
    }
    assert with_solutions == {p.name for p, *_ in (c.values for c in CASES)}


@pytest.mark.parametrize("path, names, stub, checker", CASES)
def test_the_checker_right_after_the_stub_grades_the_stub(path, names, stub, checker):
    assert all(re.search(rf"\bcheck_\w+\({n}\)", checker) for n in names), (
        f"{path.name}: the cell after the stub must call a checker on {names}:\n{checker}"
    )
    solutions = [_code(c) for c in jupytext.read(path).cells if _is_solution(c)]
    for n in names:
        assert not any(re.search(rf"(?m)^def {n}\(", s) for s in solutions), (
            f"{path.name}: a solution cell redefines {n}: Run All would grade it, not the learner"
        )


@pytest.mark.parametrize("path, names, stub, checker", CASES)
def test_run_all_with_the_stub_untouched_says_not_done_yet(path, names, stub, checker):
    said = _run(stub, checker)
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == len(names), said
    assert all(line.startswith("⏳ not done yet") for line in lines), said


@pytest.mark.parametrize("path, names, stub, checker", CASES)
def test_a_wrong_answer_in_the_stub_cell_is_rejected(path, names, stub, checker):
    for n in names:
        wrong = WRONG[n]
        others = [m for m in names if m != n]
        # the other stubs of the same cell stay as they are
        said = _run(stub, wrong, checker)
        verdicts = dict(zip(names, [s for s in said.splitlines() if s.strip()], strict=True))
        assert verdicts[n].startswith("❌ not yet"), (n, said)
        assert all(verdicts[m].startswith("⏳ not done yet") for m in others), said


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


@pytest.mark.parametrize("path", sorted({c.values[0] for c in CASES}), ids=lambda p: p.stem[:2])
def test_the_committed_notebook_shows_the_stub_graded_and_the_solution_passing(path):
    notebook = ROOT / "notebooks" / f"{path.stem}.ipynb"
    cells = nbformat.read(notebook, as_version=4).cells
    for names, _, checker in exercises(path):
        (cell,) = [c for c in cells if c.cell_type == "code" and c.source == checker.strip()]
        assert "⏳ not done yet" in _outputs(cell) and "✅" not in _outputs(cell), names
    for cell in cells:
        if _is_solution(cell):
            said = _outputs(cell)
            assert "✅ correct" in said and "❌" not in said, f"{notebook.name}: {said[:200]}"
