"""Trainers: each follows the contract in contract.py (a Config with a comment per field, RULES,
a TOY preset and check(); train_x(config, ..., gold_fn, eval_prompts, out_dir, resume, doctor,
callback, progress); a TrainResult; CONFIG + run_cli for the command line).

- contract.py      the contract: TrainerConfig, TrainResult, ConfigError, the NaN policy
- common.py        metrics log, atomic resumable checkpoints, verify_checkpoint
- sft.py           supervised fine-tuning on demonstrations        (01_rlhf_pipeline)
- reward_model.py  Bradley–Terry reward model on preference pairs  (02_reward_model)
- ppo.py           the four-model PPO loop                          (04_ppo_loop)
- dpo.py, grpo.py  direct preference optimisation, group-relative PO (06_dpo_and_grpo)
- toy_models.py    cached toy SFT policy and reward model, so every lesson starts in seconds
- run_cache.py     lesson 04's PPO run, saved once for lesson 06 and the comparison
- pipeline.py      a temporary shim (grpo.py's command line); the course imports
                   rlhf_lessons.pipeline
"""
