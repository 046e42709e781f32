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
#     - "the three stages of RLHF \u2014 SFT, reward model, RL \u2014 what each is for\
#       \ and what data each needs (the seed's quiz prompt 1)"
#     - 'the toy world the whole course runs on: a word-level Hugging Face tokenizer,
#       a hidden **gold judge** that stands in for human preference, JSONL data loaded
#       with `datasets`'
#     - the query layout `[prompt | response]` and why SFT's loss covers the response
#       only
#     - how to train a tiny GPT-2 policy with SFT, and what it does and does not learn
#     notebook: 01_rlhf_pipeline.ipynb
#     title: "01 \xB7 The RLHF pipeline, the toy world, and supervised fine-tuning"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The three stages and the data each needs
#
# RLHF turns a language model that merely continues text into one that writes what people
# prefer. It does so in three stages, each trained on a different kind of data:
#
# 1. **Supervised fine-tuning (SFT).** People write good responses to prompts
#    (*demonstrations*); the model is trained to imitate them with the ordinary next-token
#    loss, on the response tokens only. Goal: the right format and style, and knowing when to
#    stop. SFT can only be as good as the average demonstration.
# 2. **Reward model (RM).** The SFT model writes two responses per prompt; people say which
#    one is better (*preference pairs*: prompt, chosen, rejected). A copy of the model with a
#    scalar head is trained to score the chosen response above the rejected one
#    (Bradley–Terry loss, lesson 02). Goal: a cheap, automatic stand-in for the human judge.
#    Comparing is much easier for people than writing, so this data is cheaper and can express
#    preferences no demonstration shows.
# 3. **RL optimisation (PPO).** The policy writes responses to *prompts only*; the reward
#    model scores them, and PPO pushes the policy towards higher scores while a KL penalty keeps
#    it close to the SFT model (the *reference*), so that it does not drift into text the
#    reward model was never trained on. Goal: better than the demonstrations, by the reward
#    model's judgement. No new human data is needed, but four models live in memory (policy,
#    reference, reward model, value model): lessons 03–05.
#
# | stage | goal | data it needs | in the toy world | loss |
# |---|---|---|---|---|
# | 1 · SFT | imitate good responses | demonstrations: (prompt, response) | `data/toy/sft.jsonl` | cross-entropy on response tokens |
# | 2 · reward model | score responses as people would | preference pairs: (prompt, chosen, rejected) | `data/toy/pairs_train.jsonl` | $-\log\sigma(r_{chosen} - r_{rejected})$ |
# | 3 · RL (PPO) | maximise reward, stay near the SFT model | prompts only | `data/toy/prompts_train.jsonl` | clipped PPO objective on $r - \beta\,\mathrm{KL}$ |
#
# Each stage's *output* is the next stage's *input*: the SFT model initialises the reward model
# and the policy; the reward model scores the policy's samples in the RL stage.

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.toy import load_toy

splits = {
    "sft": "stage 1 · SFT: demonstrations",
    "pairs_train": "stage 2 · reward model: preference pairs",
    "pairs_test": "stage 2 · held-out pairs (accuracy)",
    "prompts_train": "stage 3 · RL: prompts only",
    "prompts_test": "held-out prompts (evaluation)",
}
data = {name: load_toy(name) for name in splits}  # datasets.load_dataset("json", ...) inside
for name, role in splits.items():
    print(f"{role:42s} {name + '.jsonl':20s} {data[name].num_rows:5d} rows  "
          f"fields {sorted(data[name].column_names)}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The toy world
#
# Real RLHF needs GPUs and days. The course runs every stage on a **toy world** small enough to
# train on a laptop CPU in seconds, yet real in the ways that matter: a Hugging Face tokenizer,
# GPT-2 models built from `GPT2Config`, data in JSONL files, and — the key piece — a hidden
# **gold judge** that plays the role of true human preference. The trainers never see the gold
# judge; preference labels are *sampled* from it with noise, as real labellers disagree, so the
# learned reward model is an imperfect proxy of it. That is what makes over-optimisation
# visible in lesson 05.
#
# The task: write a short movie review. The vocabulary is a few dozen words.

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.toy import vocab

for group in ("SPECIAL", "PROMPT_WORDS", "POSITIVE", "NEGATIVE", "NEUTRAL", "NOUNS", "FILLERS"):
    words = getattr(vocab, group)
    print(f"{group:12s} {len(words):2d}  {' '.join(words)}")
print(f"{'total':12s} {len(vocab.WORDS):2d}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A Hugging Face tokenizer
#
# One id per word: a `tokenizers` WordLevel model wrapped in `PreTrainedTokenizerFast`, so all
# later code calls it exactly like a real model's tokenizer. Prompts get `<bos>` prepended;
# responses are encoded without it and carry their own `<eos>` when they end.

# %%
# NBVAL_CHECK_OUTPUT
from transformers import PreTrainedTokenizerBase
from rlhf_lessons.toy import build_tokenizer

tokenizer = build_tokenizer()
print("a Hugging Face tokenizer:", isinstance(tokenizer, PreTrainedTokenizerBase), "|", len(tokenizer), "tokens")
prompt_ids = tokenizer("review : the plot")["input_ids"]
response_ids = tokenizer("was great but the ending felt slow <eos>", add_special_tokens=False)["input_ids"]
print("prompt   ", prompt_ids, "->", tokenizer.decode(prompt_ids))
print("response ", response_ids, "->", tokenizer.decode(response_ids))
print(f"pad {tokenizer.pad_token!r}={tokenizer.pad_token_id}  bos {tokenizer.bos_token!r}="
      f"{tokenizer.bos_token_id}  eos {tokenizer.eos_token!r}={tokenizer.eos_token_id}")

# %% [markdown]
# `<pad>` and `<eos>` are different tokens on purpose. Many recipes pad with EOS; then a
# reward model that reads the last token cannot tell a response that *ended* from one that was
# cut off, and the policy cannot be taught to stop (Huang et al. 2023, *The N implementation
# details of RLHF with PPO*).
#
# A word outside the vocabulary has no id: the tokenizer refuses it rather than mapping it to
# an `<unk>` token. The data loader checks every line before training starts and names the file
# and line of a bad record (bad JSON, a missing field, an empty response, an unknown word):

# %%
# NBVAL_CHECK_OUTPUT
import os
import tempfile

from rlhf_lessons.toy import validate_jsonl

with tempfile.TemporaryDirectory() as folder:
    here = os.getcwd()
    os.chdir(folder)  # so the message shows a short relative path
    with open("bad.jsonl", "w") as f:
        f.write('{"prompt": "review : the plot", "response": "was great <eos>"}\n')
        f.write('{"prompt": "review : the plot", "response": "was popcorn <eos>"}\n')
    try:
        validate_jsonl("bad.jsonl", ("prompt", "response"))
    except ValueError as err:
        print("ValueError:", err)
    finally:
        os.chdir(here)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The gold judge
#
# The stand-in for "what people really prefer". It likes positive reviews, but with taste
# (`rlhf_lessons.toy.judge`; the constants are printed from the module):

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import Markdown, display
from rlhf_lessons.toy import judge

display(Markdown(
    r"$$\text{gold} = \tanh\Big(\frac{\#\text{positive} - \#\text{negative}}{2}\Big)"
    rf" - {judge.REPEAT_PENALTY}\cdot\#\text{{repeats}}"
    rf" - {judge.NO_EOS_PENALTY}\cdot[\text{{no <eos>}}]"
    rf" - {judge.SHORT_PENALTY}\cdot[\text{{under 2 words}}]$$"
))

# %% [markdown]
# A *repeat* is a content word used again ("great … great") or a stuttered filler ("and and").
# The tanh saturates: a third positive word adds little, a fourth almost nothing, while every
# repeat costs the same. So a proxy that only learned "positive words are good" can be fooled
# — by piling them up. Some hand-made responses, scored exactly:

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.toy import gold_score

examples = [
    "was great <eos>",
    "was dull <eos>",
    "was great and the plot is clever <eos>",
    "was great and fun and witty and lovely <eos>",
    "was great great great <eos>",
    "was great and and the music is fun <eos>",
    "was great and the plot",
    "great <eos>",
]
for response in examples:
    print(f"{gold_score(response):+.4f}  {response}")

# %%
# NBVAL_CHECK_OUTPUT
import math

display(Markdown(
    f"Two positive words score tanh(1) = {math.tanh(1):.4f}; four score tanh(2) = "
    f"{math.tanh(2):.4f}, only {math.tanh(2) - math.tanh(1):.4f} more. The same word three "
    f"times scores tanh(1.5) − 2 × {judge.REPEAT_PENALTY} = "
    f"{gold_score('was great great great <eos>'):.4f}: less than saying it once. A response "
    f"that never ends loses {judge.NO_EOS_PENALTY} whatever it says."
))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The data
#
# Demonstrations are clean reviews of one to three clauses, mixed in polarity, each ending in
# `<eos>`. Preference pairs are two responses from a *noisy writer* (demonstrations with the
# flaws real responses have: gushing, repeated words, stutters, too short, never finished);
# which one is `chosen` was sampled from the gold judge with Bradley–Terry noise,
# p(a preferred to b) = σ((gold(a) − gold(b)) / 0.3). So some labels disagree with the gold
# judge, exactly as human labellers disagree with each other. `data/README.md` is the data
# card; `python -m rlhf_lessons.toy.generate --seed 0 --out data/toy` rewrites the files byte
# for byte.

# %%
# NBVAL_CHECK_OUTPUT
print("demonstration:", data["sft"][0])
for pair in data["pairs_train"].select(range(3)):
    print(f"\nprompt   {pair['prompt']}")
    print(f"chosen   {gold_score(pair['chosen']):+.3f}  {pair['chosen']}")
    print(f"rejected {gold_score(pair['rejected']):+.3f}  {pair['rejected']}")

# %%
# NBVAL_CHECK_OUTPUT
pairs = data["pairs_train"]
flipped = sum(gold_score(c) < gold_score(r) for c, r in zip(pairs["chosen"], pairs["rejected"]))
demo_gold = sum(map(gold_score, data["sft"]["response"])) / data["sft"].num_rows
display(Markdown(
    f"In {flipped} of {pairs.num_rows} training pairs ({flipped / pairs.num_rows:.1%}) the "
    "label goes *against* the gold judge (the first pair above is one): label noise. "
    f"The demonstrations' mean gold score is {demo_gold:+.3f}: they are competent but neither "
    "positive nor negative on average — remember this number."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## One layout for every stage: `[prompt | response]`
#
# Every stage works on *queries*: a prompt followed by a response, batched as
# **left-padded prompts** and **right-padded responses**, so that every response starts at the
# same column `P` (`rlhf_lessons.batching.encode_queries`, the layout TRL and OpenRLHF use).
# `attention_mask` marks real tokens; `response_mask` marks the response's real tokens, up to
# and including `<eos>`: the tokens that get a loss in SFT, and rewards and advantages later.

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.batching import encode_queries

batch = encode_queries(
    tokenizer,
    ["review : the plot", "review : overall its cast and music"],
    ["was great <eos>", "is dull but the ending felt moving <eos>"],
)
P = batch.prompt_len
for row in range(len(batch)):
    tokens = tokenizer.convert_ids_to_tokens(batch.input_ids[row])
    print(" ".join(f"{t:>7s}" for t in tokens[:P]), "|", " ".join(f"{t:>7s}" for t in tokens[P:]))
print("input_ids shape", tuple(batch.input_ids.shape), " prompt_len P =", P)
print("attention_mask ", batch.attention_mask.tolist())
print("response_mask  ", batch.response_mask.tolist())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Which tokens carry the SFT loss
#
# A causal LM's logits at column $t$ predict token $t+1$. So the first response token is
# predicted at the **last prompt column** $P-1$, and the logits that matter are columns
# $P-1, \dots, L-2$ (`logits[:, P-1:-1]`), compared with `response_ids` and weighted by
# `response_mask`:
#
# $$\mathcal{L}_{SFT} = -\frac{\sum_t m_t \log \pi(y_t \mid x, y_{<t})}{\sum_t m_t}$$
#
# The prompt is an input, not a target: the policy never has to *write* prompts, and their
# tokens would dilute the gradient (and teach it to produce the `review :` scaffolding). The
# padding after `<eos>` is not a target either. For the first query above:

# %%
# NBVAL_CHECK_OUTPUT
row, L = 0, batch.input_ids.shape[1]
tokens = tokenizer.convert_ids_to_tokens(batch.input_ids[row])
print(f"{'column':>6s}  {'sees':>7s}  {'predicts':>8s}  in loss")
for t in range(L - 1):
    in_loss = t >= P - 1 and bool(batch.response_mask[row, t + 1 - P])
    print(f"{t:6d}  {tokens[t]:>7s}  {tokens[t + 1]:>8s}  {'yes' if in_loss else '-'}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Stage 1: supervised fine-tuning
#
# The policy is a GPT-2 with two layers, two heads and 64-dimensional embeddings
# (`GPT2LMHeadModel` from a `GPT2Config`, dropout off). Before training it writes word soup.
# We sample one response for each of 64 held-out prompts and ask the gold judge
# (`rlhf_lessons.evaluate.evaluate_policy`):

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.evaluate import evaluate_policy
from rlhf_lessons.models import build_policy, count_parameters

untrained = build_policy(tokenizer, seed=0)  # the same initialisation train_sft starts from
eval_prompts = data["prompts_test"]["prompt"][:64]
before = evaluate_policy(untrained, tokenizer, eval_prompts, seed=0)
print(f"{count_parameters(untrained):,} parameters")
print(f"gold {before['gold']:+.3f}, EOS rate {before['eos_rate']:.2f}")
for prompt, sample in list(zip(eval_prompts, before["samples"]))[:3]:
    print(f"{prompt:36s} -> {sample}")
assert before["eos_rate"] < 0.6 and before["gold"] < -0.3

# %% [markdown]
# `train_sft` runs the loop you would write: sample a batch of 64 demonstrations, compute the
# response-only loss (`rlhf_lessons.trainers.sft.sft_loss`, the formula above), AdamW step,
# and every 50 steps sample from the policy and score it. About 150 steps are enough here.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.pipeline import remember
from rlhf_lessons.toy import gold_scores
from rlhf_lessons.trainers.sft import SFTConfig, train_sft

config = SFTConfig.toy(steps=150)
print(config)
result = train_sft(config, gold_fn=gold_scores, eval_prompts=eval_prompts)  # samples: the judge
remember(config, result.policy)  # later lessons load this policy from the cache, not train it
policy = result.policy

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

steps = [m["step"] for m in result.metrics]
losses = [m["loss"] for m in result.metrics]
fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
ax.plot(steps, losses)
ax.axhline(math.log(len(tokenizer)), ls="--", c="grey", lw=1, label="log |V| (uniform guess)")
ax.set(xlabel="step", ylabel="SFT loss (nats / response token)", title="SFT loss")
ax.legend()
plt.show()
first, last = losses[0], sum(losses[-10:]) / 10
display(Markdown(
    f"The loss starts at {first:.2f} nats per token, close to log {len(tokenizer)} = "
    f"{math.log(len(tokenizer)):.2f} (a uniform guess over the vocabulary), and ends near "
    f"{last:.2f}. It cannot reach 0: demonstrations are *random* reviews, so after "
    "'was' many adjectives are equally right."
))
assert last < 0.6 * first

# %% [markdown] slideshow={"slide_type": "subslide"}
# Same prompts, same sampling seed, after SFT:

# %%
# NBVAL_IGNORE_OUTPUT
after = evaluate_policy(policy, tokenizer, eval_prompts, seed=0)
for prompt, old, new in list(zip(eval_prompts, before["samples"], after["samples"]))[:5]:
    print(f"{prompt}\n   before: {old}\n   after:  {new}")

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"| | before SFT | after SFT | demonstrations |\n|---|---|---|---|\n"
    f"| gold (mean) | {before['gold']:+.3f} | {after['gold']:+.3f} | {demo_gold:+.3f} |\n"
    f"| EOS rate | {before['eos_rate']:.2f} | {after['eos_rate']:.2f} | 1.00 |\n\n"
    f"SFT taught the format: the policy now writes reviews and stops ({after['eos_rate']:.0%} "
    f"of its responses end with `<eos>`). Its gold score rose by "
    f"{after['gold'] - before['gold']:.2f}, to about the demonstrations' average "
    f"({demo_gold:+.3f}) and no further: imitation copies the demonstrations' mix of "
    "praise and criticism. Making the policy *better* than its teachers takes the other two "
    "stages: a reward model that knows which responses people prefer (lesson 02), and RL "
    "that optimises it (lessons 03–05)."
))
assert after["eos_rate"] > 0.85
assert after["gold"] - before["gold"] > 0.4
assert abs(after["gold"] - demo_gold) < 0.25

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: write the response-only SFT loss
#
# Fill in `my_sft_loss(logits, batch)`: `logits` are the policy's outputs for the whole query,
# shape (B, P + T, V); `batch` is the `QueryBatch` (use `batch.prompt_len`,
# `batch.response_ids` and `batch.response_mask`). Return the mean cross-entropy over the real
# response tokens. The checker runs it on batches with left-padded prompts, padding after
# `<eos>` and a response that never ended, and names the usual mistakes (prompt tokens in the
# loss, an off-by-one shift, padding counted, `<eos>` left out, the wrong average).
# Write it in the next cell and run the checker after it: it grades *your* function, and says
# "not done yet" while the stub is untouched. A collapsed cell after the checker holds a
# solution, `solution_sft_loss`, graded the same way.

# %%
import torch.nn.functional as F


def my_sft_loss(logits, batch):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson01 import check_sft_loss

check_sft_loss(my_sft_loss);

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_sft_loss(logits, batch):
    P = batch.prompt_len
    logits = logits[:, P - 1 : -1]  # (B, T, V): column P-1+t predicts response token t
    nll = F.cross_entropy(logits.transpose(1, 2), batch.response_ids, reduction="none")  # (B, T)
    mask = batch.response_mask.float()  # (B, T): 1 up to and including <eos>
    return (nll * mask).sum() / mask.sum()


check_sft_loss(solution_sft_loss);

# %% [markdown]
# Your loss is the one `train_sft` minimises: on the trained policy and a batch of
# demonstrations, it matches the package's `sft_loss`.

# %%
# NBVAL_IGNORE_OUTPUT
import torch
from rlhf_lessons.models import forward_logits
from rlhf_lessons.trainers.sft import sft_loss

demo = encode_queries(tokenizer, data["sft"]["prompt"][:64], data["sft"]["response"][:64])
with torch.no_grad():
    package = sft_loss(policy, demo)
    try:
        mine = my_sft_loss(forward_logits(policy, demo.input_ids, demo.attention_mask), demo)
    except NotImplementedError:
        print(f"sft_loss {package:.4f}; my_sft_loss is not written yet (the exercise above)")
    else:
        print(f"my_sft_loss {mine:.4f}   sft_loss {package:.4f}")
        assert torch.allclose(mine, package, atol=1e-5)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# The seed's prompt 1, for you or your favourite AI:
#
# > *In one paragraph, explain the three stages of RLHF training: SFT, reward model training,
# > and RL optimization. What is the goal of each stage, and what data does each require?*
#
# And three more about this notebook:
#
# 1. SFT's gold score stopped at about the demonstrations' average. Why can't more SFT steps
#    push it higher, and what would you need to change *in the data* for SFT alone to do better?
# 2. What would go wrong if the toy tokenizer padded with `<eos>`, for SFT and for a reward
#    model that reads the last token?
# 3. Your loss includes the prompt tokens by mistake. What does the policy learn that it
#    shouldn't, and why does the loss curve still look fine?
#
# Model answers: `docs/answers/01.md`. Next: **02_reward_model** trains the judge.
