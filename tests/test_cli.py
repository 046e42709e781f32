"""The command line for the first two stages: `python -m rlhf_lessons sft|reward-model ...`
writes OUT/metrics.jsonl with the common keys and a safetensors checkpoint, explains every
flag in --help, and --resume continues a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rlhf_lessons.__main__ import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_KEYS = {"step", "reward", "gold", "kl", "seconds"}


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sft_from_the_shell_writes_metrics_and_a_safetensors_checkpoint(tmp_path):
    out = tmp_path / "sft"
    env = {**os.environ, "RLHF_LESSONS_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf_lessons", "sft", "--preset", "toy", "--seed", "0",
         "--steps", "3", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "SFT done" in proc.stdout
    rows = _rows(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert REQUIRED_KEYS <= set(r), f"missing {REQUIRED_KEYS - set(r)}"
        assert r["reward"] is None and r["kl"] is None  # meaningless for SFT: null
        assert r["seconds"] > 0
    assert rows[-1]["gold"] is not None  # evaluated at the last step
    weights = load_file(out / "checkpoint" / "policy" / "model.safetensors")
    assert any("wte" in name for name in weights)
    assert (out / "checkpoint" / "trainer_state.pt").exists()


def test_reward_model_command_writes_metrics_and_a_safetensors_checkpoint(tmp_path, capsys):
    out = tmp_path / "rm"
    assert main(["reward-model", "--steps", "3", "--out", str(out)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    rows = _rows(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert REQUIRED_KEYS <= set(r) and {"loss", "accuracy"} <= set(r)
        assert r["reward"] is None and r["gold"] is None and r["kl"] is None
    weights = load_file(out / "checkpoint" / "reward_model" / "model.safetensors")
    assert "score.weight" in weights and weights["score.weight"].shape == (1, 64)


@pytest.mark.parametrize("command", ["sft", "reward-model"])
def test_help_explains_every_flag(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--preset", "--seed", "--steps", "--out", "--resume", "--lr"):
        assert flag in text
    sub = next(
        a for a in build_parser()._actions if a.dest == "command"
    ).choices[command]  # fmt: skip
    for action in sub._actions:
        assert action.help and action.help.strip(), f"{command} {action.option_strings}: no help"


def test_top_level_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "sft" in text and "reward-model" in text and "lesson 01" in text


def test_sft_resume_continues_to_the_same_numbers(tmp_path):
    straight = tmp_path / "straight"
    main(["sft", "--steps", "6", "--out", str(straight)])
    split = tmp_path / "split"
    main(["sft", "--steps", "4", "--out", str(split)])  # ends with a checkpoint at step 4
    main(["sft", "--steps", "6", "--out", str(split), "--resume"])
    a, b = _rows(straight), _rows(split)
    assert [r["step"] for r in b] == list(range(1, 7))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]


def test_reward_model_resume_continues(tmp_path):
    out = tmp_path / "rm"
    main(["reward-model", "--steps", "2", "--out", str(out)])
    main(["reward-model", "--steps", "4", "--out", str(out), "--resume"])
    assert [r["step"] for r in _rows(out)] == [1, 2, 3, 4]


def test_resume_without_checkpoint_and_bad_flags_are_clear_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        main(["sft", "--steps", "2", "--out", str(tmp_path / "none"), "--resume"])
    with pytest.raises(SystemExit, match="only has the 'toy' preset"):
        main(["sft", "--preset", "a100-80gb", "--steps", "2", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        main(["sft", "--steps", "2"])  # --out is required
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
