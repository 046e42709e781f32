"""The toy SFT policy and reward model, trained once and cached, so every lesson starts in seconds.

Introduced in 01_rlhf_pipeline. No hidden state between notebooks: each lesson calls these
functions, which load a checkpoint from the cache folder (runtime.cache_dir(), keyed by the
config and the data) or train it when it is missing. Deleting .cache/ only costs the seconds it
takes to train again.

A lesson that trains one of these models in front of the learner `remember`s it, so the next
lesson loads it instead of training the same model twice. In the algorithms layer (the PPO and
DPO command lines start from these models); `rlhf_lessons.pipeline` (the course layer) adds
lesson 04's cached PPO run and re-exports these.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

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
