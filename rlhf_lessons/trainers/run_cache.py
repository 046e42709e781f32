"""Lesson 04's whole PPO run, saved once and recalled by lesson 06 and the comparison.

Introduced in 04_ppo_loop. A run is keyed by its config, the reference's and the reward model's
weights and the training prompts; `rlhf_lessons.pipeline` (the course layer) re-exports these.
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
from transformers import GPT2LMHeadModel

from ..doctor import Doctor
from ..models import quiet_transformers, save_model
from ..runtime import cache_dir
from .ppo import PPOResult, value_model_from_reward_model

__all__ = ["ppo_run_path", "remember_ppo_run", "recall_ppo_run"]


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
    return PPOResult(policy=policy, value_model=value_model, config=config, metrics=rows,
                     doctor=doctor)  # fmt: skip
