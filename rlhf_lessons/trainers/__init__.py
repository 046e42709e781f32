"""Trainers: each is one Config dataclass (a comment per field, a `toy()` preset) and a train function.

- sft.py           supervised fine-tuning on demonstrations        (01_rlhf_pipeline)
- reward_model.py  Bradley–Terry reward model on preference pairs  (02_reward_model)
- ppo.py           the four-model PPO loop                          (04_ppo_loop)
- dpo.py, grpo.py  direct preference optimisation, group-relative PO (06_dpo_and_grpo)
- pipeline.py      cached toy SFT policy and reward model, so every lesson starts in seconds
"""
