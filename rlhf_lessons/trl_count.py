"""How many knobs? Counting the hyperparameters of TRL's PPO, DPO and GRPO configs.

Introduced in 06_dpo_and_grpo, for the seed lesson's third "try it": *count the required
hyperparameters of PPOTrainer's and DPOTrainer's configs; which has more?*

A TRL config is a dataclass that subclasses `transformers.TrainingArguments`, so "how many
hyperparameters" has three honest answers, and `count_hyperparameters` gives all three:

- **all**: every field of the dataclass (well over a hundred, mostly inherited: logging,
  saving, hardware, precision...);
- **own**: the fields the config adds over `TrainingArguments` (what the method itself
  brings);
- **must decide**: the few a user really has to choose for their task, model and budget
  (curated below in `MUST_DECIDE`, one line of reason each). The rest either has a default
  that is right almost everywhere, is bookkeeping (logging, paths, vLLM plumbing), or is
  *computed by the trainer* (PPO's `batch_size`, `mini_batch_size`, ... listed in
  `SET_BY_TRAINER`).

Counts are taken live from whatever TRL is installed. TRL removed PPO in 1.13 (1.12.0 was
the last release with `trl.experimental.ppo.PPOConfig`) — itself evidence for the seed's
point that DPO is easier to live with. When the installed TRL has no PPOConfig,
`trl_config_table` falls back to a committed snapshot of TRL 1.12.0's configs
(`data/trl_snapshots/trl-1.12.0.json`, written by `scripts/snapshot_trl_configs.py` in an
environment built by `benchmarks/make_trl_ppo_env.sh`).

    >>> from rlhf_lessons.trl_count import trl_config_table, format_table
    >>> print(format_table(trl_config_table()))
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
import warnings
from pathlib import Path

from .runtime import repo_root

__all__ = [
    "MUST_DECIDE",
    "SET_BY_TRAINER",
    "SNAPSHOT_RELEASE",
    "config_fields",
    "count_hyperparameters",
    "load_snapshot",
    "find_config",
    "snapshot_path",
    "why",
    "trl_config_table",
    "format_table",
]

SNAPSHOT_RELEASE = "1.12.0"  # the last TRL with PPO

# The hyperparameters a user must really decide, per config, with the reason in one line.
# Shared TrainingArguments decisions (learning rate, batch size, training length) are
# counted for every method, so the comparison is like for like.
MUST_DECIDE: dict[str, dict[str, str]] = {
    "PPOConfig": {
        "learning_rate": "PPO is fragile: RLHF runs use ~1e-6 to 3e-6, and too high collapses the policy",
        "per_device_train_batch_size": "responses per rollout (with gradient accumulation): the batch each PPO step learns from",
        "total_episodes": "how many responses to generate in total: the training length",
        "num_mini_batches": "how each rollout is split for updates; with num_ppo_epochs, how off-policy the last update is",
        "num_ppo_epochs": "passes over each rollout: sample efficiency against drifting outside the trust region",
        "response_length": "tokens per rollout: too short truncates answers, too long wastes generation time",
        "temperature": "sampling temperature of rollouts (log-probs are computed at it too): exploration",
        "stop_token": "where a response ends; without it the reward model scores text after EOS",
        "missing_eos_penalty": "the score penalty for never ending, or the policy learns to ramble",
        "kl_coef": "beta, the reward-KL trade-off: too small and the policy hacks the reward model",
        "cliprange": "the trust region of the clipped objective (eps)",
        "cliprange_value": "the value loss clip, on the scale of your rewards",
        "vf_coef": "the weight of the value loss against the policy loss, on the scale of your rewards",
    },
    "DPOConfig": {
        "learning_rate": "DPO's default 1e-6 suits billion-parameter models; small models need more",
        "per_device_train_batch_size": "preference pairs per step (with gradient accumulation)",
        "num_train_epochs": "DPO overfits the pairs quickly: usually 1 to 3 epochs",
        "beta": "the strength of the implicit KL constraint to the reference",
        "max_length": "prompt + response truncation: must fit your data, or pairs lose their endings",
    },
    "GRPOConfig": {
        "learning_rate": "the step size of the policy update, as in PPO",
        "per_device_train_batch_size": "completions per step; must be a multiple of num_generations",
        "num_train_epochs": "the training length (or max_steps)",
        "num_generations": "group size G: a better baseline from more samples, at the cost of generation",
        "max_completion_length": "tokens per completion: too short truncates answers",
        "temperature": "sampling temperature: the group needs diverse completions to compare",
        "beta": "KL coefficient; TRL's default 0 drops the reference model (and the KL) altogether",
        "epsilon": "the trust region of the clipped objective",
        "loss_type": "how token losses are averaged (grpo, dr_grpo, dapo, ...): changes the length bias",
    },
}

# Fields the config declares but the trainer computes from others (the user sets none of them).
SET_BY_TRAINER: dict[str, tuple[str, ...]] = {
    "PPOConfig": (
        "world_size",
        "num_total_batches",
        "micro_batch_size",
        "local_batch_size",
        "batch_size",
        "local_mini_batch_size",
        "mini_batch_size",
    ),
    "DPOConfig": (),
    "GRPOConfig": (),
}

# Where each config lives, newest first.
_CONFIG_MODULES: dict[str, tuple[str, ...]] = {
    "PPOConfig": ("trl.experimental.ppo", "trl"),
    "DPOConfig": ("trl",),
    "GRPOConfig": ("trl",),
}


def _type_name(tp) -> str:
    """A readable, version-stable name for a field's annotation ('int | None', 'float', ...)."""
    if isinstance(tp, str):
        return tp
    if isinstance(tp, type) and not isinstance(tp, types.GenericAlias):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _jsonable(value):
    """A JSON-friendly copy of a default value (repr for anything exotic)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), (str, int)):
        return value.value  # an Enum member
    return repr(value)


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return _jsonable(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return _jsonable(field.default_factory())
    return None


def _training_arguments_names() -> set[str]:
    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


def config_fields(config_cls) -> list[dict]:
    """Every field of a TRL config dataclass: name, type, default and whether it is inherited.

    `inherited` is True for names that `transformers.TrainingArguments` (the installed one)
    also has, even where the config overrides the default (as TRL does for learning_rate).
    Returns a list of dicts in declaration order; this is also the snapshot's format.
    """
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(
            f"config_cls must be a dataclass class such as trl.DPOConfig, got {config_cls!r}"
        )
    inherited = _training_arguments_names()
    return [
        {
            "name": f.name,
            "type": _type_name(f.type),
            "default": _default(f),
            "inherited": f.name in inherited,
        }
        for f in dataclasses.fields(config_cls)
    ]


def _count(name: str, fields: list[dict]) -> dict:
    names = [f["name"] for f in fields]
    own = [f["name"] for f in fields if not f["inherited"]]
    must = list(MUST_DECIDE.get(name, {}))
    missing = [m for m in must if m not in names]
    if missing:
        raise ValueError(f"{name} has no field(s) {missing}: update MUST_DECIDE in trl_count.py")
    set_by_trainer = [n for n in SET_BY_TRAINER.get(name, ()) if n in names]
    return {
        "config": name,
        "all": len(names),
        "own": len(own),
        "set_by_trainer": len(set_by_trainer),
        "must_decide": len(must),
        "own_fields": own,
        "must_decide_fields": must,
    }


def count_hyperparameters(config_cls) -> dict:
    """Count a config's fields three ways: all, own (added over TrainingArguments), must decide.

    Args:
        config_cls: a TRL config class, e.g. `trl.DPOConfig` (the class, not an instance).

    Returns: dict with `config` (class name), `all`, `own`, `set_by_trainer` and
        `must_decide` (ints), `own_fields` and `must_decide_fields` (lists of names).
        Configs not in `MUST_DECIDE` get must_decide = 0.
    """
    return _count(config_cls.__name__, config_fields(config_cls))


def snapshot_path(release: str = SNAPSHOT_RELEASE) -> Path:
    return repo_root() / "data" / "trl_snapshots" / f"trl-{release}.json"


def load_snapshot(path: str | Path | None = None) -> dict:
    """Load a committed snapshot of TRL's configs (default: TRL 1.12.0, the last with PPO).

    Format (written by scripts/snapshot_trl_configs.py): {"trl_version", "transformers_version",
    "torch_version", "python_version", "script", "training_arguments_fields": [names],
    "configs": {"PPOConfig": {"module": ..., "fields": [config_fields rows]}, ...}}.
    """
    path = Path(path) if path is not None else snapshot_path()
    if not path.exists():
        raise FileNotFoundError(
            f"no TRL config snapshot at {path}; write one with scripts/snapshot_trl_configs.py"
        )
    snapshot = json.loads(path.read_text())
    for key in ("trl_version", "transformers_version", "training_arguments_fields", "configs"):
        if key not in snapshot:
            raise ValueError(f"{path} is not a TRL config snapshot: it has no {key!r} key")
    return snapshot


def find_config(name: str):
    """The installed TRL's config class called `name` (e.g. 'PPOConfig'), or None if it has none."""
    for module_name in _CONFIG_MODULES.get(name, ("trl",)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # trl.experimental warns on import
                module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if cls is not None:
            return cls
    return None


def _trl_version() -> str | None:
    import importlib.metadata as md

    try:
        return md.version("trl")
    except md.PackageNotFoundError:
        return None


def trl_config_table(names=("PPOConfig", "DPOConfig", "GRPOConfig"), snapshot=None) -> list[dict]:
    """One row per config: counted live from the installed TRL, else from the snapshot.

    Args:
        names: config class names to count.
        snapshot: a loaded snapshot (default: `load_snapshot()`, read only when needed).

    Returns: list of dicts with the keys of `count_hyperparameters` (less the name lists)
        plus `trl_version` and `source` ('live' or 'snapshot').
    """
    installed = _trl_version()
    rows = []
    for name in names:
        cls = find_config(name) if installed else None
        if cls is not None:
            row, version, source = count_hyperparameters(cls), installed, "live"
        else:
            snapshot = snapshot if snapshot is not None else load_snapshot()
            if name not in snapshot["configs"]:
                raise ValueError(f"{name} is neither installed nor in the TRL config snapshot")
            row = _count(name, snapshot["configs"][name]["fields"])
            version, source = snapshot["trl_version"], "snapshot"
        row = {k: v for k, v in row.items() if not k.endswith("_fields")}
        rows.append({**row, "trl_version": version, "source": source})
    return rows


def format_table(rows: list[dict] | None = None) -> str:
    """The table as fixed-width text (one line per config), for a notebook cell to print."""
    rows = trl_config_table() if rows is None else rows
    header = ("config", "TRL", "source", "all", "own", "set by trainer", "must decide")
    lines = [
        (
            r["config"],
            r["trl_version"],
            r["source"],
            str(r["all"]),
            str(r["own"]),
            str(r["set_by_trainer"]),
            str(r["must_decide"]),
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*line) for line in (header, *lines))


def why(name: str) -> str:
    """The must-decide hyperparameters of one config, one per line with its reason."""
    if name not in MUST_DECIDE:
        raise ValueError(f"name must be one of {sorted(MUST_DECIDE)}, got {name!r}")
    width = max(len(k) for k in MUST_DECIDE[name])
    return "\n".join(f"{k:<{width}}  {v}" for k, v in MUST_DECIDE[name].items())
