"""The trainer contract (rlhf_lessons/trainers/contract.py): configs validate every field from its
type hint and bound, name the bad field, and generate the command line's flags and help."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Literal

import pytest

import rlhf_lessons.__main__ as cli
from rlhf_lessons.trainers.contract import (
    ConfigError,
    TrainerConfig,
    field_docs,
    prepare_policy,
    resolve_doctor,
)


@dataclass
class ExampleConfig(TrainerConfig):
    seed: int = 0  # seeds everything
    steps: int = 10  # training steps
    lr: float = 1e-3  # learning rate
    loss_type: Literal["grpo", "dr_grpo"] = "grpo"  # which loss
    scale_rewards: bool = True  # divide by the group's std
    epsilon: float = 0.2  # lower clip
    epsilon_high: float | None = None  # upper clip
    # (None = epsilon)

    RULES = {"steps": ">=1", "lr": ">0", "epsilon": ">0"}
    TOY = {"steps": 5}

    def check(self):
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise self.fail("epsilon_high", f">= epsilon ({self.epsilon})")


@pytest.mark.parametrize(
    "bad, field_name",
    [
        ({"steps": -5}, "steps"),
        ({"steps": True}, "steps"),
        ({"steps": 2.0}, "steps"),
        ({"lr": 0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"loss_type": "ppo"}, "loss_type"),
        ({"scale_rewards": 1}, "scale_rewards"),
        ({"epsilon_high": 0.1}, "epsilon_high"),
    ],
)
def test_a_bad_value_names_its_field(bad, field_name):
    with pytest.raises(ConfigError) as info:
        ExampleConfig(**bad)
    assert info.value.field == field_name
    assert str(info.value).startswith(f"ExampleConfig.{field_name} must be")


def test_toy_preset_replace_and_docs():
    config = ExampleConfig.toy(lr=0.5)
    assert (config.steps, config.lr) == (5, 0.5)
    assert config.replace(steps=3).steps == 3
    with pytest.raises(ConfigError):
        config.replace(steps=0)
    docs = field_docs(ExampleConfig)
    assert docs["lr"] == "learning rate" and docs["epsilon_high"] == "upper clip (None = epsilon)"


def test_doctor_argument_means_the_same_everywhere():
    from rlhf_lessons.doctor import Doctor

    assert resolve_doctor(False, "x", True) is None
    assert isinstance(resolve_doctor(None, "x", False), Doctor)
    mine = Doctor("x", verbose=False)
    assert resolve_doctor(mine, "x", True) is mine


@pytest.fixture
def example_command(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # --out o is made here
    runs = []
    module = types.ModuleType("example_trainer")
    module.CONFIG = ExampleConfig
    module.run_cli = lambda config, *, out_dir, resume: runs.append((config, out_dir, resume))
    monkeypatch.setitem(sys.modules, "example_trainer", module)
    monkeypatch.setitem(cli.COMMANDS, "example", ("example_trainer", "an example trainer"))
    return runs


def test_flags_come_from_the_config(example_command, capsys):
    argv = [
        "example",
        "--out",
        "o",
        "--steps",
        "7",
        "--loss-type",
        "dr_grpo",
        "--epsilon-high",
        "0.3",
    ]
    assert cli.main(argv) == 0
    config, out_dir, resume = example_command[0]
    assert config == ExampleConfig.toy(steps=7, loss_type="dr_grpo", epsilon_high=0.3)
    assert (out_dir, resume) == ("o", False)
    with pytest.raises(SystemExit):
        cli.main(["example", "--help"])
    text = capsys.readouterr().out
    assert "--epsilon-high" in text and "upper clip (None = epsilon) (toy: None)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "-5"], "error: --steps must be an int >= 1, got -5"),
        (["--epsilon-high", "0.1"], "error: --epsilon-high must be >= epsilon (0.2), got 0.1"),
        (["--preset", "huge"], "error: --preset 'huge' is unknown to example; expected one of toy"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(example_command, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(["example", "--out", "o", *argv])
    assert str(info.value) == message


# ── every trainer on the contract ─────────────────────
TRAINERS = {
    "sft": "train_sft",
    "reward_model": "train_reward_model",
    "ppo": "train_ppo",
    "dpo": "train_dpo",
    "grpo": "train_grpo",
}
CONTRACT_KEYWORDS = ("gold_fn", "out_dir", "resume", "doctor", "callback", "progress")


@pytest.mark.parametrize("name", list(TRAINERS))
def test_every_trainer_follows_the_contract(name):
    import dataclasses
    import importlib
    import inspect

    from rlhf_lessons.trainers.contract import TrainResult

    module = importlib.import_module(f"rlhf_lessons.trainers.{name}")
    config_cls = module.CONFIG
    assert issubclass(config_cls, TrainerConfig) and callable(module.run_cli)
    assert list(inspect.signature(module.run_cli).parameters) == ["config", "out_dir", "resume"]
    docs = field_docs(config_cls)
    undocumented = [f.name for f in dataclasses.fields(config_cls) if not docs.get(f.name)]
    assert not undocumented, f"{config_cls.__name__}: fields without a comment: {undocumented}"
    assert "eval_prompts" not in docs, "eval_prompts is a list argument, not a count field"
    config_cls.toy()  # the toy preset validates
    params = inspect.signature(getattr(module, TRAINERS[name])).parameters
    for keyword in CONTRACT_KEYWORDS:
        assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (name, keyword)
        assert params[keyword].default is (True if keyword == "progress" else None) or (
            keyword == "resume" and params[keyword].default is False
        ), (name, keyword)
    result_cls = inspect.signature(getattr(module, TRAINERS[name])).return_annotation
    result_cls = getattr(module, result_cls) if isinstance(result_cls, str) else result_cls
    assert issubclass(result_cls, TrainResult)


def test_the_policy_argument_means_the_same_everywhere():
    """A frozen copy of the reference is unfrozen (PPO used to train it silently into nothing:
    ratio 1, no error); LoRA-style partly trainable models are left alone; the reference itself
    is refused."""
    import torch

    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    prepare_policy(frozen, torch.nn.Linear(2, 2))
    assert all(p.requires_grad for p in frozen.parameters())
    lora = torch.nn.Linear(2, 2)
    lora.bias.requires_grad_(False)
    prepare_policy(lora)
    assert not lora.bias.requires_grad and lora.weight.requires_grad
    with pytest.raises(ValueError, match="same object"):
        prepare_policy(frozen, frozen)
    with pytest.raises(ValueError, match="torch model"):
        prepare_policy("gpt2")
