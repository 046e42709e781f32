"""Counting TRL's config hyperparameters (lesson 06, the seed's third "try it").

Live counts are checked against the installed TRL with `dataclasses.fields`, computed here
independently of rlhf_lessons.trl_count; the committed TRL 1.12.0 snapshot (the last TRL
with PPO) must load and be self-consistent, and is regenerated and compared when a
trl==1.12.0 environment is available.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from rlhf_lessons import trl_count
from rlhf_lessons.runtime import repo_root
from rlhf_lessons.trl_count import (
    MUST_DECIDE,
    SET_BY_TRAINER,
    count_hyperparameters,
    find_config,
    format_table,
    load_snapshot,
    trl_config_table,
)

trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")


def _names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("name", ["DPOConfig", "GRPOConfig"])
def test_live_counts_match_dataclass_fields(name):
    cls = getattr(trl, name)
    names = _names(cls)
    base = set(_names(transformers.TrainingArguments))
    own = [n for n in names if n not in base]
    counts = count_hyperparameters(cls)
    assert counts["config"] == name
    assert counts["all"] == len(names) == len(set(names))
    assert counts["own"] == len(own) and counts["own_fields"] == own
    assert counts["must_decide"] == len(MUST_DECIDE[name])
    # TRL's configs extend TrainingArguments: every inherited field is there.
    assert base <= set(names)
    assert counts["all"] == len(base) + counts["own"]


def test_installed_trl_is_1_16_and_has_no_ppo():
    """The course pins trl 1.16.0, which no longer has PPO (removed in 1.13)."""
    assert trl.__version__ == "1.16.0"
    assert find_config("PPOConfig") is None
    assert find_config("DPOConfig") is trl.DPOConfig


def test_count_hyperparameters_rejects_non_dataclass():
    with pytest.raises(TypeError, match="config_cls must be a dataclass"):
        count_hyperparameters(dict)


def test_must_decide_names_exist_and_have_reasons():
    snapshot = load_snapshot()
    for name, decisions in MUST_DECIDE.items():
        cls = find_config(name)
        names = (
            _names(cls)
            if cls is not None
            else [f["name"] for f in snapshot["configs"][name]["fields"]]
        )
        for field, reason in decisions.items():
            assert field in names, f"{name}.{field} does not exist"
            assert reason and "\n" not in reason and len(reason) < 120, (name, field)
        # a decision is never a field the trainer computes itself
        assert not set(decisions) & set(SET_BY_TRAINER[name])


def test_snapshot_loads_and_is_consistent():
    snapshot = load_snapshot()
    assert snapshot["trl_version"] == "1.12.0"
    assert snapshot["script"] == "scripts/snapshot_trl_configs.py"
    base = snapshot["training_arguments_fields"]
    assert len(base) == len(set(base)) > 100
    assert set(snapshot["configs"]) == {"PPOConfig", "DPOConfig", "GRPOConfig"}
    assert snapshot["configs"]["PPOConfig"]["module"].startswith("trl.experimental.ppo")
    for name, config in snapshot["configs"].items():
        fields = config["fields"]
        names = [f["name"] for f in fields]
        assert len(names) == len(set(names)), name
        assert set(base) <= set(names), f"{name} lacks TrainingArguments fields"
        for f in fields:
            assert set(f) == {"name", "type", "default", "inherited"}
            assert f["inherited"] == (f["name"] in base), (name, f["name"])
    ppo = {f["name"]: f for f in snapshot["configs"]["PPOConfig"]["fields"]}
    # the PPO knobs the lessons use, with TRL 1.12's defaults
    assert ppo["kl_coef"]["default"] == 0.05 and not ppo["kl_coef"]["inherited"]
    assert ppo["cliprange"]["default"] == 0.2 and ppo["cliprange_value"]["default"] == 0.2
    assert ppo["gamma"]["default"] == 1.0 and ppo["lam"]["default"] == 0.95
    assert ppo["num_ppo_epochs"]["default"] == 4 and ppo["vf_coef"]["default"] == 0.1
    assert ppo["learning_rate"]["inherited"] and ppo["learning_rate"]["default"] == 3e-6


def test_snapshot_dpo_agrees_with_live_dpo_on_shared_knobs():
    """Between 1.12 and 1.16 DPOConfig's core knobs stayed; live own fields ⊂ live TA + own."""
    snapshot = load_snapshot()
    old = {f["name"]: f for f in snapshot["configs"]["DPOConfig"]["fields"]}
    live = {f.name: f for f in dataclasses.fields(trl.DPOConfig)}
    for knob in MUST_DECIDE["DPOConfig"]:
        assert knob in old and knob in live
    assert old["beta"]["default"] == live["beta"].default == 0.1
    base = set(_names(transformers.TrainingArguments))
    own = set(count_hyperparameters(trl.DPOConfig)["own_fields"])
    assert set(live) == base | own and not base & own


def test_table_counts_live_and_falls_back_to_snapshot_for_ppo():
    rows = {r["config"]: r for r in trl_config_table()}
    assert rows["DPOConfig"]["source"] == "live" and rows["DPOConfig"]["trl_version"] == "1.16.0"
    assert rows["DPOConfig"]["all"] == len(_names(trl.DPOConfig))
    assert rows["GRPOConfig"]["all"] == len(_names(trl.GRPOConfig))
    ppo = rows["PPOConfig"]
    assert ppo["source"] == "snapshot" and ppo["trl_version"] == "1.12.0"
    fields = load_snapshot()["configs"]["PPOConfig"]["fields"]
    assert ppo["all"] == len(fields) == 143
    assert ppo["own"] == sum(not f["inherited"] for f in fields) == 31
    assert ppo["set_by_trainer"] == 7
    # The seed's question: PPO asks a user to decide more than DPO does.
    assert ppo["must_decide"] > rows["DPOConfig"]["must_decide"]
    assert ppo["own"] > rows["DPOConfig"]["own"]


def test_format_table_prints_every_row():
    rows = trl_config_table()
    text = format_table(rows)
    lines = text.splitlines()
    assert len(lines) == 1 + len(rows)
    assert lines[0].split()[:3] == ["config", "TRL", "source"]
    for row, line in zip(rows, lines[1:]):
        cells = line.split()
        assert cells[0] == row["config"] and cells[-1] == str(row["must_decide"])
        assert cells[3] == str(row["all"]) and cells[4] == str(row["own"])


def test_why_lists_reasons():
    text = trl_count.why("DPOConfig")
    assert len(text.splitlines()) == len(MUST_DECIDE["DPOConfig"])
    assert text.splitlines()[3].split()[0] == "beta"
    with pytest.raises(ValueError, match="name must be one of"):
        trl_count.why("KTOConfig")


def test_missing_snapshot_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="snapshot_trl_configs.py"):
        load_snapshot(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text(json.dumps({"trl_version": "1.12.0"}))
    with pytest.raises(ValueError, match="not a TRL config snapshot"):
        load_snapshot(tmp_path / "bad.json")


def test_snapshot_script_reproduces_the_committed_file():
    python = os.environ.get("TRL_PPO_PYTHON", "/tmp/trl112env/bin/python")
    if not Path(python).exists():
        pytest.skip(f"no Python with trl==1.12.0 at {python} (benchmarks/make_trl_ppo_env.sh)")
    root = repo_root()
    done = subprocess.run(
        [python, str(root / "scripts" / "snapshot_trl_configs.py"), "--out", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": "", "RLHF_LESSONS_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    committed = (root / "data" / "trl_snapshots" / "trl-1.12.0.json").read_text()
    assert done.stdout == committed
