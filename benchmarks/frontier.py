"""The full reward–KL frontier of the toy world: PPO, DPO, GRPO and best-of-N over a beta sweep,
with the exact optimum π* ∝ π_ref·exp(r/β) (Monte Carlo) on top.

    .venv/bin/python benchmarks/frontier.py [--steps 40] [--out benchmarks/results]
    .venv/bin/python benchmarks/frontier.py --replot benchmarks/results/frontier.json

Lesson 06 draws a small version of this figure (a few betas, to stay under a minute); this
script runs the whole sweep (several minutes on one core) and writes

    OUT/frontier.png   the two panels of `plots.frontier.plot_frontier` (proxy–KL, gold–KL)
    OUT/frontier.md    one table row per run: method, beta or n, gold, proxy, KL, seconds
    OUT/frontier.json  the same rows, machine-readable

Every method starts from the same cached SFT policy and is judged by the same held-out
evaluation (`comparison.run_method`). The optimum uses `--opt-prompts` held-out prompts with
`--opt-samples` reference samples each; where its effective sample size is small the curve
is drawn dashed (only a lower bound).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SWEEP = {
    "PPO": (0.01, 0.02, 0.05, 0.1, 0.2),
    "DPO": (0.03, 0.1, 0.3, 1.0),
    "GRPO": (0.04, 0.1, 0.2, 0.5),
    "best-of-N": (1, 2, 4, 8, 16, 32, 64),  # n, not beta
}
OPTIMUM_BETAS = (0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 4.0)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument("--opt-prompts", type=int, default=64, help="prompts for the optimum")
    parser.add_argument("--opt-samples", type=int, default=1024, help="reference samples each")
    parser.add_argument("--methods", nargs="*", default=list(SWEEP), choices=list(SWEEP))
    parser.add_argument("--replot", metavar="JSON", help="only redraw OUT/frontier.png from JSON")
    args = parser.parse_args(argv)
    from rlhf_lessons.runtime import set_threads

    set_threads()  # $RLHF_LESSONS_THREADS or 1
    if args.replot:
        from rlhf_lessons.plots.frontier import plot_frontier

        data = json.loads(Path(args.replot).read_text())
        title = f"Toy world, {args.steps} steps of 64 sequences per run, seed {args.seed}"
        plot_frontier(data["runs"], data["optimum"], title=title).savefig(
            Path(args.out) / "frontier.png", dpi=120
        )
        return data["runs"]

    from rlhf_lessons.comparison import frontier, load_world, optimum_curve, reference_row
    from rlhf_lessons.plots.frontier import plot_frontier

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = load_world(seed=args.seed)
    rows = [reference_row(world)]
    for method in args.methods:
        t0 = time.perf_counter()
        rows += frontier(world, method, SWEEP[method], steps=args.steps)
        print(f"{method}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    optimum = optimum_curve(
        world, OPTIMUM_BETAS, n_prompts=args.opt_prompts, n_samples=args.opt_samples
    )
    print(f"optimum: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    keep = ("method", "beta", "n", "gold", "reward", "kl", "eos_rate", "seconds")
    table = [{k: r.get(k) for k in keep} for r in rows]
    fig = plot_frontier(
        table,
        optimum,
        title=f"Toy world, {args.steps} steps of 64 sequences per run, seed {args.seed}",
    )
    fig.savefig(out / "frontier.png", dpi=120)
    lines = [
        f"# Reward–KL frontier of the toy world ({args.steps} steps per run, seed {args.seed}, "
        f"{os.environ.get('RLHF_LESSONS_THREADS', '1')} thread(s))",
        "",
        "| method | beta / n | gold | proxy reward | KL (nats) | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in table:
        knob = f"n = {r['n']}" if r["n"] else (f"β = {r['beta']:g}" if r["beta"] else "")
        seconds = f"{r['seconds']:.1f}" if r.get("seconds") is not None else ""
        lines.append(
            f"| {r['method']} | {knob} | {r['gold']:.3f} | {r['reward']:.3f} | {r['kl']:.2f} "
            f"| {seconds} |"
        )
    lines += [
        "",
        f"Optimum π* ({args.opt_prompts} prompts × {args.opt_samples} reference samples):",
        "",
        "| beta | proxy reward | KL (nats) | gold | J* | ESS (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in optimum:
        lines.append(
            f"| {r['beta']:g} | {r['reward']:.3f} | {r['kl']:.2f} | {r['gold']:.3f} "
            f"| {r['j_star']:.3f} | {r['ess_mean']:.0f} |"
        )
    (out / "frontier.md").write_text("\n".join(lines) + "\n")
    (out / "frontier.json").write_text(json.dumps({"runs": table, "optimum": optimum}, indent=1))
    print("\n".join(lines))
    return table


if __name__ == "__main__":
    main()
