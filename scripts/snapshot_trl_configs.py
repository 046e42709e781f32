"""Snapshot the fields of TRL's PPO, DPO and GRPO configs into data/trl_snapshots/.

Why: TRL removed PPO in 1.13, so lesson 06 cannot count PPOConfig's hyperparameters from the
TRL the course installs (1.16). This script runs once in an environment with trl==1.12.0,
the last release with `trl.experimental.ppo.PPOConfig`, and writes what
`rlhf_lessons.trl_count` needs: every field's name, type and default, and which fields are
inherited from `transformers.TrainingArguments`, plus the versions it saw.

    bash benchmarks/make_trl_ppo_env.sh            # builds /tmp/trl112env (trl 1.12.0)
    /tmp/trl112env/bin/python scripts/snapshot_trl_configs.py   # writes trl-1.12.0.json

`--out -` prints the JSON instead (tests/test_trl_count.py uses it to check that the
committed file is what this script produces).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata as md
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # import rlhf_lessons from this checkout, installed or not
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from rlhf_lessons.trl_count import config_fields, find_config  # noqa: E402

CONFIGS = ("PPOConfig", "DPOConfig", "GRPOConfig")


def snapshot() -> dict:
    from transformers import TrainingArguments

    configs = {}
    for name in CONFIGS:
        cls = find_config(name)
        if cls is None:
            continue
        configs[name] = {"module": cls.__module__, "fields": config_fields(cls)}
    if "PPOConfig" not in configs:
        raise SystemExit(
            f"trl {md.version('trl')} has no PPOConfig: run this with trl==1.12.0 "
            "(bash benchmarks/make_trl_ppo_env.sh)"
        )
    return {
        "trl_version": md.version("trl"),
        "transformers_version": md.version("transformers"),
        "torch_version": md.version("torch").split("+")[0],
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "script": "scripts/snapshot_trl_configs.py",
        "training_arguments_fields": [f.name for f in dataclasses.fields(TrainingArguments)],
        "configs": configs,
    }


def to_json(data: dict) -> str:
    """Indented JSON with one line per field, so a diff between releases reads line by line."""
    lines = ["{"]
    for key, value in data.items():
        if key == "configs":
            lines.append(' "configs": {')
            for i, (name, config) in enumerate(value.items()):
                lines.append(f'  "{name}": {{"module": {json.dumps(config["module"])}, "fields": [')
                rows = [f"   {json.dumps(f)}" for f in config["fields"]]
                lines.append(",\n".join(rows))
                lines.append("  ]}" + ("," if i < len(value) - 1 else ""))
            lines.append(" },")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == data
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=None,
        help="output file, '-' for stdout (default: data/trl_snapshots/trl-<version>.json)",
    )
    args = parser.parse_args(argv)
    data = snapshot()
    text = to_json(data)
    if args.out == "-":
        sys.stdout.write(text)
        return
    out = Path(args.out or ROOT / "data" / "trl_snapshots" / f"trl-{data['trl_version']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    counts = ", ".join(f"{name}: {len(c['fields'])} fields" for name, c in data["configs"].items())
    print(f"wrote {out} ({counts})")


if __name__ == "__main__":
    main()
