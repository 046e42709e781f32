"""Presets: named sets of config values, from the toy world to a multi-GPU run.

Introduced in 08_full_scale_gpu. A preset names everything a run needs to know about its
hardware: which models and data to load, LoRA's rank and targets, the dtype, gradient
checkpointing, batch sizes and lengths — so that one line, `get_preset("t4-16gb")`, moves the
same code from a laptop to a free Colab GPU to an A100.

    toy        the toy world of lessons 01-06: tiny GPT-2 models trained in seconds on a CPU
    smoke      tiny Qwen2/Llama models built locally from the real architectures' configs,
               saved with save_pretrained and loaded back with from_pretrained: the whole
               GPU code path on a CPU, in seconds (CI runs it)
    t4-16gb    free Colab: Qwen2.5-0.5B-Instruct with LoRA, fp16 (a T4 has no bf16)
    a100-80gb  one A100 80GB: Qwen2.5-7B-Instruct with LoRA, bf16, larger batches

Expected memory and time are *estimates* from lesson 07's calculator (`budget.py`), plus the
logits term it leaves out (see `estimate_memory`): nothing here was measured on a GPU.

Model ids are Hugging Face hub ids; every one can be replaced by a local folder
(`get_preset("t4-16gb", policy_id="models/qwen2.5-0.5b-instruct")`) for offline use.
No revision is pinned: the revisions could not be verified where this course was written
(no network), so none is typed in. Pin one (`policy_revision="<commit>"`) for a reproducible run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from . import budget
from .runtime import cache_dir

SMOKE_VERSION = 1  # the smoke world's folder name; a change of any smoke.py setting is detected
# by smoke.build_key


def smoke_dir():
    """Where the smoke world lives: <cache>/smoke-v<VERSION> (not necessarily built yet).

    Here, not in smoke.py, so that presets (planning) never imports the builder (hf layer).
    """
    return cache_dir() / f"smoke-v{SMOKE_VERSION}"


DTYPES = ("float32", "bfloat16", "float16")
BUDGET_PRECISION = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
INPUT_FORMATS = ("chat", "pair")  # how a reward model reads a conversation (see hf.py)

# The seven projections of a Llama/Qwen block: LoRA's usual targets (Hu et al. 2021 adapt
# attention; QLoRA, Dettmers et al. 2023, found adapting every linear layer matters).
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder's config that memory and LoRA depend on."""

    n_params: float  # all parameters of the model as loaded (embeddings included)
    hidden_size: int  # d
    n_layers: int  # transformer blocks
    intermediate_size: int  # d_ff of the MLP (gate, up: d -> d_ff; down: d_ff -> d)
    n_heads: int  # query heads
    n_kv_heads: int  # key/value heads (grouped-query attention when < n_heads)
    vocab_size: int  # rows of the embedding / logits width
    head_dim: int | None = None  # None: hidden_size // n_heads

    @property
    def kv_dim(self) -> int:
        """Output width of k_proj and v_proj: n_kv_heads x head_dim."""
        return self.n_kv_heads * (self.head_dim or self.hidden_size // self.n_heads)

    @property
    def q_dim(self) -> int:
        return self.n_heads * (self.head_dim or self.hidden_size // self.n_heads)


def lora_param_count(shape: ModelShape, rank: int, targets=ALL_LINEAR) -> int:
    """Exact LoRA parameters: rank x (d_in + d_out) for every adapted matrix of every block.

    Unlike budget.lora_params (which assumes d x d attention), this counts grouped-query
    attention's narrow k/v projections. tests/test_gpu_path.py checks it against peft.
    """
    d, ff, kv, q = shape.hidden_size, shape.intermediate_size, shape.kv_dim, shape.q_dim
    dims = {
        "q_proj": (d, q),
        "k_proj": (d, kv),
        "v_proj": (d, kv),
        "o_proj": (q, d),
        "gate_proj": (d, ff),
        "up_proj": (d, ff),
        "down_proj": (ff, d),
    }
    unknown = [t for t in targets if t not in dims]
    if unknown:
        raise ValueError(f"lora_targets: unknown module name(s) {unknown}; known: {list(dims)}")
    return shape.n_layers * sum(rank * (dims[t][0] + dims[t][1]) for t in targets)


# Shapes of the hub models, from their config.json files (as published; not re-checked here).
QWEN25_05B = ModelShape(494_032_768, 896, 24, 4864, 14, 2, 151936)  # tied embeddings
QWEN25_15B = ModelShape(1_543_714_304, 1536, 28, 8960, 12, 2, 151936)  # tied embeddings
QWEN25_7B = ModelShape(7_615_616_512, 3584, 28, 18944, 28, 4, 152064)


@dataclass(frozen=True)
class Preset:
    """One named configuration of a run: models, data, memory tricks, batch sizes, hardware.

    Every field has a comment; `describe()` prints them with the estimates.
    """

    name: str  # the key in PRESETS
    summary: str  # what it is for, in one line
    # ── models and data: hub ids, or local folders (offline) ─────────────────────────────
    policy_id: str  # causal LM with a chat template (the SFT'd starting point)
    reward_model_id: str  # sequence classifier, one label: the proxy reward PPO maximises
    gold_model_id: str  # a *held-out* reward model: the gold proxy we evaluate with
    dataset_id: str  # preference data: prompt + chosen/rejected as chat messages
    value_model_id: str | None = None  # None: the policy's checkpoint with a fresh value head
    policy_revision: str | None = None  # None: unverified, no revision pinned
    reward_model_revision: str | None = None  # None: unverified, no revision pinned
    gold_model_revision: str | None = None  # None: unverified, no revision pinned
    dataset_revision: str | None = None  # None: unverified, no revision pinned
    train_split: str = "train_prefs"  # split with the training prompts / pairs
    test_split: str = "test_prefs"  # held-out prompts for evaluation
    reward_input: str = "chat"  # "chat": the RM's own chat template; "pair": tokenizer(q, a)
    gold_input: str = "pair"  # the same for the gold model
    why: dict = field(default_factory=dict, compare=False)  # why each model/data set was chosen
    # ── LoRA (Hu et al. 2021) ─────────────────────────────────────────────────────────────
    lora_r: int | None = 16  # adapter rank; None = full fine-tune (no adapters)
    lora_alpha: int = 32  # scaling alpha / r of the adapter's update
    lora_targets: tuple[str, ...] = ALL_LINEAR  # modules that get adapters
    # ── precision and memory tricks ─────────────────────────────────────────────────────
    dtype: str = "bfloat16"  # weights of the frozen base models: float32, bfloat16, float16
    gradient_checkpointing: bool = True  # recompute activations in backward: less memory
    reference_from_adapters: bool = True  # LoRA: reference = policy with adapters disabled
    # ── batch sizes and lengths ─────────────────────────────────────────────────────────
    rollout_batch_size: int = 16  # prompts sampled per PPO step
    mini_batch_size: int = 4  # sequences per forward/backward (gradient accumulation above)
    ppo_epochs: int = 2  # optimisation passes over each batch of rollouts
    dpo_batch_size: int = 8  # preference pairs per DPO step
    max_prompt_tokens: int = 256  # prompts longer than this are skipped
    max_new_tokens: int = 128  # longest sampled response
    steps: int = 100  # PPO (or DPO) steps of the notebook's run
    lr: float = 1e-5  # AdamW learning rate of the adapters (and value head)
    beta: float = 0.05  # KL coefficient (Stiennon et al. 2020)
    # ── hardware ─────────────────────────────────────────────────────────────────────────
    device: str = "cuda"  # "cuda" or "cpu"
    gpu: str | None = "T4"  # a key of budget.GPUS this preset is sized for (None: CPU)
    smaller: str | None = None  # the preset to suggest when this one does not fit
    # ── shapes, for the estimates (None: measured from the loaded models) ──────────────
    policy_shape: ModelShape | None = None
    value_shape: ModelShape | None = None  # None: the policy's
    reward_params: float | None = None  # parameters of the reward model
    gold_params: float | None = None  # parameters of the gold model
    local_builder: str | None = None  # "smoke": the models are built on first use (smoke.py)

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        for name in ("reward_input", "gold_input"):
            if getattr(self, name) not in INPUT_FORMATS:
                raise ValueError(
                    f"{name} must be one of {INPUT_FORMATS}, got {getattr(self, name)!r}"
                )
        if self.lora_r is not None and (not isinstance(self.lora_r, int) or self.lora_r < 1):
            raise ValueError(f"lora_r must be a positive int or None, got {self.lora_r!r}")
        if self.reference_from_adapters and self.lora_r is None:
            raise ValueError(
                "reference_from_adapters=True needs LoRA (lora_r): without adapters there is "
                "nothing to disable; set reference_from_adapters=False for a full fine-tune"
            )
        if self.device not in ("cuda", "cpu"):
            raise ValueError(f"device must be 'cuda' or 'cpu', got {self.device!r}")
        if self.gpu is not None:
            budget.get_gpu(self.gpu)
        for name in ("rollout_batch_size", "mini_batch_size", "ppo_epochs", "dpo_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.rollout_batch_size % self.mini_batch_size:
            raise ValueError(
                f"rollout_batch_size ({self.rollout_batch_size}) must be a multiple of "
                f"mini_batch_size ({self.mini_batch_size})"
            )

    def replace(self, **changes) -> Preset:
        """A copy with some fields changed (e.g. a local folder instead of a hub id)."""
        return dataclasses.replace(self, **changes)

    @property
    def lora_params(self) -> int | None:
        """Trainable adapter parameters of the policy (None without LoRA or a known shape)."""
        if self.lora_r is None or self.policy_shape is None:
            return None
        return lora_param_count(self.policy_shape, self.lora_r, self.lora_targets)


# ── the presets ────────────────────────────────────────────────────────────────────────────

_UNVERIFIED = "unverified, no revision pinned"

_WHY_GPU = {
    "dataset": (
        "HuggingFaceH4/ultrafeedback_binarized: ~61k prompts with a chosen and a rejected "
        "answer as chat messages (Zephyr's DPO data, Tunstall et al. 2023): the same file "
        "feeds PPO (its prompts) and DPO (its pairs), so the comparison is fair"
    ),
    "gold": (
        "OpenAssistant/reward-model-deberta-v3-large-v2: a different architecture trained on "
        "different data than the proxy, so it does not share the proxy's blind spots; it is "
        "weaker than the proxy — a sanity check of over-optimisation, not the truth"
    ),
}

PRESETS: dict[str, Preset] = {}


def _add(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


_add(
    Preset(
        name="toy",
        summary="the toy world of lessons 01-06: tiny GPT-2 models, seconds on a laptop CPU",
        policy_id="toy",  # built by rlhf_lessons.pipeline.toy_sft_policy
        reward_model_id="toy",  # rlhf_lessons.pipeline.toy_reward_model
        gold_model_id="toy",  # the toy world's gold judge (rlhf_lessons.toy.gold_score)
        dataset_id="data/toy",
        lora_r=None,
        reference_from_adapters=False,
        dtype="float32",
        gradient_checkpointing=False,
        rollout_batch_size=64,
        mini_batch_size=32,
        ppo_epochs=4,
        dpo_batch_size=64,
        max_prompt_tokens=8,
        max_new_tokens=14,
        steps=40,
        lr=3e-4,
        device="cpu",
        gpu=None,
        local_builder="toy",
    )
)

# The smoke preset's ids are filled in by get_preset: folders under runtime.cache_dir().
_add(
    Preset(
        name="smoke",
        summary=(
            "tiny Qwen2 policy + tiny Llama reward models built locally from the real "
            "architectures' configs: the whole GPU code path on a CPU in seconds (CI)"
        ),
        policy_id="<smoke>/policy",
        reward_model_id="<smoke>/reward_model",
        gold_model_id="<smoke>/gold_model",
        dataset_id="<smoke>/data",
        reward_input="chat",
        gold_input="pair",
        lora_r=8,
        lora_alpha=16,
        dtype="float32",  # CPU: float32 (bf16 matmuls on CPU are slow and change the numbers)
        gradient_checkpointing=True,  # same switch as on a GPU; on CPU it only costs time
        rollout_batch_size=8,
        mini_batch_size=4,
        ppo_epochs=2,
        dpo_batch_size=8,
        max_prompt_tokens=32,
        max_new_tokens=16,
        steps=6,
        lr=1e-3,
        device="cpu",
        gpu=None,
        local_builder="smoke",
        why={
            "policy": "a 2-block Qwen2 (hidden 64) with the real Qwen2 code and a chat template",
            "reward_model": (
                "a 2-block Llama classifier with its own byte-level BPE tokenizer and chat "
                "template: like a hub reward model, it does not share the policy's tokenizer"
            ),
            "gold": "another tiny Llama classifier trained on the held-out pairs; no chat template",
            "dataset": "the toy world's pairs written as UltraFeedback-style chat messages",
        },
    )
)

_add(
    Preset(
        name="t4-16gb",
        summary="free Colab T4 (16 GB): a 0.5B instruct policy with LoRA, fp16",
        policy_id="Qwen/Qwen2.5-0.5B-Instruct",
        reward_model_id="Skywork/Skywork-Reward-V2-Qwen3-0.6B",
        gold_model_id="OpenAssistant/reward-model-deberta-v3-large-v2",
        dataset_id="HuggingFaceH4/ultrafeedback_binarized",
        reward_input="chat",
        gold_input="pair",
        lora_r=16,
        lora_alpha=32,
        dtype="float16",  # a T4 (Turing) has no bf16; peft keeps the adapters in float32
        gradient_checkpointing=True,
        rollout_batch_size=8,
        mini_batch_size=4,
        ppo_epochs=2,
        dpo_batch_size=8,
        max_prompt_tokens=256,
        max_new_tokens=128,
        steps=100,
        lr=1e-5,
        gpu="T4",
        smaller="smoke",
        policy_shape=QWEN25_05B,
        reward_params=0.6e9,  # Qwen3-0.6B backbone (model card: 0.6B)
        gold_params=0.435e9,  # DeBERTa-v3-large: 304M backbone + 131M embeddings
        why={
            "policy": (
                "Qwen/Qwen2.5-0.5B-Instruct: Apache-2.0, already instruction-tuned (the SFT "
                "stage is done), a chat template, and small enough that policy, value model "
                "and two reward models fit a 16 GB T4 with room for activations"
            ),
            "reward_model": (
                "Skywork/Skywork-Reward-V2-Qwen3-0.6B: the smallest of a strong open reward "
                "model family (Bradley-Terry, trained on curated preference pairs); a plain "
                "sequence classifier, no remote code. Its tokenizer differs from the policy's "
                "(Qwen3 chat template), so responses are re-tokenized"
            ),
            **_WHY_GPU,
        },
    )
)

_add(
    Preset(
        name="a100-80gb",
        summary="one A100 80GB: a 7B instruct policy with LoRA, bf16, larger batches",
        policy_id="Qwen/Qwen2.5-7B-Instruct",
        value_model_id="Qwen/Qwen2.5-1.5B-Instruct",  # same tokenizer, a smaller critic
        reward_model_id="Skywork/Skywork-Reward-V2-Llama-3.1-8B",
        gold_model_id="OpenAssistant/reward-model-deberta-v3-large-v2",
        dataset_id="HuggingFaceH4/ultrafeedback_binarized",
        reward_input="chat",
        gold_input="pair",
        lora_r=64,
        lora_alpha=128,
        dtype="bfloat16",
        gradient_checkpointing=True,
        rollout_batch_size=16,  # scored 8 at a time (PPOConfig.forward_batch_size)
        mini_batch_size=8,
        ppo_epochs=2,
        dpo_batch_size=32,
        max_prompt_tokens=512,
        max_new_tokens=256,
        steps=100,
        lr=1e-5,
        gpu="A100-80GB",
        smaller="t4-16gb",
        policy_shape=QWEN25_7B,
        value_shape=QWEN25_15B,
        reward_params=7.5e9,  # Llama-3.1-8B without its LM head
        gold_params=0.435e9,
        why={
            "policy": (
                "Qwen/Qwen2.5-7B-Instruct: Apache-2.0, the same tokenizer and chat template as "
                "the T4 preset's policy, so only the size changes"
            ),
            "value_model": (
                "Qwen/Qwen2.5-1.5B-Instruct: shares the policy's tokenizer (values are read at "
                "every policy token), a fifth of the size: a smaller critic is a common saving"
            ),
            "reward_model": (
                "Skywork/Skywork-Reward-V2-Llama-3.1-8B: the 8B model of the same family as "
                "the T4 preset's proxy; LlamaForSequenceClassification, no remote code (Llama "
                "3.1 licence: read its model card)"
            ),
            **_WHY_GPU,
        },
    )
)


def get_preset(name: str, **changes) -> Preset:
    """The preset called `name` (see PRESETS), with any fields changed.

    >>> get_preset("t4-16gb", policy_id="models/qwen2.5-0.5b-instruct")   # a local folder
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    preset = PRESETS[name]
    if preset.local_builder == "smoke":
        root = str(smoke_dir())
        preset = preset.replace(
            **{
                f: getattr(preset, f).replace("<smoke>", root)
                for f in ("policy_id", "reward_model_id", "gold_model_id", "dataset_id")
            }
        )
    return preset.replace(**changes) if changes else preset


# ── estimates (lesson 07's calculator, plus the logits) ────────────────────────────────────

# Guesses for the time estimate, stated so a reader can change them:
MFU = 0.25  # forward and training passes of a small model in eager PyTorch (no fused kernels)
DECODE_OVERHEAD_PER_LAYER_S = 1e-3  # Python + kernel launches per block per generated token


def setup_for(preset: Preset, method: str = "ppo", **changes) -> budget.Setup:
    """Lesson 07's `budget.Setup` for this preset (policy, reference, RM, value model)."""
    shape = preset.policy_shape
    if shape is None:
        raise ValueError(
            f"preset {preset.name!r} has no policy_shape: estimate it from the loaded models "
            "(hf.shape_of(model)) and pass preset.replace(policy_shape=...)"
        )
    lora_fraction = (
        None if preset.lora_r is None else lora_param_count(shape, preset.lora_r) / shape.n_params
    )
    value = preset.value_shape or shape
    kwargs = dict(
        method=method,
        n_params=shape.n_params,
        precision=BUDGET_PRECISION[preset.dtype],
        frozen_precision=BUDGET_PRECISION[preset.dtype],
        lora_fraction=lora_fraction,
        reference_from_base=preset.reference_from_adapters,
        gradient_checkpointing=preset.gradient_checkpointing,
        micro_batch_tokens=preset.mini_batch_size
        * (preset.max_prompt_tokens + preset.max_new_tokens),
        reward_model_params=preset.reward_params or shape.n_params,
        value_model_params=value.n_params,
        update_epochs=preset.ppo_epochs,
        hidden_size=shape.hidden_size,
        n_layers=shape.n_layers,
    )
    kwargs.update(changes)
    return budget.Setup(**kwargs)


def logits_bytes(preset: Preset, shape: ModelShape | None = None) -> float:
    """Memory of the logits at their peak: not in lesson 07's calculator, large for real
    vocabularies (Qwen2.5: 151,936 columns). The larger of two moments of a PPO step:

    - scoring (no gradient), as trainers/ppo.py's `score` does it, b rows at a time (the GPU
      presets set PPOConfig.forward_batch_size to the mini-batch b): the logits of every query
      token in the model's dtype (w bytes), then over the response tokens a float32 copy, its
      log-softmax, and for the entropy its exp and their product: b · V · (w·L + 16·T)
    - a training mini-batch b (with gradient): the logits and their gradient over the query
      in the model's dtype, a float32 copy, its log-softmax and their gradient over the
      response: b · V · (2w·L + 12·T)

    L = prompt + response tokens, T = response tokens, V = vocabulary. Scoring the whole
    rollout batch B at once would hold B/b times the first.
    """
    shape = shape or preset.policy_shape
    w = 4 if preset.dtype == "float32" else 2
    T = preset.max_new_tokens
    L = preset.max_prompt_tokens + T
    score = preset.mini_batch_size * shape.vocab_size * (w * L + 16 * T)
    train = preset.mini_batch_size * shape.vocab_size * (2 * w * L + 12 * T)
    return max(score, train)


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated memory of a preset on one GPU (decimal GB), and the calculator's plan."""

    plan: budget.MemoryPlan  # lesson 07's table: copies x bytes, plus activations/KV cache
    logits_gb: float  # the logits term the calculator leaves out
    gold_gb: float  # the held-out gold model's frozen weights (evaluation only)

    @property
    def total_gb(self) -> float:
        return self.plan.per_gpu_gb + self.logits_gb + self.gold_gb

    def table(self) -> str:
        return "\n".join(
            [
                self.plan.table().rsplit("\n", 1)[0],
                f"{'logits at their peak (estimate, see logits_bytes)':<55}{self.logits_gb:>10.1f}",
                f"{'gold model (held-out reward model, frozen)':<55}{self.gold_gb:>10.1f}",
                f"{'total per GPU (estimate)':<55}{self.total_gb:>10.1f}",
            ]
        )


def estimate_memory(preset: Preset, method: str = "ppo", **changes) -> MemoryEstimate:
    """Per-GPU memory of the preset's run: calculator + logits + gold model. An estimate.

    `changes` override the budget.Setup (e.g. lora_fraction=None to see a full fine-tune).
    """
    setup = setup_for(preset, method, **changes)
    cluster = budget.Cluster(preset.gpu or "T4", 1)  # the GPU only matters for "fits"
    plan = budget.memory_plan(setup, cluster)
    gold = (preset.gold_params or 0) * budget.frozen_bytes(BUDGET_PRECISION[preset.dtype])
    return MemoryEstimate(plan, logits_bytes(preset) / budget.GB, gold / budget.GB)


def estimate_step_seconds(preset: Preset) -> dict:
    """Seconds of one PPO step on the preset's GPU, by phase: a rough, documented estimate.

    - generate: max_new_tokens steps, each bounded below by reading the weights once
      (bytes / bandwidth) and by per-layer overhead (DECODE_OVERHEAD_PER_LAYER_S)
    - score: forward passes of the policy (old logprobs), reference, value and reward model,
      2·N FLOPs per token at MFU
    - train: ppo_epochs x (policy + value), 4·N per token with LoRA (6·N without), x 4/3
      when gradient checkpointing recomputes the forward pass
    """
    if preset.gpu is None or preset.policy_shape is None:
        raise ValueError(f"preset {preset.name!r} has no GPU to estimate for (measure it instead)")
    gpu = budget.get_gpu(preset.gpu)
    shape = preset.policy_shape
    value = (preset.value_shape or shape).n_params
    n, rm = shape.n_params, preset.reward_params or shape.n_params
    weight_bytes = n * budget.frozen_bytes(BUDGET_PRECISION[preset.dtype])
    per_token = max(
        weight_bytes / (gpu.bandwidth_gbs * 1e9), DECODE_OVERHEAD_PER_LAYER_S * shape.n_layers
    )
    tokens = preset.rollout_batch_size * (preset.max_prompt_tokens + preset.max_new_tokens)
    flops_per_s = gpu.peak_tflops * 1e12 * MFU
    score = (2 * n * 2 + 2 * value + 2 * rm) * tokens / flops_per_s  # old + ref, value, RM
    train_k = 4 if preset.lora_r is not None else 6
    recompute = 4 / 3 if preset.gradient_checkpointing else 1.0
    train = preset.ppo_epochs * train_k * (n + value) * tokens * recompute / flops_per_s
    return {"generate": preset.max_new_tokens * per_token, "score": score, "train": train}


def describe(preset: Preset) -> str:
    """A few lines: models, tricks, batches, and (GPU presets) the estimated memory and time."""
    lora = (
        "full fine-tune"
        if preset.lora_r is None
        else (
            f"LoRA r={preset.lora_r} alpha={preset.lora_alpha} on {', '.join(preset.lora_targets)}"
        )
    )
    lines = [
        f"{preset.name}: {preset.summary}",
        f"  policy        {_show(preset.policy_id)}",
        f"  value model   {_show(preset.value_model_id or preset.policy_id)} (+ value head)",
        f"  reward model  {_show(preset.reward_model_id)} (input: {preset.reward_input})",
        f"  gold model    {_show(preset.gold_model_id)} (input: {preset.gold_input})",
        f"  data          {_show(preset.dataset_id)} [{preset.train_split}/{preset.test_split}]",
        f"  revisions     {preset.policy_revision or _UNVERIFIED}",
        f"  {lora}; {preset.dtype}; gradient checkpointing "
        f"{'on' if preset.gradient_checkpointing else 'off'}; reference = "
        f"{'policy with adapters disabled' if preset.reference_from_adapters else 'a frozen copy'}",
        f"  rollout batch {preset.rollout_batch_size}, mini-batch {preset.mini_batch_size}, "
        f"{preset.ppo_epochs} PPO epochs, DPO batch {preset.dpo_batch_size}; prompt <= "
        f"{preset.max_prompt_tokens}, response <= {preset.max_new_tokens} tokens; "
        f"{preset.steps} steps",
    ]
    if preset.gpu is not None and preset.policy_shape is not None:
        mem = estimate_memory(preset)
        secs = estimate_step_seconds(preset)
        step = sum(secs.values())
        lines.append(
            f"  ESTIMATE on one {preset.gpu} ({budget.get_gpu(preset.gpu).memory_gb:g} GB): "
            f"~{mem.total_gb:.1f} GB; ~{step:.0f} s per PPO step, ~{step * preset.steps / 60:.0f} "
            f"min for {preset.steps} steps (plus download and loading; not measured)"
        )
    return "\n".join(lines)


def _show(model_id: str) -> str:
    """A model id for printing: local smoke folders as <cache>/..., never a machine path."""
    from .runtime import cache_dir

    root = str(cache_dir())
    return "<cache>" + model_id[len(root) :] if model_id.startswith(root) else model_id
