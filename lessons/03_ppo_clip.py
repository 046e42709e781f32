# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: all
#     notebook_metadata_filter: lesson
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   lesson:
#     learn:
#     - why a policy update needs a trust region, and how PPO gets one by clipping the
#       probability ratio
#     - the clipped loss line by line, with the seed lesson's numbers
#     - which samples get *no* gradient, read off autograd
#     - 'the asymmetry: with A < 0 only the low side clips, so a big ratio is not stopped'
#     - what eps = 1000 turns PPO into (quiz prompt 2)
#     notebook: 03_ppo_clip.ipynb
#     title: "03 \xB7 PPO's clipped objective: a trust region in one line"
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why a trust region
#
# In the RL stage the policy $\pi_\theta$ learns from a **rollout**: responses sampled from the
# policy as it was when sampling, $\pi_{old}$. Policy gradient maximises the surrogate
#
# $$L^{PG}(\theta) = \mathbb{E}_{\pi_{old}}\big[\rho_t A_t\big], \qquad
# \rho_t = \frac{\pi_\theta(a_t \mid s_t)}{\pi_{old}(a_t \mid s_t)} = e^{\text{log\_ratio}_t},$$
#
# whose gradient at $\theta = \theta_{old}$ is exactly the policy gradient. But the rollout only
# says something about $\pi_\theta$ *near* $\pi_{old}$, and $L^{PG}$ is linear in $\rho$: for a
# token with $A > 0$ it says "multiply its probability by 2, by 10, by 1000 — always better".
# Take several optimiser steps on one rollout (PPO does: epochs × minibatches) and the policy can
# jump somewhere the data never described; the next rollout then comes from that broken policy,
# and there is no way back.
#
# TRPO keeps each update inside a *trust region* with a KL constraint (second-order, costly).
# PPO (Schulman et al. 2017) removes the *incentive* to leave it instead:
#
# $$L^{CLIP}(\theta) = \mathbb{E}\Big[\min\big(\rho_t A_t,\ \operatorname{clip}(\rho_t, 1-\varepsilon, 1+\varepsilon)\, A_t\big)\Big],
# \qquad \text{loss} = -L^{CLIP}.$$
#
# The min is **pessimistic**: the clipped term can only lower the objective, never raise it.
# Moving $\rho$ beyond $1 \pm \varepsilon$ in the direction the advantage likes earns nothing, so
# the gradient there is zero.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The loss, line by line
#
# The seed lesson's function, which `rlhf_lessons.ppo_clip_loss` follows line for line (plus
# argument checks and an optional padding `mask`; read it with `ppo_clip_loss??`):
#
# ```python
# ratio = log_ratio.exp()                                          # ρ = π_θ / π_old
# clipped = ratio.clamp(1 - eps, 1 + eps)                          # clip(ρ, 1-ε, 1+ε)
# objective = torch.min(ratio * advantages, clipped * advantages)  # pessimistic bound
# loss = -objective.mean()                                         # we minimise
# ```
#
# The seed's batch: four tokens, the policy moved a little on each, all advantages positive.

# %%
# NBVAL_CHECK_OUTPUT
import torch
from rlhf_lessons import ppo_clip_loss

log_ratios = torch.tensor([0.1, 0.3, -0.1, 0.5])  # policy changed moderately
advantages = torch.tensor([1.0, 0.5, 0.8, 2.0])  # all positive (good actions)
loss_ppo = ppo_clip_loss(log_ratios, advantages)
print(f"PPO clip loss: {loss_ppo:.4f}")
print(f"Unclipped ratios: {log_ratios.exp().round(decimals=3)}")
print(f"Clipped ratios (eps=0.2): {log_ratios.exp().clamp(0.8, 1.2).round(decimals=3)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Per sample: the ratio, its clipped value, the term the min keeps, and the gradient of the loss
# with respect to each log-ratio (computed by autograd through `ppo_clip_loss`).
# `clip_table` is the one function behind this table, the plot and the widget below.

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import Markdown, display
from rlhf_lessons.plots.clip import clip_table, clip_table_text, plot_clip_objective

print(clip_table_text(clip_table(log_ratios, advantages, eps=0.2)))

# %% [markdown]
# The same gradient, straight from autograd: the clipped samples get **exactly** zero, not a
# small number. Nothing in this batch will push their ratios further.

# %%
# NBVAL_CHECK_OUTPUT
log_ratios_ = log_ratios.clone().requires_grad_(True)
ppo_clip_loss(log_ratios_, advantages).backward()
print(f"d loss / d log_ratio: {log_ratios_.grad}")
print(f"zero gradient:        {(log_ratios_.grad == 0).tolist()}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The picture
#
# The objective per unit of advantage against the ratio. Dashed: the unclipped surrogate ρ·A.
# Solid: PPO's min. Shaded: where the solid line is flat, so the gradient is zero: to the
# right of 1 + ε when A > 0, to the left of 1 − ε when A < 0. The seed's samples are the dots
# (a cross when clipped).

# %%
fig = plot_clip_objective(0.2, log_ratios, advantages)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it 1: log-ratios all 2.0
#
# The seed: *"Set `log_ratios = torch.tensor([2.0, 2.0, 2.0, 2.0])` (policy changed a lot). See
# how clipping limits the update even though advantages are positive."*

# %%
# NBVAL_CHECK_OUTPUT
big = torch.full((4,), 2.0)
table = clip_table(big, advantages)
print(clip_table_text(table))
display(Markdown(
    f"Every ratio is e² = {big.exp()[0]:.3f}, far outside [0.8, 1.2]. The clipped loss is "
    f"{table['loss']:.4f} = −1.2·mean(A): PPO credits at most a 20% move, however far the "
    f"policy went. Without the clip the surrogate would claim {table['unclipped_loss']:.4f}. "
    f"{sum(table['clipped'])} of 4 samples are clipped, so the gradient is zero everywhere: "
    "this batch cannot push the policy any further. That is the trust region."
))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it 2: all advantages negative
#
# The seed: *"Set `advantages = torch.tensor([-1.0, -0.5, -0.8, -2.0])` (the model took bad
# actions). Does the PPO loss go up or down?"*

# %%
# NBVAL_CHECK_OUTPUT
negative = torch.tensor([-1.0, -0.5, -0.8, -2.0])
table = clip_table(log_ratios, negative)
print(clip_table_text(table))
display(Markdown(
    f"The loss goes **up**, from {loss_ppo:.4f} to {table['loss']:.4f}: these actions were "
    "bad and the policy made them *more* likely (every ratio above 1 except sample 2). "
    "What moves the policy is the gradient, and every ∂loss/∂log_ratio is positive "
    f"({min(table['grad']):.4f} to {max(table['grad']):.4f}), so a descent step lowers every "
    "log-ratio: away from these actions."
))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the seed glosses over: the clip is one-sided
#
# Look again at samples 1 and 3 above: their ratios are **above** 1 + ε, yet they are *not*
# clipped. With A < 0 the min keeps ρ·A whenever ρ > 1 − ε, because that is the *lower*
# (pessimistic) term. The clip stops the policy from being rewarded for moving *too far in the
# direction the advantage likes*; it never hides a move in the wrong direction. So with A < 0 only
# the low side (ρ < 1 − ε) is flat. The four corners:

# %%
# NBVAL_CHECK_OUTPUT
for value in (2.0, -2.0):
    for sign, name in ((1.0, "A > 0"), (-1.0, "A < 0")):
        t = clip_table(torch.full((4,), value), sign * advantages)
        print(f"log_ratio {value:+.1f} (ratio {t['ratio'][0]:.3f}), {name}: "
              f"loss {t['loss']:+.4f}, clipped {sum(t['clipped'])} of 4, "
              f"unclipped surrogate {t['unclipped_loss']:+.4f}")

# %%
# NBVAL_CHECK_OUTPUT
t = clip_table(torch.full((4,), 2.0), -advantages)
t_low = clip_table(torch.full((4,), -2.0), -advantages)
display(Markdown(
    f"Log-ratios 2.0 with negative advantages give a loss of **{t['loss']:.4f}**, the full "
    f"unclipped {t['unclipped_loss']:.4f}, and {sum(t['clipped'])} of 4 samples clipped: "
    f"the policy raised the probability of bad actions {t['ratio'][0]:.1f}-fold and the loss "
    "says so in full, with a gradient that pulls them back. The other way round, log-ratios "
    f"−2.0 with negative advantages are clipped: the loss stays at {t_low['loss']:.4f}, "
    f"above the unclipped {t_low['unclipped_loss']:.4f}, because the pessimistic bound takes "
    "no credit for moving further away from bad actions than 1 − ε. The clip bounds the "
    "*reward* for a move, never the *penalty*."
))

# %%
fig = plot_clip_objective(0.2, [0.1, 0.3, -0.1, 0.5], [1.0, 0.5, -0.8, -2.0])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Explore it
#
# Move ε, each log-ratio and each advantage; the loss, the ratios and the clipped samples
# (zero gradient, in red) update. The *preset* menu loads the seed's batch and its try-its.
# Things to find: a setting where a sample is outside [1 − ε, 1 + ε] but not clipped; the
# smallest ε that clips nothing in the seed's batch; what ε at its maximum (1000) does.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_lessons.widgets import clip_explorer

clip_explorer()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz prompt 2's eps = 1000: the clip switched off
#
# With ε = 1000 the range is [−999, 1001]: no ratio ever reaches it, the min always keeps
# ρ·A, and PPO's loss **is** the plain policy-gradient surrogate −mean(ρ·A), in value and in
# gradient. Checked on the seed's batch plus the two extreme samples from above:

# %%
# NBVAL_CHECK_OUTPUT
lr = torch.tensor([0.1, 0.3, -0.1, 0.5, 2.0, 2.0], requires_grad=True)
adv = torch.tensor([1.0, 0.5, 0.8, 2.0, 1.0, -1.0])
loss_no_clip = ppo_clip_loss(lr, adv, eps=1000.0)
(grad_no_clip,) = torch.autograd.grad(loss_no_clip, lr)
surrogate = -(lr.exp() * adv).mean()
(grad_surrogate,) = torch.autograd.grad(surrogate, lr)
loss_clip = ppo_clip_loss(lr, adv, eps=0.2)
(grad_clip,) = torch.autograd.grad(loss_clip, lr)
print(f"eps=1000 loss: {loss_no_clip:.4f}   -mean(ratio*A): {surrogate:.4f}   eps=0.2 loss: {loss_clip:.4f}")
print(f"eps=1000 grad: {grad_no_clip}")
print(f"surrogate grad: {grad_surrogate}")
print(f"eps=0.2 grad:  {grad_clip + 0.0}")
print(f"same gradient: {torch.allclose(grad_no_clip, grad_surrogate)}")

# %%
# NBVAL_CHECK_OUTPUT
display(Markdown(
    f"Sample 4 (ratio {lr[4].exp():.3f}, A > 0) shows what is lost: with ε = 0.2 its gradient "
    f"is {grad_clip[4] + 0.0:.4f}; with ε = 1000 it is {grad_no_clip[4]:.4f}, "
    f"{grad_no_clip[4].abs() / grad_no_clip[:4].abs().max():.1f}× the largest gradient of the "
    "seed's four samples: the further the policy has already moved a token, the harder the "
    "unclipped surrogate pushes it further. (Sample 5, the same ratio with A < 0, has the same "
    "gradient with either ε: the clip never hid it.) Over epochs × minibatches on one rollout "
    "this compounds; **05_when_rlhf_breaks** runs eps = 1000 in the real PPO loop and shows "
    "what it does to the KL, the entropy and the gold reward."
))


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise: write the clipped loss
#
# Fill in `my_ppo_clip_loss` (four lines: ratio, clipped ratio, the min, minus the mean).
# The checker compares it with `ppo_clip_loss` on the seed's batch and on random batches with
# both signs of A and several ε, and if it differs tells you which common mistake it looks like.
# Write it in the next cell and run the checker after it: it grades *your* function, and says
# "not done yet" while the stub is untouched. A collapsed cell after the checker holds a
# solution, `solution_ppo_clip_loss`, graded the same way.

# %%
def my_ppo_clip_loss(log_ratio, advantages, eps=0.2):
    # YOUR CODE HERE
    raise NotImplementedError


# %%
# NBVAL_CHECK_OUTPUT
from rlhf_lessons.exercises.lesson03 import check_ppo_clip_loss

check_ppo_clip_loss(my_ppo_clip_loss);

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
def solution_ppo_clip_loss(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()  # ρ = π_θ / π_old
    clipped = ratio.clamp(1 - eps, 1 + eps)  # clip(ρ, 1-ε, 1+ε)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


check_ppo_clip_loss(solution_ppo_clip_loss);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Quiz
#
# The seed's prompt 2, for you or your favourite AI:
#
# > *Walk me through why PPO is used for RLHF instead of simpler policy gradient algorithms.
# > What is the clipping objective protecting against, and what happens to training stability
# > if you remove the clip (set eps=1000)?*
#
# Pointers from this notebook: the plain policy-gradient surrogate is PPO with ε = 1000 (the
# cell above shows they are equal, in value and gradient); *Try it 1* shows what the clip
# protects against (a batch that would push already-moved tokens further); the asymmetry shows
# why the clip is safe (it never hides a bad move). For what happens to training, run
# **05_when_rlhf_breaks**, where eps = 1000 goes into the real PPO loop. Model answers:
# `docs/answers/03.md`.
