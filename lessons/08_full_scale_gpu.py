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
#     - how one line (a *preset*) moves the course's code from a laptop CPU to a free
#       Colab T4 to an A100, and what each preset needs
#     - 'how real checkpoints plug into the trainers of lessons 04 and 06: chat templates,
#       LoRA with peft, and a reward model that speaks another tokenizer'
#     - 'the LoRA trick for PPO''s reference: the policy with its adapters switched
#       off, one copy of the weights instead of two'
#     - what each memory trick saves (LoRA, the adapter reference, 16-bit weights, gradient
#       checkpointing), measured beside lesson 07's estimate
#     - what to watch in a real run (KL, a held-out gold model, samples) and how to
#       launch it on several GPUs with Accelerate
#     notebook: 08_full_scale_gpu.ipynb
#     title: "08 \xB7 Full scale: the same PPO loop on real Hugging Face models and\
#       \ GPUs"
# ---

# %% slideshow={"slide_type": "skip"}
# On Colab only: the [gpu] extra (peft for LoRA, accelerate for several GPUs).
# Elsewhere `make lab` installed it already, and this cell does nothing.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("peft") is None:
    from rlhf_lessons.runtime import repo_root
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{repo_root()}[gpu]"], check=True)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What changes at full scale — and what does not
#
# Lessons 04 and 06 trained tiny GPT-2s on the toy world. The loop does not change with size:
# rollout with a KV cache, score with the policy, the reference, the reward model and the value
# model, KL-penalised rewards, GAE, clipped updates. What changes is everything around the loop:
#
# | toy world | full scale |
# |---|---|
# | a word-level tokenizer, plain prompts | a real BPE tokenizer and the model's **chat template** |
# | all four models trained or copied in full | **LoRA** adapters: only a sliver of the weights trains |
# | the reference is a frozen copy | the reference is **the policy with its adapters off** |
# | float32 | **16-bit** frozen weights; **gradient checkpointing** |
# | reward model built from the policy's tokenizer | a hub reward model with **its own tokenizer**: decode, re-tokenize |
# | the gold judge is known | a **held-out reward model** stands in for gold |
# | one CPU | one GPU, or several with **Accelerate** (DDP, FSDP) |
#
# All of it sits in `rlhf_lessons.hf` (loading, wrappers) and `rlhf_lessons.presets`; the
# trainers are the ones from lessons 04 and 06, unchanged.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · The hardware picks a preset
#
# A **preset** is a named set of config values: which models and data to load, LoRA's rank,
# the dtype, gradient checkpointing, batch sizes and lengths. This cell looks at the machine and
# picks the largest preset whose *estimated* memory fits. On a CPU it picks `smoke`: tiny
# models of the same architectures (Qwen2, Llama), built and saved on disk, loaded back with
# `from_pretrained` — every line of the GPU path runs, in seconds.

# %%
# NBVAL_IGNORE_OUTPUT
import time
from IPython.display import Markdown, display
from rlhf_lessons import hf, presets

t_start = time.perf_counter()
hardware = hf.detect_hardware()
preset, why = hf.pick_preset(hardware)
print("hardware:", hf.describe_hardware(hardware))
display(Markdown(f"**Preset: `{preset.name}`.** {why}"))
assert preset.name in presets.PRESETS

# %% [markdown] slideshow={"slide_type": "subslide"}
# The presets, with what each needs. Memory and time for the GPU presets are **estimates**
# (lesson 07's calculator plus the logits it leaves out); they were not measured on a GPU. On
# a GPU, `python benchmarks/gpu_presets.py` measures both presets without downloading anything
# (their architectures with random weights: the same speed and memory). No revision of any hub
# model is pinned: none could be verified where the course was written, so the lines say so
# instead of inventing one.

# %%
# NBVAL_CHECK_OUTPUT
for name in ("smoke", "t4-16gb", "a100-80gb"):
    print(presets.describe(presets.get_preset(name)), end="\n\n")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Why these models and this data (the GPU presets):

# %%
# NBVAL_CHECK_OUTPUT
for role, reason in presets.get_preset("t4-16gb").why.items():
    print(f"{role:>13}: {reason}")
print(f"{'value model':>13} (a100-80gb): {presets.get_preset('a100-80gb').why['value_model']}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · Memory, trick by trick
#
# PPO holds four models. Start from the naive setup — every trained model fully fine-tuned in
# float32 with Adam (16 bytes per parameter), the reference a second frozen copy — and add one
# trick at a time:
#
# 1. **LoRA** (Hu et al. 2021): freeze the policy and the value model, train small low-rank
#    adapters. Gradients and Adam states shrink to the adapters' size.
# 2. **Reference = adapters disabled**: the frozen base under the adapters *is* the SFT policy,
#    so `with policy.disable_adapter():` gives the reference's logprobs. One copy, not two.
# 3. **16-bit frozen weights** (bf16 on an A100, fp16 on a T4, which has no bf16): half the bytes
#    for everything frozen; the adapters stay in float32.
# 4. **Gradient checkpointing**: keep only each block's input during the forward pass and
#    recompute the rest in backward. Saves activations, costs about a third more compute.
#
# On a GPU the *measured* column is `torch.cuda.max_memory_allocated` over loading the four
# models and one PPO-sized update; on a CPU it is the exact bytes of weights, gradients and Adam
# states (activations are not measured on a CPU, so checkpointing changes only the estimate).
# Run before anything else is loaded, so the GPU holds nothing else.

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
ladder = hf.memory_ladder(preset)
print(f"preset {preset.name}, on {hf.describe_hardware(hardware)}")
print(hf.ladder_table(ladder))
ladder_seconds = time.perf_counter() - t0
estimates = [r["estimate_gb"] for r in ladder]
assert estimates == sorted(estimates, reverse=True), "each trick should lower the estimate"
if hardware.device == "cpu":  # exact bytes vs the calculator's copies x bytes/param
    for r in ladder:
        assert abs(r["measured_gb"] - r["estimate_states_gb"]) < 0.01 * r["estimate_states_gb"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same ladder for the T4 preset, from the calculator alone (this is what a Colab T4 run
# would measure against). The naive setup needs more than the card has; with every trick it
# fits with room to spare.

# %%
# NBVAL_CHECK_OUTPUT
print(hf.ladder_table(hf.memory_ladder(presets.get_preset("t4-16gb"), measure=False)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Try it.** Which trick matters most depends on the model. Compare the estimate of the T4
# preset with gradient checkpointing off, and with a rank-64 adapter:

# %%
# NBVAL_CHECK_OUTPUT
t4 = presets.get_preset("t4-16gb")
for label, p in [("t4-16gb", t4),
                 ("no gradient checkpointing", t4.replace(gradient_checkpointing=False)),
                 ("LoRA rank 64", t4.replace(lora_r=64, lora_alpha=128)),
                 ("responses up to 512 tokens", t4.replace(max_new_tokens=512))]:
    print(f"{label:<28}{presets.estimate_memory(p).total_gb:6.2f} GB (estimate)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Loading: one code path for every preset
#
# `hf.load_models(preset)` calls the same functions whatever the preset:
# `load_policy_and_tokenizer` (causal LM + LoRA via peft), `load_reference` (the adapter
# trick), `load_value_model` (a sequence classifier on the policy's tokens, value head at zero,
# LoRA too) and `load_reward_model_and_tokenizer` twice — the proxy reward model PPO maximises,
# and a **held-out gold model** used only to evaluate. It checks the hardware first, refuses
# what will not fit, and never runs remote code. It prints a note when a reward model's
# tokenizer differs from the policy's.

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
models = hf.load_models(preset, n_train=None if preset.name != "smoke" else 256)
load_seconds = time.perf_counter() - t0
sizes = hf.parameter_report(models.policy, models.reference, models.value_model, models.reward_model)
print(f"policy       {sizes['policy']:>13,} parameters, {sizes['policy_trainable']:,} trainable "
      f"({sizes['policy_trainable'] / sizes['policy']:.2%}: the LoRA adapters)")
print(f"reference    {sizes['reference']:>13,} parameters of its own (the policy, adapters off)")
print(f"value model  {sizes['value_model']:>13,} parameters, {sizes['value_trainable']:,} trainable")
print(f"reward model {sizes['reward_model']:>13,} parameters, frozen")
print(f"{len(models.train_prompts)} training prompts, {len(models.eval_prompts)} held-out; "
      f"loaded in {load_seconds:.1f} s")
assert sizes["reference"] == 0 and 0 < sizes["policy_trainable"] < sizes["policy"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The chat template
#
# An instruct model was tuned on conversations wrapped in special markers. The prompt the policy
# continues is the conversation, formatted by *its* tokenizer's chat template, ending where the
# assistant's answer begins:

# %%
# NBVAL_IGNORE_OUTPUT
conversation = models.prompts.conversations[0]
print("conversation:", conversation)
print("prompt text: ", repr(models.prompts.texts[0]))
ids = models.tokenizer(models.prompts.texts[0])["input_ids"]
print("tokens:      ", models.tokenizer.convert_ids_to_tokens(ids)[:24])

# %% [markdown] slideshow={"slide_type": "subslide"}
# A tokenizer without a chat template (a base model, or a reward model like OpenAssistant's
# DeBERTa, which reads (question, answer) as a text pair) gets a clear error, not a silently
# wrong prompt — and an explicit plain fallback if you really want one:

# %%
# NBVAL_IGNORE_OUTPUT
gold_tokenizer = models.gold_model.scorer_backbone.scorer.tokenizer
try:
    hf.format_prompt(gold_tokenizer, conversation)
except hf.MissingChatTemplate as err:
    print("MissingChatTemplate:", err)
print()
print("fallback='plain':", repr(hf.format_prompt(gold_tokenizer, conversation, fallback="plain")))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · The reference is the policy with its adapters off
#
# LoRA adds `B·A` to each adapted weight, with `B` starting at zero. So at step 0 the policy
# equals the SFT model, and at every step the SFT model is still there, untouched, underneath.
# `hf.ReferenceFromAdapter` runs the policy inside peft's `disable_adapter()`; it owns no
# parameters, and `freeze(reference)` cannot freeze the policy. Check it: perturb the adapters,
# and the reference does not move.

# %%
# NBVAL_IGNORE_OUTPUT
import torch
from rlhf_lessons.batching import encode_prompts

device = next(models.policy.parameters()).device
ids, mask = (t.to(device) for t in encode_prompts(models.tokenizer, models.eval_prompts[:4]))
with torch.no_grad():
    ref_before = models.reference(input_ids=ids, attention_mask=mask).logits
    same = (models.policy(input_ids=ids, attention_mask=mask).logits - ref_before).abs().max()
    lora_B = [p for n, p in models.policy.named_parameters() if "lora_B" in n]
    saved = [p.clone() for p in lora_B]
    for p in lora_B:
        p.normal_(0, 0.1)  # pretend training moved the adapters
    moved = (models.policy(input_ids=ids, attention_mask=mask).logits - ref_before).abs().max()
    ref_after = models.reference(input_ids=ids, attention_mask=mask).logits
    for p, s in zip(lora_B, saved):
        p.copy_(s)  # put them back
print(f"step 0: policy vs reference, largest logit difference {same.item():.1e}")
print(f"adapters perturbed: policy moved by {moved.item():.2f}, reference by "
      f"{(ref_after - ref_before).abs().max().item():.1e}")
assert same < 1e-4 and moved > 1e-3 and torch.equal(ref_after, ref_before)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5 · A reward model that speaks another tokenizer
#
# The trainers score a query with `reward_scores(reward_model, input_ids, attention_mask)`.
# Hub reward models are trained with their own tokenizer and chat template (the T4 preset's
# reward model comes from the Qwen3 family, the policy from Qwen2.5; the gold model is a
# DeBERTa). Their token ids are not the policy's. `hf.RetokenizedRewardModel` decodes each query
# with the policy's tokenizer, looks up its conversation, appends the response as the
# assistant's turn and re-tokenizes it with the reward model's own tokenizer — and says so.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.models import reward_scores
from rlhf_lessons.rollout import generate

print(models.reward_model.explain())
batch = generate(models.policy, ids, mask, max_new_tokens=preset.max_new_tokens,
                 eos_token_id=models.tokenizer.eos_token_id, pad_token_id=models.tokenizer.pad_token_id,
                 generator=torch.Generator(device=device).manual_seed(0))
scorer = models.reward_model.scorer_backbone.scorer
first = models.reward_model.conversations(batch.input_ids, batch.attention_mask)[0]
rm_ids = hf.reward_inputs(scorer.tokenizer, [first], scorer.input_format)["input_ids"][0]
print("policy's tokens:      ", models.tokenizer.convert_ids_to_tokens(batch.input_ids[0][batch.attention_mask[0].bool()])[-12:])
print("reward model's tokens:", scorer.tokenizer.convert_ids_to_tokens(rm_ids)[-12:])
print("scores:", [round(s, 2) for s in reward_scores(models.reward_model, batch.input_ids, batch.attention_mask).tolist()])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6 · PPO: the course's trainer, unchanged
#
# `hf.run_ppo` calls `train_ppo` from lesson 04 with these four models: the same rollout, the
# same per-token KL penalty, GAE, whitening, clipped policy and value losses, the same
# diagnostics and training doctor. Held-out evaluations (before, every few steps, after) add the
# gold model's score.

# %%
# NBVAL_IGNORE_OUTPUT
import math
config = hf.ppo_config_for(preset)
t0 = time.perf_counter()
result, evaluations = hf.run_ppo(models, config, eval_every=max(1, config.steps // 3),
                                 progress=preset.name != "smoke")
ppo_seconds = time.perf_counter() - t0
keys = ("reward", "kl", "entropy", "approx_kl", "clipfrac", "explained_variance", "seconds")
print("step " + "".join(f"{k:>19}" for k in keys))
for row in result.metrics:
    print(f"{row['step']:>4} " + "".join(f"{row[k]:>19.3f}" for k in keys))
rows = result.metrics
assert len(rows) == config.steps and result.stopped is None
assert rows[0]["first_log_ratio"] < 1e-5 and abs(rows[0]["kl"]) < 1e-4  # starts at the reference
assert all(math.isfinite(r["reward"]) and math.isfinite(r["kl"]) for r in rows)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What to look at
#
# - **KL** (nats per response, to the reference): how far the policy has moved. It starts at 0
#   because the policy *is* the reference at step 0. Steady growth is expected; a jump means an
#   update was too large.
# - **Proxy reward vs gold**: the proxy is what PPO maximises, so it rises almost by
#   construction. The held-out gold model was never optimised against: if the proxy keeps
#   rising while gold stalls or falls, the policy is exploiting the proxy (lesson 05's
#   over-optimisation) — stop, or raise beta.
# - **Samples**: read them. Numbers cannot tell you that every answer now ends with the same
#   flattering sentence.

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{'step':>4}{'proxy reward':>14}{'gold model':>12}{'KL':>8}{'EOS rate':>10}")
for ev in evaluations:
    print(f"{ev['step']:>4}{ev['reward']:>14.3f}{ev['gold']:>12.3f}{ev['kl']:>8.2f}{ev['eos_rate']:>10.2f}")
print()
for prompt, before, after in list(zip(evaluations[0]["prompts"], evaluations[0]["samples"],
                                      evaluations[-1]["samples"]))[:3]:
    print(f"prompt: {prompt[:120]!r}\n  before: {before[:200]!r}\n  after:  {after[:200]!r}")
display(Markdown(
    f"After {config.steps} steps: proxy reward {evaluations[0]['reward']:.2f} → "
    f"{evaluations[-1]['reward']:.2f}, gold {evaluations[0]['gold']:.2f} → "
    f"{evaluations[-1]['gold']:.2f}, KL {evaluations[-1]['kl']:.2f} nats."
    + (" (The smoke preset runs only a few steps: it checks the path, not the learning.)"
       if preset.name == "smoke" else "")
))
assert evaluations[0]["kl"] == 0 or abs(evaluations[0]["kl"]) < 1e-4

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7 · DPO for comparison
#
# Lesson 06's `train_dpo`, unchanged, on the same preset's preference pairs (chosen and rejected
# answers, each ending with the model's end-of-turn token). It needs no reward model, no value
# model and no sampling while it trains: only the policy and — through the adapter trick — its
# reference. The same held-out evaluation follows.

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
dpo, dpo_eval = hf.run_dpo(preset, models)
dpo_seconds = time.perf_counter() - t0
last = dpo.metrics[-1]
print(f"DPO, {len(dpo.metrics)} steps: loss {last['loss']:.3f}, accuracy {last['accuracy']:.2f}, "
      f"margin {last['margin']:.3f}")
print(f"held-out: proxy reward {dpo_eval['reward']:.3f}, gold {dpo_eval['gold']:.3f}, KL {dpo_eval['kl']:.2f} nats")
print(f"PPO:      proxy reward {evaluations[-1]['reward']:.3f}, gold {evaluations[-1]['gold']:.3f}, "
      f"KL {evaluations[-1]['kl']:.2f} nats")
assert math.isfinite(last["loss"]) and dpo.metrics[0]["loss"] == dpo.metrics[0]["loss"]

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8 · Several GPUs
#
# Data parallelism: every GPU holds the model, takes its slice of the global batch, and the
# gradients are averaged (all-reduce) before each optimizer step, so N GPUs on B/N examples each
# take the same step as one GPU on B. `rlhf_lessons.distributed` runs the DPO step this way with
# Hugging Face Accelerate; `configs/ddp.yaml` uses PyTorch's DistributedDataParallel, and
# `configs/fsdp.yaml` shards the model (FSDP, ZeRO-3's idea) when one card cannot hold it. One
# command launches it:

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.distributed import LAUNCH
print("several GPUs, one machine (DDP):\n  " + LAUNCH["ddp"])
print("a model too big for one card (FSDP):\n  " + LAUNCH["fsdp"])
print("the same on a CPU, 2 processes, gloo (what CI checks):\n  " + LAUNCH["cpu"])

# %% [markdown] slideshow={"slide_type": "subslide"}
# `tests/test_multi_gpu.py` runs the CPU command: two processes produce the same averaged
# gradients, loss and accuracy as one process on the same global batch. That works for DPO
# because its loss is a mean over *pairs* and each process gets as many pairs. PPO's loss is a
# mean over *tokens*: processes hold different token counts, and averaging their means weighs
# tokens unequally — a distributed PPO divides by the global token count (quiz question 4).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Time: this run, measured; the GPU presets, estimated

# %%
# NBVAL_IGNORE_OUTPUT
total = time.perf_counter() - t_start
display(Markdown(
    f"This run (`{preset.name}` on {hf.describe_hardware(hardware)}), measured: memory ladder "
    f"{ladder_seconds:.1f} s, loading {load_seconds:.1f} s, PPO {ppo_seconds:.1f} s for "
    f"{config.steps} steps, DPO {dpo_seconds:.1f} s; {total:.0f} s since the preset was picked."
))

# %%
# NBVAL_CHECK_OUTPUT
for name in ("t4-16gb", "a100-80gb"):
    p = presets.get_preset(name)
    secs = presets.estimate_step_seconds(p)
    step = sum(secs.values())
    print(f"{name}: ~{step:.0f} s per PPO step (generate {secs['generate']:.0f}, score "
          f"{secs['score']:.0f}, train {secs['train']:.0f}) -> ~{step * p.steps / 60:.0f} min for "
          f"{p.steps} steps; ~{presets.estimate_memory(p).total_gb:.1f} GB. ESTIMATES, not measured.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# 1. Why does "reference = policy with adapters disabled" only work with LoRA (or another
#    adapter method)? What would break if you merged the adapters into the base weights halfway
#    through training?
# 2. The reward model has its own tokenizer. Why can't it read the policy's token ids, and what
#    can go wrong when you decode and re-tokenize (name two things)?
# 3. On the CPU, gradient checkpointing did not change the measured bytes. Why not, and what
#    would it change on a GPU?
# 4. In data-parallel *DPO*, averaging each process's mean loss gives exactly the single-process
#    gradient. In data-parallel *PPO* it does not. Why, and how do you fix it?
# 5. On a real run the proxy reward climbs steadily, the gold model's score peaks and then
#    falls, and the KL keeps growing. What is happening, and what do you change?
# 6. On the T4 preset the logits are one of the largest items after the weights. Why, and name
#    two ways to make them smaller.
#
# Model answers: `docs/answers/08.md`.
