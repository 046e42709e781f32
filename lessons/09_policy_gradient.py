# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: all
#     notebook_metadata_filter: lesson
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   lesson:
#     learn:
#     - "the log-derivative trick: \u2207E[R] = E[R \u2207log \u03c0(y)], checked on a categorical"
#     - 'REINFORCE on whole responses, with the KL penalty folded into the reward'
#     - 'why a baseline lowers variance without bias: none, mean and leave-one-out (RLOO)'
#     - 'REINFORCE, RLOO, PPO and GRPO on one toy world and one budget'
#     notebook: 09_policy_gradient.ipynb
#     title: "09 \xB7 Policy gradient from first principles: REINFORCE, RLOO, and what PPO adds"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why PPO and not plain policy gradient?
#
# Lessons 03–06 built PPO: a clipped ratio, a value model, GAE. This lesson looks back and asks
# whether all of it is needed (the seed's quiz prompt 2). We start from the simplest estimator,
# REINFORCE (Williams 1992), add a baseline, reach RLOO (Ahmadian et al. 2024, "Back to
# Basics"), and then *measure* all of them against PPO and GRPO on the same toy world.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The log-derivative trick
#
# We want the gradient of $J(\theta) = \mathbb{E}_{y\sim\pi_\theta}[R(y)] = \sum_y \pi_\theta(y) R(y)$.
# Since $\nabla \pi = \pi\,\nabla\log\pi$,
#
# $$\nabla J = \sum_y R(y)\,\nabla\pi_\theta(y) = \sum_y \pi_\theta(y)\,R(y)\,\nabla\log\pi_\theta(y)
# = \mathbb{E}_{y\sim\pi_\theta}\big[R(y)\,\nabla\log\pi_\theta(y)\big].$$
#
# The right side is an expectation under the policy, so we can *estimate* it from samples, with
# no gradient through the reward (the reward model, or a human, need not be differentiable).
# For a softmax policy over $K$ outcomes, $\nabla_{\text{logits}}\log\pi(y) = e_y - \pi$.
# Check it: many samples against the exact gradient $\pi\odot(R - \mathbb{E}_\pi[R])$.

# %%
# NBVAL_CHECK_OUTPUT
import torch
from IPython.display import Markdown, display

from rlhf_lessons.trainers.reinforce import gradient_variance

logits = torch.tensor([0.5, 0.0, -0.5, 1.0])  # (K,) a policy over 4 "responses"
rewards = torch.tensor([1.0, 2.0, 3.0, 1.5]) + 5.0  # (K,) note the offset of +5
out = gradient_variance(logits, rewards, k=4, trials=40000, seed=0)
print("exact gradient     :", [round(v, 1) for v in out["exact"][0].tolist()])
print("score-function est.:", [round(v, 1) for v in out["none"][0].tolist()])
assert torch.allclose(out["none"][0], out["exact"][0], atol=0.03)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## REINFORCE on whole responses
#
# In RLHF the "outcome" is a whole response $y = (y_1,\dots,y_T)$, and its log probability is the
# sum of its tokens' log probabilities, $\log\pi(y|x) = \sum_t \log\pi(y_t|x, y_{<t})$.
# Ahmadian et al. treat the whole response as *one action*: one reward, one advantage per
# sequence. The KL leash of lesson 04 is folded into that reward,
#
# $$R(x,y) = r(x,y) - \beta\sum_t \log\frac{\pi(y_t|\dots)}{\pi_{ref}(y_t|\dots)}$$
#
# (`kl_penalised_rewards` in `rlhf_lessons/trainers/reinforce.py`), and the loss is
# $-\frac1B\sum_i (R_i - b_i)\log\pi(y_i|x_i)$ with a baseline $b$ that does not depend on $y_i$.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A baseline: less variance, no bias
#
# Since $\mathbb{E}[\nabla\log\pi] = \sum_y \nabla\pi = \nabla 1 = 0$, subtracting any $b$ that
# does not depend on the sampled $y$ keeps the estimate unbiased. Three choices with $k$ samples:
# none; the mean of all $k$ rewards (it includes $R_i$ itself, so it shrinks the gradient by
# $(k-1)/k$); and RLOO's mean of the *other* $k-1$ (unbiased).

# %%
# NBVAL_CHECK_OUTPUT
exact = out["exact"][0]
for name in ("none", "mean", "leave-one-out"):
    mean, var = out[name]
    print(f"{name:>14}: mean/exact = {float(mean @ exact / (exact @ exact)):.2f}, variance = {var:.1f}")
assert out["leave-one-out"][1] < out["none"][1] / 5

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: REINFORCE's loss
#
# Write `my_reinforce_loss(seq_logprobs, rewards, baseline)`: all three are (B,) tensors, one
# value per whole response; return the scalar $-\frac1B\sum_i (R_i - b_i)\log\pi(y_i|x_i)$, with
# no gradient through the advantage $R - b$. The checker names the usual mistakes (the wrong
# sign, no baseline, a baseline that is not detached, probabilities instead of logs, a sum).

# %%
def my_reinforce_loss(seq_logprobs, rewards, baseline):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson09 import check_reinforce_loss

verdict = check_reinforce_loss(my_reinforce_loss)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_reinforce_loss(seq_logprobs, rewards, baseline):
    advantages = (rewards - baseline).detach()  # (B,) a fixed weight per response
    return -(advantages * seq_logprobs).mean()


verdict = check_reinforce_loss(solution_reinforce_loss)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Measured: REINFORCE, RLOO, PPO, GRPO on one budget
#
# Same toy world, 30 steps of 64 sampled sequences each, every method from its toy preset
# (its own β). REINFORCE: 64 prompts × 1 response, a running-mean baseline; RLOO: 16 prompts ×
# 4 responses, leave-one-out. The table reports gold (the true score), the proxy reward, KL to
# the reference and CPU seconds.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.comparison import PG_COPIES, format_table, load_world, reference_row, run_method

STEPS = 30
world = load_world(seed=0)
rows = [reference_row(world)] + [run_method(world, m, steps=STEPS) for m in ("REINFORCE", "RLOO", "PPO", "GRPO")]
display(Markdown(format_table(rows)))
assert all(0.2 < r["gold"] <= 1.0 for r in rows[1:]), [r["gold"] for r in rows]

# %%
# NBVAL_IGNORE_OUTPUT
trained = rows[1:]
rloo, ppo = rows[2], rows[3]
best = max(trained, key=lambda r: r["gold"])
per_kl = max(trained, key=lambda r: r["gold"] / max(r["kl"], 1e-6))
per_s = max(trained, key=lambda r: r["gold"] / r["cpu_seconds"])
display(Markdown(
    f"Most gold: **{best['method']}** ({best['gold']:.2f}). Most gold per nat of KL: "
    f"**{per_kl['method']}** ({per_kl['gold'] / per_kl['kl']:.2f}/nat). Most gold per CPU second: "
    f"**{per_s['method']}** ({per_s['gold'] / per_s['cpu_seconds']:.2f}/s). "
    + "; ".join(f"{r['method']}: {r['copies']} model copies" for r in trained)
    + f". RLOO reached {rloo['gold'] / ppo['gold']:.0%} of PPO's gold in "
    f"{rloo['cpu_seconds'] / ppo['cpu_seconds']:.0%} of its CPU time, without a value model "
    "(compare Ahmadian et al. 2024)."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# The seed's quiz prompt 2, *"Why PPO and not plain policy gradient?"*: using this lesson's
# numbers, say what the clip and the value model buy, what they cost, and when RLOO is enough.
