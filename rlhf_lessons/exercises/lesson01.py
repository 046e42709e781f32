"""Checker for 01_rlhf_pipeline's exercise: write the response-only SFT loss yourself.

    def my_sft_loss(logits, batch): ...

`logits` are the policy's outputs for the whole query, (B, P + T, V); `batch` is the
`QueryBatch` they came from ([left-padded prompt | right-padded response], see
rlhf_lessons.batching). The loss is the mean cross-entropy of the *response* tokens only:

    loss = - Σ_t mask_t · log π(y_t | x, y_<t)  /  Σ_t mask_t

where column P - 1 + t of the logits predicts response token t (the shift), and mask_t is
`batch.response_mask` (1 up to and including <eos>, 0 on the padding after it).

`check_sft_loss` runs the learner's function on real toy-world queries (prompts of different
lengths, so there is left padding; responses of different lengths, so there is padding after
<eos>) with seeded random logits, compares it with the formula, and when it differs says which
typical mistake it matches: prompt tokens in the loss, no shift, the shift one token late,
padding counted, dividing by every position, sum instead of mean, per-sequence averaging.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..batching import QueryBatch, encode_queries
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_sft_loss", "reference_sft_loss", "MISTAKES"]

EOS_ID = 2  # the toy tokenizer's <eos> (rlhf_lessons.toy.tokenizer: 0 <pad>, 1 <bos>, 2 <eos>)


def reference_sft_loss(logits: torch.Tensor, batch: QueryBatch) -> torch.Tensor:
    """The response-only SFT loss from the query's logits (the formula of the lesson)."""
    P = batch.prompt_len
    logits = logits[:, P - 1 : -1]  # (B, T, V): column P-1+t predicts response token t
    nll = F.cross_entropy(logits.transpose(1, 2), batch.response_ids, reduction="none")  # (B, T)
    mask = batch.response_mask.float()  # (B, T): 1 up to and including <eos>
    return (nll * mask).sum() / mask.sum()


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")


def _prompt_included(logits, b):
    nll = _nll(logits[:, :-1], b.input_ids[:, 1:])  # every next-token prediction of the query
    mask = b.attention_mask[:, 1:].float()
    return (nll * mask).sum() / mask.sum()


def _no_shift(logits, b):
    nll = _nll(logits[:, b.prompt_len :], b.response_ids)
    mask = b.response_mask.float()
    return (nll * mask).sum() / mask.sum()


def _one_late(logits, b):
    nll = _nll(logits[:, b.prompt_len : -1], b.response_ids[:, 1:])
    mask = b.response_mask[:, 1:].float()
    return (nll * mask).sum() / mask.sum()


def _padding_counted(logits, b):
    return _nll(logits[:, b.prompt_len - 1 : -1], b.response_ids).mean()


def _all_positions(logits, b):
    nll = _nll(logits[:, b.prompt_len - 1 : -1], b.response_ids)
    mask = b.response_mask.float()
    return (nll * mask).sum() / mask.numel()


def _summed(logits, b):
    nll = _nll(logits[:, b.prompt_len - 1 : -1], b.response_ids)
    return (nll * b.response_mask.float()).sum()


def _per_sequence(logits, b):
    nll = _nll(logits[:, b.prompt_len - 1 : -1], b.response_ids)
    mask = b.response_mask.float()
    return ((nll * mask).sum(1) / mask.sum(1)).mean()


def _eos_left_out(logits, b):
    nll = _nll(logits[:, b.prompt_len - 1 : -1], b.response_ids)
    mask = b.response_mask.float() * (b.response_ids != EOS_ID)  # (B, T) real words only
    return (nll * mask).sum() / mask.sum()


# Typical wrong answers, each a function of (logits, batch), with what to say.
MISTAKES = {
    "prompt tokens in the loss": (
        _prompt_included,
        "your loss also scores the prompt tokens. The prompt is given to the policy, not "
        "written by it: SFT trains only the response. Slice the logits to the response "
        "columns: logits[:, P - 1 : -1] against batch.response_ids, with batch.response_mask.",
    ),
    "no shift": (
        _no_shift,
        "off by one: you compare logits[:, P:] with the response tokens, so each column is "
        "asked to predict the token it already sees. A causal LM's column t predicts token "
        "t + 1: the first response token is predicted at the last prompt column, P - 1. "
        "Use logits[:, P - 1 : -1].",
    ),
    "shift one token late": (
        _one_late,
        "off by one: your loss starts at the second response token, so the first word of "
        "every response (predicted at the last prompt column, P - 1) is never trained. "
        "Use logits[:, P - 1 : -1] against all of batch.response_ids.",
    ),
    "eos left out": (
        _eos_left_out,
        "your mask drops the <eos> token: then the policy never learns to *stop*, and its "
        "responses run to max_new_tokens. <eos> is part of the response the demonstrator "
        "wrote; batch.response_mask is 1 up to and including it: use that mask as it is.",
    ),
    "padding counted": (
        _padding_counted,
        "you average over every response column, including the <pad> columns after <eos>: "
        "the policy is trained to predict padding. Multiply by batch.response_mask and divide "
        "by its sum.",
    ),
    "divided by every position": (
        _all_positions,
        "you mask the padding but divide by the number of *all* response columns "
        "(mask.numel()), so batches with shorter responses get smaller losses. Divide by the "
        "number of real tokens: mask.sum().",
    ),
    "sum instead of mean": (
        _summed,
        "you sum the token losses; the loss is their mean over real response tokens "
        "(/ mask.sum()), so its size does not depend on the batch size or response lengths.",
    ),
    "per-sequence mean": (
        _per_sequence,
        "you average each response first, then the batch: a short response's tokens then "
        "weigh more than a long one's. This course (like TRL's SFTTrainer) averages over all "
        "real response tokens of the batch: (nll * mask).sum() / mask.sum().",
    ),
}

_HINT = (
    "hint: P = batch.prompt_len; logits[:, P - 1 : -1] predicts batch.response_ids; "
    "nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction='none'); "
    "loss = (nll * mask).sum() / mask.sum() with mask = batch.response_mask"
)

# Demonstrations chosen so that prompts differ in length (left padding) and responses differ
# in length (padding after <eos>); one response never ended (no <eos>).
_EXAMPLES = [
    [
        ("review : the plot", "was great <eos>"),
        ("review : overall its cast and music", "is quite dull but the ending felt moving <eos>"),
        ("review : its pace", "was slow and the acting is clever but its humor felt flat <eos>"),
        ("review : the film and story", "is fun"),
    ],
    [
        ("review : overall the ending", "was so gripping <eos>"),
        ("review : its music and camera", "is loud but the visuals was stunning <eos>"),
        ("review : the script", "was weak <eos>"),
    ],
]


def _cases() -> list[tuple[torch.Tensor, QueryBatch]]:
    from ..toy import build_tokenizer

    tokenizer = build_tokenizer()
    g = torch.Generator().manual_seed(1)
    cases = []
    for examples in _EXAMPLES:
        batch = encode_queries(tokenizer, [p for p, _ in examples], [r for _, r in examples])
        logits = 2.0 * torch.randn(*batch.input_ids.shape, len(tokenizer), generator=g)
        cases.append((logits, batch))  # (B, P + T, V)
    return cases


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return bool(torch.allclose(x.detach().double(), y.detach().double(), rtol=1e-4, atol=1e-5))


def _fail(message: str, raise_on_fail: bool, mistake: str = "wrong_value") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def check_sft_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(logits, batch)` against the response-only SFT loss.

    Introduced in 01_rlhf_pipeline. Prints and returns a Verdict; raises AssertionError only
    with raise_on_fail=True (a stub raising NotImplementedError gets "not yet" and a hint).
    A wrong answer is named only when it matches that mistake on *every* test batch.
    """
    results = []  # (logits, batch, learner's loss, reference)
    for logits, batch in _cases():
        logits = logits.clone().requires_grad_(True)
        got, failed = run_candidate(fn, logits, batch, stub_hint=_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if problem := scalar_loss_problem(
            got, "average the token losses over the real response tokens"
        ):
            return _fail(problem, raise_on_fail, "not_a_scalar_tensor")
        results.append((logits, batch, got, reference_sft_loss(logits, batch)))

    wrong = [r for r in results if not _close(r[2], r[3])]
    if wrong:
        _, batch, got, expected = wrong[0]
        numbers = (
            f"(got {got.item():.4f}, expected {expected.item():.4f} on a batch of "
            f"{len(batch)} queries, prompt_len {batch.prompt_len})"
        )
        with torch.no_grad():
            for name, (mistake, message) in MISTAKES.items():
                if all(_close(r[2], mistake(r[0], r[1])) for r in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(
            f"your loss differs from the response-only SFT loss {numbers}. {_HINT}",
            raise_on_fail,
        )
    if not all(r[2].requires_grad for r in results):
        return _fail(
            "the value is right but it carries no gradient (did you use .item(), numpy, "
            ".detach() or torch.no_grad()?); the optimiser needs the graph back to the logits",
            raise_on_fail,
            "no_gradient",
        )
    return report(
        Verdict(
            True,
            "your loss matches the response-only SFT loss on batches with left-padded prompts, "
            "padding after <eos> and a response that never ended",
        ),
        raise_on_fail,
    )
