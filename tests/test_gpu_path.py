"""The full-scale path (08_full_scale_gpu) on a CPU: the smoke models, loaded from disk through
exactly the functions the GPU presets use, and every bad input the lesson promises to handle.

Nothing is downloaded: the smoke models are built locally (smoke.py) and every hub id below is
loaded with HF_HUB_OFFLINE=1, so it fails at once with the message under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaForSequenceClassification, Qwen2ForCausalLM

from rlhf_lessons import budget, hf, presets, smoke
from rlhf_lessons.batching import encode_prompts
from rlhf_lessons.hf import Hardware
from rlhf_lessons.models import count_parameters, freeze, reward_scores, scalar_outputs
from rlhf_lessons.presets import get_preset
from rlhf_lessons.rollout import generate, response_logprobs

CPU = Hardware("cpu", "cpu", 0.0, False)
T4 = Hardware("cuda", "Tesla T4", 15.8, False)
A100 = Hardware("cuda", "NVIDIA A100-SXM4-80GB", 85.0, True)


@pytest.fixture(scope="module")
def preset():
    smoke.build_smoke_world()
    return get_preset("smoke")


@pytest.fixture(scope="module")
def models(preset):
    return hf.load_models(preset, n_train=64, n_eval=8, verbose=False)


# ── the smoke models are real Hugging Face checkpoints on disk ─────────────────────────────


def test_smoke_world_is_save_pretrained_folders(preset):
    for field in ("policy_id", "reward_model_id", "gold_model_id"):
        folder = Path(getattr(preset, field))
        assert (folder / "config.json").exists(), folder
        assert (folder / "model.safetensors").exists(), folder
        assert (folder / "tokenizer.json").exists(), folder
    data = Path(preset.dataset_id)
    assert (data / "train_prefs.jsonl").exists() and (data / "test_prefs.jsonl").exists()


def test_models_load_through_the_gpu_presets_functions(preset, models):
    policy, tokenizer = models.policy, models.tokenizer
    assert isinstance(policy.get_base_model(), Qwen2ForCausalLM)  # a peft model around Qwen2
    scorer = models.reward_model.scorer_backbone.scorer
    assert isinstance(scorer.model, LlamaForSequenceClassification)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id  # pad != EOS (Huang et al. 2023)
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = hf.format_prompt(tokenizer, [{"role": "user", "content": "review : the plot"}])
    assert prompt == "<|im_start|>user\nreview : the plot<|im_end|>\n<|im_start|>assistant\n"
    # the data: ultrafeedback_binarized's columns, loaded with `datasets`
    ds = hf.load_preference_data(preset, "test_prefs")
    assert {"prompt", "prompt_id", "chosen", "rejected", "score_chosen"} <= set(ds.column_names)
    assert ds[0]["chosen"][-1]["role"] == "assistant"
    assert len(models.eval_prompts) == 8 and len(models.train_prompts) == 64


def test_lora_trainable_parameters_match_the_formula(models):
    """presets.lora_param_count (used by the estimates) == what peft actually creates."""
    shape = hf.shape_of(models.policy)
    expected = presets.lora_param_count(shape, models.preset.lora_r)
    assert count_parameters(models.policy, trainable_only=True) == expected
    # the value model: the same adapters + a one-output head (hidden_size weights, no bias)
    assert count_parameters(models.value_model, trainable_only=True) == (
        expected + shape.hidden_size
    )


# ── the reference is the policy with its adapters disabled ─────────────────────────────────


def test_reference_from_disabled_adapters_is_the_base_model(preset, models):
    policy, reference = models.policy, models.reference
    base = Qwen2ForCausalLM.from_pretrained(preset.policy_id).eval()
    ids, mask = encode_prompts(models.tokenizer, models.eval_prompts[:4])
    kw = dict(input_ids=ids, attention_mask=mask)
    torch.testing.assert_close(reference(**kw).logits, base(**kw).logits, rtol=0, atol=1e-6)
    # LoRA's B starts at 0: at step 0 the policy *is* the reference
    torch.testing.assert_close(policy(**kw).logits, base(**kw).logits, rtol=0, atol=1e-6)
    lora_b = [p for n, p in policy.named_parameters() if "lora_B" in n]
    saved = [p.detach().clone() for p in lora_b]
    try:
        with torch.no_grad():
            for p in lora_b:
                p.normal_(0, 0.5)
        assert not torch.allclose(policy(**kw).logits, base(**kw).logits, atol=1e-3)
        torch.testing.assert_close(reference(**kw).logits, base(**kw).logits, rtol=0, atol=1e-6)
    finally:
        with torch.no_grad():
            for p, s in zip(lora_b, saved):
                p.copy_(s)
    # one copy of the weights, not two; freezing the reference cannot freeze the policy
    assert count_parameters(reference) == 0
    freeze(reference)
    assert count_parameters(policy, trainable_only=True) > 0
    assert hf.state_bytes(reference)["total"] == 0


def test_without_lora_the_reference_is_a_frozen_copy(preset):
    full = preset.replace(lora_r=None, reference_from_adapters=False, gradient_checkpointing=False)
    policy, _ = hf.load_policy_and_tokenizer(full)
    reference = hf.load_reference(full, policy)
    assert count_parameters(reference) == count_parameters(policy)
    assert count_parameters(reference, trainable_only=True) == 0
    assert count_parameters(policy, trainable_only=True) == count_parameters(policy)


# ── measured bytes = lesson 07's calculator ────────────────────────────────────────────────


def _one_adam_step(*models):
    params = [p for m in models for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    ids = torch.randint(3, 100, (2, 12))
    loss = sum(m(input_ids=ids).logits.float().pow(2).mean() for m in models)
    loss.backward()
    opt.step()
    return opt


def test_state_bytes_equal_the_calculators_copies_times_bytes(preset):
    """Full fine-tune fp32: 16 B per parameter (4 weights + 4 grads + 8 Adam), exactly."""
    full = preset.replace(lora_r=None, reference_from_adapters=False, gradient_checkpointing=False)
    policy, _ = hf.load_policy_and_tokenizer(full)
    opt = _one_adam_step(policy)
    measured = hf.state_bytes(policy, optimizer=opt)
    n = count_parameters(policy)
    bytes_per = budget.trained_bytes("fp32")
    assert measured["weights"] == n * bytes_per.weights
    assert measured["grads"] == n * bytes_per.grads
    assert measured["optimizer"] == n * bytes_per.optimizer

    # LoRA: the frozen base costs weights only; the adapters cost 16 B each
    lora_policy, _ = hf.load_policy_and_tokenizer(preset.replace(gradient_checkpointing=False))
    opt = _one_adam_step(lora_policy)
    measured = hf.state_bytes(lora_policy, optimizer=opt)
    adapters = count_parameters(lora_policy, trainable_only=True)
    assert measured["weights"] == (n + adapters) * 4
    assert measured["grads"] + measured["optimizer"] == adapters * 12


def test_memory_estimates_of_the_gpu_presets():
    t4, a100 = get_preset("t4-16gb"), get_preset("a100-80gb")
    t4_gb, a100_gb = presets.estimate_memory(t4).total_gb, presets.estimate_memory(a100).total_gb
    assert 3 < t4_gb < 16 and t4_gb < a100_gb < 80
    # the tricks, one by one, each lowers the estimate (lesson 07's calculator)
    naive = presets.estimate_memory(
        t4, lora_fraction=None, reference_from_base=False, precision="fp32",
        frozen_precision="fp32", gradient_checkpointing=False,
    ).total_gb  # fmt: skip
    assert naive > 16 > t4_gb  # a full fp32 fine-tune with a reference copy does not fit a T4
    assert "ESTIMATE" in presets.describe(t4) and "unverified" in presets.describe(t4)
    # the logits at their peak: a training mini-batch b, since scoring also goes b rows at a
    # time (hf.ppo_config_for sets PPOConfig.forward_batch_size to the mini-batch)
    b, V, L, T = t4.mini_batch_size, 151_936, 256 + 128, 128
    assert presets.logits_bytes(t4) == b * V * (2 * 2 * L + 12 * T)
    assert hf.ppo_config_for(t4).forward_batch_size == b < t4.rollout_batch_size
    secs = presets.estimate_step_seconds(t4)
    assert set(secs) == {"generate", "score", "train"} and all(v > 0 for v in secs.values())


@pytest.mark.parametrize("doc", ["README.md", "docs/gpu.md"])
def test_the_preset_tables_quote_the_current_memory_estimates(doc):
    """The docs' preset tables type the estimate in: it must be presets.estimate_memory's,
    rounded as shown ("~6.3 GB" to a tenth, "~47 GB" to a unit)."""
    text = (Path(__file__).resolve().parent.parent / doc).read_text()
    for name in ("t4-16gb", "a100-80gb"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        shown = row.split("|")[5].strip()  # the memory column, e.g. "~6.3 GB"
        number = shown.removeprefix("~").removesuffix(" GB")
        decimals = len(number.partition(".")[2])
        total = presets.estimate_memory(get_preset(name)).total_gb
        assert number == f"{total:.{decimals}f}", f"{doc}: {name} shows {shown}, estimate {total}"


# ── the reward model has another tokenizer: re-tokenize, and say so ────────────────────────


def test_reward_model_with_another_tokenizer_rescores_the_decoded_text(models, capsys):
    policy, tokenizer = models.policy, models.tokenizer
    ids, mask = encode_prompts(tokenizer, models.eval_prompts[:4])
    batch = generate(
        policy, ids, mask, max_new_tokens=8, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    wrapped = reward_scores(models.reward_model, batch.input_ids, batch.attention_mask)  # (B,)
    texts = hf.decode_response_texts(tokenizer, batch)
    conversations = [
        [*models.prompts.conversations[models.prompts.texts.index(p)],
         {"role": "assistant", "content": t}]
        for p, t in zip(models.eval_prompts[:4], texts)
    ]  # fmt: skip
    direct = models.reward_model.scorer_backbone.scorer(conversations)
    torch.testing.assert_close(wrapped, direct)
    assert models.reward_model.retokenizes
    assert "re-tokenized" in models.reward_model.explain()
    # the reward model's own ids are not the policy's: scoring the policy's ids would be wrong
    rm_tok = models.reward_model.scorer_backbone.scorer.tokenizer
    assert rm_tok.get_vocab() != tokenizer.get_vocab()
    # a scorer that shares the policy's tokenizer says so
    same = hf.RetokenizedRewardModel(
        hf.RewardScorer(models.reward_model.scorer_backbone.scorer.model, tokenizer),
        tokenizer, models.prompts, verbose=True,
    )  # fmt: skip
    assert not same.retokenizes and "equals the policy's" in capsys.readouterr().out


# ── bad input: no chat template, no GPU, too little memory, no network ─────────────────────


def test_tokenizer_without_chat_template(preset):
    gold_tok = hf.load_tokenizer(preset.gold_model_id, preset, what="gold", field="gold_model_id")
    messages = [{"role": "user", "content": "review : the plot"}]
    with pytest.raises(hf.MissingChatTemplate, match="no chat template.*fallback='plain'"):
        hf.format_prompt(gold_tok, messages)
    assert hf.format_prompt(gold_tok, messages, fallback="plain") == (
        "User: review : the plot\nAssistant:"
    )
    with pytest.raises(hf.MissingChatTemplate):
        hf.reward_inputs(gold_tok, [messages], "chat")
    enc = hf.reward_inputs(gold_tok, [[*messages, {"role": "assistant", "content": "was great"}]],
                           "pair")  # fmt: skip
    tokens = gold_tok.convert_ids_to_tokens(enc["input_ids"][0])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    # a policy whose tokenizer has no template is refused when loading
    with pytest.raises(hf.MissingChatTemplate, match="no chat template"):
        hf.load_policy_and_tokenizer(preset.replace(policy_id=preset.gold_model_id))


def test_no_gpu_runs_smoke_and_refuses_gpu_presets():
    chosen, message = hf.pick_preset(CPU)
    assert chosen.name == "smoke" and "No CUDA GPU" in message and "t4-16gb" in message
    with pytest.raises(hf.NoGPU, match="get_preset\\('smoke'\\)"):
        hf.check_hardware(get_preset("t4-16gb"), CPU)
    hf.check_hardware(get_preset("smoke"), CPU)  # CPU presets need nothing


def test_too_little_gpu_memory_is_refused_before_loading_with_a_smaller_preset():
    small = Hardware("cuda", "Tiny GPU", 4.0, True)
    with pytest.raises(hf.NotEnoughGPUMemory, match="smaller preset 't4-16gb'"):
        hf.check_hardware(get_preset("a100-80gb"), T4)
    with pytest.raises(hf.NotEnoughGPUMemory, match="smaller preset 'smoke'"):
        hf.check_hardware(get_preset("t4-16gb"), small)
    with pytest.raises(hf.NotEnoughGPUMemory):  # load_* checks before touching the hub
        hf.load_policy_and_tokenizer(get_preset("a100-80gb"), hardware=T4)
    assert hf.pick_preset(T4)[0].name == "t4-16gb"
    assert hf.pick_preset(A100)[0].name == "a100-80gb"
    chosen, message = hf.pick_preset(small)
    assert chosen.name == "smoke" and "less than" in message


def test_bf16_preset_on_a_card_without_bf16():
    a100_on_big_t4 = Hardware("cuda", "Tesla T4", 90.0, False)
    with pytest.raises(ValueError, match="dtype='float16'"):
        hf.check_hardware(get_preset("a100-80gb"), a100_on_big_t4)


def test_no_network_names_what_to_download_and_how_to_point_the_preset(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at call time by hf._offline: no download
    preset = get_preset("t4-16gb", policy_id="rlhf-lessons-test/no-such-model")
    with pytest.raises(hf.ModelUnavailable) as info:
        hf.load_policy_and_tokenizer(preset, hardware=A100)
    text = str(info.value)
    assert "hf download rlhf-lessons-test/no-such-model --local-dir models/no-such-model" in text
    assert "get_preset('t4-16gb', policy_id='models/no-such-model')" in text
    assert "HF_HUB_OFFLINE=1" in text
    data = get_preset("t4-16gb", dataset_id="rlhf-lessons-test/no-such-data")
    with pytest.raises(hf.ModelUnavailable) as info:
        hf.load_preference_data(data, "test_prefs")
    assert "hf download --repo-type dataset rlhf-lessons-test/no-such-data" in str(info.value)
    assert "dataset_id='datasets/no-such-data'" in str(info.value)
    missing = get_preset("t4-16gb", reward_model_id="./models/not-downloaded")
    with pytest.raises(hf.ModelUnavailable, match="does not exist"):
        hf.load_reward_model_and_tokenizer(missing)


def test_presets_are_checked():
    with pytest.raises(ValueError, match=r"preset must be one of \['a100-80gb', 'smoke'"):
        get_preset("h100")
    with pytest.raises(ValueError, match="dtype must be one of"):
        get_preset("t4-16gb", dtype="fp8")
    with pytest.raises(ValueError, match="reference_from_adapters=True needs LoRA"):
        get_preset("t4-16gb", lora_r=None)
    with pytest.raises(ValueError, match="multiple of mini_batch_size"):
        get_preset("t4-16gb", rollout_batch_size=10)
    with pytest.raises(ValueError, match="toy preset"):
        hf.load_policy_and_tokenizer(get_preset("toy"))
    for name in ("t4-16gb", "a100-80gb"):  # no revision is typed in: none could be verified
        p = get_preset(name)
        assert p.policy_revision is None and p.reward_model_revision is None


# ── the course's own PPO trainer runs on the Hugging Face models ───────────────────────────


def test_course_ppo_trainer_runs_on_hf_models(preset):
    m = hf.load_models(preset, n_train=32, n_eval=4, verbose=False)
    base_before = {
        n: p.detach().clone() for n, p in m.policy.named_parameters() if "lora_" not in n
    }
    lora_before = {n: p.detach().clone() for n, p in m.policy.named_parameters() if "lora_" in n}
    config = hf.ppo_config_for(preset, steps=2)
    result, evaluations = hf.run_ppo(m, config, doctor=False)
    rows = result.metrics
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # the policy starts as its reference
    assert rows[0]["first_log_ratio"] < 1e-5  # PPO's first ratio is 1
    assert all(r["gold"] is None for r in rows)  # the toy judge's column is cleared
    assert {"reward", "gold", "kl", "samples"} <= set(evaluations[-1])
    assert evaluations[0]["kl"] == pytest.approx(0.0, abs=1e-5)
    after = dict(m.policy.named_parameters())
    assert all(torch.equal(after[n], p) for n, p in base_before.items())  # base frozen
    assert any(not torch.equal(after[n], p) for n, p in lora_before.items())  # adapters moved
    # the value model's head learned something (it starts at zero)
    values = scalar_outputs(m.value_model, *encode_prompts(m.tokenizer, m.eval_prompts[:2]))
    assert values.abs().sum() > 0
    # and the reference did not move with the policy
    ids, mask = encode_prompts(m.tokenizer, m.eval_prompts[:2])
    batch = generate(
        m.policy, ids, mask, max_new_tokens=6, eos_token_id=m.tokenizer.eos_token_id,
        pad_token_id=m.tokenizer.pad_token_id, generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    base = Qwen2ForCausalLM.from_pretrained(preset.policy_id).eval()
    torch.testing.assert_close(
        response_logprobs(m.reference, batch), response_logprobs(base, batch), rtol=0, atol=1e-5
    )


def test_a_smoke_folder_built_with_other_settings_is_not_reused(preset, monkeypatch):
    assert smoke.is_built()
    monkeypatch.setattr(smoke, "SFT_STEPS", smoke.SFT_STEPS + 1)
    assert not smoke.is_built()  # the key covers the settings: it would be rebuilt


def test_course_dpo_trainer_runs_on_hf_models(preset, models):
    from rlhf_lessons.trainers.dpo import DPOConfig

    config = DPOConfig(steps=2, batch_size=4, lr=1e-3, eval_every=0)
    result, evaluation = hf.run_dpo(preset, models, config, n_pairs=16)
    rows = [r for r in result.metrics if r["step"] >= 1]
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["loss"] == pytest.approx(0.693147, abs=1e-5)  # policy == reference: log 2
    assert rows[1]["loss"] != pytest.approx(0.693147, abs=1e-7)  # and then it learns
    assert {"reward", "gold", "kl", "samples"} <= set(evaluation)


def test_reward_inputs_truncate_the_start_not_the_answer(models):
    scorer = models.reward_model.scorer_backbone.scorer
    conversation = [
        {"role": "user", "content": "review : " + " ".join(["the plot"] * 40)},
        {"role": "assistant", "content": "was great"},
    ]
    full = hf.reward_inputs(scorer.tokenizer, [conversation], "chat")["input_ids"][0]
    cut = hf.reward_inputs(scorer.tokenizer, [conversation], "chat", max_length=12)["input_ids"][0]
    assert len(cut) == 12 < len(full)
    assert cut.tolist() == full[-12:].tolist()  # the answer and its end-of-turn survive


# ── benchmarks/gpu_presets.py: the presets' architectures, and its code path on a CPU ───────
def _gpu_presets_module():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_presets.py"
    spec = importlib.util.spec_from_file_location("gpu_presets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_builds_each_preset_model_at_its_real_size():
    """The architectures typed into the GPU benchmark give the presets' parameter counts
    (built on the meta device: no memory, no download)."""
    gp = _gpu_presets_module()
    for name in ("t4-16gb", "a100-80gb"):
        preset = get_preset(name)
        with torch.device("meta"):
            sizes = {
                role: sum(p.numel() for p in gp.build(model_id, preset, classifier=classifier,
                                                       device="meta").parameters())
                for role, model_id, classifier in [
                    ("policy", preset.policy_id, False),
                    ("value", preset.value_model_id or preset.policy_id, True),
                    ("reward", preset.reward_model_id, True),
                    ("gold", preset.gold_model_id, True),
                ]
            }  # fmt: skip
        assert sizes["policy"] == preset.policy_shape.n_params
        value = preset.value_shape or preset.policy_shape  # tied embeddings: no LM head lost
        assert sizes["value"] == pytest.approx(value.n_params, rel=0.01)
        assert sizes["reward"] == pytest.approx(preset.reward_params, rel=0.02)
        assert sizes["gold"] == pytest.approx(preset.gold_params, rel=0.01)


@pytest.mark.slow
def test_the_gpu_benchmark_runs_the_smoke_preset_on_a_cpu(tmp_path):
    gp = _gpu_presets_module()
    rows = gp.main(["--presets", "smoke", "--ppo-steps", "1", "--dpo-steps", "1",
                    "--out", str(tmp_path / "gpu.json")])  # fmt: skip
    (row,) = rows
    assert row["device"] == "cpu" and row["ppo_peak_gb"] is None
    assert row["ppo_seconds"] > 0 and row["dpo_seconds"] > 0
    assert row["dpo_micro_batch"] == get_preset("smoke").mini_batch_size // 2
    assert row["response_tokens"] > 0.5 * get_preset("smoke").max_new_tokens
    assert json.loads((tmp_path / "gpu.json").read_text())["rows"][0]["preset"] == "smoke"
    assert "| `smoke` | cpu |" in gp.table(rows)
