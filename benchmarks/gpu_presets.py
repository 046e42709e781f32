"""Seconds per PPO and DPO step, and peak GPU memory, of each GPU preset: measured, offline.

    python benchmarks/gpu_presets.py                        # t4-16gb and a100-80gb, on a GPU
    python benchmarks/gpu_presets.py --presets smoke        # the same code path on a CPU (CI)
    python benchmarks/gpu_presets.py --write-readme         # also the table into README.md

What 08_full_scale_gpu runs (hf.load_models + the course's own trainers), with two changes so
that it needs no network and no downloaded weights:

- every model is built from its architecture (ARCHITECTURES: the sizes from each model's
  config.json, checked against the presets' parameter counts by tests/test_gpu_path.py) with
  random weights. Speed and memory do not depend on the weights' values; the smoke preset's
  models are local, so their own configs are read;
- prompts are random token ids of the preset's full prompt length, and responses run to
  max_new_tokens (random weights almost never sample EOS): the longest queries the preset
  allows, the case the memory estimate is made for. The reward model reads the policy's ids
  (mod its vocabulary) instead of re-tokenized text: the same lengths, no tokenizer needed.

Per preset: build the four models (+ the gold model, evaluation-only: memory only), then
--warmup + --ppo-steps PPO steps (trainers/ppo.py's `ppo_step`: rollout, score, rewards, GAE,
update) and --dpo-steps DPO steps (trainers/dpo.py's `train_dpo`, micro-batched as
hf.dpo_config_for sets it) with the value, reward and gold models and PPO's optimizer freed
first. Peak memory is torch.cuda.max_memory_allocated over each phase (reset between them),
beside presets.estimate_memory's estimate of the PPO run. Prints one JSON line per
preset and a table; writes benchmarks/results/gpu_presets.json (--out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rlhf_lessons import hf, presets  # noqa: E402
from rlhf_lessons.batching import QueryBatch  # noqa: E402
from rlhf_lessons.models import backbone, freeze, scalar_head  # noqa: E402
from rlhf_lessons.runtime import set_seed, set_threads  # noqa: E402

# model id -> (transformers config class, the size fields of the model's config.json)
ARCHITECTURES = {
    "Qwen/Qwen2.5-0.5B-Instruct": ("Qwen2Config", dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
        max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6)),
    "Qwen/Qwen2.5-1.5B-Instruct": ("Qwen2Config", dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
        max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6)),
    "Qwen/Qwen2.5-7B-Instruct": ("Qwen2Config", dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False,
        max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6)),
    "Skywork/Skywork-Reward-V2-Qwen3-0.6B": ("Qwen3Config", dict(
        hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
        num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True,
        max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6)),
    "Skywork/Skywork-Reward-V2-Llama-3.1-8B": ("LlamaConfig", dict(  # (llama3 rope scaling
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False,  # only matters
        max_position_embeddings=131072, rope_theta=5e5, rms_norm_eps=1e-5)),  # past 8k tokens)
    "OpenAssistant/reward-model-deberta-v3-large-v2": ("DebertaV2Config", dict(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        vocab_size=128100, max_position_embeddings=512, relative_attention=True,
        position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
        pos_att_type=["p2c", "c2p"], layer_norm_eps=1e-7, max_relative_positions=-1,
        position_biased_input=False, type_vocab_size=0)),
}  # fmt: skip


def model_config(model_id: str, num_labels: int | None = None):
    """The architecture of `model_id`: its own config if local (smoke), else ARCHITECTURES."""
    import transformers

    if hf._is_local(model_id):
        config = transformers.AutoConfig.from_pretrained(model_id)
    elif model_id in ARCHITECTURES:
        name, fields = ARCHITECTURES[model_id]
        config = getattr(transformers, name)(**fields)
    else:
        raise ValueError(f"no architecture for {model_id!r}: add its config.json sizes to "
                         "ARCHITECTURES (benchmarks/gpu_presets.py)")  # fmt: skip
    if num_labels is not None:
        config.num_labels = num_labels
    return config


def build(model_id: str, preset, *, classifier: bool, device):
    """A model of `model_id`'s architecture with random weights, in the preset's dtype."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForSequenceClassification if classifier else AutoModelForCausalLM
    config = model_config(model_id, num_labels=1 if classifier else None)
    with torch.device(device), hf._quiet_transformers():  # initialised on the device: fast
        return auto.from_config(config, dtype=hf._dtype(preset))


class OwnVocabulary(torch.nn.Module):
    """A reward model reading the policy's token ids modulo its own vocabulary (the lengths of
    the real, re-tokenized input; no tokenizer). `models.reward_scores` reads it as usual."""

    base_model_prefix = "inner"

    def __init__(self, model):
        super().__init__()
        self.inner = _ModuloIds(backbone(model), model.config.vocab_size)
        self.score = scalar_head(model)
        self.config = model.config


class _ModuloIds(torch.nn.Module):
    def __init__(self, body, vocab_size: int):
        super().__init__()
        self.body, self.vocab_size = body, vocab_size

    def forward(self, input_ids, **kwargs):
        return self.body(input_ids=input_ids % self.vocab_size, **kwargs)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_gb(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None


def _reset_peak(device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def bench_preset(name: str, *, ppo_steps: int, dpo_steps: int, warmup: int, seed: int) -> dict:
    from rlhf_lessons.trainers import ppo
    from rlhf_lessons.trainers.dpo import train_dpo

    preset = presets.get_preset(name)
    hf.ensure_local(preset)
    device = hf._device(preset)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"{name} needs a CUDA GPU (try --presets smoke on a CPU)")
    set_seed(seed)
    t0 = time.perf_counter()
    # the four models (+ gold), as hf.load_models makes them, from their architectures
    policy_base = build(preset.policy_id, preset, classifier=False, device=device)
    vocab = policy_base.config.vocab_size
    eos = pad = vocab - 1
    tokenizer = SimpleNamespace(eos_token_id=eos, pad_token_id=pad,
                                convert_ids_to_tokens=lambda ids: [str(i) for i in ids])  # fmt: skip
    policy = hf.prepare_policy(policy_base, preset, pad, seed).to(device)
    reference = hf.load_reference(preset, policy) if preset.reference_from_adapters else freeze(
        build(preset.policy_id, preset, classifier=False, device=device))  # fmt: skip
    value_id = preset.value_model_id or preset.policy_id
    value_model = hf.prepare_value_model(
        build(value_id, preset, classifier=True, device=device), preset, pad, seed
    ).to(device)
    reward_model = OwnVocabulary(freeze(build(preset.reward_model_id, preset, classifier=True,
                                              device=device)))  # fmt: skip
    gold_model = freeze(build(preset.gold_model_id, preset, classifier=True, device=device))
    _sync(device)
    row = {
        "preset": name,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "dtype": preset.dtype,
        "build_seconds": time.perf_counter() - t0,
        "loaded_gb": torch.cuda.memory_allocated() / 1e9 if device.type == "cuda" else None,
        "estimate_gb": presets.estimate_memory(preset).total_gb if preset.policy_shape else None,
        "gold_params": sum(p.numel() for p in gold_model.parameters()),
    }

    # PPO: the notebook's config (hf.ppo_config_for), one full-length batch per step
    config = hf.ppo_config_for(preset)
    g = torch.Generator(device=device).manual_seed(seed)
    B, P = config.batch_size, preset.max_prompt_tokens
    prompt_ids = torch.randint(0, vocab - 1, (B, P), generator=g, device=device)  # (B, P)
    prompt_mask = torch.ones_like(prompt_ids)
    params = [p for m in (policy, value_model) for p in m.parameters() if p.requires_grad]
    optimizer = ppo._adam(params, config)
    _reset_peak(device)
    steps = []
    for step in range(1, warmup + ppo_steps + 1):
        _sync(device)
        t = time.perf_counter()
        metrics, _ = ppo.ppo_step(policy, reference, reward_model, value_model, optimizer,
                                  tokenizer, prompt_ids, prompt_mask, config, config.beta, g,
                                  step)  # fmt: skip
        _sync(device)
        metrics["wall"] = time.perf_counter() - t
        if step > warmup:
            steps.append(metrics)
    row.update(
        ppo_batch=B, ppo_epochs=config.ppo_epochs, ppo_minibatch=config.minibatch_size,
        prompt_tokens=P, response_tokens=sum(m["response_length"] for m in steps) / len(steps),
        ppo_seconds=sum(m["wall"] for m in steps) / len(steps),
        ppo_phase_seconds={k: sum(m[f"{k}_seconds"] for m in steps) / len(steps)
                           for k in ("rollout", "score", "update")},
        ppo_peak_gb=_peak_gb(device),
    )  # fmt: skip

    # DPO needs only the policy and its reference: free what PPO alone uses
    del optimizer, value_model, reward_model, gold_model, params
    if device.type == "cuda":
        torch.cuda.empty_cache()
    row["before_dpo_gb"] = torch.cuda.memory_allocated() / 1e9 if device.type == "cuda" else None

    # DPO: the notebook's config (hf.dpo_config_for), full-length chosen and rejected
    n_pairs = preset.dpo_batch_size * (warmup + dpo_steps)
    T = preset.max_new_tokens
    ids = torch.randint(0, vocab - 1, (2 * n_pairs, P + T), generator=g, device=device)
    ones = torch.ones_like(ids)
    data = QueryBatch(ids, ones, P, ones[:, P:])  # (2N, P + T): chosen rows, then rejected
    dpo_config = hf.dpo_config_for(preset, steps=warmup + dpo_steps, seed=seed)
    _reset_peak(device)
    t = time.perf_counter()
    result = train_dpo(dpo_config, policy, reference, tokenizer, data, eval_prompts=[],
                       doctor=None, progress=False)  # fmt: skip
    _sync(device)
    timed = result.metrics[warmup:]  # rows from step 1
    row.update(
        dpo_batch=dpo_config.batch_size, dpo_micro_batch=dpo_config.micro_batch_size,
        dpo_seconds=sum(m["seconds"] for m in timed) / len(timed),
        dpo_reference_seconds=result.reference_seconds,
        dpo_peak_gb=_peak_gb(device), dpo_total_seconds=time.perf_counter() - t,
    )  # fmt: skip
    return row


def table(rows: list[dict]) -> str:
    """The README's table: one line per preset."""

    def gb(x):
        return "-" if x is None else f"{x:.1f} GB"

    lines = [
        "| preset | device | PPO s/step (rollout / score / update) | PPO peak | estimate | "
        "DPO s/step | DPO peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ph = r["ppo_phase_seconds"]
        lines.append(
            f"| `{r['preset']}` | {r['device']} | {r['ppo_seconds']:.2f} ({ph['rollout']:.2f} / "
            f"{ph['score']:.2f} / {ph['update']:.2f}) | {gb(r['ppo_peak_gb'])} | "
            f"{gb(r['estimate_gb'])} | {r['dpo_seconds']:.2f} | {gb(r['dpo_peak_gb'])} |"
        )
    return "\n".join(lines)


START, END = "<!-- gpu-presets:start -->", "<!-- gpu-presets:end -->"


def write_readme(text: str, readme: Path = HERE.parent / "README.md") -> None:
    body = readme.read_text()
    if START not in body or END not in body:
        raise SystemExit(f"{readme}: no {START} ... {END} block to replace")
    head, rest = body.split(START, 1)
    readme.write_text(head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="t4-16gb,a100-80gb", help="comma-separated names")
    p.add_argument("--ppo-steps", type=int, default=2, help="timed PPO steps per preset")
    p.add_argument("--dpo-steps", type=int, default=3, help="timed DPO steps per preset")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (CUDA start-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "results" / "gpu_presets.json"))
    p.add_argument("--write-readme", action="store_true", help="put the table into README.md")
    args = p.parse_args(argv)
    if min(args.ppo_steps, args.dpo_steps) < 1 or args.warmup < 0:
        p.error("--ppo-steps and --dpo-steps must be >= 1, --warmup >= 0")
    set_threads()
    rows = []
    for name in args.presets.split(","):
        row = bench_preset(name.strip(), ppo_steps=args.ppo_steps, dpo_steps=args.dpo_steps,
                           warmup=args.warmup, seed=args.seed)  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    text = table(rows)
    print(text)
    if args.write_readme:
        write_readme(text + f"\n\nMeasured {meta['date']} with `benchmarks/gpu_presets.py` "
                     f"(torch {meta['torch']}): random weights, full-length queries.")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
