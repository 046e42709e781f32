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
#     - 'what the clip protects against, by switching it off (eps = 1000) in the real
#       loop: the seed''s quiz prompt 2, answered with measurements'
#     - "what the KL penalty protects against, by switching it off (beta = 0): **reward\
#       \ hacking** \u2014 the proxy reward keeps rising while the true (gold) score\
#       \ peaks and collapses"
#     - "the over-optimisation curve of Gao et al. 2022 (gold against \u221AKL) and\
#       \ the exact optimum for a sweep of beta"
#     - the three KL estimators k1, k2, k3 and why k3 is the usual choice
#     - the adaptive KL controller, and the training doctor's warnings as they fire
#     notebook: 05_when_rlhf_breaks.ipynb
#     title: "05 \xB7 When RLHF breaks: no clip, no KL, reward hacking"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Two safety devices
#
# Lesson 04's loop has two devices that keep the policy from running away:
#
# - the **clip** (clip_eps = 0.2) bounds how far one PPO step can move the policy away from the
#   policy that collected the rollout (π_old): a *trust region per step*;
# - the **KL penalty** (beta) keeps the policy near the SFT model (π_ref), where the reward model
#   was trained and can be trusted: a *trust region for the whole run*.
#
# Here each is switched off in turn, on the same seed and data as lesson 04. The training
# **doctor** (`rlhf_lessons.doctor`) watches every run and prints a named warning, with a likely
# cause and what to try, the first time a symptom appears: read them as they fire.

# %%
# NBVAL_IGNORE_OUTPUT
import math
import torch
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from rlhf_lessons.doctor import Doctor
from rlhf_lessons.plots.training import plot_gold_vs_sqrt_kl, plot_runs
from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
from rlhf_lessons.toy import gold_scores, load_records
from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo

reference, tokenizer = toy_sft_policy(seed=0)
reward_model = toy_reward_model(seed=0)
prompts = [r["prompt"] for r in load_records("prompts_train")]
test_prompts = [r["prompt"] for r in load_records("prompts_test")]


def run(name, **overrides):
    """A fresh SFT policy trained with PPOConfig.toy(**overrides); the doctor prints as it goes."""
    print(f"── {name} ──")
    policy, _ = toy_sft_policy(seed=0)
    return train_ppo(PPOConfig.toy(**overrides), policy, reference, reward_model, tokenizer,
                     prompts, gold_fn=gold_scores, doctor=Doctor("ppo"), progress=False)


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · No clip: eps = 1000
#
# Lesson 03 showed that with eps = 1000 PPO's loss *is* the plain policy-gradient surrogate.
# What that does depends on how hard each PPO step pushes. With lesson 04's gentle settings the
# ratio rarely leaves [0.8, 1.2] (you will see its clipfrac below), so the clip rarely acts. So
# push the way a learner in a hurry would: a **10× larger learning rate** (3e-3), same 4 epochs ×
# 2 minibatches. Two runs, identical except for clip_eps, 6 steps each:

# %%
# NBVAL_IGNORE_OUTPUT
clipped = run("lr 3e-3, clip_eps 0.2", lr=3e-3, steps=6)
unclipped = run("lr 3e-3, clip_eps 1000 (no clip)", lr=3e-3, clip_eps=1000.0, steps=6)

# %%
# NBVAL_IGNORE_OUTPUT
runs = {"clip_eps 0.2": clipped.metrics, "clip_eps 1000": unclipped.metrics}
fig = plot_runs(runs, ["approx_kl", "clipfrac", "kl", "entropy", "gold"], log_keys=("approx_kl",))
plt.show()
c, u = clipped.metrics, unclipped.metrics
display(Markdown(
    f"Per step, the unclipped policy moved **{mean(u, 'approx_kl') / mean(c, 'approx_kl'):.0f}×** "
    f"further (mean approx_kl {mean(u, 'approx_kl'):.3f} against {mean(c, 'approx_kl'):.3f} per "
    f"token; the clipped run clipped {mean(c, 'clipfrac'):.0%} of its tokens). Within "
    f"{len(u)} steps its KL to the reference reached {max(r['kl'] for r in u):.0f} nats "
    f"(clipped: {max(r['kl'] for r in c):.1f}), its entropy fell to "
    f"{min(r['entropy'] for r in u):.2f} nats/token (clipped: {min(r['entropy'] for r in c):.2f}) "
    f"and its responses to {u[-1]['response_length']:.1f} tokens on average; gold ended at "
    f"**{u[-1]['gold']:.2f}** against {c[-1]['gold']:.2f} with the clip."
))
assert mean(u, "approx_kl") > 3 * mean(c, "approx_kl")
assert u[-1]["gold"] < c[-1]["gold"]

# %%
# NBVAL_IGNORE_OUTPUT
print("last samples without the clip:")
for text in unclipped.samples[:5]:
    print("  ", text)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Why.** Every epoch and minibatch re-uses the same rollout. Without the clip, a token whose
# ratio has already grown still gets a gradient proportional to the ratio (lesson 03), so a few
# tokens that happened to have large advantages are pushed further with every one of the eight
# gradient steps. The next rollout comes from that distorted policy; its advantages are computed
# by a value model that has never seen such text; the errors compound. With the clip, a token
# stops contributing once its ratio leaves [0.8, 1.2] in the direction its advantage likes, so
# the *objective* stops rewarding a move past the band. It does not bound the move itself: the
# first gradient steps on a rollout act before any ratio has left the band, and with a large
# learning rate one such step can already jump far past it (the clipped run's clipfrac and
# approx_kl above show how far). The clipped run is not healthy either: the doctor flags it too,
# because lr 3e-3 is too large with or without the clip. The clip turns a collapse into a bumpy
# run; lesson 04's lr makes it a smooth one. (Quiz 2 asks what eps = 1000, no clip in effect,
# does at lesson 04's learning rate: the next cell runs it.)

# %%
# NBVAL_IGNORE_OUTPUT
gentle = {eps: run(f"lr 3e-4, clip_eps {eps:g}", clip_eps=eps, steps=6) for eps in (0.2, 1000.0)}
g, o = gentle[0.2].metrics, gentle[1000.0].metrics
display(Markdown(
    f"At lesson 04's lr 3e-4 the clip binds on {mean(g, 'clipfrac'):.1%} of the tokens; without it "
    f"the policy moved {mean(o, 'approx_kl') / mean(g, 'approx_kl'):.1f}× as far per step (approx_kl "
    f"{mean(o, 'approx_kl'):.4f} against {mean(g, 'approx_kl'):.4f}), and after {len(g)} steps gold "
    f"is {o[-1]['gold']:.2f} without the clip against {g[-1]['gold']:.2f} with it. So even at a "
    "gentle lr the clip shortens every step; part 1 shows what the unclipped steps do once they "
    "are large enough to compound."
))
assert all(math.isfinite(r["gold"]) for r in g + o)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · No KL penalty: beta = 0, reward hacking
#
# Back to lesson 04's settings (clip on, lr 3e-4; 32 prompts per step to keep the lesson quick);
# now the only change is beta: the default (0.1) against 0. Nothing is wrong with the optimisation here — PPO maximises the reward model's
# score exactly as asked. The reward model is the problem: a learned **proxy** of the gold judge,
# trained on SFT-like text and wrong in places the SFT policy never went (lesson 02 found where:
# repeated words). With beta = 0 nothing keeps the policy from going there. 16 steps of the
# default (lesson 04 ran it longer), 36 without the penalty:

# %%
# NBVAL_IGNORE_OUTPUT
default = run("beta 0.1 (default)", steps=16, batch_size=32)
no_kl = run("beta 0 (no KL penalty)", beta=0.0, steps=36, batch_size=32)

# %%
# NBVAL_IGNORE_OUTPUT
runs = {"beta 0.1": default.metrics, "beta 0": no_kl.metrics}
fig = plot_runs(runs, ["reward", "gold", "kl", "entropy"])
plt.show()
d, n = default.metrics, no_kl.metrics
peak = max(n, key=lambda r: r["gold"])
display(Markdown(
    f"With beta = 0 the proxy reward climbs to **{n[-1]['reward']:.2f}** (beta 0.1: "
    f"{d[-1]['reward']:.2f}), but gold **peaks at {peak['gold']:.2f} at step {peak['step']}** "
    f"(KL {peak['kl']:.0f} nats) and then falls to **{n[-1]['gold']:.2f}**, while the KL "
    f"keeps growing to {n[-1]['kl']:.0f} nats. With beta = 0.1, gold ends at "
    f"{d[-1]['gold']:.2f} at KL {d[-1]['kl']:.1f}; at that same step {len(d)}, the beta = 0 run "
    f"had gold {n[len(d) - 1]['gold']:.2f} at KL {n[len(d) - 1]['kl']:.1f}. The default run clipped "
    f"{mean(d, 'clipfrac'):.1%} of its tokens per step on average: at lr 3e-4 the clip rarely "
    "acts, which is why part 1 needed a larger lr."
))
assert peak["gold"] - n[-1]["gold"] > 0.3 and n[-1]["reward"] > peak["reward"]
assert n[-1]["kl"] > 3 * d[-1]["kl"]

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.toy import gold_score

print("beta 0, last rollout:                       gold")
for text in no_kl.samples[:6]:
    print(f"   {text:70s} {gold_score(text):+.2f}")
print("beta 0.1, last rollout:")
for text in default.samples[:3]:
    print(f"   {text:70s} {gold_score(text):+.2f}")

# %% [markdown]
# The policy found what the reward model over-rates: strings of the same few positive words.
# The gold judge saturates (piling on praise stops paying) and charges for every repeated word;
# the proxy learned the first half of that from noisy pairs and not the second. This is
# **reward hacking**, and it is the normal fate of optimising any learned reward too hard —
# Goodhart's law, measured.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Over-optimisation: gold against √KL
#
# Gao et al. 2022 ("Scaling laws for reward model overoptimization") plot the gold score against
# $d = \sqrt{\mathrm{KL}}$ and find the same shape for every reward model: gold rises, peaks and
# falls, while the proxy keeps rising. Here are both runs in those axes (solid: gold, dotted:
# proxy), with the **optimal policy** π* ∝ π_ref · exp(r/β) for a sweep of beta: for each beta its
# KL and its gold, estimated by reweighting 256 reference samples on each of 16 held-out prompts
# (`rlhf_lessons.optimum`). Reweighting n samples can describe a policy at most log n nats away
# from the reference (all weight on one sample), so the stars stop where the samples run out;
# at small beta few samples carry the weight and those points are rough.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons import optimum

betas = [2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02]
stars = optimum.estimate_optimum(reference, reward_model, tokenizer, test_prompts[:16],
                                 betas=betas, n_samples=256, seed=2)
ax = plot_gold_vs_sqrt_kl({"PPO beta 0.1": d, "PPO beta 0": n}, optimum=stars)
plt.show()
for beta, s in stars.items():
    print(f"π*(beta={beta:<4}): KL {s.kl:5.2f}  √KL {math.sqrt(s.kl):4.2f}  proxy {s.reward:5.2f}  "
          f"gold {s.gold:5.2f}  (effective sample size {s.ess_mean:5.1f} of {s.n_samples})")

# %%
# NBVAL_IGNORE_OUTPUT
best = max(stars.values(), key=lambda s: s.gold)
limit = math.log(stars[betas[0]].n_samples)
past = next(r for r in n if r["kl"] > limit)
display(Markdown(
    f"Along the optimal policies gold only rises as beta shrinks (best {best.gold:.2f} at beta = "
    f"{best.beta:g}, KL {best.kl:.1f}): within the log {stars[betas[0]].n_samples} = "
    f"{limit:.1f} nats the reference samples can describe, the proxy is still a good guide. The "
    f"beta = 0 run left that region at step {past['step']}, its gold peaked at step "
    f"{peak['step']} (KL {peak['kl']:.0f} nats, √KL {math.sqrt(peak['kl']):.1f}) and then fell "
    f"while it went on to {n[-1]['kl']:.0f} nats: beyond the peak, every nat bought more proxy "
    "and less gold. The KL penalty keeps a run on the left of that peak; Gao et al. find it "
    "acts much like stopping early."
))
assert peak["step"] > past["step"]

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · Three ways to estimate a KL from samples
#
# The KL that PPO penalises is an expectation over the policy's own samples. With
# $\log r = \log \pi_{ref}(y_t) - \log \pi(y_t)$ for a sampled token (Schulman, "Approximating KL
# divergence", 2020):
#
# | | estimator | unbiased? | ≥ 0? | variance | gradient in a loss, in expectation |
# |---|---|---|---|---|---|
# | k1 | $-\log r$ | yes | no: a sample can make it negative | high | $0$: pushes nothing |
# | k2 | $\tfrac12 (\log r)^2$ | no (biased when π and π_ref differ much) | yes | low | $\nabla\mathrm{KL}(\pi\,\|\,\pi_{ref})$ |
# | k3 | $(r - 1) - \log r$ | yes | yes | low *when r stays near 1* | $\nabla\mathrm{KL}(\pi_{ref}\,\|\,\pi)$: the other direction |
#
# The first three columns are about the estimator's *value*. The last is about what it does when
# it is put in a loss and differentiated, with the samples held fixed (the next cells show it).
#
# k3 adds $r - 1$, which has expectation 0 under π (so it keeps k1's mean) and is negatively
# correlated with $-\log r$ (so it cancels much of its noise); since $\log r \le r - 1$ it is never
# negative. Schulman's own check: sample x ~ p = N(0, 1) and estimate KL(p‖q) for q = N(μ, 1),
# whose true value is μ²/2 (`kl_k1`, `kl_k2`, `kl_k3` are the package's estimators):

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons import kl_k1, kl_k2, kl_k3

x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
print(f"{'':12s} {'true KL':>8s} " + "".join(f"{k + ' mean':>9s} {k + ' std':>8s}" for k in ("k1", "k2", "k3")))
for mu in (0.1, 1.0, 2.0):
    log_r = mu * x - mu**2 / 2  # log q(x) - log p(x)
    cols = "".join(f"{k(log_r).mean():9.4f} {k(log_r).std():8.4f}" for k in (kl_k1, kl_k2, kl_k3))
    print(f"q = N({mu}, 1) {mu**2 / 2:8.4f} {cols}")

# %% [markdown]
# Close distributions (μ = 0.1): k3 is unbiased with a tenth of k1's spread, and k2 is almost
# right. Far apart (μ = 2): k2 is badly biased and k3's spread overtakes k1's, because $r$ is
# unbounded above: a sample that q likes much more than p makes $r - 1$ huge. The same happens in
# the toy world. The exact per-token KL,
# $\sum_v \pi(v\mid s_t)\log\frac{\pi(v\mid s_t)}{\pi_{ref}(v\mid s_t)}$ (`ppo.exact_token_kl`),
# against the three estimators on 512 responses of part 2's trained beta = 0.1 policy, each
# summed over the response:

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.evaluate import evaluate_policy
from rlhf_lessons.rollout import response_logprobs
from rlhf_lessons.trainers.ppo import exact_token_kl

batch = evaluate_policy(default.policy, tokenizer, test_prompts, samples_per_prompt=4, seed=5)["batch"]
mask = batch.response_mask
log_r = (response_logprobs(reference, batch) - response_logprobs(default.policy, batch)) * mask
exact = exact_token_kl(default.policy, reference, batch).sum(-1)  # (B,)
print(f"{'':6s} {'mean':>7s} {'std':>7s} {'negative':>9s}   (nats per response, {len(exact)} responses)")
print(f"{'exact':6s} {exact.mean():7.3f} {exact.std():7.3f} {(exact < 0).float().mean():9.0%}")
estimates = {}
for name, k in (("k1", kl_k1), ("k2", kl_k2), ("k3", kl_k3)):
    estimates[name] = (k(log_r) * mask).sum(-1)  # (B,)
    e = estimates[name]
    print(f"{name:6s} {e.mean():7.3f} {e.std():7.3f} {(e < 0).float().mean():9.0%}")
tokens = log_r[mask.bool()]
display(Markdown(
    f"Per token, k1 is negative on **{(kl_k1(tokens) < 0).float().mean():.0%}** of the "
    f"{len(tokens)} sampled tokens and k3 on none. At this distance from the reference "
    f"(about {exact.mean():.1f} nats per response) k3's spread is "
    f"{estimates['k3'].std() / estimates['k1'].std():.1f}× k1's and k2's mean is off by "
    f"{estimates['k2'].mean() - exact.mean():+.2f}. Per token the KL here is about "
    f"{exact.sum() / mask.sum():.2f} nats: compare the true KL of the Gaussian rows above. The "
    "policy has made some tokens the reference likes rare; when one is sampled, its r − 1 is "
    "large."
))

# %% [markdown]
# **Which one where.** PPO's *reward* uses k1 per token: summed over a response it is exactly
# the sequence log-ratio log π(y|x)/π_ref(y|x), whose expectation is the KL the objective
# penalises, and it costs nothing (both logprobs are computed anyway). Where a KL sits in a
# *loss* averaged over tokens, and the policy stays near the distribution it is compared with,
# k3 is the usual choice for its *value*: unbiased, never negative, low variance there. GRPO
# (DeepSeekMath, beta = 0.04) does this, and the `approx_kl` diagnostic (π_old against π_θ within
# one PPO step, always close) is k3, as in cleanrl.
#
# **In a loss, what counts is the gradient.** A loss term k(y) on samples y ~ π is differentiated
# with the samples held fixed, so the step follows $\mathbb{E}_{y\sim\pi}[\nabla_\theta k(y)]$.
# Since $\nabla \log r = -\nabla\log\pi$:
# $\mathbb{E}[\nabla k_1] = -\mathbb{E}[\nabla\log\pi] = 0$,
# $\mathbb{E}[\nabla k_2] = \mathbb{E}[-\log r\,\nabla\log\pi] = \nabla\mathrm{KL}(\pi\|\pi_{ref})$ and
# $\mathbb{E}[\nabla k_3] = \mathbb{E}[(1 - r)\nabla\log\pi] = \nabla\mathrm{KL}(\pi_{ref}\|\pi)$.
# `kl_estimator_gradients` computes the three exactly (a sum over every outcome, no sampling)
# on a categorical over 4 outcomes, gradients with respect to the policy's logits:

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.losses import kl_estimator_gradients

policy_logits = torch.tensor([2.0, 0.5, -1.0, 0.0])
ref_logits = torch.tensor([0.0, 1.0, 0.5, -0.5])
grads = kl_estimator_gradients(policy_logits, ref_logits)
for name in ("k1", "k2", "kl_policy_ref", "k3", "kl_ref_policy"):
    print(f"{name:14s}", " ".join(f"{round(g, 4) + 0.0:+.4f}" for g in grads[name].tolist()))  # no "-0"

# %% [markdown]
# k1 in a loss does nothing on average, only noise. k2 pushes exactly along the KL the objective
# penalises, KL(π‖π_ref). k3, the estimator GRPO puts in its loss, pushes along the *other direction*,
# KL(π_ref‖π) (the "mass-covering" one): a different penalty, which weighs each outcome by the reference's probability,
# so it pulls hardest where the reference puts mass the policy has dropped, and barely minds the
# policy piling mass where the reference has little. Near the reference the two directions agree
# to second order, which is why GRPO's choice works while the policy stays close; far from it
# they differ, as above. (Tang & Munos 2025, "On a few pitfalls in KL divergence gradient estimation for RL",
# arXiv 2506.09477, work this out; TRL's GRPOTrainer keeps k3 in the loss
# with beta = 0 as its default, which removes the question.) PPO's k1 *in the reward* is
# different again: the reward is not differentiated, the policy gradient does the rest, and that
# optimises KL(π‖π_ref) itself.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5 · Adaptive KL: choose the KL, not beta
#
# Beta is hard to pick: the KL a given beta leads to depends on the reward model's scale, the
# data and the run's length. Ziegler et al. 2019 instead fix a **target KL** and let a
# proportional controller move beta after every batch:
#
# $$e = \operatorname{clip}\!\Big(\frac{\mathrm{KL}}{\mathrm{KL}_{target}} - 1,\; -0.2,\; 0.2\Big),\qquad
# \beta \leftarrow \beta\,\Big(1 + e\,\frac{n}{\text{horizon}}\Big)$$
#
# with n the responses in the batch. Ziegler et al. use target 6 nats and a horizon of 10,000
# responses, so beta changes by at most a factor e^±0.2 over 10,000 responses. A toy run of a
# few hundred responses needs a much shorter horizon (here: two batches of 32). Start from a beta
# five times the default, which alone would keep the policy almost where it is, and aim at
# 3 nats:

# %%
# NBVAL_IGNORE_OUTPUT
adaptive = run("adaptive KL: beta 0.5, target 3 nats", beta=0.5, adaptive_kl=True,
               kl_target=3.0, kl_horizon=64, steps=20, batch_size=32)
a = adaptive.metrics
fig = plot_runs({"adaptive": a}, ["beta", "kl", "gold"])
fig.axes[1].axhline(3.0, ls="--", c="grey", lw=1)
plt.show()
settled = a[-5:]
low = min(a, key=lambda r: r["beta"])
display(Markdown(
    f"beta fell from {a[0]['beta']:.2f} to {low['beta']:.3f} (step {low['step']}) while the KL "
    f"was below the target and ended at {a[-1]['beta']:.3f}; over the last {len(settled)} steps "
    f"the KL averaged **{mean(settled, 'kl'):.1f} nats**, and gold reached {a[-1]['gold']:.2f}. "
    "You chose a KL budget; the controller searched for the beta that spends it."
))
assert a[-1]["beta"] < a[0]["beta"] / 2 and 1.5 < mean(settled, "kl") < 5.0

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6 · What the doctor saw
#
# Each run's findings (each symptom reported once, at the first step it appeared). The broken
# runs are named without anyone looking at a plot. The thresholds are rules of thumb
# (`doctor.Thresholds`): with only 32 responses per step the value model's explained variance is
# noisy and a healthy run may dip below zero for a step, so the doctor waits for three bad steps in
# a row before it says the value model is not learning. A warning is a prompt to look, not a
# verdict.

# %%
# NBVAL_IGNORE_OUTPUT
for name, result in (("lr 3e-3, clip 0.2", clipped), ("lr 3e-3, no clip", unclipped),
                     ("beta 0.1", default), ("beta 0", no_kl), ("adaptive", adaptive)):
    print(f"{name:18s} {result.doctor.summary()}")
assert any(f.name == "kl-blow-up" for f in no_kl.doctor.findings)
assert any(f.name == "approx-kl-high" for f in unclipped.doctor.findings)
assert not default.doctor.findings and not adaptive.doctor.findings  # the healthy runs: silent


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: the adaptive KL controller
#
# Write `my_update_beta(beta, kl, target, horizon, n_steps)` returning the new beta, following
# the two formulas of section 5. The checker compares it with `AdaptiveKLController` on KLs
# below, near and far above the target and names the usual slips.
# Write it in the next cell and run the checker after it: it grades *your* function, and says
# "not done yet" while the stub is untouched. A collapsed cell after the checker holds a
# solution, `solution_update_beta`, graded the same way.

# %%
def my_update_beta(beta, kl, target, horizon, n_steps):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson05 import check_update_beta

check_update_beta(my_update_beta);

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_update_beta(beta, kl, target, horizon, n_steps):
    error = min(max(kl / target - 1, -0.2), 0.2)  # proportional error, clipped
    return beta * (1 + error * n_steps / horizon)


check_update_beta(solution_update_beta);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# The seed's prompt 2, now with your own measurements:
#
# > *Walk me through why PPO is used for RLHF instead of simpler policy gradient algorithms.
# > What is the clipping objective protecting against, and what happens to training stability
# > if you remove the clip (set eps=1000)?*
#
# Use part 1's numbers (approx_kl, KL, entropy, EOS rate, gold with and without the clip) and
# lesson 03's picture. Then:
#
# 1. Part 2's beta = 0 run maximised the proxy better than the default. Why is it worse?
#    Which diagnostic would have warned you *without* access to the gold judge?
# 2. Why does the over-optimisation curve use √KL on its x-axis, and where on it would you stop?
# 3. k1 can be negative on a token. Why is it still fine inside PPO's reward, and why would it
#    be a problem in a loss averaged over a few tokens?
# 4. With the adaptive controller, what do you choose instead of beta, and what can still go
#    wrong?
#
# Model answers, with the numbers these runs measured: `docs/answers/05.md`.
