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


def _corrupt_checkpoint(out: Path) -> None:
    (out / "checkpoint" / "policy").mkdir(parents=True)
    (out / "checkpoint" / "trainer_state.pt").write_bytes(b"not a torch file")
    (out / "checkpoint" / "policy" / "model.safetensors").write_bytes(b"\x00" * 10)


def _a_file(out: Path) -> None:
    out.write_text("I am a file")


def _below_a_file(out: Path) -> None:  # OUT = sub/file/run, where sub/file is a file
    out.parent.parent.mkdir(parents=True)
    out.parent.write_text("I am a file")


def _read_only(out: Path) -> None:
    out.mkdir()
    out.chmod(0o500)


MISTAKES = {  # id -> (argv after the command, setup of OUT, what the one line must say)
    "bad-value": (["sft", "--steps", "-5"], None, "--steps must be an int >= 1, got -5"),
    "not-an-int": (["sft", "--steps", "abc"], None, "--steps"),
    "relation": (["ppo", "--num-minibatches", "3"], None, "--num-minibatches must be a divisor"),
    "unknown-preset": (["sft", "--preset", "huge"], None, "--preset 'huge' is unknown to sft"),
    "unknown-flag": (["dpo", "--nope", "1"], None, "unrecognized arguments: --nope"),
    "out-a-file": (["sft"], _a_file, "is a file; expected a folder"),
    "out-below-a-file": (["reward-model"], _below_a_file, "a file; expected a folder"),
    "read-only": (["sft"], _read_only, "is not writable"),
    "resume-missing": (["sft", "--resume"], None, "--resume: "),
    "resume-corrupt": (["ppo", "--resume"], _corrupt_checkpoint, "trainer_state.pt does not load"),
    "threads": (["sft", "--threads", "0"], None, "--threads must be an int >= 1"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_an_ordinary_mistake_is_one_line_naming_the_flag_never_a_traceback(mistake, tmp_path):
    argv, setup, expected = MISTAKES[mistake]
    out = tmp_path / ("sub/file/run" if setup is _below_a_file else "run")
    if setup is _read_only and os.geteuid() == 0:
        pytest.skip("root writes anywhere: a read-only folder cannot be tested as root")
    if setup is not None:
        setup(out)
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf_lessons", argv[0], "--out", str(out), "--steps", "1",
         *argv[1:]] if "--steps" not in argv else
        [sys.executable, "-m", "rlhf_lessons", argv[0], "--out", str(out), *argv[1:]],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "RLHF_LESSONS_THREADS": "1"},
    )  # fmt: skip
    if setup is _read_only:
        out.chmod(0o700)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not (out / "metrics.jsonl").exists() if out.is_dir() else True


def test_missing_out_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sft", "--steps", "2"])  # --out is required
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and len(err.strip().splitlines()) == 1


def test_a_read_only_out_is_one_line_even_as_root(tmp_path, monkeypatch):
    import rlhf_lessons.__main__ as cli

    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # as a non-root user sees it
    with pytest.raises(SystemExit) as info:
        cli.main(["sft", "--steps", "1", "--out", str(tmp_path / "run")])
    assert (
        str(info.value)
        == f"error: --out {tmp_path / 'run'} is not writable; expected a folder you can write"
    )


def test_resume_on_a_missing_checkpoint_makes_no_folder(tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["sft", "--steps", "1", "--out", str(tmp_path / "typo"), "--resume"])
    assert str(info.value).startswith("error: --resume: ") and "no checkpoint" in str(info.value)
    assert not (tmp_path / "typo").exists()
