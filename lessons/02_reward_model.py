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
#     - "the Bradley\u2013Terry model of preferences and its loss, with the seed lesson's\
#       \ numbers"
#     - what a margin in the loss does, in closed form
#     - 'why the seed''s word *regression* is loose: a reward model is trained on pairs,
#       so only score *differences* mean anything'
#     - how to train a reward model on noisy preference pairs and judge its accuracy
#       against chance and against the ceiling the label noise sets
#     - "where the learned reward (the *proxy*) disagrees with the truth \u2014 the\
#       \ crack that RL will later pry open"
#     - 'what it is like to be the human: label pairs yourself and train on your labels'
#     notebook: 02_reward_model.ipynb
#     title: "02 \xB7 The reward model: a judge learned from preference pairs"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Bradley–Terry: preferences from score differences
#
# People do not give responses scores; they say which of two is better. The Bradley–Terry
# model (1952) links the two: each response $y$ to a prompt $x$ has a latent score
# $r(x, y)$, and
#
# $$P(y_{chosen} \succ y_{rejected} \mid x) = \sigma\big(r(x, y_{chosen}) - r(x, y_{rejected})\big),
# \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# A reward model $r_\theta$ is fitted by maximum likelihood on labelled pairs: minimise the
# negative log-likelihood (InstructGPT, Ouyang et al. 2022, eq. 1),
#
# $$\mathcal{L}(\theta) = -\,\mathbb{E}_{(x, y_c, y_r)}\Big[\log \sigma\big(r_\theta(x, y_c) - r_\theta(x, y_r)\big)\Big].$$
#
# The seed lesson's Part 1, with the package's `reward_model_loss` (the seed's function plus
# argument checks; read it with `reward_model_loss??`):

# %%
# NBVAL_CHECK_OUTPUT
import torch
from rlhf_lessons import reward_model_loss

scores_c = torch.tensor([1.5, 2.0, 1.8])  # reward for chosen responses
scores_r = torch.tensor([0.5, 0.8, 0.3])  # reward for rejected responses
loss = reward_model_loss(scores_c, scores_r)
print(f"Reward model loss: {loss:.4f}")  # should be low (chosen > rejected)
loss_bad = reward_model_loss(scores_r, scores_c)  # flip chosen/rejected
print(f"Reward model loss (wrong order): {loss_bad:.4f}")  # high

# %% [markdown]
# Per pair: the score difference, the probability the model gives to the label, and the loss.
# A tie costs log 2 ≈ 0.693 per pair; getting the order right pushes the loss towards 0,
# getting it wrong makes it grow about linearly in the difference.

# %%
# NBVAL_CHECK_OUTPUT
import math
import torch.nn.functional as F
from IPython.display import Markdown, display

diff = scores_c - scores_r
print("difference   ", diff)
print("P(chosen wins)", torch.sigmoid(diff).round(decimals=4))
print("loss per pair ", (-F.logsigmoid(diff)).round(decimals=4))
print("flipped       ", (-F.logsigmoid(-diff)).round(decimals=4))
display(Markdown(
    f"Mean: {loss:.4f} and {loss_bad:.4f}, the seed's two numbers; at a tie "
    f"{reward_model_loss(torch.zeros(3), torch.zeros(3)):.4f} = log 2."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What the margin does
#
# Llama 2 (Touvron et al. 2023, eq. 2) adds a margin $m$: the chosen response must win *by at
# least* $m$ before the loss lets go,
#
# $$\mathcal{L} = -\log\sigma\big(r_c - r_r - m\big), \qquad
# \frac{\partial \mathcal{L}}{\partial r_c} = -\sigma\big(m - (r_c - r_r)\big).$$
#
# The gradient's size, $\sigma(m - \Delta)$, is the model's probability of *losing* the pair
# once the bar is raised by $m$: a pair already won by a wide gap still gets pushed until the gap
# exceeds $m$. Llama 2 gives pairs rated "significantly better" a larger margin than
# "negligibly better" ones, so clear preferences are separated more. Here is the loss (and the
# gradient size) for a few differences Δ and margins:

# %%
# NBVAL_CHECK_OUTPUT
diffs = [-1.0, 0.0, 0.5, 1.0, 2.0, 4.0]
print("Δ = r_c - r_r    " + "".join(f"{d:>14.1f}" for d in diffs))
for m in (0.0, 1.0, 2.0):
    losses = [reward_model_loss(torch.tensor([d]), torch.tensor([0.0]), margin=m) for d in diffs]
    grads = [torch.sigmoid(torch.tensor(m - d)) for d in diffs]
    print(f"margin {m:.0f}: loss   " + "".join(f"{x:>14.4f}" for x in losses))
    print("          |grad| " + "".join(f"{g:>14.4f}" for g in grads))

# %%
# NBVAL_CHECK_OUTPUT
with_margin = reward_model_loss(scores_c, scores_r, margin=1.0)
display(Markdown(
    f"The seed's pairs win by {diff.min():.1f} to {diff.max():.1f}. With margin 1 their loss "
    f"rises from {loss:.4f} to {with_margin:.4f}: the pair won by only "
    f"{diff.min():.1f} now counts as nearly lost, and the gradient keeps widening the gaps. "
    "A margin can also be one value per pair (a tensor), e.g. larger for clearer labels."
))

# %%
import matplotlib.pyplot as plt

d = torch.linspace(-4, 6, 201)
fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
for m in (0.0, 1.0, 2.0):
    ax.plot(d, -F.logsigmoid(d - m), label=f"margin {m:.0f}")
ax.set(xlabel="r_chosen - r_rejected", ylabel="loss", title="Bradley–Terry loss with a margin")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why "regression" is a loose word
#
# The seed calls the reward model "a language model with a scalar head (regression)". The head
# *is* a linear layer that outputs one real number, as in regression. But a regression is
# fitted to *targets*, and here there are none: the loss only ever sees the difference
# r(chosen) − r(rejected). Add the same constant to every score and nothing changes:

# %%
# NBVAL_CHECK_OUTPUT
for shift in (-10.0, 0.0, 3.7, 100.0):
    print(f"all scores + {shift:6.1f}: loss {reward_model_loss(scores_c + shift, scores_r + shift):.4f}")
print(f"all scores × 2.0   : loss {reward_model_loss(2 * scores_c, 2 * scores_r):.4f}")

# %% [markdown]
# So a reward model's scores have **no zero point**: "the reward is 2" means nothing on its
# own; only "response a scores 1 more than response b" does. Only differences are
# identified by the data. The *scale* is identified, but only through the noise of the labels:
# if labellers prefer a with probability σ((gold(a) − gold(b)) / T), the best possible reward
# model is gold / T plus an arbitrary constant. Consequences you will meet again:
#
# - Most RLHF implementations that feed the score to PPO first **normalise** it (subtract a
#   mean, divide by a std measured on the starting policy's samples; Ziegler et al. 2019, Huang
#   et al. 2023): the offset is arbitrary anyway. The course's PPO does it with
#   `PPOConfig(normalize_reward=True)`; lesson 04 shows what it changes.
# - The offset is free for each prompt too: comparing scores *across* prompts is not what
#   the loss trained.
# - DPO (lesson 06) exploits exactly this: it never needs the score, only differences of
#   log-probability ratios.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A reward model for the toy world
#
# The reward model is a Hugging Face sequence-classification model with one label: a GPT-2
# backbone (the same size as the policy) and a linear `score` head, read at the **last real
# token** of prompt + response (`rlhf_lessons.models.reward_scores`; padding is left of the
# prompt and right of the response, so "last" is found from the attention mask). Any
# `AutoModelForSequenceClassification` with `num_labels=1` plugs into the same code (lesson 08).
#
# How good can it get? The labels were sampled from the gold judge with Bradley–Terry noise
# (temperature 0.3), so even the gold judge itself disagrees with some of them. Its accuracy on
# the held-out labels is the **ceiling**; chance is 0.5.

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.toy import gold_score, gold_scores, load_records
from rlhf_lessons.toy.generate import LABEL_TEMPERATURE
from rlhf_lessons.trainers.reward_model import gold_ceiling

test_pairs = load_records("pairs_test")
gold_diff = torch.tensor([gold_score(p["chosen"]) - gold_score(p["rejected"]) for p in test_pairs])
expected = torch.sigmoid(gold_diff.abs() / LABEL_TEMPERATURE).mean()
display(Markdown(
    f"On the {len(test_pairs)} held-out pairs the gold judge agrees with "
    f"**{gold_ceiling(test_pairs, gold_scores):.3f}** of the labels (ties count half; "
    f"{(gold_diff == 0).float().mean():.1%} of pairs are gold ties). Averaged over the label "
    f"noise, it would expect σ(|Δgold| / {LABEL_TEMPERATURE}) = **{expected:.3f}**: this draw "
    "of labels happens to be a little kinder than average."
))

# %% [markdown] slideshow={"slide_type": "subslide"}
# `train_reward_model` runs three epochs over the 2,000 training pairs: each step scores the
# chosen and the rejected queries of 64 pairs and takes an AdamW step on `reward_model_loss`.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.pipeline import remember
from rlhf_lessons.toy import gold_scores
from rlhf_lessons.trainers.reward_model import RewardModelConfig, train_reward_model

config = RewardModelConfig.toy()
print(config)
rm_result = train_reward_model(config, gold_fn=gold_scores)  # the judge gives the ceiling
remember(config, rm_result.reward_model)  # later lessons load it from the cache, not train it
reward_model, tokenizer = rm_result.reward_model, rm_result.tokenizer

# %%
# NBVAL_IGNORE_OUTPUT
steps = [m["step"] for m in rm_result.metrics]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), dpi=80)
ax1.plot(steps, [m["loss"] for m in rm_result.metrics])
ax1.axhline(math.log(2), ls="--", c="grey", lw=1, label="log 2 (a tie)")
ax1.set(xlabel="step", ylabel="loss", title="Bradley–Terry loss (training batches)")
ax1.legend()
ax2.plot(steps, [m["accuracy"] for m in rm_result.metrics], label="training batches")
ax2.axhline(rm_result.accuracy, c="C1", label="held-out accuracy")
ax2.axhline(rm_result.ceiling, ls="--", c="k", lw=1, label="gold-judge ceiling")
ax2.axhline(0.5, ls=":", c="grey", lw=1, label="chance")
ax2.set(xlabel="step", ylabel="accuracy", ylim=(0.4, 1.0), title="accuracy")
ax2.legend(fontsize=8)
plt.show()
display(Markdown(
    f"Held-out accuracy **{rm_result.accuracy:.3f}**: chance is 0.5, the gold judge itself "
    f"reaches {rm_result.ceiling:.3f} on these labels (its expected ceiling {expected:.3f}). "
    f"The reward model recovers {(rm_result.accuracy - 0.5) / (rm_result.ceiling - 0.5):.0%} "
    "of the way from chance to the ceiling, from nothing but noisy comparisons."
))
assert 0.72 < rm_result.accuracy <= rm_result.ceiling + 0.02
assert rm_result.ceiling - rm_result.accuracy < 0.1

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.trainers.reward_model import encode_pairs, score_queries

chosen, rejected = encode_pairs(tokenizer, test_pairs)
s_chosen, s_rejected = score_queries(reward_model, chosen), score_queries(reward_model, rejected)
display(Markdown(
    f"The trained scores have mean {torch.cat([s_chosen, s_rejected]).mean():+.2f}: an offset "
    "the loss never asked for and never fixed (another seed gives another one). What the "
    f"loss *did* train: chosen beats rejected by {(s_chosen - s_rejected).mean():.2f} on "
    "average."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Proxy vs gold on the policy's own samples
#
# Accuracy on the data set's pairs is not what matters in RLHF: the RL stage will ask the
# reward model about the **policy's** responses. So take the SFT policy of lesson 01
# (`toy_sft_policy()` loads what lesson 01 trained and cached, or trains it again), sample four responses for each of the 128
# held-out prompts, and score each with both judges. The reward model's score here is the raw
# score (no penalty for a missing `<eos>`).

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.evaluate import evaluate_policy
from rlhf_lessons.pipeline import toy_sft_policy

policy, _ = toy_sft_policy()
prompts = [r["prompt"] for r in load_records("prompts_test")]
ev = evaluate_policy(policy, tokenizer, prompts, reward_model=reward_model, samples_per_prompt=4,
                     seed=0, missing_eos_penalty=0.0)
proxy, gold = ev["rewards"], ev["gold_scores"]  # (N,) each
corr = torch.corrcoef(torch.stack([proxy, gold]))[0, 1].item()
slope, offset = torch.linalg.lstsq(torch.stack([gold, torch.ones_like(gold)], 1), proxy[:, None]).solution[:, 0]
fig, ax = plt.subplots(figsize=(5, 4), dpi=80)
ax.scatter(gold, proxy, s=8, alpha=0.4)
g = torch.linspace(gold.min(), gold.max(), 2)
ax.plot(g, slope * g + offset, c="C1", label="least-squares line")
ax.set(xlabel="gold score", ylabel="reward model score (proxy)",
       title=f"{len(proxy)} SFT samples: correlation {corr:.2f}")
ax.legend()
plt.show()
display(Markdown(
    f"Correlation **{corr:.2f}** between proxy and gold. The fitted line has slope "
    f"{slope:.2f} (the ideal reward model's slope is 1/{LABEL_TEMPERATURE} = "
    f"{1 / LABEL_TEMPERATURE:.2f}, set by the label noise) and offset {offset:+.2f} (which "
    "means nothing: see above)."
))
assert corr > 0.6

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Where the proxy is wrong
#
# A correlation hides the interesting part: the responses the reward model over-rates. Put
# both scores on the same footing (standardise each: subtract its mean, divide by its std) and
# list the samples where the proxy is most above the gold judge:

# %%
# NBVAL_IGNORE_OUTPUT
z_proxy = (proxy - proxy.mean()) / proxy.std()
z_gold = (gold - gold.mean()) / gold.std()
over = (z_proxy - z_gold).argsort(descending=True)
print(f"{'proxy':>6s} {'gold':>6s}  response (most over-rated first)")
for i in over[:6].tolist():
    print(f"{proxy[i]:+6.2f} {gold[i]:+6.2f}  {ev['samples'][i]}")

# %%
# NBVAL_IGNORE_OUTPUT
from collections import Counter
from rlhf_lessons.toy.vocab import CONTENT_WORDS


def repeats_a_word(text):
    counts = Counter(w for w in text.split() if w in CONTENT_WORDS)
    return max(counts.values(), default=0) > 1


top = [ev["samples"][i] for i in over[:20].tolist()]
rate_top = sum(map(repeats_a_word, top)) / len(top)
rate_all = sum(map(repeats_a_word, ev["samples"])) / len(ev["samples"])
display(Markdown(
    f"{rate_top:.0%} of the 20 most over-rated samples use a content word twice, against "
    f"{rate_all:.0%} of all {len(ev['samples'])} samples. The gold judge charges for every "
    "repeat; the reward model under-charges it, so the repeats are where it is most wrong."
))
assert rate_top > 2 * rate_all

# %% [markdown]
# The SFT policy rarely writes the responses where the two judges part ways the most. RL will
# look for them, so probe the reward model the way RL would: with responses built to exploit
# what a sentiment-lover might have learned — the same praise repeated.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.batching import encode_queries

probes = [
    "was great <eos>",
    "was great and the plot is clever <eos>",
    "was great great <eos>",
    "was great great great great great great <eos>",
    "was great and great and great and great <eos>",
    "great great great great great great great great great great great great great <eos>",
]
probe_scores = score_queries(reward_model, encode_queries(tokenizer, ["review : the plot"] * len(probes), probes))
print(f"{'proxy':>6s} {'gold':>6s} {'proxy beats':>12s}  response")
for text, s in zip(probes, probe_scores.tolist()):
    print(f"{s:+6.2f} {gold_score(text):+6.2f} {(proxy < s).float().mean():>11.0%}   {text}")
spam, honest = probe_scores[-1].item(), probe_scores[0].item()
display(Markdown(
    f"*proxy beats* = the fraction of the SFT samples the probe out-scores. The proxy gives the "
    f"thirteen-fold *great* {spam:+.2f}, above {(proxy < spam).float().mean():.0%} of the "
    f"policy's samples; the gold judge gives it {gold_score(probes[-1]):+.2f}, below "
    f"{(gold > gold_score(probes[-1])).float().mean():.0%} of them. The pairs it trained on contain repeats, but never such piles: the "
    "reward model extrapolates \"positive words are good\" beyond where its data could correct "
    "it. That crack is what **05_when_rlhf_breaks** shows RL prying open (reward hacking), "
    "and why PPO keeps the policy close to the SFT model with a KL penalty."
))
assert spam > honest and gold_score(probes[-1]) < gold_score(probes[0])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Be the human
#
# The labels above were simulated. Now you are the labeller: the panel shows a prompt and two
# responses from the toy world's noisy writer; click **A is better**, **B is better** or
# **skip**. After 30 labels a reward model trains on yours (a few seconds; a fifth of your
# labels are held out), and the panel reports how well it agrees with you and with the gold
# judge, then saves your labels as JSONL in the format of `data/toy/pairs_*.jsonl` (the path in
# *save to*; the default `my_labels.jsonl` lands next to this notebook). Tick *mix my labels
# with the data set's pairs* and press *train* to train on both.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.widgets.labeller import noisy_gold_labeller, preference_labeller

my_labeller = preference_labeller(n_labels=30, save_path="my_labels.jsonl")
my_labeller

# %% [markdown]
# So that this notebook runs the same everywhere, the cells below let a *scripted* human do
# the labelling: a function that prefers a response with probability
# σ((gold(A) − gold(B)) / 0.3) — the same noise as the data set — and skips gold ties. It
# presses the same buttons you do (`run_script` calls each button's `click()`), and the labels
# go to a temporary folder, not into the repository.

# %%
# NBVAL_IGNORE_OUTPUT
import tempfile
from pathlib import Path

labels_path = Path(tempfile.mkdtemp()) / "my_labels.jsonl"
scripted = preference_labeller(n_labels=30, save_path=labels_path)
report = scripted.run_script(noisy_gold_labeller(seed=0))
display(report)
assert report.n_labels == 30 and report.train_agreement > 0.8
assert 0.5 < report.gold_agreement

# %%
# NBVAL_IGNORE_OUTPUT
from datasets import load_dataset
from rlhf_lessons.widgets.labeller import agreement_with_gold

saved = load_dataset("json", data_files=str(labels_path), split="train")
print(saved)
print(saved[0])
full = agreement_with_gold(reward_model, tokenizer, test_pairs)
display(Markdown(
    f"The reward model trained on {report.n_train} of your labels agrees with the gold judge "
    f"on {report.gold_agreement:.2f} of the held-out data set pairs; the one trained on the "
    f"data set's {len(load_records('pairs_train'))} pairs agrees on {full:.2f}. Thirty "
    "labels teach it something (chance is 0.5), but a reward model is only as good as the "
    "amount and the agreement of its labels: InstructGPT's had about 33k prompts, each with "
    "K = 4 to 9 ranked responses, so up to K(K-1)/2 = 6 to 36 comparisons per prompt, and its "
    "labellers agreed with each other about three times out of four."
))
assert saved.num_rows == 30 and sorted(saved.column_names) == ["chosen", "prompt", "rejected"]
assert full > report.gold_agreement


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: the Bradley–Terry loss with a margin
#
# Fill in `my_reward_model_loss(score_chosen, score_rejected, margin=0.0)`: the mean over pairs
# of −log σ(s_chosen − s_rejected − margin), where `margin` is a float or one value per pair.
# The checker compares it with `reward_model_loss` on the seed's scores and on random pairs,
# names the usual mistakes (a missing minus sign, the margin with the wrong sign, chosen and
# rejected swapped, ...), and checks that it stays finite on a pair scored very wrongly.
# Write it in the next cell and run the checker after it: it grades *your* function, and says
# "not done yet" while the stub is untouched. A collapsed cell after the checker holds a
# solution, `solution_reward_model_loss`, graded the same way.

# %%
def my_reward_model_loss(score_chosen, score_rejected, margin=0.0):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson02 import check_reward_model_loss

check_reward_model_loss(my_reward_model_loss);

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_reward_model_loss(score_chosen, score_rejected, margin=0.0):
    # -log σ(s_c - s_r - m), averaged over pairs; logsigmoid is stable where log(sigmoid) is not
    return -F.logsigmoid(score_chosen - score_rejected - margin).mean()


check_reward_model_loss(solution_reward_model_loss);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# 1. The seed's loss is 0.2593 with the right order and 1.4927 flipped. Without computing:
#    what is the loss if every chosen and rejected score is equal, and why is that a useful
#    number to watch at the start of training?
# 2. Add 5 to every score the reward model outputs. What changes in reward-model training, in
#    its accuracy, and in PPO if the rewards are *not* normalised?
# 3. Why can no reward model trained on these labels beat the gold judge's accuracy on them,
#    even with infinite data and capacity? What would raise the ceiling?
# 4. The proxy loves "great great great …". Which training pairs would teach it otherwise,
#    and why is it hard to collect them *before* RL has found the exploit?
# 5. Be the human: where did your own labels disagree with the gold judge? Whose preference is
#    the "truth" an RLHF model learns — the labellers', the gold judge's, or the reward
#    model's?
#
# The seed's quiz prompt 1 asks what data each stage requires; the reward-model stage is the
# one that needs *comparisons*, and this notebook showed why comparisons are enough (only
# differences are identified) and what their noise costs (the ceiling). Model answers:
# `docs/answers/02.md`. Next: **03_ppo_clip**.
