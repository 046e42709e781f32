"""The trainer contract: what every algorithm in `rlhf_lessons.trainers` follows.

Introduced in 01_rlhf_pipeline (SFT is the first trainer); README "Adding an algorithm" lists
every place a new one touches. A trainer module `trainers/<name>.py` has:

1. **A config**: `@dataclass class <Name>Config(TrainerConfig)` with one comment per field
   (the comment is the field's `--help` on the command line), a `TOY` dict of the toy preset's
   values where they differ from the defaults, bounds in `RULES`, and relations between fields
   in `check()`. `TrainerConfig.__post_init__` validates every field from its type hint and
   bound, so a bad value fails on creation with a `ConfigError` naming the field.
2. **A train function** with this signature and these meanings (positional first five):

       train_<name>(config, policy, reference, reward_model, tokenizer, prompts=None, *,
                    reward_fn=None, gold_fn=None, eval_prompts=None, out_dir=None,
                    resume=False, doctor=None, callback=None, progress=True) -> <Name>Result

   - config: the Config (None = `<Name>Config.toy()`).
   - policy: trained in place (pass a copy to keep the SFT policy); reference and
     reward_model are frozen (reward_model may be None where a `reward_fn` scores instead).
   - prompts: training prompt texts (None = the toy world's prompts_train).
   - reward_fn: callable(list of response texts) -> list of floats, instead of the reward model
     (a verifiable, rule-based reward). Not every trainer takes one (DPO has no rewards).
   - gold_fn: callable(list of response texts) -> list of floats: the true score, logged as the
     "gold" metric. The trainer never imports a judge: None = no gold (the key stays, as None).
   - eval_prompts: a list of held-out prompt texts evaluated at step 0, every
     `config.eval_every` steps and at the end (None = no held-out evaluation).
   - out_dir: run folder for metrics.jsonl and checkpoint/ (None = nothing written).
   - resume: continue from out_dir/checkpoint; the metrics equal an uninterrupted run's.
   - doctor: a `Doctor`; None = a new one (printing when progress is on); False = no checks.
   - callback: called as callback(row) after every step (e.g. a live plot).
   - progress: show the progress bar (and the doctor's warnings).
3. **The NaN policy**: a non-finite loss stops the run. Nothing of that step is written, the
   last good checkpoint is kept, the reason is printed and returned in `result.stopped`; no
   exception reaches the caller (`stop_on_non_finite`).
4. **A result**: `@dataclass class <Name>Result(TrainResult)`; `metrics` holds one row per
   step with at least `METRICS_KEYS` (None where a key means nothing for the algorithm).
5. **A command line** (generated from the config by `rlhf_lessons.__main__`): the module
   defines `CONFIG = <Name>Config` and `run_cli(config, *, out_dir, resume)`, which builds the
   toy world's models, trains, and prints one summary line.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import math
import tokenize
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..doctor import Doctor

__all__ = [
    "ConfigError",
    "TrainerConfig",
    "TrainResult",
    "METRICS_KEYS",
    "field_docs",
    "validate",
    "prepare_policy",
    "resolve_doctor",
    "stop_on_non_finite",
]

METRICS_KEYS = ("step", "reward", "gold", "kl", "seconds")  # every trainer's metrics rows


class ConfigError(ValueError):
    """A config field holds a bad value. `.field` names it (the CLI shows it as --the-field)."""

    def __init__(self, config_name: str, field_name: str, expected: str, value: Any):
        self.config_name, self.field, self.expected, self.value = (
            config_name,
            field_name,
            expected,
            value,
        )
        super().__init__(f"{config_name}.{field_name} must be {expected}, got {value!r}")


# Bounds a field may carry in RULES: name -> (test, words for the error message).
_BOUNDS = {
    ">0": (lambda v: v > 0, "> 0"),
    ">=0": (lambda v: v >= 0, ">= 0"),
    ">=1": (lambda v: v >= 1, ">= 1"),
    ">=2": (lambda v: v >= 2, ">= 2"),
    "[0,1]": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "(0,1]": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "[0,1)": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


def _check_type(name: str, hint, value) -> tuple[bool, str]:
    """Is `value` of type `hint`? Returns (ok, what was expected in words)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        results = [_check_type(name, h, value) for h in options]
        return any(ok for ok, _ in results), " or ".join(words for _, words in results)
    if hint is type(None):
        return value is None, "None"
    if origin is Literal:
        choices = typing.get_args(hint)
        return value in choices, "one of " + ", ".join(repr(c) for c in choices)
    if hint is bool:
        return isinstance(value, bool), "True or False"
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), "an int"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and math.isfinite(value), "a finite number"
    if hint is str:
        return isinstance(value, str), "a string"
    return True, str(hint)  # other types (tuples, dicts): the trainer's check() looks at them


def validate(config) -> None:
    """Check every field of a dataclass config against its type hint and its RULES bound.

    Raises ConfigError naming the first bad field, then runs the config's own `check()`.
    """
    cls = type(config)
    hints = typing.get_type_hints(cls)
    rules = getattr(cls, "RULES", {})
    unknown = set(rules) - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise TypeError(f"{cls.__name__}.RULES names fields it does not have: {sorted(unknown)}")
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        ok, expected = _check_type(f.name, hints[f.name], value)
        if not ok:
            raise ConfigError(cls.__name__, f.name, expected, value)
        if f.name in rules and value is not None:
            test, words = _BOUNDS[rules[f.name]]
            if not test(value):
                raise ConfigError(cls.__name__, f.name, f"{expected} {words}", value)
    config.check()


@dataclass
class TrainerConfig:
    """Base of every trainer's config: validated on creation, a toy preset, `replace`."""

    RULES: ClassVar[dict[str, str]] = {}  # field -> bound, a key of _BOUNDS (e.g. ">0")
    TOY: ClassVar[dict[str, Any]] = {}  # the toy preset's values that differ from the defaults

    def __post_init__(self):
        validate(self)

    def check(self) -> None:
        """Relations between fields (e.g. epsilon_high >= epsilon); raise `self.fail(...)`."""

    def fail(self, name: str, expected: str) -> ConfigError:
        """The error for field `name` (raise it): 'XConfig.name must be <expected>, got ...'."""
        return ConfigError(type(self).__name__, name, expected, getattr(self, name))

    @classmethod
    def toy(cls, **overrides):
        """The toy world's preset, with any field overridden by name."""
        return cls(**{**cls.TOY, **overrides})

    def replace(self, **overrides):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **overrides)


def field_docs(cls) -> dict[str, str]:
    """Each dataclass field's comment in the source: `name: type = default  # the comment`.

    A comment line right below a field continues that field's comment. Inherited fields
    carry their base class's comments. This is what the CLI prints as each flag's help.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not hasattr(klass, "__dataclass_fields__") or klass is object:  # is_dataclass(klass)
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names = {f.name for f in dataclasses.fields(klass)}
        current = None
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and current is not None:
                docs[current] += " " + stripped.lstrip("#").strip()
                continue
            current = None
            name = stripped.split(":", 1)[0].strip()
            if name in names and ":" in stripped and not stripped.startswith("def "):
                comment = _trailing_comment(line)
                if comment is not None:
                    docs[name] = comment
                    current = name
    return docs


def _trailing_comment(line: str) -> str | None:
    """The `# comment` at the end of one line of code (tokenize: a '#' in a string is not one)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if tok.type == tokenize.COMMENT:
                return tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return None


@dataclass(kw_only=True)
class TrainResult:
    """Base of every trainer's result. `metrics`: one row per step (from step 1)."""

    policy: Any  # the trained policy (the same object that was passed in)
    config: Any  # the config the run used
    metrics: list[dict] = field(default_factory=list)  # one row per step, METRICS_KEYS at least
    evaluations: list[dict] = field(default_factory=list)  # held-out rows, step 0 = before
    doctor: Any = None  # the Doctor that watched the run (None: doctor=False)
    stopped: str | None = None  # why the run stopped early (non-finite loss), else None
    train_seconds: float = 0.0  # time in training steps (no evaluation)


def prepare_policy(policy, reference=None) -> None:
    """The contract's `policy` argument: a model to train in place, not the reference.

    A policy whose parameters all have requires_grad=False (a deepcopy of the frozen reference,
    the usual way to start) is unfrozen; otherwise it would "train" without error and change
    nothing (ratio 1, loss flat). A policy with some trainable parameters (LoRA adapters) is
    left as it is.
    """
    params = getattr(policy, "parameters", None)
    if params is None:
        raise ValueError(f"policy must be a torch model, got {type(policy).__name__}")
    if reference is not None and reference is policy:
        raise ValueError("policy and reference are the same object: pass a copy of the SFT policy")
    if not any(p.requires_grad for p in params()):
        policy.requires_grad_(True)  # a deep copy of a frozen reference arrives frozen


def resolve_doctor(doctor, name: str, progress: bool):
    """The contract's `doctor` argument: a Doctor as is; None -> a new one; False -> None."""
    if doctor is False:
        return None
    if doctor is None or doctor is True:
        return Doctor(name, verbose=progress)
    return doctor


def stop_on_non_finite(error: Exception, progress: bool = True) -> str:
    """The NaN policy's message: printed (the checkpoint on disk is the last good one)."""
    message = str(error)
    print(f"stopped: {message}")
    return message
