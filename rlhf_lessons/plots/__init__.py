"""matplotlib figures the lessons show; one module per theme.

- plots.clip: the clipped objective against the ratio (03_ppo_clip)
- plots.training: loss and metric curves, live plots during training (01, 02, 04-06)
- plots.frontier: the reward–KL frontier against the exact optimum (06_dpo_and_grpo)
"""
