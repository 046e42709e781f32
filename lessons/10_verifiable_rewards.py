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
#     - 'RL with a verifiable reward (RLVR): a program checks the response, so the reward is the gold'
#     - 'GRPO with beta = 0 learning a verifiable task on a CPU in seconds'
#     - 'GRPO, Dr. GRPO, DAPO (clip-higher) and GSPO on one budget: pass rate, length, entropy, clipfrac'
#     - 'the silent zero-gradient bug (identical groups), how the doctor names it, and DAPO''s dynamic sampling'
#     - 'KL in the reward or in the loss (k1, k2, k3), and why verifiable rewards run without it'
#     notebook: 10_verifiable_rewards.ipynb
#     title: "10 \xB7 RL with verifiable rewards: GRPO and its variants when a program is the judge"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A reward you can check
#
# Lessons 02–06 learned the reward: a reward model trained on noisy preferences, a **proxy** of
# the hidden gold judge. Optimise a proxy hard enough and it comes apart from the gold (lesson
# 05's over-optimisation), which is why PPO keeps a KL leash to the reference.
#
# Many tasks need no learned reward: a math answer can be compared with the solution, code can
# be run against unit tests, a puzzle checked by its rules. **RL with verifiable rewards**
# (RLVR; DeepSeekMath, Shao et al. 2024; DeepSeek-R1, 2025; DAPO, Yu et al. 2025) puts such a
# checker where the reward model was. The reward *is* the gold: there is nothing to hack.
#
# The toy world has one (`rlhf_lessons/toy/verifier.py`). Its rules, printed from its constants:

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import Markdown, display

from rlhf_lessons.toy.verifier import MAX_WORDS, MIN_WORDS, verify, why_not
from rlhf_lessons.toy.vocab import NEGATIVE, POSITIVE

display(Markdown(
    f"A response **passes** (reward 1) when it ends with `<eos>`, has {MIN_WORDS} to {MAX_WORDS} "
    f"words, uses at least one of the {len(POSITIVE)} positive adjectives and none of the "
    f"{len(NEGATIVE)} negative ones, and repeats no word. Otherwise it fails (reward 0)."
))
for response in ["the plot was witty <eos>", "the plot was witty", "witty <eos>",
                 "the plot was witty but slow <eos>", "the plot was so so witty <eos>"]:
    print(f"{verify(response):.0f}  {response:34s} {why_not(response) or 'passes'}")

# %% [markdown]
# The SFT policy of lesson 01 was never trained for these rules. How often does it pass by
# chance? One sample per held-out prompt, each with the verifier's reason:

# %%
# NBVAL_IGNORE_OUTPUT
from collections import Counter

from rlhf_lessons.verifiable import load_verifiable_world, pass_rate

world = load_verifiable_world(seed=0)  # the cached SFT policy (trained now if missing), prompts
sft = pass_rate(world)
for response in sft["samples"][:5]:
    print(f"{verify(response):.0f}  {response:60s} {why_not(response) or 'passes'}")
reasons = Counter("wrong length" if "words" in (why := why_not(r) or "passes") else why
                  for r in sft["samples"])
display(Markdown(
    f"SFT pass rate on {len(world.eval_prompts)} held-out prompts: **{sft['pass_rate']:.2f}**. "
    "Verdicts: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common())
))
assert sft["pass_rate"] < 0.3

# %% [markdown] slideshow={"slide_type": "slide"}
# ## GRPO on the verifier, beta = 0
#
# GRPO (lesson 06) needs only a score per response: `train_grpo(..., reward_fn=verify_all,
# gold_fn=verify_all)` — the reward and the gold are the same function — with no reward model
# and `beta=0.0` (no KL to the reference; the KL section below says why that is the default). Each
# step samples 8 prompts × 8 responses, and `epochs=2` takes two gradient steps on each batch.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.verifiable import run_variant

STEPS = 30
grpo = run_variant(world, "GRPO", steps=STEPS)
rows = grpo["metrics"]
for response in pass_rate(world, grpo["result"].policy)["samples"][:5]:
    print(f"{verify(response):.0f}  {response:60s} {why_not(response) or 'passes'}")
display(Markdown(
    f"GRPO, {STEPS} steps, beta = 0: held-out pass rate {grpo['pass_before']:.2f} → "
    f"**{grpo['pass_after']:.2f}** in {grpo['cpu_seconds']:.1f} CPU s. Reward = gold at every "
    f"step: {all(r['reward'] == r['gold'] for r in rows)}. KL to the SFT policy, with nothing "
    f"holding it: {rows[0]['kl']:.2f} → {rows[-1]['kl']:.2f} nats per response."
))
assert grpo["pass_after"] > grpo["pass_before"] + 0.4

# %% [markdown]
# In lesson 05 the proxy kept rising while the gold fell, and the KL to the reference was the
# warning. Here the policy drifts from the SFT policy as far as it likes, and that drift is not
# a symptom: the number it optimises is the number we care about.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The variants, on one budget
#
# Since DeepSeekMath, RLVR papers have changed GRPO's loss in small ways, each one a
# `GRPOConfig` field here (TRL 1.16's names):
#
# - **GRPO** `loss_type="grpo"`: average each response's per-token losses, then the responses.
#   A long response's tokens each count less, so a long *wrong* answer is punished less per
#   token than a short one — a length bias (Liu et al. 2025).
# - **Dr. GRPO** `loss_type="dr_grpo"`, `scale_rewards="none"`: sum over every token and divide
#   by a constant ($B \cdot T_{max}$), and do not divide the advantages by the group's std
#   (which up-weights groups that are almost all right or all wrong).
# - **DAPO** `loss_type="dapo"`, `epsilon_high=0.28`: a token mean over the whole batch, and
#   *clip-higher*, an upper clip wider than the lower one, so unlikely tokens can still grow
#   (against entropy collapse; Yu et al. 2025).
# - **GSPO** `importance_sampling_level="sequence"`: one ratio per response, the geometric mean
#   of its token ratios, clipped as a whole (Zheng et al. 2025).
#
# Same steps, same seed (same prompts in the same order), beta = 0 and `epochs=2` for all (with
# one epoch the ratio is exactly 1 and nothing is clipped). Pass rates are held-out; length and
# entropy are the training batches' of the last 5 steps; clipfrac and the fraction of groups
# with equal rewards are means over all steps.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.verifiable import VARIANTS, format_variant_table

runs = [grpo] + [run_variant(world, variant, steps=STEPS) for variant in list(VARIANTS)[1:]]
display(Markdown(format_variant_table(runs)))
assert all(r["pass_after"] > r["pass_before"] + 0.3 and r["clipfrac"] > 0 for r in runs)

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.plots.training import plot_runs

fig = plot_runs({r["variant"]: r["metrics"] for r in runs}, ["pass_rate", "response_length", "entropy", "clipfrac"])

# %%
# NBVAL_IGNORE_OUTPUT
after = [round(r["pass_after"] * len(world.eval_prompts)) for r in runs]  # prompts passed
gspo, token_level = runs[3], runs[:3]
display(Markdown(
    f"All four learn the task: they pass {min(after)} to {max(after)} of the "
    f"{len(world.eval_prompts)} held-out prompts (one seed). Shortest responses: {min(runs, key=lambda r: r['response_length'])['variant']}; "
    f"highest entropy: {max(runs, key=lambda r: r['entropy'])['variant']}. GSPO clips whole "
    f"responses: clipfrac {gspo['clipfrac']:.3f} against {min(r['clipfrac'] for r in token_level):.3f}"
    f"–{max(r['clipfrac'] for r in token_level):.3f} for the token-level variants at the same clip range."
))
assert max(after) - min(after) < 0.25 * len(world.eval_prompts) and gspo["clipfrac"] < min(r["clipfrac"] for r in token_level)

# %% [markdown]
# On a task this small (responses of a few words, 30 steps) the variants barely differ: their
# fixes target long reasoning responses, where length bias grows with the length, where
# entropy collapses over thousands of steps, and where token ratios multiply over thousands of
# tokens. What the table does show is the mechanics: the clip acts only with `epochs > 1`, a
# sequence-level ratio is clipped far less often at the same clip range (a mean of token log
# ratios moves less than the tokens do), and groups with equal rewards are common with a 0/1 reward — the next
# section.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The silent zero-gradient bug
#
# With a 0/1 reward a group whose G responses all pass, or all fail, has advantages
# $A_i = (r_i - \bar r)/(\sigma + \epsilon) = 0$. Make every group like that by accident —
# greedy decoding, a temperature left near 0, or the same random seed for every sample — and
# each group holds G copies of one response. With beta = 0 the loss is then exactly 0, the
# gradient is exactly 0, and nothing raises an error. Two groups sampled at `temperature=1e-3`:

# %%
# NBVAL_IGNORE_OUTPUT
import copy

import torch

from rlhf_lessons.batching import decode_responses
from rlhf_lessons.rollout import response_logprobs
from rlhf_lessons.toy.verifier import verify_all
from rlhf_lessons.trainers.grpo import group_advantages, grpo_loss, sample_groups
from rlhf_lessons.verifiable import rlvr_config

greedy = rlvr_config("GRPO", temperature=1e-3)  # sampling that is greedy in effect
policy = copy.deepcopy(world.reference).requires_grad_(True)
batch = sample_groups(policy, world.tokenizer, world.prompts[:2], greedy, torch.Generator().manual_seed(0))
texts = decode_responses(world.tokenizer, batch.response_ids, batch.response_mask)  # 2 groups of 8
rewards = torch.tensor(verify_all(texts))  # (16,)
advantages = group_advantages(rewards, greedy.group_size)  # (16,)
logprobs = response_logprobs(policy, batch, greedy.temperature)  # (16, T)
loss, _ = grpo_loss(logprobs, logprobs.detach(), logprobs.detach(), advantages, batch.response_mask, beta=0.0)
loss.backward()
grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), float("inf"))
print("distinct responses per group:", [len(set(texts[i : i + 8])) for i in (0, 8)])
print("rewards   :", rewards.tolist())
print("advantages:", advantages.tolist())
print(f"loss = {loss.item() + 0.0}, gradient norm = {grad_norm.item()}, and no error")
assert advantages.abs().max() == 0 and grad_norm == 0

# %% [markdown]
# A run like that "trains" for hours and changes nothing. The training doctor (lesson 05) reads
# every step's `grad_norm` and `zero_variance_groups` and names it at the first step:

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.doctor import Doctor

doctor = Doctor("grpo")
stuck = run_variant(world, "GRPO", steps=3, temperature=1e-3, doctor=doctor)
print("grad_norm per step:", [r["grad_norm"] for r in stuck["metrics"]])
assert {"zero-gradient", "zero-reward-variance"} <= {f.name for f in doctor.findings}

# %% [markdown] slideshow={"slide_type": "slide"}
# ## DAPO's dynamic sampling
#
# Even with healthy sampling, equal-reward groups are common with a 0/1 reward: early on most
# groups all fail, later most all pass. They carry no signal but still dilute the batch (they
# count in every loss's divisor). DAPO's *dynamic sampling* keeps only the groups whose rewards
# differ (`dynamic_sampling=True`, `varied_groups` in `trainers/grpo.py`). DAPO then samples
# more prompts until the batch is full again; here the batch just gets smaller, and a step
# where every group ties is skipped and logged (`update_skipped`) instead of silently doing
# nothing.

# %%
# NBVAL_IGNORE_OUTPUT
dynamic = run_variant(world, "DAPO", steps=STEPS, dynamic_sampling=True)
dapo = runs[2]
print("groups dropped per step (of 8):", [r["dropped_groups"] for r in dynamic["metrics"]])
skipped = run_variant(world, "GRPO", steps=2, temperature=1e-3, dynamic_sampling=True)
display(Markdown(
    f"DAPO with dynamic sampling: {dynamic['dropped_groups']} of {8 * STEPS} groups dropped; "
    f"held-out pass rate {dynamic['pass_before']:.2f} → **{dynamic['pass_after']:.2f}** "
    f"(without it: {dapo['pass_after']:.2f}). At temperature 0.001 every group ties: updates "
    f"skipped {[r['update_skipped'] for r in skipped['metrics']]}."
))
assert dynamic["dropped_groups"] > 0 and dynamic["pass_after"] > dynamic["pass_before"] + 0.3

# %% [markdown] slideshow={"slide_type": "slide"}
# ## KL in the reward, KL in the loss, or no KL
#
# PPO (lesson 04) puts the KL **in the reward**: each token's reward gets $-\beta\,k_1$, the
# reward is not differentiated, and the policy gradient optimises $\mathrm{KL}(\pi\|\pi_{ref})$.
# GRPO puts it **in the loss**: $+\beta\,k_3$ per token, differentiated. Lesson 05 showed what
# each estimator does as a loss term, exactly, on a categorical. Here the policy has piled its
# mass on outcome 0 (the passing answer), far from a uniform reference:

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.losses import kl_estimator_gradients

grads = kl_estimator_gradients(torch.tensor([3.0, 0.0, 0.0, -1.0]), torch.zeros(4))
for name in ("k1", "k2", "kl_policy_ref", "k3", "kl_ref_policy"):
    print(f"{name:14s}", " ".join(f"{round(g, 4) + 0.0:+.4f}" for g in grads[name].tolist()))

# %% [markdown]
# $k_1$ as a loss term pushes nothing on average; $k_2$ pushes along $\nabla\mathrm{KL}(\pi\|\pi_{ref})$;
# $k_3$, GRPO's choice, along the other direction's gradient, $\nabla\mathrm{KL}(\pi_{ref}\|\pi)$,
# which pulls mass back to *every* outcome the reference likes — here, to the failing ones.
#
# With a verifier none of this is needed. The KL leash exists to keep the policy where the
# learned reward can be trusted; a verifier can be trusted everywhere, so the leash only slows
# learning and costs a reference model in memory. DAPO (Yu et al. 2025) removes the KL term,
# and TRL 1.16's `GRPOConfig` defaults to `beta=0.0` (then it does not even load the
# reference). A KL term returns when the verifier is partial (it checks the answer, not the
# prose around it) or the policy must keep other skills.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: the loss types are one line each
#
# The variants differ in how a (B, T) per-token loss $L_{it}$ becomes one number. With mask
# $m_{it}$ (1 = a real token) and $|o_i| = \sum_t m_{it}$:
#
# - `"grpo"`: $\frac1B\sum_i \frac{1}{|o_i|}\sum_t m_{it}L_{it}$ (mean per response, then over responses)
# - `"dr_grpo"`: $\frac{1}{B\,T}\sum_{i,t} m_{it}L_{it}$ ($T$ = the mask's width, the longest a response may be)
# - `"dapo"`: $\sum_{i,t} m_{it}L_{it} \,\big/ \sum_{i,t} m_{it}$ (every real token of the batch alike)
#
# Write
# `my_grpo_loss(per_token_loss, mask, loss_type)`. Padding positions of `per_token_loss` hold
# garbage, as a real one computed after `<eos>` does. The checker names the usual mistakes.

# %%
def my_grpo_loss(per_token_loss, mask, loss_type):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson10 import check_grpo_loss

verdict = check_grpo_loss(my_grpo_loss)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_grpo_loss(per_token_loss, mask, loss_type):
    m = mask.float()  # (B, T)
    total = (per_token_loss * m).sum()
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(-1) / m.sum(-1)).mean()  # mean per response, then over B
    if loss_type == "dr_grpo":
        return total / (m.shape[0] * m.shape[1])  # a constant divisor: B · T
    return total / m.sum()  # "dapo": every real token of the batch alike


verdict = check_grpo_loss(solution_grpo_loss)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it
#
# 1. Put the leash back: `run_variant(world, "GRPO", steps=STEPS, beta=0.04)` (DeepSeekMath's
#    beta). Compare the pass rate and the final KL with the beta = 0 run above.
# 2. Sample colder: `temperature=0.3`. How does the fraction of equal-reward groups change, and
#    the pass rate after `STEPS` steps? Where between `1e-3` and 1 does learning stop?
# 3. Make the task harder: write `strict(texts)`, which also fails responses of more than 4 words
#    (`[v if len(t.split()) <= 5 else 0.0 for t, v in zip(texts, verify_all(texts))]`: the
#    `<eos>` counts as a word there), and pass it as `pass_rate(world, verifier=strict)` and
#    `run_variant(world, "GRPO", steps=STEPS, verifier=strict)`. How do the SFT pass rate and the
#    first steps' share of all-fail groups change?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# 1. Lesson 05's PPO with beta = 0 hacked its reward model. Why can GRPO here run with beta = 0,
#    and what did its KL to the SFT policy do?
# 2. A group of 8 responses all pass. What are its advantages, its contribution to the gradient,
#    and what does dynamic sampling do with it? How many groups did it drop in this lesson's run?
# 3. With `loss_type="grpo"`, a wrong response of 2 tokens and one of 12 tokens get the same
#    advantage. Which one's tokens are pushed down harder, and what does that teach a model
#    about the length of wrong answers? How do Dr. GRPO and DAPO avoid it?
# 4. Why did GSPO clip so much less often than the token-level variants at the same clip range?
