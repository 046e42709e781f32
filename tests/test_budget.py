"""The budget calculator against numbers worked by hand (07_planning_a_real_run).

Every expected value below is arithmetic a reader can redo on paper; comments show it.
"""

from __future__ import annotations

import math

import pytest

from rlhf_lessons import budget
from rlhf_lessons.budget import Cluster, Data, Setup

A100x4 = Cluster("A100-80GB", 4)


def approx(x):
    return pytest.approx(x, rel=1e-9)


# ── bytes per parameter ──────────────────────────────────────────────────────────────────


def test_mixed_precision_adam_is_16_bytes_per_param():
    b = budget.trained_bytes("bf16")
    assert (b.weights, b.grads, b.optimizer, b.total) == (2, 2, 12, 16)
    assert budget.trained_bytes("fp16").total == 16
    fp32 = budget.trained_bytes("fp32")  # 4 weights + 4 grads + 8 Adam: also 16
    assert (fp32.weights, fp32.grads, fp32.optimizer) == (4, 4, 8)


def test_frozen_bytes_per_param():
    assert [budget.frozen_bytes(p) for p in ("fp32", "bf16", "fp16", "int8", "int4")] == [
        4,
        2,
        2,
        1,
        0.5,
    ]


def test_13b_training_state_208_gb_and_frozen_26_gb():
    # 13e9 x 16 B = 208 GB; frozen bf16 13e9 x 2 B = 26 GB
    plan = budget.memory_plan(Setup("dpo", precompute_reference=True), Cluster("A100-80GB", 1))
    assert [r.role for r in plan.rows] == ["policy"]
    assert plan.state_gb == approx(208)
    plan = budget.memory_plan(Setup("dpo"), Cluster("A100-80GB", 1))
    reference = next(r for r in plan.rows if r.role == "reference")
    assert reference.total_gb == approx(26) and not reference.trained


# ── model copies ─────────────────────────────────────────────────────────────────────────


def roles(**kw):
    return [(c.role, c.trained) for c in budget.model_copies(Setup(**kw))]


def test_model_copies_per_method():
    assert roles(method="ppo") == [
        ("policy", True),
        ("reference", False),
        ("reward_model", False),
        ("value_model", True),
    ]
    assert roles(method="dpo") == [("policy", True), ("reference", False)]
    assert roles(method="dpo", precompute_reference=True) == [("policy", True)]
    assert roles(method="grpo") == [("policy", True), ("reference", False), ("reward_model", False)]
    assert roles(method="grpo", rule_based_reward=True) == [("policy", True), ("reference", False)]
    # LoRA: the reference can be the policy's own base with adapters off
    assert ("reference", False) not in roles(
        method="ppo", lora_fraction=0.01, reference_from_base=True
    )


# ── the quiz's 13B worked estimate (REFERENCES.md) ───────────────────────────────────────


def test_ppo_full_13b_is_468_gb_and_does_not_fit_even_with_zero3():
    # 2 trained x 16 B + 2 frozen x 2 B = 36 B/param; x 13e9 = 468 GB
    plan = budget.memory_plan(Setup("ppo"), A100x4)
    assert plan.state_gb == approx(468)
    assert not plan.fits
    zero3 = budget.memory_plan(Setup("ppo", zero_stage=3), A100x4)
    assert zero3.per_gpu_state_gb == approx(117)  # 468 / 4
    assert not zero3.fits


def test_dpo_13b_is_234_gb_and_58_5_gb_per_gpu_with_zero3():
    # 16 + 2 = 18 B/param x 13e9 = 234 GB; ZeRO-3 over 4 GPUs: 58.5 GB each
    assert budget.memory_plan(Setup("dpo"), A100x4).state_gb == approx(234)
    plan = budget.memory_plan(Setup("dpo", zero_stage=3), A100x4)
    assert plan.per_gpu_state_gb == approx(58.5)
    assert plan.fits


def test_zero_stages_shard_optimizer_then_grads_then_weights():
    # one 13B policy, 4 GPUs: weights 26, grads 26, Adam 156 GB unsharded
    def policy(stage):
        plan = budget.memory_plan(Setup("dpo", precompute_reference=True, zero_stage=stage), A100x4)
        r = plan.rows[0]
        return (r.weights_gb, r.grads_gb, r.optimizer_gb)

    assert policy(0) == (approx(26), approx(26), approx(156))
    assert policy(1) == (approx(26), approx(26), approx(39))
    assert policy(2) == (approx(26), approx(6.5), approx(39))
    assert policy(3) == (approx(6.5), approx(6.5), approx(39))
    # frozen copies are sharded only by stage 3
    ref = lambda stage: budget.memory_plan(Setup("dpo", zero_stage=stage), A100x4).rows[1]  # noqa: E731
    assert ref(2).weights_gb == approx(26) and ref(3).weights_gb == approx(6.5)


def test_offload_moves_adam_to_cpu_and_ppo_fits():
    plan = budget.memory_plan(Setup("ppo", zero_stage=3, offload_optimizer=True), A100x4)
    assert plan.cpu_gb == approx(2 * 13 * 12)  # 312 GB: 2 trained copies x 12 B
    assert plan.per_gpu_state_gb == approx((2 * 4 + 2 * 2) * 13 / 4)  # 39 GB
    assert plan.fits


def test_lora_only_adapters_carry_grads_and_adam():
    # PPO LoRA 1%: 4 frozen bases x 2 B + 2 x 0.01 x 16 B = 8.32 B/param
    plan = budget.memory_plan(Setup("ppo", lora_fraction=0.01), Cluster("A100-80GB", 1))
    assert plan.state_gb == approx(8.32 * 13)
    policy = plan.rows[0]
    assert policy.grads_gb == approx(0.01 * 13e9 * 2 / 1e9)
    assert policy.optimizer_gb == approx(0.01 * 13e9 * 12 / 1e9)
    # QLoRA-style 4-bit bases: 4 x 0.5 + 0.32 = 2.32 B/param
    q = budget.memory_plan(Setup("ppo", lora_fraction=0.01, frozen_precision="int4"), A100x4)
    assert q.state_gb == approx(2.32 * 13)


def test_lora_params_of_llama_13b_attention():
    # q, k, v, o of d = 5120: 4 x r x (d + d) per layer x 40 layers, r = 16
    assert budget.lora_params(16, 5120, 40) == 4 * 16 * 10240 * 40 == 26_214_400
    assert budget.lora_params(16, 5120, 40, intermediate_size=13824) == (
        26_214_400 + 3 * 16 * (5120 + 13824) * 40
    )


def test_guess_shape_matches_llama_13b():
    assert budget.guess_shape(13e9) == (5120, 40)


def test_activation_estimate_and_checkpointing():
    # 34 x tokens x d bytes per layer without checkpointing (the documented estimate)
    assert budget.activation_bytes(4096, 5120, 40, checkpointing=False) == 34 * 4096 * 5120 * 40
    with_ckpt = budget.activation_bytes(4096, 5120, 40, checkpointing=True)
    assert with_ckpt == 2 * 4096 * 5120 * 40 + 34 * 4096 * 5120
    assert with_ckpt < budget.activation_bytes(4096, 5120, 40, checkpointing=False) / 10
    assert budget.kv_cache_bytes(1, 5120, 40) == 2 * 40 * 5120 * 2  # 819,200 B per token


def test_workspace_is_added_to_the_per_gpu_total():
    plan = budget.memory_plan(Setup("dpo", zero_stage=3), A100x4)
    assert plan.workspace_gb > 0
    assert plan.per_gpu_gb == approx(plan.per_gpu_state_gb + plan.workspace_gb)


# ── FLOPs and GPU-hours ──────────────────────────────────────────────────────────────────


def test_flops_6n_training_2n_forward():
    assert budget.train_flops(13e9, 1e6) == 6 * 13e9 * 1e6
    assert budget.forward_flops(13e9, 1e6) == 2 * 13e9 * 1e6
    assert budget.train_flops(13e9, 1e6, lora=True) == 4 * 13e9 * 1e6


def test_dpo_flops_100k_pairs_and_gpu_hours_at_40_percent():
    # 100K pairs x 2 sequences x 512 tokens = 1.024e8 tokens; (6 + 2) x 13e9 x 1.024e8
    est = budget.estimate(Setup("dpo"), A100x4, Data(100_000, 256, 256), mfu=0.4)
    assert est.total_flops == approx(8 * 13e9 * 1.024e8)  # 1.065e19
    # 1.065e19 / (312e12 x 0.4) / 3600 = 23.7 GPU-hours
    assert est.gpu_hours == approx(8 * 13e9 * 1.024e8 / (312e12 * 0.4) / 3600)
    assert round(est.gpu_hours, 1) == 23.7
    assert est.wall_hours == approx(est.gpu_hours / 4)


def test_dpo_precomputed_reference_runs_once():
    data = Data(1000, 100, 100, epochs=3)
    rows = budget.flops_breakdown(Setup("dpo", precompute_reference=True), data)
    ref = next(r for r in rows if r.role == "reference")
    assert ref.tokens == 1000 * 2 * 200  # once, not 3 times
    rows = budget.flops_breakdown(Setup("dpo"), data)
    assert next(r for r in rows if r.role == "reference").tokens == 3 * 1000 * 2 * 200


def test_ppo_flops_breakdown():
    # per query token: generate 2 + old logprobs 2 + reference 2 + reward 2 + values 2
    # + policy update 6 + value update 6 = 22 N
    est = budget.estimate(Setup("ppo"), A100x4, Data(100_000, 256, 256))
    assert est.total_flops == approx(22 * 13e9 * 100_000 * 512)
    kinds = {r.kind for r in est.flops}
    assert kinds == {"generate", "forward", "train"}
    # 4 update epochs: the two training passes count 4 times
    four = budget.estimate(Setup("ppo", update_epochs=4), A100x4, Data(100_000, 256, 256))
    assert four.total_flops == approx((10 + 4 * 12) * 13e9 * 100_000 * 512)


def test_grpo_flops_scale_with_group_size_and_rule_based_reward_drops_rm():
    data = Data(1000, 100, 100)
    # per query token: generate 2 + old logprobs 2 + reference 2 + reward 2 + update 6 = 14 N
    g8 = budget.estimate(Setup("grpo", n_params=1e9, group_size=8), A100x4, data)
    assert g8.total_flops == approx(14 * 1e9 * 8 * 1000 * 200)
    rule = budget.estimate(Setup("grpo", n_params=1e9, rule_based_reward=True), A100x4, data)
    assert rule.total_flops == approx(12 * 1e9 * 8 * 1000 * 200)


def test_generation_mfu_applies_to_generation_only():
    data = Data(1000, 100, 100)
    est = budget.estimate(Setup("ppo", n_params=1e9), A100x4, data, mfu=0.4, generation_mfu=0.1)
    gen = 2 * 1e9 * 1000 * 200
    rest = 20 * 1e9 * 1000 * 200
    assert est.gpu_hours == approx((gen / 0.1 + rest / 0.4) / 312e12 / 3600)


def test_gpu_hours_and_implied_mfu_are_inverse():
    flops = 1e19
    h = budget.gpu_hours(flops, "H100-SXM", 0.5)
    assert h == approx(1e19 / (989e12 * 0.5) / 3600)
    assert budget.implied_mfu(flops, "H100-SXM", 1, h) == approx(0.5)
    assert budget.implied_mfu(flops, "H100-SXM", 4, h / 4) == approx(0.5)


def test_decode_mfu_ceiling_is_batch_over_ridge_point():
    # A100: 312e12 / 2039e9 = 153 FLOPs per byte to be compute-bound
    assert budget.decode_mfu_ceiling("A100-80GB", 16) == approx(16 / (312e12 / 2039e9))
    assert budget.decode_mfu_ceiling("A100-80GB", 100_000) == 1.0


def test_gpu_table_peaks():
    peaks = {name: g.peak_tflops for name, g in budget.GPUS.items()}
    assert peaks["A100-80GB"] == 312 and peaks["H100-SXM"] == 989 and peaks["T4"] == 65
    assert peaks["L4"] == 121 and peaks["A10G"] == 125
    assert "datasheet" in budget.GPU_SOURCE


def test_summary_mentions_the_verdict():
    text = budget.estimate(Setup("ppo"), A100x4, Data()).summary()
    assert "does NOT fit" in text and "468" not in text.split("\n")[0]
    assert "fits in 80 GB" in budget.estimate(Setup("dpo", zero_stage=3), A100x4, Data()).summary()


# ── nonsense input is rejected, naming the argument ──────────────────────────────────────


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: Setup(n_params=-1e9), "n_params"),
        (lambda: Setup(n_params=0), "n_params"),
        (lambda: Setup(n_params=math.nan), "n_params"),
        (lambda: Setup(method="rlhf"), "method"),
        (lambda: Setup(precision="int8"), "precision"),
        (lambda: Setup(precision="bf32"), "precision"),
        (lambda: Setup(frozen_precision="int3"), "frozen_precision"),
        (lambda: Setup(lora_fraction=0.0), "lora_fraction"),
        (lambda: Setup(lora_fraction=1.5), "lora_fraction"),
        (lambda: Setup(lora_fraction=1.0), "lora_fraction"),
        (lambda: Setup(reference_from_base=True), "reference_from_base"),
        (lambda: Setup(zero_stage=4), "zero_stage"),
        (lambda: Setup(zero_stage=2.0), "zero_stage"),
        (lambda: Setup(offload_optimizer=True), "offload_optimizer"),
        (lambda: Setup(method="grpo", group_size=1), "group_size"),
        (lambda: Setup(update_epochs=0), "update_epochs"),
        (lambda: Setup(reward_model_params=-1.0), "reward_model_params"),
        (lambda: Cluster(n_gpus=0), "n_gpus"),
        (lambda: Cluster(gpu="B200"), "gpu"),
        (lambda: Data(n_examples=-5), "n_examples"),
        (lambda: Data(response_tokens=0), "response_tokens"),
        (lambda: Data(prompt_tokens=-1), "prompt_tokens"),
        (lambda: Data(epochs=0), "epochs"),
        (lambda: budget.estimate(Setup(), A100x4, Data(), mfu=1.5), "mfu"),
        (lambda: budget.estimate(Setup(), A100x4, Data(), mfu=0), "mfu"),
        (lambda: budget.estimate(Setup(), A100x4, Data(), generation_mfu=-0.1), "generation_mfu"),
        (lambda: budget.gpu_hours(1e18, "A100-80GB", 2.0), "mfu"),
        (lambda: budget.gpu_hours(1e18, "V200", 0.4), "gpu"),
        (lambda: budget.frozen_bytes("fp8"), "frozen_precision"),
    ],
)
def test_nonsense_is_rejected_with_the_argument_named(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_wrong_types_are_rejected():
    with pytest.raises(TypeError, match="n_gpus"):
        Cluster(n_gpus=2.5)
    with pytest.raises(TypeError, match="offload_optimizer"):
        Setup(zero_stage=2, offload_optimizer="yes")
    with pytest.raises(TypeError, match="setup"):
        budget.estimate("ppo", A100x4, Data())


# ── the widget drives the same functions ─────────────────────────────────────────────────


def test_budget_calculator_widget_updates_and_reports_errors():
    from rlhf_lessons.widgets import budget_calculator

    panel = budget_calculator(method="dpo", model="13B", n_gpus=4)
    assert "DPO, 13B" in panel.result.value and "does NOT fit" in panel.result.value
    panel.controls["zero_stage"].value = 3
    assert "fits in 80 GB" in panel.result.value
    panel.controls["zero_stage"].value = 0
    panel.controls["offload_optimizer"].value = True
    assert "cannot estimate" in panel.result.value and "offload_optimizer" in panel.result.value
    with pytest.raises(ValueError, match="model"):
        budget_calculator(model="12B")


def test_ppo_full_13b_needs_seven_80gb_gpus_with_zero3():
    # 468 GB / 6 = 78 GB of state + activations > 80 GB; 468 / 7 = 66.9 GB fits
    six = budget.memory_plan(Setup("ppo", zero_stage=3), Cluster("A100-80GB", 6))
    seven = budget.memory_plan(Setup("ppo", zero_stage=3), Cluster("A100-80GB", 7))
    assert six.per_gpu_state_gb == approx(78) and not six.fits
    assert seven.per_gpu_state_gb == approx(468 / 7) and seven.fits


def test_compare_lists_each_option_with_its_fit():
    text = budget.compare(
        {"PPO": Setup("ppo", zero_stage=3), "DPO": Setup("dpo", zero_stage=3)}, A100x4, Data()
    )
    lines = text.splitlines()
    assert lines[1].split()[:4] == ["PPO", "468.0", "120.4", "no"]
    assert lines[2].split()[:4] == ["DPO", "234.0", "60.9", "yes"]
    with pytest.raises(ValueError, match="options"):
        budget.compare({}, A100x4, Data())
