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
#     - how many bytes one parameter costs when it is trained with Adam, and when it
#       is frozen
#     - how many model copies PPO, DPO and GRPO keep in memory, and what ZeRO, LoRA
#       and CPU offload do to the memory each GPU needs
#     - "how to count FLOPs (2\xB7N per token forward, 6\xB7N training) and turn them\
#       \ into GPU-hours at a utilisation (MFU), and why generation is the slow part\
#       \ of PPO"
#     - how to check such an estimate against published runs (DeepSpeed-Chat, OpenRLHF)
#     - "how to answer the seed's quiz 3: 100K pairs, 13B, 4\xD7A100 80GB, two weeks"
#     notebook: 07_planning_a_real_run.ipynb
#     title: "07 \xB7 Planning a real run: memory, FLOPs and GPU-hours for PPO, DPO\
#       \ and GRPO"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The question
#
# The seed lesson ends with this prompt:
#
# > I'm comparing RLHF (with PPO) to DPO for a preference alignment task. I have 100K
# > preference pairs and a 13B model. Walk me through: (1) the infrastructure difference (how
# > many GPU hours, how many model copies), (2) expected quality comparison on MT-Bench at the
# > same compute budget, (3) failure modes unique to each method, and (4) which I should use
# > given a 2-week timeline and 4×A100 80GB cluster.
#
# Parts (1) and (4) are arithmetic, and this lesson does it in the open: every number comes from
# a few lines of `rlhf_lessons.budget`, whose functions are the formulas written down. Part (2)
# needs published results, and we will be honest about how little exists. Part (3) collects what
# lessons 04–06 showed on the toy world.

# %% [markdown]
# ## 1 · What one parameter costs
#
# A parameter that is **trained** with Adam in mixed precision lives in memory five times:
# the bf16 weight the forward pass reads (2 B), its bf16 gradient (2 B), and in fp32 a master
# copy of the weight plus Adam's two moments m and v (4 + 4 + 4 = 12 B): **16 bytes**
# (the ZeRO paper's count). Pure fp32 training also lands on 16 B (4 + 4 + 8).
# A **frozen** parameter needs only its weight: 2 B in bf16, 1 B in int8, ½ B in 4 bits.

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import Markdown, display

from rlhf_lessons import budget

b = budget.trained_bytes("bf16")
print(f"trained, bf16 mixed precision + Adam: {b.weights:g} + {b.grads:g} + {b.optimizer:g} = {b.total:g} B/param")
for p in ("fp32", "bf16", "int8", "int4"):
    print(f"frozen {p}: {budget.frozen_bytes(p):g} B/param")

N = 13e9  # the quiz's model
print(f"13B trained: {N * b.total / 1e9:.0f} GB    13B frozen in bf16: {N * budget.frozen_bytes('bf16') / 1e9:.0f} GB")

# %% [markdown]
# An A100 has 80 GB. One 13B model *being trained* needs more than two of them before a single
# activation is stored; a frozen one fits in a third of one.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · How many copies each method keeps
#
# - **PPO** (lesson 04): the policy and the value model are trained; the reference and the
#   reward model are frozen. Four copies, two of them at 16 B/param.
# - **DPO** (lesson 06): the policy is trained, the reference is frozen. Because the reference
#   never changes, its logprobs of every chosen and rejected response can be computed once before
#   training, and then only the policy is in memory.
# - **GRPO** (lesson 06): the policy is trained, the reference is frozen, and a reward model is
#   needed unless the reward is a program (a verifier). No value model: the group's mean reward
#   is the baseline.

# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.budget import Cluster, Data, Setup

for name, setup in {
    "PPO": Setup("ppo"),
    "DPO": Setup("dpo"),
    "DPO, reference logprobs precomputed": Setup("dpo", precompute_reference=True),
    "GRPO": Setup("grpo"),
    "GRPO, rule-based reward": Setup("grpo", rule_based_reward=True),
}.items():
    copies = budget.model_copies(setup)
    listing = ", ".join(f"{c.role} ({'trained' if c.trained else 'frozen'})" for c in copies)
    print(f"{name:<36} {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: {listing}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Memory on 4×A100 80GB
#
# Multiply copies by bytes. For PPO with every copy at 13B: 2 trained × 16 B + 2 frozen × 2 B =
# 36 B per parameter. Plain data parallelism (ZeRO stage 0) puts *all of it on every GPU*:

# %%
# NBVAL_CHECK_OUTPUT
cluster = Cluster("A100-80GB", n_gpus=4)
print(budget.memory_plan(Setup("ppo"), cluster).table())

# %% [markdown]
# The last line also counts activations, as a rough estimate (next section). Three tools shrink
# what each GPU holds:
#
# - **ZeRO** (DeepSpeed) shards across the N GPUs: stage 1 the optimizer states, stage 2 also
#   the gradients, stage 3 also the weights (every copy's, frozen ones too). Divide by N.
# - **CPU offload** moves the fp32 master weights and Adam states (12 of the 16 bytes) to CPU
#   RAM; the CPU then runs the Adam step. It needs that much CPU RAM, and it is slow.
# - **LoRA** trains small adapters; the base under them is frozen (2 B/param, or ½ B in 4 bits:
#   QLoRA). Only the adapters carry gradients and Adam states. With PEFT the reference can be
#   the policy's own base with the adapters switched off (TRL does this): one copy fewer.
#
# How big are LoRA adapters? For rank 16 on every linear layer of a Llama-13B-shaped model
# (hidden 5120, 40 layers, MLP width 13824):

# %%
# NBVAL_CHECK_OUTPUT
adapters = budget.lora_params(rank=16, hidden_size=5120, n_layers=40, intermediate_size=13824)
print(f"LoRA r=16 adapters: {adapters / 1e6:.1f}M parameters = {adapters / 13e9:.2%} of 13B")
LORA = 0.005  # we round to half a percent below

# %% [markdown]
# The next table compares the options. Its FLOPs and GPU-hours columns need two assumptions about
# utilisation, explained and checked in sections 5 and 6; they are variables, so change them and
# rerun to see what moves.

# %%
# NBVAL_CHECK_OUTPUT
MFU = 0.4  # assumed share of the GPU's peak for forward and training passes (section 6 checks it)
GENERATION_MFU = 0.1  # assumed share while generating token by token (section 5 derives it)
print(f"assumed MFU: {MFU:.0%} for forward/training passes, {GENERATION_MFU:.0%} for generation")

# %%
# NBVAL_CHECK_OUTPUT
data = Data(n_examples=100_000, prompt_tokens=256, response_tokens=256, epochs=1)
options = {
    "PPO": Setup("ppo"),
    "PPO ZeRO-3": Setup("ppo", zero_stage=3),
    "PPO ZeRO-3 + offload": Setup("ppo", zero_stage=3, offload_optimizer=True),
    "PPO LoRA": Setup("ppo", lora_fraction=LORA),
    "PPO LoRA, ref = base": Setup("ppo", lora_fraction=LORA, reference_from_base=True),
    "PPO LoRA ZeRO-3": Setup("ppo", lora_fraction=LORA, zero_stage=3),
    "PPO QLoRA (4-bit)": Setup("ppo", lora_fraction=LORA, frozen_precision="int4"),
    "DPO": Setup("dpo"),
    "DPO ZeRO-2": Setup("dpo", zero_stage=2),
    "DPO ZeRO-3": Setup("dpo", zero_stage=3),
    "DPO ZeRO-3, ref precomputed": Setup("dpo", zero_stage=3, precompute_reference=True),
    "DPO LoRA": Setup("dpo", lora_fraction=LORA),
    "GRPO ZeRO-3 (G=8)": Setup("grpo", zero_stage=3),
}
print(budget.compare(options, cluster, data, mfu=MFU, generation_mfu=GENERATION_MFU))

# %% [markdown]
# Read the "fits?" column. A full PPO fine-tune of 13B does **not** fit 4×A100 80GB even with
# ZeRO-3: sharding divides by four, and four is not enough. It fits with ZeRO-3 *and* CPU offload
# (the node then needs the offloaded Adam states in CPU RAM: the next table shows how much),
# or with LoRA plus ZeRO-3 or 4-bit bases. Full DPO fits with ZeRO-3 alone. (The FLOPs and
# GPU-hours columns are the next two sections. They assume the same utilisation on every line;
# in practice ZeRO-3's communication, CPU offload and 4-bit dequantisation make the lines that
# save the most memory the slowest.)
#
# The same memory column as a picture: what one GPU must hold, against its 80 GB.

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from rlhf_lessons.plots.budget import plot_memory_per_gpu

plans = {name: budget.memory_plan(setup, cluster) for name, setup in options.items()}
fig = plot_memory_per_gpu(plans, title="13B on 4×A100 80GB: memory per GPU")
plt.show()
assert [name for name, plan in plans.items() if plan.fits]  # some plans fit, others do not
assert [name for name, plan in plans.items() if not plan.fits]

# %%
# NBVAL_CHECK_OUTPUT
print(budget.memory_plan(Setup("ppo", zero_stage=3, offload_optimizer=True), cluster).table())

# %% [markdown]
# ### Activations: an estimate, not a count
#
# Training also stores activations for the backward pass. We use a rough rule: about 34·d bytes
# per token per layer in 16 bits without recomputation (Korthikanti et al. 2022, with
# FlashAttention removing the attention-score term), and with **gradient checkpointing** only
# each layer's input (2·d bytes per token per layer) plus one layer being recomputed. It grows
# with the micro-batch (here 4,096 tokens per GPU: 8 sequences of 512). Generation needs a KV
# cache instead (keys and values, 2 B each, per layer, per token). LoRA does *not* shrink
# activations: the backward pass still flows through the frozen base.

# %%
# NBVAL_CHECK_OUTPUT
d, layers = budget.guess_shape(13e9)
print(f"13B shaped like Llama: hidden {d}, {layers} layers")
for ckpt in (False, True):
    gb = budget.activation_bytes(4096, d, layers, checkpointing=ckpt) / 1e9
    print(f"activations for 4,096 tokens, checkpointing={ckpt!s:<5}: {gb:5.1f} GB")
print(f"KV cache for 4,096 tokens: {budget.kv_cache_bytes(4096, d, layers) / 1e9:.1f} GB")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · FLOPs: 2·N per token forward, 6·N training
#
# A forward pass does one multiply and one add per weight per token: **2·N**. The backward pass
# computes gradients for the activations (2·N) and for the weights (2·N): training is **6·N**
# per token. (With LoRA the base's weights get no gradients: ≈ 4·N.) Now list every pass each
# method makes over the data.
#
# **DPO**, per pair: the chosen and the rejected sequence (prompt + response each) go through
# the policy, trained, and through the reference, forward only.

# %%
# NBVAL_CHECK_OUTPUT
dpo = budget.estimate(Setup("dpo", zero_stage=3), cluster, data, mfu=MFU)
print(dpo.flops_table())
tokens = 100_000 * 2 * 512
print(f"by hand: (6 + 2) x 13e9 x {tokens:.3e} tokens = {8 * 13e9 * tokens:.3e} FLOPs")

# %% [markdown]
# **PPO**, per prompt: generate a response, then forward passes for the policy's old logprobs,
# the reference's logprobs, the reward model's score and the value model's values; then train
# the policy and the value model (`update_epochs` passes: 1 here, as InstructGPT; this course's
# PPO uses 4, `PPOConfig.ppo_epochs`, as the N+ implementation details do; the "try it" below
# prices 4). **GRPO** does the same for G responses per prompt, without the value model.
# Generation is the expensive part: under ZeRO-3 every decoding step gathers every weight of
# the policy for one token per sequence, so real systems (OpenRLHF, veRL, TRL with vLLM)
# generate with a separate inference engine and send it the new weights after each update.

# %%
# NBVAL_CHECK_OUTPUT
ppo = budget.estimate(Setup("ppo", zero_stage=3, offload_optimizer=True), cluster, data, MFU, GENERATION_MFU)
print(ppo.flops_table())
grpo = budget.estimate(Setup("grpo", zero_stage=3, group_size=8), cluster, data, MFU, GENERATION_MFU)
print(f"\nGRPO, G=8: {grpo.total_flops:.2e} FLOPs = {grpo.total_flops / ppo.total_flops:.1f}x PPO's")

# %% [markdown]
# Per example, PPO's FLOPs are of the same order as DPO's. The difference is *which kind* of
# FLOPs: one row says `generate`.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5 · From FLOPs to GPU-hours: utilisation, and why generation is slow
#
# GPU-hours = FLOPs / (peak FLOP/s × MFU) / 3600. The peak comes from the vendor's datasheet
# (dense bf16 Tensor Core; the "with sparsity" numbers are twice that and do not apply).
# MFU, the model FLOPs utilisation, is the fraction of the peak a run actually achieves.
# For big, well-tuned training passes we assumed `MFU` above; section 6 checks that against
# published runs.
#
# Generation is different. Each new token needs every weight read from memory once, to do only
# 2 FLOPs per weight per sequence in the batch. A GPU can do `peak / bandwidth` FLOPs in the time
# it reads one byte; unless the batch is that large, decoding waits on memory:

# %%
# NBVAL_CHECK_OUTPUT
for name in ("A100-80GB", "H100-SXM", "T4"):
    g = budget.GPUS[name]
    print(f"{name:<10} peak {g.peak_tflops:>4g} TFLOP/s, {g.bandwidth_gbs:>4g} GB/s: "
          f"{g.peak_tflops * 1e12 / (g.bandwidth_gbs * 1e9):4.0f} FLOPs per byte to be compute-bound")
for batch in (1, 16, 64, 256):
    print(f"A100 decoding {batch:>3} sequences per GPU: MFU at most {budget.decode_mfu_ceiling('A100-80GB', batch):.0%}")
print(f"\npeak table source: {budget.GPU_SOURCE}")

# %% [markdown]
# With a 13B model sharded or offloaded across 4 GPUs, a decoding batch of a few dozen
# sequences per GPU is realistic, so `GENERATION_MFU` is the ceiling for 16 sequences (the KV
# cache's own reads push the truth lower):

# %%
# NBVAL_CHECK_OUTPUT
ceiling = budget.decode_mfu_ceiling("A100-80GB", 16)
print(f"decoding ceiling for 16 sequences per A100: {ceiling:.1%}; GENERATION_MFU = {GENERATION_MFU:.0%}")
assert abs(GENERATION_MFU - ceiling) < 0.01

# %% [markdown]
# GPU-hours for each method, the reward model PPO and GRPO must train first, and what two weeks
# of the cluster provide:

# %%
# NBVAL_CHECK_OUTPUT
rm = budget.gpu_hours(budget.train_flops(13e9, 100_000 * 2 * 512), "A100-80GB", mfu=MFU)
two_weeks = 14 * 24 * cluster.n_gpus
print(f"reward model on 100K pairs (PPO/GRPO need it first): {rm:6.1f} GPU-hours")
print(f"DPO, one epoch:                                      {dpo.gpu_hours:6.1f} GPU-hours = {dpo.wall_hours:5.1f} h on 4 GPUs")
print(f"PPO, one pass over 100K prompts:                     {ppo.gpu_hours:6.1f} GPU-hours = {ppo.wall_hours:5.1f} h on 4 GPUs")
print(f"GRPO (G=8), one pass:                                {grpo.gpu_hours:6.1f} GPU-hours = {grpo.wall_hours:5.1f} h on 4 GPUs")
print(f"two weeks of the cluster:                            {two_weeks:6d} GPU-hours")

# %% [markdown]
# ## 6 · Sanity check against published runs
#
# An estimate is only as good as its MFU. Two published PPO throughputs (facts, with sources):
#
# - **DeepSpeed-Chat** (Yao et al. 2023): step 3 (PPO) of a 13B actor with a 350M reward model
#   (the critic is initialised from it, so also 350M) on 131.9k prompts of 256 + 256 tokens took
#   **9 hours on 8×A100-80G**.
# - **OpenRLHF** (Hu et al. 2024): one PPO pass over **1,024 prompts took 609 s for 13B on 32
#   A800 GPUs** (A800: an A100 with slower NVLink, same peak).
#
# Our FLOPs count for DeepSpeed-Chat's run, and the MFU its 9 hours imply:

# %%
# NBVAL_CHECK_OUTPUT
DSCHAT_HOURS, DSCHAT_GPUS = 9, 8  # DeepSpeed-Chat, step 3, 13B actor, 8xA100-80G
dschat = budget.estimate(
    Setup("ppo", reward_model_params=350e6, value_model_params=350e6, zero_stage=3),
    Cluster("A100-80GB", DSCHAT_GPUS),
    Data(n_examples=131_900, prompt_tokens=256, response_tokens=256),
)
implied = budget.implied_mfu(dschat.total_flops, "A100-80GB", DSCHAT_GPUS, DSCHAT_HOURS)
print(f"DeepSpeed-Chat 13B step 3: {dschat.total_flops:.2e} FLOPs in {DSCHAT_HOURS * DSCHAT_GPUS} GPU-hours")
print(f"implied MFU over the whole PPO loop: {implied:.1%}")
at_dschat = budget.gpu_hours(ppo.total_flops, "A100-80GB", implied)
print(f"our 4-copy 13B PPO at that MFU: {at_dschat:.0f} GPU-hours = {at_dschat / 4:.0f} h on 4 GPUs")

# %%
# NBVAL_CHECK_OUTPUT
OPENRLHF_SECONDS, OPENRLHF_GPUS, OPENRLHF_PROMPTS = 609, 32, 1024  # OpenRLHF, 13B, A800
openrlhf = 100_000 / OPENRLHF_PROMPTS * OPENRLHF_SECONDS * OPENRLHF_GPUS / 3600
print(f"100K prompts at OpenRLHF's 13B throughput: {openrlhf:.0f} GPU-hours = {openrlhf / 4 / 24:.1f} days on 4 GPUs")

# %% [markdown]
# The whole PPO loop of DeepSpeed-Chat ran at a small fraction of the `MFU` we assumed:
# generation dominates, as section 5 predicts. At that utilisation our estimate for the quiz's
# PPO run grows several-fold, and OpenRLHF's throughput (whose prompt and response lengths are
# not in our reference list, so compare only orders of magnitude) is larger still. The lesson:
# **DPO's GPU-hours are predictable; PPO's are uncertain by up to an order of magnitude**, and
# the 4-copy run on only 4 GPUs needs offload or LoRA, which lower the MFU further.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7 · Quality on MT-Bench at the same compute: what is published
#
# Published facts (each with its source; the numbers live in the cell, not in this text):

# %%
# NBVAL_CHECK_OUTPUT
TULU2_MT_BENCH = {"13B": (6.70, 7.00), "70B": (7.49, 7.89)}  # Ivison et al. 2023 (Tulu 2): SFT -> DPO
IVISON_2024_PPO_GAIN = {"math": 0.025, "general": 0.012}  # "Unpacking DPO and PPO": PPO over DPO, up to
(s13, d13), (s70, d70) = TULU2_MT_BENCH["13B"], TULU2_MT_BENCH["70B"]
display(Markdown(
    f"- **Tulu 2** (Ivison et al. 2023): DPO on top of SFT raised a 13B model's MT-Bench score "
    f"from **{s13:.2f} to {d13:.2f}** (+{d13 - s13:.2f}; 70B: {s70:.2f} to {d70:.2f}).\n"
    f"- **Ivison et al. 2024** (“Unpacking DPO and PPO”): with the same data, PPO beat DPO by "
    f"up to **{IVISON_2024_PPO_GAIN['math']:.1%} on math and {IVISON_2024_PPO_GAIN['general']:.1%} "
    f"in general domains**; the preference *data* mattered most.\n"
    f"- **Xu et al. 2024** (“Is DPO superior to PPO for LLM alignment?”): *tuned* PPO (advantage "
    f"normalisation, large batches, an exponential-moving-average reference) beats DPO."
))

# %% [markdown]
# **No published study compares PPO and DPO on MT-Bench at equal compute in the quiz's setting**
# (13B, 100K pairs, 4×A100, two weeks). So part (2) of the answer is a reasoned estimate, not a
# measurement: expect DPO to move MT-Bench by roughly the Tulu 2 amount; expect a *well-tuned*
# PPO to match or slightly beat it (Ivison 2024, Xu 2024), and an under-tuned PPO (the likely
# outcome inside two weeks) to do worse. Lesson 06 showed the same shape on the toy world,
# against the exact optimum.

# %% [markdown]
# ## 8 · Failure modes unique to each
#
# **PPO**
# - *Reward hacking / over-optimisation*: the policy finds what the reward model overrates;
#   proxy reward rises while true quality falls (lesson 05). Needs the KL penalty and early
#   stopping on held-out judgements.
# - *A second learner*: the value model can lag or be miscalibrated, giving noisy advantages;
#   watch explained variance (lesson 05).
# - *Instability*: clip, KL coefficient, learning rate, batch and epochs interact; too large a
#   step and KL explodes or the policy collapses into repetition (lesson 05, eps = 1000, beta = 0).
# - *Systems*: four copies, generation in the loop, out-of-memory from the KV cache, offload
#   making steps slow. Most of the two weeks can go here.
#
# **DPO**
# - *Off-policy*: it only learns from the fixed pairs; it never sees its own mistakes, and
#   label noise is baked straight into the loss (no reward model to smooth it).
# - *Over-fitting*: after an epoch or two the implicit reward margins keep growing; the
#   likelihood of *both* chosen and rejected can fall, and responses drift (often longer).
# - *Sensitivity to beta and to the reference*: the reference should be an SFT model on the
#   same kind of data; a mismatch weakens the implicit KL constraint.
#
# **GRPO**
# - *No signal from uniform groups*: if all G responses get the same reward, every advantage is
#   zero; easy or hopeless prompts waste their G generations.
# - *G times the generation*: its cost is PPO's generation times G (section 4).
# - *Made for verifiable rewards*: with preference pairs and no verifier it needs a learned
#   reward model, so it inherits PPO's reward hacking without PPO's per-token critic.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9 · The recommendation, computed
#
# Two weeks on 4×A100 80GB is the budget. The cell below states the answer with the numbers
# this notebook computed.

# %%
# NBVAL_CHECK_OUTPUT
dpo_fit = budget.memory_plan(Setup("dpo", zero_stage=3), cluster)
display(Markdown(
    f"**Use DPO.** A full 13B DPO fine-tune needs {dpo_fit.state_gb:.0f} GB, "
    f"{dpo_fit.per_gpu_gb:.1f} GB per GPU with ZeRO-3 (fits in 80 GB), and one epoch over "
    f"100K pairs is about {dpo.gpu_hours:.0f} GPU-hours, {dpo.wall_hours:.0f} h on the cluster "
    f"at {MFU:.0%} MFU: {dpo.gpu_hours / two_weeks:.0%} of the {two_weeks} GPU-hours of two weeks. "
    f"That leaves room for a sweep over beta and epochs (say 3 x 2 runs = "
    f"{6 * dpo.gpu_hours:.0f} GPU-hours) and for evaluation.\n\n"
    f"PPO needs a reward model first ({rm:.0f} GPU-hours), four copies that only fit with "
    f"ZeRO-3 + offload ({budget.memory_plan(Setup('ppo', zero_stage=3, offload_optimizer=True), cluster).cpu_gb:.0f} GB "
    f"of CPU RAM) or LoRA, and {ppo.gpu_hours:.0f} GPU-hours per pass at our assumed "
    f"utilisation, {at_dschat:.0f} at DeepSpeed-Chat's, about {openrlhf:.0f} at OpenRLHF's "
    f"published 13B throughput. Even the largest is {openrlhf / two_weeks:.0%} of two weeks: "
    f"PPO fits in the compute; engineering and tuning it are the risk. Plan: DPO in week 1; if a stable DPO model is in hand with time to spare, try PPO "
    f"(LoRA, ZeRO-3) in week 2 from the DPO model, and keep it only if it wins on held-out "
    f"judgements."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10 · The calculator
#
# Every control sets a field of `Setup`, `Cluster` or `Data`; the panel prints
# `budget.estimate(...).summary()`. Try: PPO at 13B with ZeRO 0 → 3 → offload; LoRA on; 4×H100;
# 70B; GRPO with G = 16.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.widgets import budget_calculator

budget_calculator(method="ppo", model="13B", gpu="A100-80GB", n_gpus=4, examples="100K")

# %% [markdown]
# ## Try it
#
# 1. The same DPO run on 4×H100 (SXM): how many hours? (The H100's peak is about 3× the A100's.)
# 2. A 70B DPO on the same 4×A100 80GB: does ZeRO-3 suffice? LoRA with 4-bit bases? And if the
#    reference is the 4-bit base with the adapters switched off?
# 3. PPO with `update_epochs=4` (the N+ setting): how much do the FLOPs grow?

# %%
# NBVAL_CHECK_OUTPUT
h100 = budget.estimate(Setup("dpo", zero_stage=3), Cluster("H100-SXM", 4), data, mfu=MFU)
print(f"1. DPO 13B on 4xH100: {h100.gpu_hours:.1f} GPU-hours = {h100.wall_hours:.1f} h")
for label, setup in {
    "ZeRO-3": Setup("dpo", n_params=70e9, zero_stage=3),
    "QLoRA (4-bit bases)": Setup("dpo", n_params=70e9, lora_fraction=LORA, frozen_precision="int4"),
    "QLoRA, reference = base": Setup(
        "dpo", n_params=70e9, lora_fraction=LORA, frozen_precision="int4", reference_from_base=True
    ),
}.items():
    plan = budget.memory_plan(setup, cluster)
    print(f"2. DPO 70B, {label}: {plan.per_gpu_gb:.1f} GB per GPU, fits: {plan.fits}")
ppo4 = budget.estimate(Setup("ppo", zero_stage=3, offload_optimizer=True, update_epochs=4), cluster, data)
print(f"3. PPO with 4 update epochs: {ppo4.total_flops / ppo.total_flops:.2f}x the FLOPs of 1 epoch")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1 · Bytes per parameter for PPO
#
# Write `ppo_bytes_per_param(lora_fraction)`: the bytes PPO needs per parameter of the base
# model, for a policy, value model, reference and reward model all of the base's size; trained
# weights in bf16 mixed precision with Adam, frozen ones in bf16; no ZeRO, no sharing.
# `lora_fraction=None` means a full fine-tune; otherwise each trained copy is a frozen base plus
# adapters with `lora_fraction` × as many parameters, and only the adapters are trained.

# %%
def ppo_bytes_per_param(lora_fraction):
    raise NotImplementedError  # your code here


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson07 import check_ppo_bytes_per_param

check_ppo_bytes_per_param(ppo_bytes_per_param);


# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_ppo_bytes_per_param(lora_fraction):
    trained, frozen = 16, 2  # bf16 + Adam; bf16 weights only
    if lora_fraction is None:
        return 2 * trained + 2 * frozen  # policy, value model | reference, reward model
    lora_copy = frozen + lora_fraction * trained  # frozen base + trained adapters
    return 2 * lora_copy + 2 * frozen


check_ppo_bytes_per_param(solution_ppo_bytes_per_param);

# %% [markdown]
# ## Exercise 2 · FLOPs of a DPO run
#
# Write `dpo_flops(n_params, n_pairs, seq_tokens, epochs)`: the FLOPs of a DPO run where each
# pair has a chosen and a rejected sequence of `seq_tokens` tokens (prompt + response), the
# policy is trained on both, and the reference computes its logprobs every epoch.
# The checker grades your function (a collapsed solution, `solution_dpo_flops`, follows it);
# then the package's FLOP counts turn 13B × 100K pairs × 512 tokens into GPU-hours on an A100
# at the assumed `MFU` with `budget.gpu_hours`.

# %%
def dpo_flops(n_params, n_pairs, seq_tokens, epochs):
    raise NotImplementedError  # your code here


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson07 import check_dpo_flops

check_dpo_flops(dpo_flops);

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_dpo_flops(n_params, n_pairs, seq_tokens, epochs):
    tokens = epochs * n_pairs * 2 * seq_tokens  # chosen + rejected
    return 6 * n_params * tokens + 2 * n_params * tokens  # policy trains, reference forwards


check_dpo_flops(solution_dpo_flops);

# %% [markdown]
# The same count with the package's `budget.train_flops` (6·N per token) and
# `budget.forward_flops` (2·N), turned into GPU-hours:

# %%
# NBVAL_CHECK_OUTPUT
tokens = 100_000 * 2 * 512  # one epoch: pairs × (chosen + rejected) × tokens
flops = budget.train_flops(13e9, tokens) + budget.forward_flops(13e9, tokens)  # policy + reference
hours = budget.gpu_hours(flops, "A100-80GB", mfu=MFU)
print(f"13B, 100K pairs, 512 tokens: {hours:.1f} GPU-hours at MFU {MFU:.0%}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# 1. (The seed's quiz 3.) 100K preference pairs, a 13B model, two weeks on 4×A100 80GB: walk
#    through (1) GPU-hours and model copies, (2) the expected MT-Bench comparison at equal
#    compute, (3) failure modes unique to each method, (4) which you would use.
# 2. Why does ZeRO-3 alone not make a full 13B PPO fit on 4×A100 80GB, while it does for DPO?
#    What is the smallest change that makes PPO fit?
# 3. LoRA cuts PPO's memory by a factor of four or more. Why does it cut the FLOPs by much less?
# 4. DeepSpeed-Chat's 13B step 3 implies an MFU far below the one we assumed. Name the part of the PPO loop
#    responsible and the hardware number that explains it.
#
# Model answers: `docs/answers/07.md`.
