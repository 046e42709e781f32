"""The toy SFT policy and reward model, trained once and cached, so every lesson starts in seconds.

No hidden state between notebooks: each lesson calls these functions, which load a checkpoint
from the cache folder (runtime.cache_dir(), keyed by the config and the data) or train it when
it is missing. Deleting .cache/ only costs the seconds it takes to train again.

A lesson that trains one of these models in front of the learner `remember`s it, so the next
lesson loads it instead of training the same model twice; `remember_ppo_run` and
`recall_ppo_run` do the same for lesson 04's PPO run, which lesson 06 compares with DPO and GRPO.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel

from ..models import freeze, quiet_transformers, save_model, toy_config
from ..runtime import cache_dir
from ..toy import build_tokenizer, toy_data_dir
from .reward_model import RewardModelConfig, train_reward_model
from .sft import SFTConfig, train_sft


def _key(kind: str, config) -> str:
    """A name made from the config, the model architecture (GPT2Config) and the toy data."""
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    arch = toy_config(build_tokenizer(), **config.model_size()).to_dict()
    arch.pop("transformers_version", None)
    h.update(json.dumps(arch, sort_keys=True, default=str).encode())
    for path in sorted(toy_data_dir().glob("*.jsonl")):
        h.update(path.read_bytes())
    return f"{kind}-{h.hexdigest()[:12]}"


def _cached(path: Path, load, train):
    if (path / "config.json").exists():
        with quiet_transformers():
            return load(path)
    model = train()
    try:
        save_model(model, path)
    except OSError:  # another process saved the same checkpoint first: fine
        pass
    return model


def remember(config: SFTConfig | RewardModelConfig, model) -> Path:
    """Save a model a lesson trained itself, so that later lessons load it instead of training it.

    Lessons 01 and 02 train the SFT policy and the reward model in front of the learner; with the
    same config, `toy_sft_policy` / `toy_reward_model` would train exactly the same model again.
    The checkpoint goes where they look (keyed by the config and the data), written atomically.
    Returns its folder.
    """
    kinds = {SFTConfig: "sft", RewardModelConfig: "rm"}
    if type(config) not in kinds:
        raise TypeError(f"config must be an SFTConfig or a RewardModelConfig, got {type(config)}")
    path = cache_dir() / _key(kinds[type(config)], config)
    try:
        save_model(model, path)
    except OSError:  # another process saved the same checkpoint first: fine
        pass
    return path


def toy_sft_policy(seed: int = 0, config: SFTConfig | None = None, progress: bool = False):
    """The SFT policy of the toy world (and its tokenizer), from cache or trained now."""
    config = config or SFTConfig.toy(seed=seed)
    path = cache_dir() / _key("sft", config)
    policy = _cached(
        path, GPT2LMHeadModel.from_pretrained, lambda: train_sft(config, progress=progress).policy
    )
    policy.eval()
    return policy, build_tokenizer()


def toy_reward_model(
    seed: int = 0, config: RewardModelConfig | None = None, progress: bool = False
):
    """The frozen toy reward model, from cache or trained now."""
    config = config or RewardModelConfig.toy(seed=seed)
    path = cache_dir() / _key("rm", config)
    model = _cached(
        path,
        GPT2ForSequenceClassification.from_pretrained,
        lambda: train_reward_model(config, progress=progress).reward_model,
    )
    return freeze(model)


# ── a whole PPO run: lesson 04 trains it, lesson 06 compares it ─────────────────────────────


def _fingerprint(h, model) -> None:
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())


def ppo_run_path(config, reference, reward_model, prompts: list[str]) -> Path:
    """The cache folder of a PPO run: named by its config, the reference's and the reward
    model's weights and the training prompts (the policy starts as the reference)."""
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    _fingerprint(h, reference)
    _fingerprint(h, reward_model)
    h.update("\n".join(prompts).encode())
    return cache_dir() / f"ppo-{h.hexdigest()[:12]}"


def remember_ppo_run(result, reference, reward_model, prompts: list[str]) -> Path | None:
    """Save a finished PPO run (policy, value model, metrics rows) where `recall_ppo_run` looks.

    Written into a temporary folder and renamed into place, so a lesson running at the same
    time sees the whole run or none of it. A run that stopped early is not saved (returns None).
    """
    if result.stopped is not None or len(result.metrics) != result.config.steps:
        return None
    path = ppo_run_path(result.config, reference, reward_model, prompts)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        save_model(result.policy, tmp / "policy")
        save_model(result.value_model, tmp / "value_model")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.metrics))
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        try:
            os.rename(tmp, path)
        except OSError:  # another process saved the same run first: keep theirs
            pass
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def recall_ppo_run(config, reference, reward_model, prompts: list[str]):
    """The PPO run `remember_ppo_run` saved for exactly these inputs, or None.

    Returns a PPOResult whose policy and value model carry the saved weights and whose metrics
    are the saved rows (their `seconds` and `cpu_seconds` are the time the run took when it was
    trained); its doctor re-reads those rows (the same findings as the run's own); samples is
    empty (nothing was sampled now).
    """
    from safetensors.torch import load_file

    from ..doctor import Doctor
    from .ppo import PPOResult, value_model_from_reward_model

    path = ppo_run_path(config, reference, reward_model, prompts)
    if not (path / "metrics.jsonl").exists():
        return None
    with quiet_transformers():
        policy = GPT2LMHeadModel.from_pretrained(path / "policy").eval()
    value_model = value_model_from_reward_model(reward_model)  # the architecture; weights next
    value_model.load_state_dict(load_file(path / "value_model" / "model.safetensors"))
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    doctor = Doctor("ppo", verbose=False)
    for row in rows:
        doctor.check(row["step"], row)
    return PPOResult(policy, value_model, config, rows, doctor=doctor)
