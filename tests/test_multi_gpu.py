"""Data parallelism, checked on a CPU: 2 processes (gloo backend, launched with torchrun) take
the same DPO step as 1 process on the same global batch — same averaged gradients, same loss
and accuracy, same adapters after the optimizer step (08_full_scale_gpu, distributed.py).

Also: the accelerate configs that the documented launch command uses parse as accelerate reads
them. Nothing is downloaded (the smoke preset's models are built locally).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlhf_lessons import smoke
from rlhf_lessons.distributed import local_rows

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["-m", "rlhf_lessons.distributed", "--preset", "smoke", "--cpu", "--steps", "2",
        "--global-batch", "8"]  # fmt: skip


def _run(cmd: list[str], out: Path) -> tuple[list[dict], dict, dict]:
    env = {**os.environ, "RLHF_LESSONS_THREADS": "1", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    proc = subprocess.run(
        [*cmd, *ARGS, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rows, load_file(out / "grads.safetensors"), load_file(out / "adapters.safetensors")


@pytest.mark.slow
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
