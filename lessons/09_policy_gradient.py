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
#     - 'REINFORCE, RLOO, PPO, GRPO, DPO and best-of-N on one toy world and one budget, against the exact optimum'
#     - 'the capstone: write PPO''s update yourself (minibatches, both clips, gradient clipping)'
#     - 'inside one update: the ratios against the clip band, the advantages per token'
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
# ## Measured: six methods on one budget
#
# Same toy world, 30 steps of 64 sampled sequences each, every method from its toy preset
# (its own β). REINFORCE: 64 prompts × 1 response, a running-mean baseline; RLOO: 16 prompts ×
# 4 responses, leave-one-out; PPO and GRPO as in lessons 04 and 06; DPO on 64 preference pairs
# per step (no sampling at all); best-of-16 (no training: 16 samples per prompt at answer time).
# The table reports gold (the true score), the proxy reward, KL to the reference, how far the
# proxy is below the **exact optimum** π* ∝ π_ref·exp(r/β) at the same KL (lesson 04's
# `rlhf_lessons.optimum`; "—" where the KL is outside the curve), and CPU seconds.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.comparison import format_table, load_world, optimum_curve, optimum_gap, reference_row, run_method

STEPS = 30
world = load_world(seed=0)
methods = ("REINFORCE", "RLOO", "PPO", "GRPO", "DPO", "best-of-N")
rows = [reference_row(world)] + [run_method(world, m, steps=STEPS) for m in methods]
OPT_PROMPTS = 16  # π* is estimated on the first 16 held-out prompts, 160 reference samples each
optimum = optimum_curve(world, [0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0], n_prompts=OPT_PROMPTS, n_samples=160)
for row in rows[1:]:
    row["gap"] = optimum_gap(row, optimum)
display(Markdown(format_table(rows)))
assert all(0.2 < r["gold"] <= 1.0 for r in rows[1:]), [r["gold"] for r in rows]

# %% [markdown]
# The same runs on the reward–KL plane (lesson 06's frontier plot): each method is a point,
# best-of-N a curve (n = 1, 2, 4, 8, 16), and π* the line no policy can beat on the proxy.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.plots.frontier import plot_frontier

fig = plot_frontier(rows + rows[-1]["metrics"], optimum, title=f"toy world, {STEPS} steps per run")

# %%
# NBVAL_IGNORE_OUTPUT
by = {r["method"]: r for r in rows}
trained = [by[m] for m in methods]
rloo, ppo = by["RLOO"], by["PPO"]
best = max(trained, key=lambda r: r["gold"])
per_kl = max(trained, key=lambda r: r["gold"] / max(r["kl"], 1e-6))
per_s = max(trained[:5], key=lambda r: r["gold"] / r["cpu_seconds"])
near = min((r for r in trained if r["gap"] is not None), key=lambda r: r["gap"])
display(Markdown(
    f"Most gold: **{best['method']}** ({best['gold']:.2f}). Most gold per nat of KL: "
    f"**{per_kl['method']}** ({per_kl['gold'] / per_kl['kl']:.2f}/nat). Most gold per CPU second "
    f"of training: **{per_s['method']}** ({per_s['gold'] / per_s['cpu_seconds']:.2f}/s). Closest to "
    f"π* at its own KL: **{near['method']}** ({near['gap']:+.2f}; π* is a Monte Carlo estimate on "
    f"{OPT_PROMPTS} prompts, so a gap within a few hundredths of 0 is noise). "
    + "; ".join(f"{r['method']}: {r['copies']} model copies" for r in trained[:4])
    + f". RLOO reached {rloo['gold'] / ppo['gold']:.0%} of PPO's gold in "
    f"{rloo['cpu_seconds'] / ppo['cpu_seconds']:.0%} of its CPU time, without a value model "
    "(compare Ahmadian et al. 2024)."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Capstone: write PPO's update yourself
#
# The table shows what PPO's machinery costs; now build it. Write lesson 04's step 5,
# `my_ppo_update(policy, value_model, optimizer, rollout, config, generator)`, updating both
# models in place:
#
# 1. whiten `rollout.advantages` **once**, over the whole batch's real tokens:
#    `whiten(rollout.advantages, rollout.mask) * rollout.mask`;
# 2. for each of `config.ppo_epochs` epochs draw a new `order = torch.randperm(B, generator=generator)`,
#    and for each minibatch `idx = order[start : start + config.minibatch_size]` take
#    `mb = rollout.batch.select(idx)` and every (B, T) tensor of the rollout at `[idx]`;
# 3. $\rho = \exp\big((\log\pi_\theta - \log\pi_{old})\cdot\text{mask}\big)$, with
#    $\log\pi_\theta$ = `response_logprobs(policy, mb, config.temperature)`;
# 4. $L_{pg} = -\text{mean}\big(\min(\rho A,\ \text{clip}(\rho, 1-\epsilon, 1+\epsilon) A)\big)$
#    over real tokens (`config.clip_eps`);
# 5. $L_{vf} = \tfrac12\,\text{mean}\big(\max((V-R)^2, (V_{old} + \text{clip}(V - V_{old}, \pm c) - R)^2)\big)$,
#    $V$ = `response_values(value_model, mb)`, $c$ = `config.vf_clip`;
# 6. zero the gradients, backward $L_{pg} + c_{vf}\,L_{vf}$ (`config.vf_coef`), clip the global
#    gradient norm of both models to `config.max_grad_norm`, `optimizer.step()`.
#
# The checker runs your function and the package's `ppo_update` on copies of one seeded rollout
# (2 epochs × 2 minibatches, plain SGD, both clips binding, a gradient norm above the limit) and
# compares every parameter afterwards (to 1e-5); it names the usual mistakes (no clip, the clip
# on ρ·A, an unclipped value loss, advantages not whitened or whitened per minibatch, no
# gradient clipping, one step on the whole batch, one shuffle for all epochs).

# %%
from rlhf_lessons import whiten
from rlhf_lessons.rollout import response_logprobs
from rlhf_lessons.trainers.ppo import response_values


def my_ppo_update(policy, value_model, optimizer, rollout, config, generator):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.capstone import check_ppo_update

verdict = check_ppo_update(my_ppo_update)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_ppo_update(policy, value_model, optimizer, rollout, config, generator):
    B = len(rollout.batch)
    advantages = whiten(rollout.advantages, rollout.mask) * rollout.mask  # (B, T) once
    params = [*policy.parameters(), *value_model.parameters()]
    for _epoch in range(config.ppo_epochs):
        order = torch.randperm(B, generator=generator)  # (B,) a new shuffle per epoch
        for start in range(0, B, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]  # (b,)
            mb, mask, adv = rollout.batch.select(idx), rollout.mask[idx], advantages[idx]
            n = mask.sum()
            ratio = ((response_logprobs(policy, mb, config.temperature) - rollout.logprobs[idx]) * mask).exp()
            clipped = ratio.clamp(1 - config.clip_eps, 1 + config.clip_eps)
            pg_loss = -(torch.min(ratio * adv, clipped * adv) * mask).sum() / n
            values, v_old, returns = response_values(value_model, mb), rollout.values[idx], rollout.returns[idx]
            v_clipped = v_old + (values - v_old).clamp(-config.vf_clip, config.vf_clip)
            vf_loss = 0.5 * (torch.max((values - returns) ** 2, (v_clipped - returns) ** 2) * mask).sum() / n
            optimizer.zero_grad()
            (pg_loss + config.vf_coef * vf_loss).backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()


verdict = check_ppo_update(solution_ppo_update)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Inside one update
#
# What does the clip see? One PPO step of the toy preset from the SFT policy (its epochs ×
# minibatches on 64 responses), then the ratio $\rho = \pi_\theta/\pi_{old}$ of every real token
# against the clip band: at the preset's learning rate, and at lesson 05's 10× larger one, where
# each rollout is reused hard. Below them, the whitened advantage $A_t$ of a few responses,
# token by token.

# %%
# NBVAL_IGNORE_OUTPUT
import copy

import matplotlib.pyplot as plt

from rlhf_lessons.plots.update import plot_advantage_heatmap, plot_ratio_histogram
from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo


def one_update(lr):
    """One PPO step from the SFT policy; (the run, log π_θ − log π_old on its rollout after the update)."""
    run = train_ppo(PPOConfig.toy(steps=1, batch_size=64, lr=lr), copy.deepcopy(world.reference), world.reference,
                    world.reward_model, world.tokenizer, world.prompts, doctor=False, progress=False)
    with torch.no_grad():
        new = response_logprobs(run.policy, run.rollout.batch, run.config.temperature)
    return run, (new - run.rollout.logprobs) * run.rollout.mask  # (B, T)


updates = {lr: one_update(lr) for lr in (3e-4, 3e-3)}
fig, axes = plt.subplots(3, 1, figsize=(9, 8), dpi=80)
for ax, (lr, (run, log_ratio)) in zip(axes, updates.items()):
    plot_ratio_histogram(log_ratio, run.rollout.mask, run.config.clip_eps, ax=ax)
    ax.set_title(f"lr {lr:g}: " + ax.get_title())
ro = updates[3e-4][0].rollout
tokens = [world.tokenizer.convert_ids_to_tokens(r[m.bool()].tolist()) for r, m in zip(ro.batch.response_ids, ro.batch.response_mask)]
plot_advantage_heatmap(ro.advantages, ro.mask, tokens, rows=5, ax=axes[2])
fig.tight_layout()

# %%
# NBVAL_IGNORE_OUTPUT
outside, logged = {}, {}  # lr -> fraction of real tokens with |ρ - 1| > ε: after the update, logged
for lr, (run, log_ratio) in updates.items():
    left = ((log_ratio.exp() - 1).abs() > run.config.clip_eps) & run.rollout.mask.bool()  # (B, T)
    outside[lr], logged[lr] = (left.sum() / run.rollout.mask.sum()).item(), run.metrics[0]["clipfrac"]
steps = PPOConfig.toy().ppo_epochs * PPOConfig.toy().num_minibatches
display(Markdown(
    f"After one PPO step ({steps} gradient steps on one rollout), {outside[3e-4]:.0%} of the tokens "
    f"have left the band at lr 3e-4 and {outside[3e-3]:.0%} at lr 3e-3. The clipfrac the step "
    f"logged is lower, {logged[3e-4]:.0%} and {logged[3e-3]:.0%}: it is a mean over the {steps} "
    "minibatches, and the first of them sees ρ = 1 everywhere. The clip acts in the later epochs, "
    "on tokens the earlier ones already moved, and it holds back more of the batch the larger the "
    "learning rate. In the heat map a response's advantages share its end score, spread back by "
    "GAE; single tokens stand out where the KL penalty or the value model's error is large."
))
assert outside[3e-3] > outside[3e-4] and outside[3e-3] > 0.02, outside

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# The seed's quiz prompt 2, *"Why PPO and not plain policy gradient?"*: using this lesson's
# numbers, say what the clip and the value model buy, what they cost, and when RLOO is enough.
