"""Real Hugging Face models for the course's trainers: loading, LoRA, chat templates, scoring.

Introduced in 08_full_scale_gpu. One code path for every preset: `smoke` (tiny models built on
disk by smoke.py, CPU) and the GPU presets (hub checkpoints) go through the same functions —

    policy, tokenizer = load_policy_and_tokenizer(preset)     # causal LM (+ LoRA via peft)
    reference         = load_reference(preset, policy)        # adapters disabled: no 2nd copy
    value_model       = load_value_model(preset, tokenizer)   # seq. classifier (+ LoRA)
    rm, rm_tokenizer  = load_reward_model_and_tokenizer(preset)             # frozen proxy
    gold, gold_tok    = load_reward_model_and_tokenizer(preset, role="gold")  # held-out

and then run the toy world's trainers unchanged (trainers/ppo.py, trainers/dpo.py). Two small
wrappers make real models look like what those trainers expect:

- `ReferenceFromAdapter`: the reference policy *is* the LoRA policy with its adapters switched
  off (`peft`'s `disable_adapter()`): one copy of the weights instead of two.
- `RetokenizedRewardModel`: a hub reward model has its own tokenizer and chat template; it
  decodes the policy's tokens to text and re-tokenizes them for the reward model.

What goes wrong gets a message that says what to do: no GPU, too little GPU memory (estimated
*before* loading, refused with a smaller preset named), no network or hub (what to download
and how to point the preset at a local folder), a tokenizer without a chat template, a reward
model whose tokenizer differs from the policy's (said once, then handled). Nothing here runs
remote code (`trust_remote_code=False` everywhere).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import presets as presets_module
from .batching import QueryBatch
from .chat import (  # the chat part, re-exported: hf's callers and tests use these names
    PLAIN_TEMPLATE,  # noqa: F401
    MissingChatTemplate,  # noqa: F401
    _name,
    _quiet_transformers,
    format_prompt,
    require_chat_template,
    reward_inputs,
)
from .models import count_parameters, freeze
from .presets import ModelShape, Preset

# ── errors that say what to do ─────────────────────────────────────────────────────────────


class NoGPU(RuntimeError):
    """A GPU preset was asked for on a machine without a CUDA GPU."""


class NotEnoughGPUMemory(RuntimeError):
    """The preset's estimated memory is larger than the GPU's."""


class ModelUnavailable(OSError):
    """A model or data set could not be loaded: no network, hub down, or not downloaded."""


# ── hardware: detect, pick a preset, refuse what does not fit ──────────────────────────────


@dataclass(frozen=True)
class Hardware:
    """What this machine offers. Tests pass a made-up one to exercise every branch."""

    device: str  # "cuda" or "cpu"
    name: str  # e.g. "Tesla T4", or "cpu"
    memory_gb: float  # total GPU memory, decimal GB (0 on CPU)
    bf16: bool  # whether the GPU computes in bfloat16 natively (Ampere and newer)


def detect_hardware() -> Hardware:
    """The first CUDA GPU (name, total memory, bf16 support), or the CPU."""
    if not torch.cuda.is_available():
        return Hardware("cpu", "cpu", 0.0, False)
    props = torch.cuda.get_device_properties(0)
    return Hardware(
        "cuda", props.name, props.total_memory / 1e9, bool(torch.cuda.is_bf16_supported())
    )


GPU_PRESETS = ("a100-80gb", "t4-16gb")  # largest first


def pick_preset(hardware: Hardware | None = None) -> tuple[Preset, str]:
    """The largest preset whose estimated memory fits this machine, and a message saying why.

    On a CPU: `smoke`, with what a GPU run would show instead.
    """
    hw = hardware or detect_hardware()
    if hw.device != "cuda":
        return presets_module.get_preset("smoke"), (
            "No CUDA GPU found: running the `smoke` preset on the CPU — the same code path "
            "(from_pretrained, LoRA, the reference as disabled adapters, re-tokenized reward "
            "model, the course's PPO and DPO trainers) with tiny models built locally. On a "
            "GPU, t4-16gb would train Qwen2.5-0.5B-Instruct against a real reward model: "
            "readable answers, a proxy reward that rises, a KL that grows, and a held-out "
            "gold model that tells you whether the rise is real."
        )
    for name in GPU_PRESETS:
        preset = presets_module.get_preset(name)
        need = presets_module.estimate_memory(preset).total_gb
        if need <= hw.memory_gb and (preset.dtype != "bfloat16" or hw.bf16):
            return preset, (
                f"{hw.name} with {hw.memory_gb:.0f} GB: preset `{name}` (estimated {need:.1f} GB)."
            )
    t4 = presets_module.estimate_memory(presets_module.get_preset("t4-16gb")).total_gb
    return presets_module.get_preset("smoke"), (
        f"{hw.name} has {hw.memory_gb:.0f} GB, less than the ~{t4:.1f} GB the smallest GPU "
        "preset (t4-16gb) needs by the estimate: running `smoke` instead."
    )


def check_hardware(preset: Preset, hardware: Hardware | None = None) -> None:
    """Refuse, before loading anything, a preset this machine cannot run; say what to use."""
    hw = hardware or detect_hardware()
    if preset.device == "cpu":
        return
    if hw.device != "cuda":
        raise NoGPU(
            f"preset {preset.name!r} needs a CUDA GPU and none was found. Run the same code "
            "on the CPU with get_preset('smoke') (tiny models), or open the notebook on a GPU "
            "(Colab: Runtime > Change runtime type > T4 GPU)."
        )
    if preset.policy_shape is not None:
        need = presets_module.estimate_memory(preset).total_gb
        if need > hw.memory_gb:
            smaller = preset.smaller or "smoke"
            raise NotEnoughGPUMemory(
                f"preset {preset.name!r} needs about {need:.1f} GB by the estimate, but "
                f"{hw.name} has {hw.memory_gb:.1f} GB. Use the smaller preset {smaller!r} "
                f"(get_preset({smaller!r})), or shrink this one: preset.replace("
                "mini_batch_size=..., max_new_tokens=..., lora_r=...)."
            )
    if preset.dtype == "bfloat16" and not hw.bf16:
        raise ValueError(
            f"preset {preset.name!r} uses dtype 'bfloat16' but {hw.name} has no native bf16 "
            "(pre-Ampere, e.g. a T4): use preset.replace(dtype='float16')."
        )


def _device(preset: Preset) -> torch.device:
    return torch.device("cuda" if preset.device == "cuda" else "cpu")


def _dtype(preset: Preset) -> torch.dtype:
    return getattr(torch, preset.dtype)


# ── loading, with a message that says what to download when it fails ──────────────────────


def _is_local(model_id: str) -> bool:
    return os.path.isabs(model_id) or model_id.startswith((".", "~")) or Path(model_id).exists()


def _offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads it at import)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def unavailable_message(what: str, model_id: str, preset: Preset, field: str, reason: str) -> str:
    """What to download and how to point the preset at it: the text of ModelUnavailable."""
    top = "datasets/" if field == "dataset_id" else "models/"
    folder = top + model_id.split("/")[-1].lower()
    kind = "--repo-type dataset " if field == "dataset_id" else ""
    return (
        f"could not load the {what} {model_id!r} for preset {preset.name!r} ({reason}).\n"
        "There is no network (or the Hugging Face hub is unavailable) and it is not in the "
        "local cache. On a machine with network, download it once:\n"
        f"    hf download {kind}{model_id} --local-dir {folder}\n"
        "(older huggingface_hub: huggingface-cli download ...). Then either point the preset "
        f"at the folder:\n    get_preset({preset.name!r}, {field}={folder!r})\n"
        "or copy the Hugging Face cache (~/.cache/huggingface) to this machine and set "
        "HF_HUB_OFFLINE=1."
    )


def _load(loader, model_id: str, *, what: str, preset: Preset, field: str, revision=None, **kw):
    """Call a `from_pretrained`; turn 'not found / no network' into ModelUnavailable."""
    if _is_local(model_id) and not Path(model_id).expanduser().exists():
        raise ModelUnavailable(
            f"{what}: local folder {model_id!r} does not exist (preset {preset.name!r}, "
            f"field {field}). Download it there, or fix the path."
        )
    kw.setdefault("trust_remote_code", False)
    if not _is_local(model_id):
        kw["revision"] = revision
        if _offline():
            kw["local_files_only"] = True
    try:
        with _quiet_transformers():
            return loader(model_id, **kw)
    except OSError as exc:  # transformers raises OSError for missing repos / no connection
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(unavailable_message(what, model_id, preset, field, reason)) from exc


def enable_checkpointing(model) -> None:
    """Gradient (activation) checkpointing, non-reentrant: works with frozen embeddings."""
    kwargs = {"use_reentrant": False}
    with _quiet_transformers():
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _dtype_kwargs(preset: Preset) -> dict:
    """`dtype=` (transformers >= 4.56) or `torch_dtype=` (older)."""
    import inspect

    from transformers import PreTrainedModel

    params = inspect.signature(PreTrainedModel.from_pretrained).parameters
    name = "torch_dtype" if "torch_dtype" in params and "dtype" not in params else "dtype"
    return {name: _dtype(preset)}


def ensure_local(preset: Preset) -> None:
    """Build the smoke world on first use (the only preset whose files are made, not fetched)."""
    if preset.local_builder == "smoke":
        from .smoke import build_smoke_world, is_built, smoke_dir

        if Path(preset.policy_id).parent == smoke_dir() and not is_built():
            build_smoke_world()
    elif preset.local_builder == "toy":
        raise ValueError(
            "the toy preset's models are GPT-2s trained by the toy pipeline "
            "(rlhf_lessons.pipeline.toy_sft_policy / toy_reward_model), not loaded "
            "with hf.py: use 'smoke' or a GPU preset here"
        )


def load_tokenizer(model_id: str, preset: Preset, *, what: str, field: str, revision=None):
    from transformers import AutoTokenizer

    return _load(
        AutoTokenizer.from_pretrained, model_id, what=f"{what} tokenizer", preset=preset,
        field=field, revision=revision,
    )  # fmt: skip


def _ensure_pad(tokenizer, what: str) -> None:
    """A pad token distinct from EOS where possible (Huang et al. 2023), else EOS, said aloud."""
    if tokenizer.pad_token_id is not None:
        return
    if tokenizer.unk_token is not None:
        tokenizer.pad_token = tokenizer.unk_token
        note = "its unk token"
    else:
        tokenizer.pad_token = tokenizer.eos_token
        note = "its EOS token (the attention mask, not the id, marks padding)"
    print(f"note: the {what} tokenizer has no pad token; padding with {note}")


# ── LoRA and the reference as disabled adapters ─────────────────────────────────────────────


def _require_peft():
    try:
        import peft
    except ImportError as exc:  # pragma: no cover - peft is in the [gpu] extra
        raise ImportError(
            "LoRA needs peft: pip install 'rlhf-lessons[gpu]' (peft, accelerate)"
        ) from exc
    return peft


def lora_config(preset: Preset, task_type: str | None = "CAUSAL_LM"):
    """peft's LoraConfig from the preset: rank, alpha, targets; dropout 0 (PPO needs ratio 1)."""
    peft = _require_peft()
    return peft.LoraConfig(
        r=preset.lora_r,
        lora_alpha=preset.lora_alpha,
        target_modules=list(preset.lora_targets),
        lora_dropout=0.0,
        bias="none",
        task_type=task_type,
    )


def add_lora(model, preset: Preset, seed: int = 0):
    """Wrap a causal LM in a peft LoRA model: the base is frozen, only adapters train.

    LoRA's B matrices start at zero, so at step 0 the policy equals its base: the reference.
    """
    peft = _require_peft()
    torch.manual_seed(seed)  # LoRA's A matrices are random: same seed, same adapters
    with _quiet_transformers():
        return peft.get_peft_model(model, lora_config(preset))


class ReferenceFromAdapter(torch.nn.Module):
    """The reference policy = the LoRA policy with its adapters disabled. No second copy.

    Introduced in 08_full_scale_gpu. PPO and DPO need the frozen SFT policy next to the one being
    trained. With LoRA the SFT weights are still there, untouched, under the adapters: running
    the policy inside `disable_adapter()` *is* the reference (TRL does the same with a PEFT
    model). The wrapper holds the policy without registering it as a submodule, so it has no
    parameters of its own (`count_parameters(reference) == 0`) and `freeze(reference)` cannot
    freeze the policy. It always runs without gradients.
    """

    def __init__(self, policy):
        super().__init__()
        if not hasattr(policy, "disable_adapter"):
            raise TypeError(
                f"policy must be a peft model with adapters (got {type(policy).__name__}); "
                "without LoRA the reference must be a frozen copy (load_reference does that)"
            )
        object.__setattr__(self, "policy", policy)  # not a submodule: no parameters here
        self.config = policy.config

    def forward(self, *args, **kwargs):
        with torch.no_grad(), self.policy.disable_adapter():
            return self.policy(*args, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device


# ── loading each model of a preset ──────────────────────────────────────────────────────────


def load_policy_and_tokenizer(
    preset: Preset, *, hardware: Hardware | None = None, seed: int = 0, device=None
):
    """The policy (causal LM, + LoRA if the preset says so) and its tokenizer.

    Checks the hardware first (estimate before loading), needs a chat template, pads on the
    left (responses start at one column), turns on gradient checkpointing if asked.
    `device`: where to put it (default: the preset's; a distributed run passes its own GPU).
    """
    from transformers import AutoModelForCausalLM

    check_hardware(preset, hardware)
    ensure_local(preset)
    tokenizer = load_tokenizer(
        preset.policy_id, preset, what="policy", field="policy_id", revision=preset.policy_revision
    )
    require_chat_template(tokenizer, preset.policy_id)  # (checked before loading the weights)
    _ensure_pad(tokenizer, "policy")
    tokenizer.padding_side = "left"
    model = _load(
        AutoModelForCausalLM.from_pretrained, preset.policy_id, what="policy", preset=preset,
        field="policy_id", revision=preset.policy_revision, **_dtype_kwargs(preset),
    )  # fmt: skip
    policy = prepare_policy(model, preset, tokenizer.pad_token_id, seed)
    return policy.to(device or _device(preset)), tokenizer


def prepare_policy(model, preset: Preset, pad_token_id: int, seed: int = 0):
    """A loaded causal LM made the preset's policy: pad id, gradient checkpointing, LoRA.

    (Split from loading so that benchmarks/gpu_presets.py can build the same policy from a
    config with random weights.)
    """
    if model.config.pad_token_id is None:
        model.config.pad_token_id = pad_token_id
    if preset.gradient_checkpointing:
        enable_checkpointing(model)
        model.config.use_cache = False  # generate() asks for the KV cache explicitly
    return add_lora(model, preset, seed) if preset.lora_r is not None else model


def load_reference(preset: Preset, policy):
    """The reference: the policy with adapters disabled (LoRA), else a frozen second copy."""
    if preset.reference_from_adapters:
        return ReferenceFromAdapter(policy)
    from transformers import AutoModelForCausalLM

    reference = _load(
        AutoModelForCausalLM.from_pretrained, preset.policy_id, what="reference", preset=preset,
        field="policy_id", revision=preset.policy_revision, **_dtype_kwargs(preset),
    )  # fmt: skip
    return freeze(reference.to(_device(preset)))


def same_tokenizer(a, b) -> bool:
    """Whether two tokenizers turn text into the same ids (same vocabulary, same chat markup)."""
    return a.get_vocab() == b.get_vocab() and getattr(a, "chat_template", None) == getattr(
        b, "chat_template", None
    )


def load_value_model(preset: Preset, policy_tokenizer, *, seed: int = 0):
    """The value model: a sequence classifier on the policy's tokenizer, value head at zero.

    From `preset.value_model_id` (None: the policy's checkpoint, read as a classifier: the LM
    head is dropped and a fresh one-output head added). The head starts at zero so every first
    value is 0 (no noise in the first advantages). With LoRA, adapters are injected in place
    (the model stays a plain Hugging Face classifier, which models.scalar_outputs reads) and
    the head is trained in float32 (it is tiny; Adam on 16-bit weights loses small updates).
    """
    from transformers import AutoModelForSequenceClassification

    model_id = preset.value_model_id or preset.policy_id
    if preset.value_model_id is not None:
        value_tokenizer = load_tokenizer(
            model_id, preset, what="value model", field="value_model_id"
        )
        if value_tokenizer.get_vocab() != policy_tokenizer.get_vocab():
            raise ValueError(
                f"value_model_id {model_id!r} has another tokenizer than the policy: the value "
                "model reads the policy's tokens (one value per response token), so it must "
                "share the policy's vocabulary"
            )
    model = _load(
        AutoModelForSequenceClassification.from_pretrained, model_id, what="value model",
        preset=preset, field="value_model_id", num_labels=1, **_dtype_kwargs(preset),
    )  # fmt: skip
    return prepare_value_model(model, preset, policy_tokenizer.pad_token_id, seed).to(
        _device(preset)
    )


def prepare_value_model(model, preset: Preset, pad_token_id: int, seed: int = 0):
    """A loaded one-output classifier made the preset's value model (see load_value_model):
    pad id, float32 head at zero, gradient checkpointing, LoRA adapters in float32."""
    model.config.pad_token_id = pad_token_id
    head = _float32_head(model)
    torch.nn.init.zeros_(head.weight)
    if head.bias is not None:
        torch.nn.init.zeros_(head.bias)
    if preset.gradient_checkpointing:
        enable_checkpointing(model)
        model.config.use_cache = False
    if preset.lora_r is not None:
        peft = _require_peft()
        torch.manual_seed(seed + 1)
        with _quiet_transformers():
            peft.inject_adapter_in_model(lora_config(preset, task_type=None), model)
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
            if "lora_" in name:
                p.data = p.data.float()  # adapters in float32, as peft does for the policy
        head.requires_grad_(True)
    return model.train()


def _float32_head(model) -> torch.nn.Linear:
    """Make the one-output head float32 (inputs cast on the way in). Returns the head."""
    from .models import scalar_head

    head = scalar_head(model)
    if head.weight.dtype != torch.float32:
        head.float()
        head.register_forward_pre_hook(lambda _m, args: tuple(a.float() for a in args))
    return head


def load_reward_model_and_tokenizer(preset: Preset, role: str = "reward"):
    """A frozen reward model and its own tokenizer: role 'reward' (the proxy) or 'gold'."""
    from transformers import AutoModelForSequenceClassification

    if role not in ("reward", "gold"):
        raise ValueError(f"role must be 'reward' or 'gold', got {role!r}")
    ensure_local(preset)
    model_id = preset.reward_model_id if role == "reward" else preset.gold_model_id
    field = "reward_model_id" if role == "reward" else "gold_model_id"
    revision = preset.reward_model_revision if role == "reward" else preset.gold_model_revision
    what = "reward model" if role == "reward" else "gold model"
    tokenizer = load_tokenizer(model_id, preset, what=what, field=field, revision=revision)
    _ensure_pad(tokenizer, what)
    model = _load(
        AutoModelForSequenceClassification.from_pretrained, model_id, what=what, preset=preset,
        field=field, revision=revision, **_dtype_kwargs(preset),
    )  # fmt: skip
    if model.config.num_labels != 1:
        raise ValueError(f"{what} {model_id!r}: expected one output (num_labels=1), got "
                         f"{model.config.num_labels}")  # fmt: skip
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return freeze(model.to(_device(preset))), tokenizer


@dataclass
class RewardScorer:
    """A reward model with its own tokenizer: conversations in, one score each out."""

    model: torch.nn.Module
    tokenizer: object
    input_format: str = "chat"  # "chat" or "pair" (see reward_inputs)
    batch_size: int = 16  # conversations per forward pass
    max_length: int | None = None  # truncate longer inputs

    @torch.no_grad()
    def __call__(self, conversations: list[list[dict]]) -> torch.Tensor:
        """Scores (N,) float32, on the model's device: its own pooling (last token / CLS)."""
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(conversations), self.batch_size):
            enc = reward_inputs(self.tokenizer, conversations[i : i + self.batch_size],
                                self.input_format, self.max_length)  # fmt: skip
            enc = {k: v.to(device) for k, v in enc.items()}
            out.append(self.model(**enc).logits[:, 0].float())
        return torch.cat(out)


def decode_response_texts(tokenizer, batch: QueryBatch) -> list[str]:
    """The responses as text, special tokens dropped (<|im_end|>, padding)."""
    return [
        tokenizer.decode(ids[mask.bool()].tolist(), skip_special_tokens=True).strip()
        for ids, mask in zip(batch.response_ids, batch.response_mask)
    ]


class PromptBook:
    """Formatted prompts and the conversations they came from, findable from token ids.

    The trainers pass only token ids around; to show a conversation to a reward model with
    another tokenizer, we look the prompt up by its ids (a prefix of the query).
    """

    def __init__(self, tokenizer, conversations: list[list[dict]], fallback: str | None = None):
        self.tokenizer = tokenizer
        self.conversations = [list(c) for c in conversations]
        self.texts = [format_prompt(tokenizer, c, fallback=fallback) for c in self.conversations]
        self._by_ids: dict[tuple[int, ...], int] = {}
        for i, text in enumerate(self.texts):
            self._by_ids[tuple(tokenizer(text)["input_ids"])] = i
        self._lengths = sorted({len(k) for k in self._by_ids}, reverse=True)

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> list[int]:
        """Prompt lengths in tokens (for filtering by max_prompt_tokens)."""
        return [len(self.tokenizer(t)["input_ids"]) for t in self.texts]

    def find(self, ids: list[int]) -> tuple[list[dict], int]:
        """The conversation whose prompt starts `ids` (real tokens), and the prompt's length."""
        for n in self._lengths:
            i = self._by_ids.get(tuple(ids[:n]))
            if i is not None:
                return self.conversations[i], n
        raise KeyError(
            "a query does not start with any known prompt: build the PromptBook from the same "
            "conversations the trainer's prompts were formatted from"
        )


class RetokenizedRewardModel(torch.nn.Module):
    """A reward model with its own tokenizer, made to look like the toy reward model.

    Introduced in 08_full_scale_gpu. The course's trainers score a query with
    `models.reward_scores(reward_model, input_ids, attention_mask)`: the backbone's hidden
    states, a linear head, read at the last real token. A hub reward model has another
    vocabulary and chat template, so the policy's token ids mean nothing to it. This wrapper's
    "backbone" decodes each query (policy tokenizer), finds its conversation (PromptBook),
    appends the response as the assistant's turn, re-tokenizes with the reward model's own
    tokenizer and template, and returns the score at every position; its "head" is the
    identity. The toy trainers run unchanged.
    """

    base_model_prefix = "scorer_backbone"

    def __init__(self, scorer: RewardScorer, policy_tokenizer, prompts: PromptBook,
                 verbose: bool = True):  # fmt: skip
        super().__init__()
        self.scorer_backbone = _RetokenizingBackbone(scorer, policy_tokenizer, prompts)
        self.score = torch.nn.Linear(1, 1, bias=False)  # the identity: scores pass through
        with torch.no_grad():
            self.score.weight.fill_(1.0)
        self.requires_grad_(False)
        self.to(next(scorer.model.parameters()).device)
        self.retokenizes = not same_tokenizer(policy_tokenizer, scorer.tokenizer)
        if verbose:
            print(self.explain())

    def explain(self) -> str:
        name = _name(self.scorer_backbone.scorer.tokenizer)
        if self.retokenizes:
            return (
                f"note: the {name} tokenizer differs from the policy's, so each response is "
                "decoded to text and re-tokenized with the reward model's own tokenizer "
                f"({self.scorer_backbone.scorer.input_format} format)"
            )
        return f"note: the {name} tokenizer equals the policy's; scoring through text is exact"

    def conversations(self, input_ids, attention_mask) -> list[list[dict]]:
        return self.scorer_backbone.conversations(input_ids, attention_mask)


class _RetokenizingBackbone(torch.nn.Module):
    def __init__(self, scorer: RewardScorer, policy_tokenizer, prompts: PromptBook):
        super().__init__()
        object.__setattr__(self, "scorer", scorer)  # frozen, not a submodule of the wrapper
        self.policy_tokenizer = policy_tokenizer
        self.prompts = prompts

    def conversations(self, input_ids, attention_mask) -> list[list[dict]]:
        out = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            real = [i for i, m in zip(ids, mask) if m]
            conversation, n = self.prompts.find(real)
            text = self.policy_tokenizer.decode(real[n:], skip_special_tokens=True).strip()
            out.append([*conversation, {"role": "assistant", "content": text}])
        return out

    def forward(self, input_ids, attention_mask, position_ids=None, use_cache=None):
        scores = self.scorer(self.conversations(input_ids, attention_mask))  # (B,)
        hidden = scores[:, None, None].expand(-1, input_ids.shape[1], 1)  # (B, L, 1)
        return _Hidden(hidden.to(input_ids.device))


@dataclass
class _Hidden:
    last_hidden_state: torch.Tensor


def retokenized_reward_model(preset: Preset, policy_tokenizer, prompts: PromptBook,
                             role: str = "reward", verbose: bool = True):  # fmt: skip
    """Load the reward (or gold) model of `preset` and wrap it for the course's trainers."""
    model, tokenizer = load_reward_model_and_tokenizer(preset, role)
    fmt = preset.reward_input if role == "reward" else preset.gold_input
    max_length = preset.max_prompt_tokens + 2 * preset.max_new_tokens
    scorer = RewardScorer(model, tokenizer, fmt, preset.mini_batch_size * 2, max_length)
    return RetokenizedRewardModel(scorer, policy_tokenizer, prompts, verbose=verbose)


# ── data ───────────────────────────────────────────────────────────────────────────────────


def load_preference_data(preset: Preset, split: str):
    """A split of the preset's preference set (ultrafeedback_binarized's columns), via datasets.

    A local folder holds one <split>.jsonl per split (the smoke data); anything else is a hub id.
    """
    import datasets

    ensure_local(preset)
    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        if _is_local(preset.dataset_id):
            folder = Path(preset.dataset_id).expanduser()
            jsonl = folder / f"{split}.jsonl"  # the smoke data: one JSONL file per split
            if jsonl.exists():
                return datasets.load_dataset("json", data_files=str(jsonl), split="train")
            if not folder.exists():
                raise ModelUnavailable(
                    f"data set: local folder {_name(preset.dataset_id)!r} does not exist "
                    f"(preset {preset.name!r}, field dataset_id)"
                )
            return datasets.load_dataset(str(folder), split=split)  # a downloaded hub data set
        offline = datasets.config.HF_HUB_OFFLINE
        datasets.config.HF_HUB_OFFLINE = offline or _offline()  # the env var, read now
        try:
            return datasets.load_dataset(
                preset.dataset_id, split=split, revision=preset.dataset_revision
            )
        except (OSError, ConnectionError, ValueError) as exc:
            if "split" in str(exc).lower() and "unknown" in str(exc).lower():
                raise
            raise ModelUnavailable(
                unavailable_message(
                    "data set",
                    preset.dataset_id,
                    preset,
                    "dataset_id",
                    str(exc).splitlines()[0][:200],
                )  # fmt: skip
            ) from exc
        finally:
            datasets.config.HF_HUB_OFFLINE = offline
    finally:
        if was_enabled:
            datasets.utils.logging.enable_progress_bar()


def prompt_conversations(dataset, n: int | None = None) -> list[list[dict]]:
    """The prompts of a preference split as one-turn conversations (the chosen's context)."""
    rows = dataset if n is None else dataset.select(range(min(n, len(dataset))))
    return [list(r["chosen"][:-1]) or [{"role": "user", "content": r["prompt"]}] for r in rows]


def dpo_pairs(dataset, tokenizer, n: int | None = None, max_prompt_tokens: int | None = None):
    """Pairs for trainers/dpo.py: the formatted prompt, and each answer + EOS, as text."""
    rows = dataset if n is None else dataset.select(range(min(n, len(dataset))))
    pairs = []
    for r in rows:
        prompt = format_prompt(tokenizer, list(r["chosen"][:-1]))
        if max_prompt_tokens and len(tokenizer(prompt)["input_ids"]) > max_prompt_tokens:
            continue
        eos = tokenizer.eos_token
        pairs.append({"prompt": prompt, "chosen": r["chosen"][-1]["content"] + eos,
                      "rejected": r["rejected"][-1]["content"] + eos})  # fmt: skip
    return pairs


# ── sizes and memory, measured ─────────────────────────────────────────────────────────────


def shape_of(model) -> ModelShape:
    """The ModelShape of a loaded decoder (for the estimates of a preset without one)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    c = base.config
    n = sum(p.numel() for n_, p in base.named_parameters() if "lora_" not in n_)
    return ModelShape(
        n_params=n,
        hidden_size=c.hidden_size,
        n_layers=c.num_hidden_layers,
        intermediate_size=c.intermediate_size,
        n_heads=c.num_attention_heads,
        n_kv_heads=getattr(c, "num_key_value_heads", None) or c.num_attention_heads,
        vocab_size=c.vocab_size,
        head_dim=getattr(c, "head_dim", None),
    )


def state_bytes(*modules, optimizer=None) -> dict:
    """Exact bytes of weights, gradients and optimizer state held by tensors (any device).

    What lesson 07's calculator estimates as copies x bytes/param, counted tensor by tensor;
    shared tensors (tied embeddings) are counted once. Activations are not included.
    """
    seen: set[int] = set()

    def size(t) -> int:
        if t is None or t.data_ptr() in seen:
            return 0
        seen.add(t.data_ptr())
        return t.numel() * t.element_size()

    params = [p for m in modules for p in _all_parameters(m)]
    out = {
        "weights": sum(size(p) for p in params),
        "grads": sum(size(p.grad) for p in params),
        "optimizer": 0,
    }
    if optimizer is not None:
        for state in optimizer.state.values():
            out["optimizer"] += sum(
                size(v) for v in state.values() if torch.is_tensor(v) and v.dim()
            )
    out["total"] = out["weights"] + out["grads"] + out["optimizer"]
    return out


def _all_parameters(module):
    if isinstance(module, ReferenceFromAdapter):
        return []  # no weights of its own: that is the point
    if isinstance(module, RetokenizedRewardModel):
        return list(module.scorer_backbone.scorer.model.parameters())
    return list(module.parameters())


def parameter_report(policy, reference, value_model, reward_model) -> dict:
    """Parameters of each model: total, trainable, and what the reference adds."""
    return {
        "policy": count_parameters(policy),
        "policy_trainable": count_parameters(policy, trainable_only=True),
        "reference": sum(p.numel() for p in _all_parameters(reference)),
        "value_model": count_parameters(value_model),
        "value_trainable": count_parameters(value_model, trainable_only=True),
        "reward_model": sum(p.numel() for p in _all_parameters(reward_model)),
    }


def peak_memory_gb(fn) -> float | None:
    """torch.cuda.max_memory_allocated while fn() runs (GB); None on a CPU."""
    if not torch.cuda.is_available():
        fn()
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 1e9


def describe_hardware(hw: Hardware | None = None) -> str:
    hw = hw or detect_hardware()
    if hw.device == "cpu":
        return "cpu (no CUDA GPU)"
    return f"{hw.name}, {hw.memory_gb:.0f} GB, bf16 {'yes' if hw.bf16 else 'no'}"


# ── a whole run: the four models, the trainers, the evaluation ─────────────────────────────


@dataclass
class FullScaleModels:
    """Everything a PPO or DPO run on a preset needs, loaded through the functions above."""

    preset: Preset
    policy: torch.nn.Module  # causal LM (+ LoRA): trained
    reference: torch.nn.Module  # ReferenceFromAdapter (LoRA) or a frozen copy
    value_model: torch.nn.Module  # sequence classifier on the policy's tokens: trained
    reward_model: RetokenizedRewardModel  # the proxy, frozen
    gold_model: RetokenizedRewardModel  # held-out reward model, frozen: evaluation only
    tokenizer: object  # the policy's
    train_prompts: list[str]  # formatted prompt texts (chat template applied)
    eval_prompts: list[str]  # held-out formatted prompt texts
    prompts: PromptBook  # both, findable by token ids (for re-tokenization)


def load_models(preset: Preset, *, n_train: int | None = None, n_eval: int = 32,
                hardware: Hardware | None = None, seed: int = 0,
                verbose: bool = True) -> FullScaleModels:  # fmt: skip
    """Load the policy, reference, value model, reward and gold models and the prompts.

    Prompts longer than preset.max_prompt_tokens (after the chat template) are skipped.
    """
    policy, tokenizer = load_policy_and_tokenizer(preset, hardware=hardware, seed=seed)
    reference = load_reference(preset, policy)
    value_model = load_value_model(preset, tokenizer, seed=seed)
    train = prompt_conversations(load_preference_data(preset, preset.train_split), n_train)
    test = prompt_conversations(load_preference_data(preset, preset.test_split), n_eval)
    book = PromptBook(tokenizer, train + test)
    fits = [n <= preset.max_prompt_tokens for n in book.lengths()]
    texts = [t for t, ok in zip(book.texts, fits) if ok]
    n_train_kept = sum(fits[: len(train)])
    if not texts[:n_train_kept] or not texts[n_train_kept:]:
        raise ValueError(
            f"no prompt fits max_prompt_tokens={preset.max_prompt_tokens} in the train or test "
            "split: raise it (preset.replace(max_prompt_tokens=...))"
        )
    reward_model = retokenized_reward_model(preset, tokenizer, book, "reward", verbose)
    gold_model = retokenized_reward_model(preset, tokenizer, book, "gold", verbose)
    return FullScaleModels(preset, policy, reference, value_model, reward_model, gold_model,
                           tokenizer, texts[:n_train_kept], texts[n_train_kept:], book)  # fmt: skip


def ppo_config_for(preset: Preset, **overrides):
    """The course's PPOConfig (trainers/ppo.py) with the preset's batch sizes and lengths."""
    from .trainers.ppo import PPOConfig

    values = dict(
        steps=preset.steps,
        batch_size=preset.rollout_batch_size,
        num_minibatches=preset.rollout_batch_size // preset.mini_batch_size,
        ppo_epochs=preset.ppo_epochs,
        lr=preset.lr,
        beta=preset.beta,
        max_new_tokens=preset.max_new_tokens,
        forward_batch_size=preset.mini_batch_size,  # score in mini-batches: bounded logits
    )
    values.update(overrides)
    return PPOConfig(**values)


def dpo_config_for(preset: Preset, **overrides):
    """The course's DPOConfig (trainers/dpo.py) with the preset's batch sizes: every forward
    pass holds at most a PPO mini-batch of sequences (the same logits peak as PPO's)."""
    from .trainers.dpo import DPOConfig

    values = dict(
        steps=preset.steps,
        batch_size=preset.dpo_batch_size,
        lr=preset.lr,
        beta=0.1,
        eval_every=0,
        reference_batch_size=preset.mini_batch_size,
        micro_batch_size=max(1, preset.mini_batch_size // 2),  # pairs: 2 sequences each
    )
    values.update(overrides)
    return DPOConfig(**values)


@torch.no_grad()
def evaluate(
    models: FullScaleModels,
    policy=None,
    *,
    prompts: list[str] | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
) -> dict:
    """Sample on held-out prompts: proxy reward, gold (held-out reward model), KL, samples.

    What the course's `evaluate_policy` does (the proxy reward with the missing-EOS penalty,
    the sequence KL to the reference, k1 summed over tokens), on the policy's device, with the
    gold *model* instead of the toy world's judge and the samples decoded as text.
    """
    from .batching import encode_prompts
    from .evaluate import MISSING_EOS_PENALTY, ended_with_eos, task_reward
    from .models import reward_scores
    from .rollout import generate, response_logprobs

    policy = policy if policy is not None else models.policy
    tokenizer = models.tokenizer
    device = next(policy.parameters()).device
    ids, mask = encode_prompts(tokenizer, prompts or models.eval_prompts)  # (B, P)
    batch = generate(
        policy, ids.to(device), mask.to(device),
        max_new_tokens=max_new_tokens or models.preset.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        generator=torch.Generator(device=device).manual_seed(seed),
    )  # fmt: skip
    eos = tokenizer.eos_token_id
    rewards = task_reward(models.reward_model, batch, eos, MISSING_EOS_PENALTY)  # (B,)
    gold = reward_scores(models.gold_model, batch.input_ids, batch.attention_mask)  # (B,)
    b = models.preset.mini_batch_size  # rows per forward pass: bounded logits, as in training
    log_ratio = torch.cat([
        response_logprobs(policy, rows) - response_logprobs(models.reference, rows)
        for rows in batch.chunks(b)
    ])  # (B, T)  # fmt: skip
    kl = (log_ratio * batch.response_mask).sum(-1)  # (B,) k1, summed over the response
    conversations = models.reward_model.conversations(batch.input_ids, batch.attention_mask)
    return {
        "reward": rewards.mean().item(),
        "gold": gold.mean().item(),
        "kl": kl.mean().item(),
        "eos_rate": ended_with_eos(batch, eos).float().mean().item(),
        "samples": decode_response_texts(tokenizer, batch),
        "prompts": [c[-2]["content"] for c in conversations],
    }


def run_ppo(models: FullScaleModels, config=None, *, eval_every: int = 0, progress: bool = False,
            doctor: bool = True, out_dir=None):  # fmt: skip
    """Train the policy with the course's own `train_ppo` (trainers/ppo.py), unchanged.

    Returns (PPOResult, evaluations): the trainer's per-step rows (no `gold_fn` is passed, so
    their `gold` column is None: real text needs the gold model), and held-out evaluations
    before training and every `eval_every` steps (gold from the gold model).
    """
    from .trainers.ppo import train_ppo

    config = config or ppo_config_for(models.preset)
    evaluations = [{"step": 0, **evaluate(models, seed=config.seed + 1)}]

    def callback(row):
        if eval_every and row["step"] % eval_every == 0:
            evaluations.append({"step": row["step"], **evaluate(models, seed=config.seed + 1)})
            models.policy.train()

    result = train_ppo(
        config, models.policy, models.reference, models.reward_model, models.tokenizer,
        models.train_prompts, value_model=models.value_model, out_dir=out_dir,
        doctor=doctor, callback=callback, progress=progress,
    )  # fmt: skip
    if not eval_every or config.steps % eval_every:
        evaluations.append({"step": config.steps, **evaluate(models, seed=config.seed + 1)})
    return result, evaluations


def run_dpo(
    preset: Preset,
    models: FullScaleModels,
    config=None,
    *,
    n_pairs: int = 256,
    progress: bool = False,
    seed: int = 0,
):
    """DPO for comparison, with the course's own `train_dpo` (trainers/dpo.py), unchanged.

    A fresh LoRA policy (the PPO run trained the other one in place), its reference from the
    same disabled adapters, the preset's preference pairs, tokenized once and put on the
    policy's device. The trainer's own held-out evaluation (the toy judge) is switched off
    (`eval_prompts=[]`); this function evaluates with the gold model instead.
    Returns (DPOResult, evaluation).
    """
    from .trainers.dpo import encode_pairs, train_dpo

    policy, tokenizer = load_policy_and_tokenizer(preset, seed=seed)
    reference = load_reference(preset, policy)
    dataset = load_preference_data(preset, preset.train_split)
    pairs = dpo_pairs(dataset, tokenizer, n_pairs, preset.max_prompt_tokens)
    data = encode_pairs(tokenizer, pairs)  # (2N, L): chosen rows, then rejected rows
    device = next(policy.parameters()).device
    data = QueryBatch(
        data.input_ids.to(device), data.attention_mask.to(device), data.prompt_len,
        data.response_mask.to(device),
    )  # fmt: skip
    config = config or dpo_config_for(preset, seed=seed, batch_size=min(preset.dpo_batch_size,
                                                                       len(pairs)))  # fmt: skip
    result = train_dpo(
        config, policy, reference, tokenizer, data, eval_prompts=[], progress=progress
    )
    dpo_models = FullScaleModels(**{**models.__dict__, "policy": policy, "reference": reference})
    return result, evaluate(dpo_models, seed=seed + 1)


# ── memory, trick by trick: the calculator's estimate beside a measurement ─────────────────

TRICKS = (  # (name, what changes from the preset), each rung adds one trick to the one above
    ("full fine-tune, fp32, reference = a copy",
     dict(lora_r=None, reference_from_adapters=False, dtype="float32",
          gradient_checkpointing=False)),
    ("+ LoRA", dict(reference_from_adapters=False, dtype="float32", gradient_checkpointing=False)),
    ("+ reference = adapters disabled", dict(dtype="float32", gradient_checkpointing=False)),
    ("+ 16-bit frozen weights", dict(gradient_checkpointing=False)),
    ("+ gradient checkpointing", dict(gradient_checkpointing=True)),
)  # fmt: skip


def trick_presets(preset: Preset) -> list[tuple[str, Preset]]:
    """The preset with its memory tricks switched on one at a time (see TRICKS).

    The 16-bit rung uses the preset's dtype, or bfloat16 for a float32 preset (smoke).
    """
    sixteen = preset.dtype if preset.dtype != "float32" else "bfloat16"
    lora_r = preset.lora_r or 16
    rungs = []
    for name, changes in TRICKS:
        changes = {"lora_r": lora_r, "reference_from_adapters": True, "dtype": sixteen, **changes}
        rungs.append((name.replace("16-bit", sixteen), preset.replace(**changes)))
    return rungs


def with_measured_shapes(preset: Preset) -> Preset:
    """The preset with the shapes the estimates need, read from its (smoke) models on disk."""
    if preset.policy_shape is not None:
        return preset
    from transformers import AutoConfig

    ensure_local(preset)

    def n_params(model_id: str) -> int:
        from transformers import AutoModelForSequenceClassification

        with _quiet_transformers(), torch.device("meta"):
            config = AutoConfig.from_pretrained(model_id)
            model = AutoModelForSequenceClassification.from_config(config)
        return sum(p.numel() for p in model.parameters())

    from transformers import AutoModelForCausalLM

    with _quiet_transformers(), torch.device("meta"):
        policy = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(preset.policy_id))
    return preset.replace(
        policy_shape=shape_of(policy),
        reward_params=n_params(preset.reward_model_id),
        gold_params=n_params(preset.gold_model_id),
    )


def _probe_step(policy, reference, value_model, preset: Preset, device) -> torch.optim.Optimizer:
    """One PPO-sized update: reference logprobs (no grad), policy logprobs and values of a
    mini-batch of full-length queries (random tokens), backward, Adam step."""
    from .trainers.ppo import response_values

    b, P, T = preset.mini_batch_size, preset.max_prompt_tokens, preset.max_new_tokens
    g = torch.Generator().manual_seed(0)
    vocab = policy.config.vocab_size
    ids = torch.randint(10, vocab - 10, (b, P + T), generator=g).to(device)  # (b, L)
    ones = torch.ones_like(ids)
    batch = QueryBatch(ids, ones, P, ones[:, P:])
    from .rollout import response_logprobs

    with torch.no_grad():
        ref = response_logprobs(reference, batch)  # (b, T)
    params = [p for m in (policy, value_model) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-6)
    logprobs = response_logprobs(policy, batch)  # (b, T)
    values = response_values(value_model, batch)  # (b, T)
    loss = (logprobs - ref).pow(2).mean() + values.pow(2).mean()
    loss.backward()
    optimizer.step()
    return optimizer


def memory_ladder(preset: Preset, *, measure: bool = True, hardware: Hardware | None = None):
    """Memory of the preset's PPO run with each trick added in turn: estimate and measurement.

    Estimate: lesson 07's calculator (+ logits, see presets.estimate_memory). Measurement,
    on a GPU: torch.cuda.max_memory_allocated over loading the four models and one PPO-sized
    update; on a CPU: the exact bytes of weights, gradients and Adam states (activations are
    not measured on a CPU). Rungs the estimate says do not fit the GPU are not run.
    Returns one dict per rung.
    """
    import gc

    hw = hardware or detect_hardware()
    preset = with_measured_shapes(preset)
    rows = []
    for name, rung in trick_presets(preset):
        est = presets_module.estimate_memory(rung)
        row = {
            "trick": name,
            "estimate_gb": est.total_gb,
            "estimate_states_gb": est.plan.per_gpu_state_gb,
            "measured_gb": None,
            "measured": "not measured",
        }
        if measure and rung.device == "cuda" and est.total_gb > hw.memory_gb:
            row["measured"] = "skipped: the estimate does not fit this GPU"
        elif measure:
            row.update(_measure_rung(rung, hw))
            if torch.cuda.is_available():  # free the rung's GPU memory before the next one
                gc.collect()  # (on a CPU the bytes are counted, not allocated: no need)
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def _measure_rung(rung: Preset, hw: Hardware) -> dict:
    on_gpu = rung.device == "cuda" and hw.device == "cuda"
    if on_gpu:  # pragma: no cover - GPU only
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    try:
        policy, tokenizer = load_policy_and_tokenizer(rung, hardware=hw)
        reference = load_reference(rung, policy)
        value_model = load_value_model(rung, tokenizer)
        reward_model, _ = load_reward_model_and_tokenizer(rung)
        optimizer = _probe_step(policy, reference, value_model, rung, _device(rung))
    except torch.cuda.OutOfMemoryError:  # pragma: no cover - GPU only
        return {"measured_gb": None, "measured": "out of memory"}
    if on_gpu:  # pragma: no cover - GPU only
        torch.cuda.synchronize()
        return {
            "measured_gb": torch.cuda.max_memory_allocated() / 1e9,
            "measured": "torch.cuda.max_memory_allocated",
        }
    states = state_bytes(policy, reference, value_model, reward_model, optimizer=optimizer)
    return {"measured_gb": states["total"] / 1e9, "measured": "weights + grads + Adam (CPU)"}


def ladder_table(rows: list[dict]) -> str:
    """The memory ladder as text; sizes under 1 GB are shown in MB (the smoke models)."""

    def size(gb):
        if gb is None:
            return "-"
        return f"{gb:.2f} GB" if gb >= 1 else f"{gb * 1e3:.3f} MB"

    lines = [f"{'trick':<38}{'estimate':>12}{'(states)':>12}{'measured':>12}  how measured"]
    for r in rows:
        lines.append(
            f"{r['trick']:<38}{size(r['estimate_gb']):>12}{size(r['estimate_states_gb']):>12}"
            f"{size(r['measured_gb']):>12}  {r['measured']}"
        )
    return "\n".join(lines)
