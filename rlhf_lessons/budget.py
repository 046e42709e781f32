"""Planning a real run: memory per GPU, FLOPs and GPU-hours for PPO, DPO and GRPO.

Introduced in 07_planning_a_real_run. Everything here is closed-form arithmetic on a few
numbers, written so that a lesson reads like a worked calculation:

    memory  = Σ over model copies of  params × bytes per param   (then sharded by ZeRO)
    FLOPs   = Σ over passes of        k · N · tokens              (k = 2 forward, 6 training)
    GPU-h   = FLOPs / (peak FLOP/s × MFU) / 3600

Conventions and sources:
- Bytes per parameter with Adam: mixed precision keeps 2 B weights + 2 B gradients in 16 bits
  plus 12 B in fp32 (master weights, Adam m, Adam v) = 16 B (Rajbhandari et al. 2020, ZeRO,
  §3.1, "K = 12"). Hugging Face's "anatomy of model memory" counts 18 B (fp32 gradients too);
  we follow ZeRO. A frozen copy only needs its weights: 2 B in bf16.
- FLOPs: 2·N per token for a forward pass, 6·N for forward + backward (Kaplan et al. 2020,
  §2.1), attention's sequence-length term ignored (small at a few hundred tokens).
- MFU (model FLOPs utilisation, Chowdhery et al. 2022, PaLM, app. B) counts only the FLOPs
  the model needs, so recomputation under gradient checkpointing lowers the MFU you reach
  rather than adding FLOPs here.
- Memory sizes are decimal gigabytes (1 GB = 1e9 bytes), like the GPUs' marketed "80GB".

Everything is an estimate: real runs add framework buffers, fragmentation, communication
buckets and logits. The activation term in particular is a rough, documented guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

GB = 1e9  # bytes in a (decimal) gigabyte

# ── GPUs ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class GPU:
    """One accelerator: what it holds and how fast it can multiply."""

    name: str
    memory_gb: float  # on-card memory as marketed (decimal GB)
    peak_tflops: float  # dense 16-bit Tensor Core peak (bf16; fp16 where the card has no bf16)
    bandwidth_gbs: float  # memory bandwidth in GB/s: it, not FLOPs, bounds token-by-token decoding
    note: str = ""  # caveats about the numbers


GPU_SOURCE = (
    "NVIDIA product datasheets (T4, L4, A10, A100, H100, H200): dense 16-bit Tensor Core peak; "
    "the datasheets' larger 'with sparsity' figures are 2x these and do not apply to training"
)

# One table, one source (GPU_SOURCE). Peak = dense bf16 Tensor Core TFLOP/s unless noted.
GPUS: dict[str, GPU] = {
    "T4": GPU("T4", 16, 65, 320, "no bf16: the 65 TFLOP/s peak is fp16 mixed precision"),
    "L4": GPU("L4", 24, 121, 300),
    "A10G": GPU(
        "A10G",
        24,
        125,
        600,
        "AWS's variant of the A10; 125 is the A10 datasheet's number (unverified for the A10G: "
        "treat it as an upper bound)",
    ),
    "A100-40GB": GPU("A100-40GB", 40, 312, 1555),
    "A100-80GB": GPU("A100-80GB", 80, 312, 2039, "SXM; the PCIe card has 1935 GB/s"),
    "A800-80GB": GPU("A800-80GB", 80, 312, 2039, "the A100's export variant (slower NVLink)"),
    "H100-SXM": GPU("H100-SXM", 80, 989, 3350),
    "H100-PCIe": GPU("H100-PCIe", 80, 756, 2000),
    "H200": GPU("H200", 141, 989, 4800),
}


def get_gpu(name: str) -> GPU:
    """The GPU called `name` in GPUS, or a ValueError listing the known names."""
    if name not in GPUS:
        raise ValueError(f"gpu must be one of {sorted(GPUS)}, got {name!r}")
    return GPUS[name]


# ── bytes per parameter ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ParamBytes:
    """Bytes one *trained* parameter costs with the Adam optimizer."""

    weights: float  # the weights the forward pass reads
    grads: float  # one gradient per weight
    optimizer: float  # fp32 master copy (mixed precision only) + Adam's m and v

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer


TRAINED_BYTES: dict[str, ParamBytes] = {
    "fp32": ParamBytes(weights=4, grads=4, optimizer=8),  # Adam m, v in fp32
    "bf16": ParamBytes(weights=2, grads=2, optimizer=12),  # + fp32 master 4, m 4, v 4
    "fp16": ParamBytes(weights=2, grads=2, optimizer=12),  # same layout as bf16 (+ loss scaling)
}

FROZEN_BYTES: dict[str, float] = {
    "fp32": 4,
    "bf16": 2,
    "fp16": 2,
    "int8": 1,  # LLM.int8-style weights
    "int4": 0.5,  # QLoRA's NF4 (ignoring ~0.13 bits/param of quantisation constants)
}


def trained_bytes(precision: str = "bf16") -> ParamBytes:
    """Bytes per trained parameter (weights, grads, Adam) in `precision`: 16 B in all three."""
    if precision not in TRAINED_BYTES:
        raise ValueError(
            f"precision must be one of {sorted(TRAINED_BYTES)} for trained weights, got "
            f"{precision!r} (int8/int4 are only for frozen weights: see frozen_precision)"
        )
    return TRAINED_BYTES[precision]


def frozen_bytes(precision: str = "bf16") -> float:
    """Bytes per frozen parameter (weights only, no gradients, no optimizer)."""
    if precision not in FROZEN_BYTES:
        raise ValueError(
            f"frozen_precision must be one of {sorted(FROZEN_BYTES)}, got {precision!r}"
        )
    return FROZEN_BYTES[precision]


# ── argument checks (each error names the argument and what was expected) ─────────────────


def _number(value, name: str, *, low: float = 0.0, high: float = math.inf, low_ok=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < low or (value == low and not low_ok) or value > high:
        lo = ">=" if low_ok else ">"
        hi = "" if high == math.inf else f" and <= {high}"
        raise ValueError(f"{name} must be a finite number {lo} {low}{hi}, got {value}")
    return value


def _integer(value, name: str, *, low: int = 1):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return value


def _flag(value, name: str):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _mfu(value, name: str = "mfu"):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in (0, 1], got {type(value).__name__}")
    if not (0.0 < value <= 1.0):
        raise ValueError(
            f"{name} must be in (0, 1] (a fraction of the GPU's peak, e.g. 0.4), got {value}"
        )
    return value


# ── inputs ───────────────────────────────────────────────────────────────────────────────

METHODS = ("ppo", "dpo", "grpo")


@dataclass(frozen=True)
class Setup:
    """What is trained and how it is held in memory. Checked on construction."""

    method: str = "dpo"  # "ppo", "dpo" or "grpo"
    n_params: float = 13e9  # parameters of the policy (and, by default, of every other copy)
    precision: str = (
        "bf16"  # trained weights: "bf16"/"fp16" (mixed) or "fp32"; 16 B/param with Adam
    )
    frozen_precision: str = "bf16"  # frozen copies and LoRA's frozen base: fp32 bf16 fp16 int8 int4
    lora_fraction: float | None = None  # None: full fine-tune; else adapter params / base params
    reference_from_base: bool = False  # LoRA: reference = policy base, adapters off (no extra copy)
    zero_stage: int = 0  # ZeRO: 0 replicate; 1 shard Adam; 2 + grads; 3 + weights (all copies)
    offload_optimizer: bool = False  # fp32 master + Adam states live in CPU RAM (needs stage >= 1)
    gradient_checkpointing: bool = True  # store only layer inputs; recompute the rest in backward
    micro_batch_tokens: int = 4096  # tokens per GPU in one forward/backward (8 x 512): activations
    reward_model_params: float | None = None  # None: the same size as the policy
    value_model_params: float | None = None  # PPO's critic; None: the same size as the policy
    precompute_reference: bool = False  # DPO: reference logprobs computed once, before training
    rule_based_reward: bool = False  # GRPO: the reward is a program (a verifier): no reward model
    group_size: int = 8  # GRPO: responses sampled per prompt (G)
    update_epochs: int = 1  # PPO/GRPO: optimisation passes over each batch of rollouts
    hidden_size: int | None = None  # for activations; None: guessed from n_params (Llama-like)
    n_layers: int | None = None  # for activations; None: guessed from n_params (Llama-like)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        _number(self.n_params, "n_params")
        trained_bytes(self.precision)
        frozen_bytes(self.frozen_precision)
        if self.lora_fraction is not None:
            _number(self.lora_fraction, "lora_fraction", high=1.0)
            if self.lora_fraction == 1.0:
                raise ValueError(
                    "lora_fraction must be < 1 (adapter params / base params); "
                    "use lora_fraction=None for a full fine-tune"
                )
        if _flag(self.reference_from_base, "reference_from_base") and self.lora_fraction is None:
            raise ValueError(
                "reference_from_base=True needs LoRA (set lora_fraction): without adapters "
                "there is no frozen base to reuse as the reference"
            )
        if type(self.zero_stage) is not int or self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage!r}")
        if _flag(self.offload_optimizer, "offload_optimizer") and self.zero_stage == 0:
            raise ValueError(
                "offload_optimizer=True needs zero_stage >= 1 (ZeRO-Offload moves the sharded "
                "optimizer states to CPU), got zero_stage=0"
            )
        _flag(self.gradient_checkpointing, "gradient_checkpointing")
        _integer(self.micro_batch_tokens, "micro_batch_tokens")
        for name in ("reward_model_params", "value_model_params"):
            if getattr(self, name) is not None:
                _number(getattr(self, name), name)
        _flag(self.precompute_reference, "precompute_reference")
        _flag(self.rule_based_reward, "rule_based_reward")
        if _integer(self.group_size, "group_size") < 2 and self.method == "grpo":
            raise ValueError(
                f"group_size must be >= 2 for GRPO (advantages are relative to the group's "
                f"mean; one sample has advantage 0), got {self.group_size}"
            )
        _integer(self.update_epochs, "update_epochs")
        for name in ("hidden_size", "n_layers"):
            if getattr(self, name) is not None:
                _integer(getattr(self, name), name)


@dataclass(frozen=True)
class Cluster:
    """The GPUs the run gets; ZeRO shards across all of them."""

    gpu: str = "A100-80GB"  # a key of GPUS
    n_gpus: int = 4  # GPUs in total (data parallel; ZeRO shards over all of them)

    def __post_init__(self):
        get_gpu(self.gpu)
        _integer(self.n_gpus, "n_gpus")

    @property
    def spec(self) -> GPU:
        return GPUS[self.gpu]


@dataclass(frozen=True)
class Data:
    """How much the run reads."""

    n_examples: int = 100_000  # preference pairs (DPO) or prompts (PPO, GRPO)
    prompt_tokens: int = 256  # tokens per prompt
    response_tokens: int = 256  # tokens per response (DPO: chosen and rejected each)
    epochs: float = 1.0  # passes over the examples

    def __post_init__(self):
        _integer(self.n_examples, "n_examples")
        _integer(self.prompt_tokens, "prompt_tokens", low=0)
        _integer(self.response_tokens, "response_tokens")
        _number(self.epochs, "epochs")

    @property
    def sequence_tokens(self) -> int:
        """Tokens in one query = prompt + response."""
        return self.prompt_tokens + self.response_tokens


# ── model copies ─────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ModelCopy:
    """One model held in memory during training."""

    role: str  # "policy", "reference", "reward_model" or "value_model"
    n_params: float  # its parameters
    trained: bool  # True: carries gradients and Adam states (all of it, or its LoRA adapters)


def model_copies(setup: Setup) -> list[ModelCopy]:
    """The models each method keeps in memory while it trains.

    PPO: policy and value_model trained; reference and reward_model frozen (4 copies).
    DPO: policy trained; reference frozen, or absent if its logprobs were precomputed.
    GRPO: policy trained; reference frozen; reward_model frozen unless the reward is a rule.
    With LoRA and `reference_from_base`, the reference is the policy's own frozen base with
    its adapters switched off (what TRL does with a PEFT model), so it is not a separate copy.
    """
    n = setup.n_params
    rm = setup.reward_model_params or n
    copies = [ModelCopy("policy", n, True)]
    needs_reference = not setup.reference_from_base
    if setup.method == "dpo" and setup.precompute_reference:
        needs_reference = False
    if needs_reference:
        copies.append(ModelCopy("reference", n, False))
    if setup.method == "ppo":
        copies.append(ModelCopy("reward_model", rm, False))
        copies.append(ModelCopy("value_model", setup.value_model_params or n, True))
    elif setup.method == "grpo" and not setup.rule_based_reward:
        copies.append(ModelCopy("reward_model", rm, False))
    return copies


def lora_params(rank: int, hidden_size: int, n_layers: int, intermediate_size: int = 0) -> int:
    """LoRA adapter parameters: rank·(d_in + d_out) per adapted matrix.

    Adapts the four attention projections (q, k, v, o: d×d each; no grouped-query attention)
    and, when `intermediate_size` > 0, the three MLP matrices (gate, up, down: d×d_ff each).
    Hu et al. 2021 (LoRA), §4.
    """
    _integer(rank, "rank")
    _integer(hidden_size, "hidden_size")
    _integer(n_layers, "n_layers")
    _integer(intermediate_size, "intermediate_size", low=0)
    d = hidden_size
    per_layer = 4 * rank * (d + d)  # q, k, v, o
    if intermediate_size:
        per_layer += 3 * rank * (d + intermediate_size)  # gate, up, down
    return per_layer * n_layers


def guess_shape(n_params: float) -> tuple[int, int]:
    """(hidden_size, n_layers) of a Llama-like model of `n_params` parameters: a rough guess.

    Uses N ≈ 12·L·d² (attention 4d² + MLP 8d² per layer) and d = 128·L, which fits Llama 7B
    (d 4096, L 32) and 13B (d 5120, L 40). Only the activation estimate uses it.
    """
    _number(n_params, "n_params")
    n_layers = max(1, round((n_params / (12 * 128**2)) ** (1 / 3)))
    return 128 * n_layers, n_layers


# ── memory ───────────────────────────────────────────────────────────────────────────────


def activation_bytes(tokens: int, hidden_size: int, n_layers: int, checkpointing: bool = True):
    """Rough activation memory of one forward+backward over `tokens` tokens (an estimate).

    Without checkpointing a transformer layer keeps about 34·d bytes per token in 16 bits
    (Korthikanti et al. 2022, §4.1, with FlashAttention removing the s² attention-score
    term). With full gradient checkpointing only each layer's input is kept (2·d bytes per
    token per layer) plus one layer's 34·d while it is recomputed. Logits, optimizer buffers
    and fragmentation are not counted.
    """
    _integer(tokens, "tokens")
    _integer(hidden_size, "hidden_size")
    _integer(n_layers, "n_layers")
    per_layer = 34 * tokens * hidden_size
    if checkpointing:
        return 2 * tokens * hidden_size * n_layers + per_layer
    return per_layer * n_layers


def kv_cache_bytes(tokens: int, hidden_size: int, n_layers: int, bytes_per_value: float = 2):
    """KV cache for generation: keys and values (2) × layers × d × bytes, per token held.

    No grouped-query attention (which divides it by the ratio of query to KV heads).
    """
    _integer(tokens, "tokens")
    _integer(hidden_size, "hidden_size")
    _integer(n_layers, "n_layers")
    _number(bytes_per_value, "bytes_per_value")
    return 2 * n_layers * hidden_size * bytes_per_value * tokens


@dataclass(frozen=True)
class MemoryRow:
    """One model copy's memory, in GB, on one GPU (after ZeRO sharding)."""

    role: str  # which copy
    trained: bool  # trained (or its adapters are) vs frozen
    n_params: float  # its parameters
    weights_gb: float  # weights (frozen base included) on one GPU
    grads_gb: float  # gradients on one GPU
    optimizer_gb: float  # fp32 master + Adam states on one GPU (0 if offloaded)
    unsharded_gb: float  # everything this copy holds, before sharding across GPUs
    cpu_gb: float  # optimizer states moved to CPU RAM, whole cluster

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.grads_gb + self.optimizer_gb


@dataclass(frozen=True)
class MemoryPlan:
    """Memory of a whole setup on a cluster."""

    rows: list[MemoryRow]
    state_gb: float  # all copies' weights + grads + Adam, unsharded (the "468 GB")
    per_gpu_state_gb: float  # what one GPU holds of that after ZeRO and offload
    workspace_gb: float  # activations / KV cache on one GPU (rough estimate)
    gpu_memory_gb: float  # what one GPU has
    cpu_gb: float  # CPU RAM the offloaded optimizer states need, whole cluster

    @property
    def per_gpu_gb(self) -> float:
        return self.per_gpu_state_gb + self.workspace_gb

    @property
    def fits(self) -> bool:
        return self.per_gpu_gb <= self.gpu_memory_gb

    def table(self) -> str:
        """The plan as a fixed-width text table (GB per GPU)."""
        lines = [
            f"{'copy':<13}{'trained':>8}{'params':>9}{'weights':>9}{'grads':>8}{'Adam':>8}"
            f"{'= GB/GPU':>10}",
        ]
        for r in self.rows:
            lines.append(
                f"{r.role:<13}{'yes' if r.trained else 'no':>8}{r.n_params / 1e9:>8.2f}B"
                f"{r.weights_gb:>9.1f}{r.grads_gb:>8.1f}{r.optimizer_gb:>8.1f}{r.total_gb:>10.1f}"
            )
        lines.append(f"{'activations/KV cache (estimate)':<55}{self.workspace_gb:>10.1f}")
        verdict = "fits" if self.fits else "does NOT fit"
        lines.append(
            f"{'total per GPU':<55}{self.per_gpu_gb:>10.1f}  ({verdict} in {self.gpu_memory_gb:g} GB)"
        )
        if self.cpu_gb:
            lines.append(f"CPU RAM for offloaded optimizer states: {self.cpu_gb:.1f} GB")
        return "\n".join(lines)


def _copy_bytes(copy: ModelCopy, setup: Setup) -> tuple[float, float, float]:
    """(weights, grads, optimizer) bytes of one copy, unsharded."""
    if not copy.trained:
        return copy.n_params * frozen_bytes(setup.frozen_precision), 0.0, 0.0
    b = trained_bytes(setup.precision)
    if setup.lora_fraction is None:  # full fine-tune: every parameter is trained
        return copy.n_params * b.weights, copy.n_params * b.grads, copy.n_params * b.optimizer
    adapter = copy.n_params * setup.lora_fraction  # only the adapters carry grads and Adam
    base = copy.n_params * frozen_bytes(setup.frozen_precision)
    return base + adapter * b.weights, adapter * b.grads, adapter * b.optimizer


def memory_plan(setup: Setup, cluster: Cluster) -> MemoryPlan:
    """Memory per GPU for `setup` on `cluster`: copies × bytes/param, sharded by ZeRO.

    ZeRO (Rajbhandari et al. 2020) over N = cluster.n_gpus GPUs divides by N:
    stage 1 the optimizer states, stage 2 also the gradients, stage 3 also the weights
    (of every copy, frozen ones included, as DeepSpeed does when it wraps them). Stages 0-2
    keep a full copy of the weights on every GPU. Offloading moves the optimizer states to
    CPU RAM. Workspace: the larger of the training activations (copies train one after
    another) and, for methods that generate, the KV cache of one micro-batch.
    """
    n = cluster.n_gpus
    s = setup.zero_stage
    rows = []
    for copy in model_copies(setup):
        w, g, o = _copy_bytes(copy, setup)
        cpu = o if setup.offload_optimizer else 0.0
        rows.append(
            MemoryRow(
                role=copy.role,
                trained=copy.trained,
                n_params=copy.n_params,
                weights_gb=(w / n if s >= 3 else w) / GB,
                grads_gb=(g / n if s >= 2 else g) / GB,
                optimizer_gb=0.0 if setup.offload_optimizer else (o / n if s >= 1 else o) / GB,
                unsharded_gb=(w + g + o) / GB,
                cpu_gb=cpu / GB,
            )
        )
    workspace = 0.0
    for copy in model_copies(setup):
        d, layers = _shape(copy.n_params, setup)
        if copy.trained:
            act = activation_bytes(
                setup.micro_batch_tokens, d, layers, setup.gradient_checkpointing
            )
            workspace = max(workspace, act)
        if copy.role == "policy" and setup.method in ("ppo", "grpo"):
            workspace = max(workspace, kv_cache_bytes(setup.micro_batch_tokens, d, layers))
    return MemoryPlan(
        rows=rows,
        state_gb=sum(r.unsharded_gb for r in rows),
        per_gpu_state_gb=sum(r.total_gb for r in rows),
        workspace_gb=workspace / GB,
        gpu_memory_gb=cluster.spec.memory_gb,
        cpu_gb=sum(r.cpu_gb for r in rows),
    )


def _shape(n_params: float, setup: Setup) -> tuple[int, int]:
    """The policy's shape if given in `setup` (only for the policy's size), else a guess."""
    if n_params == setup.n_params and setup.hidden_size and setup.n_layers:
        return setup.hidden_size, setup.n_layers
    return guess_shape(n_params)


# ── FLOPs and GPU-hours ──────────────────────────────────────────────────────────────────


def forward_flops(n_params: float, tokens: float) -> float:
    """FLOPs of a forward pass: 2·N per token (one multiply and one add per weight)."""
    return 2 * _number(n_params, "n_params") * _number(tokens, "tokens", low_ok=True)


def train_flops(n_params: float, tokens: float, lora: bool = False) -> float:
    """FLOPs of forward + backward: 6·N per token (2 forward, 4 backward).

    The backward pass computes gradients for the activations (2·N) and for the weights (2·N).
    With LoRA the base's weights get no gradients, so ≈ 4·N per token: LoRA saves memory,
    much less compute.
    """
    per_token = 4 if _flag(lora, "lora") else 6
    return per_token * _number(n_params, "n_params") * _number(tokens, "tokens", low_ok=True)


@dataclass(frozen=True)
class FlopsRow:
    """One pass of one model over the run's tokens."""

    step: str  # what the pass does
    role: str  # which copy runs it
    kind: str  # "generate" (token by token), "forward" or "train"
    tokens: float  # tokens it reads over the whole run
    flops: float  # its FLOPs over the whole run


def flops_breakdown(setup: Setup, data: Data) -> list[FlopsRow]:
    """Every pass each method makes over the data, with its FLOPs (2·N forward, 6·N train).

    DPO, per pair: chosen and rejected (2 sequences) through the policy (train) and the
    reference (forward; once in all, if precomputed, else every epoch).
    PPO, per prompt: generate a response; forward passes for the policy's old logprobs,
    the reference's logprobs, the reward model's score and the value model's values; then
    `update_epochs` training passes of the policy and of the value model.
    GRPO, per prompt: the same for `group_size` responses, without a value model (and
    without a reward model when the reward is a rule).
    Generation is counted as 2·N per token of prompt and response (prefill + decoding).
    """
    lora = setup.lora_fraction is not None
    n = setup.n_params
    rm = setup.reward_model_params or n
    seq = data.sequence_tokens
    rows: list[FlopsRow] = []

    def add(step, role, kind, n_model, tokens):
        flops = (
            train_flops(n_model, tokens, lora)
            if kind == "train"
            else forward_flops(n_model, tokens)
        )
        rows.append(FlopsRow(step, role, kind, tokens, flops))

    if setup.method == "dpo":
        tokens = data.n_examples * 2 * seq * data.epochs  # chosen + rejected
        add("train on chosen + rejected", "policy", "train", n, tokens)
        ref_passes = 1 if setup.precompute_reference else data.epochs
        add("reference logprobs", "reference", "forward", n, data.n_examples * 2 * seq * ref_passes)
        return rows

    samples = 1 if setup.method == "ppo" else setup.group_size
    tokens = data.n_examples * samples * seq * data.epochs  # every rollout's query tokens
    add("generate responses", "policy", "generate", n, tokens)
    add("old logprobs", "policy", "forward", n, tokens)
    add("reference logprobs", "reference", "forward", n, tokens)
    if setup.method == "ppo" or not setup.rule_based_reward:
        add("reward score", "reward_model", "forward", rm, tokens)
    if setup.method == "ppo":
        vm = setup.value_model_params or n
        add("values", "value_model", "forward", vm, tokens)
        add("policy update", "policy", "train", n, tokens * setup.update_epochs)
        add("value update", "value_model", "train", vm, tokens * setup.update_epochs)
    else:
        add("policy update", "policy", "train", n, tokens * setup.update_epochs)
    return rows


def gpu_hours(flops: float, gpu: str, mfu: float) -> float:
    """GPU-hours to do `flops` at utilisation `mfu` of the GPU's peak: F / (peak·MFU) / 3600."""
    _number(flops, "flops", low_ok=True)
    peak = get_gpu(gpu).peak_tflops * 1e12
    return flops / (peak * _mfu(mfu)) / 3600


def implied_mfu(flops: float, gpu: str, n_gpus: int, hours: float) -> float:
    """The MFU a published run reached: its FLOPs / (GPUs × seconds × peak)."""
    _number(flops, "flops")
    _integer(n_gpus, "n_gpus")
    _number(hours, "hours")
    return flops / (n_gpus * hours * 3600 * get_gpu(gpu).peak_tflops * 1e12)


def decode_mfu_ceiling(gpu: str, batch: int) -> float:
    """Best MFU of token-by-token decoding with `batch` sequences per GPU (roofline bound).

    Each decoding step reads every weight once (2·N bytes in bf16) and does 2·N FLOPs per
    sequence, so it does `batch` FLOPs per byte; the GPU needs peak/bandwidth FLOPs per byte
    to be compute-bound. KV-cache reads make the true ceiling lower.
    """
    _integer(batch, "batch")
    spec = get_gpu(gpu)
    flops_per_byte_needed = spec.peak_tflops * 1e12 / (spec.bandwidth_gbs * 1e9)
    return min(1.0, batch / flops_per_byte_needed)


@dataclass(frozen=True)
class Estimate:
    """Memory, FLOPs and time of one setup on one cluster for one data set."""

    setup: Setup
    cluster: Cluster
    data: Data
    mfu: float  # utilisation of forward and training passes
    generation_mfu: float  # utilisation while generating token by token
    memory: MemoryPlan
    flops: list[FlopsRow] = field(repr=False)

    @property
    def total_flops(self) -> float:
        return sum(r.flops for r in self.flops)

    @property
    def gpu_hours(self) -> float:
        gen = sum(r.flops for r in self.flops if r.kind == "generate")
        other = self.total_flops - gen
        gpu = self.cluster.gpu
        return gpu_hours(other, gpu, self.mfu) + gpu_hours(gen, gpu, self.generation_mfu)

    @property
    def wall_hours(self) -> float:
        """Hours on the whole cluster, assuming perfect scaling (the MFU absorbs the rest)."""
        return self.gpu_hours / self.cluster.n_gpus

    def flops_table(self) -> str:
        """The FLOPs breakdown as a fixed-width text table."""
        lines = [f"{'pass':<28}{'model':<14}{'kind':<10}{'tokens':>10}{'FLOPs':>10}"]
        for r in self.flops:
            lines.append(f"{r.step:<28}{r.role:<14}{r.kind:<10}{r.tokens:>10.2e}{r.flops:>10.2e}")
        lines.append(f"{'total':<62}{self.total_flops:>10.2e}")
        return "\n".join(lines)

    def summary(self) -> str:
        """Memory table, FLOPs and time in a few lines."""
        s, c = self.setup, self.cluster
        lora = "full fine-tune" if s.lora_fraction is None else f"LoRA {s.lora_fraction:.2%}"
        head = (
            f"{s.method.upper()}, {s.n_params / 1e9:g}B, {lora}, ZeRO-{s.zero_stage}"
            f"{' + offload' if s.offload_optimizer else ''}, on {c.n_gpus}x {c.gpu}"
        )
        return "\n".join(
            [
                head,
                self.memory.table(),
                f"FLOPs {self.total_flops:.2e}; {self.gpu_hours:,.0f} GPU-hours at MFU "
                f"{self.mfu:.0%} (generation {self.generation_mfu:.0%}); "
                f"{self.wall_hours:,.1f} h = {self.wall_hours / 24:.1f} days on {c.n_gpus} GPUs",
            ]
        )


def estimate(
    setup: Setup,
    cluster: Cluster,
    data: Data,
    mfu: float = 0.4,
    generation_mfu: float | None = None,
) -> Estimate:
    """Everything for one plan: memory per GPU, FLOPs per pass, GPU-hours and wall-clock.

    `mfu` applies to forward and training passes; `generation_mfu` (default: `mfu`) to
    token-by-token generation, which is bound by memory bandwidth and reaches far less
    (see decode_mfu_ceiling).
    """
    for value, name in ((setup, "setup"), (cluster, "cluster"), (data, "data")):
        expected = {"setup": Setup, "cluster": Cluster, "data": Data}[name]
        if not isinstance(value, expected):
            raise TypeError(f"{name} must be a {expected.__name__}, got {type(value).__name__}")
    _mfu(mfu, "mfu")
    generation_mfu = mfu if generation_mfu is None else _mfu(generation_mfu, "generation_mfu")
    return Estimate(
        setup=setup,
        cluster=cluster,
        data=data,
        mfu=mfu,
        generation_mfu=generation_mfu,
        memory=memory_plan(setup, cluster),
        flops=flops_breakdown(setup, data),
    )


def compare(
    options: dict[str, Setup],
    cluster: Cluster,
    data: Data,
    mfu: float = 0.4,
    generation_mfu: float | None = None,
) -> str:
    """One line per labelled setup: memory (all copies, per GPU), fit, FLOPs, GPU-hours, days.

    The same MFU is used for every line: in a real run ZeRO-3's communication and CPU
    offload lower it, so the options that save the most memory are slower than shown.
    """
    if not options:
        raise ValueError("options must name at least one Setup, e.g. {'DPO': Setup('dpo')}")
    width = max(12, *(len(label) for label in options)) + 2
    lines = [
        f"{'option':<{width}}{'all GB':>8}{'GB/GPU':>8}  {'fits?':<6}{'FLOPs':>10}"
        f"{'GPU-h':>8}{'days':>7}"
    ]
    for label, setup in options.items():
        e = estimate(setup, cluster, data, mfu, generation_mfu)
        m = e.memory
        lines.append(
            f"{label:<{width}}{m.state_gb:>8.1f}{m.per_gpu_gb:>8.1f}  {'yes' if m.fits else 'no':<6}"
            f"{e.total_flops:>10.2e}{e.gpu_hours:>8.1f}{e.wall_hours / 24:>7.2f}"
        )
    lines.append(
        f"({cluster.n_gpus}x {cluster.gpu}, {cluster.spec.memory_gb:g} GB each; "
        f"{data.n_examples:,} examples of {data.prompt_tokens}+{data.response_tokens} tokens, "
        f"{data.epochs:g} epoch(s); MFU {mfu:.0%}"
        + (f", generation {generation_mfu:.0%})" if generation_mfu is not None else ")")
    )
    return "\n".join(lines)
