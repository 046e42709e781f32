"""Data parallelism, checked on a CPU: 2 processes (gloo backend, launched with torchrun) take
the same DPO step as 1 process on the same global batch — same averaged gradients, same loss
and accuracy, same adapters after the optimizer step (08_full_scale_gpu, distributed.py).

Also: the accelerate configs that the documented launch command uses parse as accelerate reads
them. Nothing is downloaded (the smoke preset's models are built locally).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest
import torch
from processes import kill_tree
from safetensors.torch import load_file

from rlhf_lessons import smoke
from rlhf_lessons.distributed import local_rows

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["-m", "rlhf_lessons.distributed", "--preset", "smoke", "--cpu", "--steps", "2",
        "--global-batch", "8"]  # fmt: skip


def _run(cmd: list[str], out: Path) -> tuple[list[dict], dict, dict]:
    """Run one launch; return its metrics rows, averaged gradients and adapters.

    Rank 0 prints "wrote OUT" after its files are complete. Process-group teardown after
    that can, rarely, hang under torchrun (pytorch/pytorch#75097; once in CI here, after the
    results were written): then the workers' stacks are dumped (SIGUSR1, see distributed.py),
    the launch is killed, and the test goes on with the complete results plus a warning. A
    launch that has not written its results in time fails.
    """
    env = {**os.environ, "RLHF_LESSONS_THREADS": "1", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    log_out, log_err = out.with_suffix(".stdout"), out.with_suffix(".stderr")
    out.parent.mkdir(parents=True, exist_ok=True)
    with log_out.open("w") as so, log_err.open("w") as se:
        proc = subprocess.Popen([*cmd, *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                                stdout=so, stderr=se, text=True)  # fmt: skip
        try:
            rc = _wait(proc, log_out)
        finally:
            kill_tree(proc)
    stdout, stderr = log_out.read_text(), log_err.read_text()
    if rc is None:
        launch = "torchrun" if len(cmd) > 1 else "python"
        warnings.warn(f"{launch} wrote its results, then hung at exit; stacks:\n{stderr[-6000:]}",
                      stacklevel=2)  # fmt: skip
    else:
        assert rc == 0, stdout[-3000:] + stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rows, load_file(out / "grads.safetensors"), load_file(out / "adapters.safetensors")


def _wait(proc: subprocess.Popen, log_out: Path, run_s=420, exit_s=60) -> int | None:
    """The exit code, or None if the results were written but the launch did not exit."""
    wrote_at, start = None, time.monotonic()
    while (rc := proc.poll()) is None:
        now = time.monotonic()
        if wrote_at is None and "wrote " in log_out.read_text():
            wrote_at = now
        if wrote_at is not None and now - wrote_at > exit_s:
            launcher = psutil.Process(proc.pid)
            for worker in launcher.children(recursive=True) or [launcher]:
                worker.send_signal(signal.SIGUSR1)  # faulthandler: print the stacks
            time.sleep(2)
            return None
        if wrote_at is None and now - start > run_s:
            pytest.fail(f"no results after {run_s} s: {log_out.read_text()[-2000:]}")
        time.sleep(0.5)
    return rc


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two launches, each bounded by _wait
def test_two_gloo_processes_take_the_same_dpo_step_as_one(tmp_path):
    smoke.build_smoke_world()  # built once here, so neither run races to build it
    one = _run([sys.executable], tmp_path / "one")
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"], tmp_path / "two")  # fmt: skip
    (rows1, grads1, adapters1), (rows2, grads2, adapters2) = one, two
    assert [r["world_size"] for r in rows1 + rows2] == [1, 1, 2, 2]
    assert [r["pairs_per_process"] for r in rows2] == [4, 4]
    # global loss, accuracy and margin: the same numbers (step 2 after one Adam step, which
    # turns float-rounding differences of the gradient into slightly larger ones)
    for r1, r2 in zip(rows1, rows2):
        for key in ("loss", "accuracy", "margin"):
            assert r2[key] == pytest.approx(r1[key], rel=1e-4, abs=1e-6), key
    assert rows1[0]["loss"] == pytest.approx(0.6931472, abs=1e-6)  # policy == reference: log 2
    assert set(grads1) == set(grads2) == {"step1", "step2"}
    for step in grads1:  # DDP averaged the two halves' gradients into the full batch's
        g1, g2 = grads1[step], grads2[step]
        assert g1.norm() > 0
        torch.testing.assert_close(g2, g1, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(grads1["step1"], grads1["step2"])  # a new batch, a new gradient
    for name in adapters1:  # and the optimizer took the same step
        torch.testing.assert_close(adapters2[name], adapters1[name], rtol=1e-3, atol=1e-5)


def test_each_process_takes_its_own_slice_of_the_global_batch():
    slices = [local_rows(2, 8, rank, 2).tolist() for rank in range(2)]
    assert slices == [[8, 9, 10, 11], [12, 13, 14, 15]]
    assert local_rows(1, 8, 0, 1).tolist() == list(range(8))
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        local_rows(1, 6, 0, 4)


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import ClusterConfig

    ddp = ClusterConfig.from_yaml_file(str(ROOT / "configs" / "ddp.yaml"))
    assert ddp.distributed_type == "MULTI_GPU" and ddp.num_machines == 1
    fsdp = ClusterConfig.from_yaml_file(str(ROOT / "configs" / "fsdp.yaml"))
    assert fsdp.distributed_type == "FSDP"
    assert fsdp.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
    assert fsdp.fsdp_config["fsdp_use_orig_params"] is True  # LoRA: frozen + trainable mixed
