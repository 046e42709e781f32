"""The command line: `python -m rlhf_lessons <command> --preset toy --seed S --steps N --out DIR`.

Each training command writes OUT/metrics.jsonl (one JSON object per step with at least step,
reward (proxy), gold, kl and seconds — null where a field means nothing for that stage) and
saves its model with safetensors under OUT/checkpoint/. With `--preset toy` each command builds
what it needs (e.g. `ppo` trains or loads the SFT policy and the reward model first).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "sft": ("rlhf_lessons.trainers.sft", "supervised fine-tuning on demonstrations (lesson 01)"),
    "reward-model": (
        "rlhf_lessons.trainers.reward_model",
        "Bradley–Terry reward model on preference pairs (lesson 02)",
    ),
    "ppo": ("rlhf_lessons.trainers.ppo", "the four-model PPO loop (lesson 04)"),
    "dpo": ("rlhf_lessons.trainers.dpo", "direct preference optimisation (lesson 06)"),
    "grpo": ("rlhf_lessons.trainers.grpo", "group-relative policy optimisation (lesson 06)"),
}
TOOLS = {
    "student-edition": ("rlhf_lessons.student", "write the student edition of the notebooks"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rlhf_lessons", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--preset", default="toy", help="named set of config values (default: toy)")
        p.add_argument(
            "--seed",
            type=int,
            default=0,
            help="random seed: same seed + thread count = same numbers",
        )
        p.add_argument("--steps", type=int, help="number of training steps (default: the preset's)")
        p.add_argument(
            "--out", required=True, help="run folder: metrics.jsonl and checkpoint/ go here"
        )
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue from OUT/checkpoint after an interruption",
        )
        p.add_argument(
            "--threads", type=int, help="torch threads (default: $RLHF_LESSONS_THREADS or 1)"
        )
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError:
            pass  # a trainer not written yet keeps only the common flags
    for name, (_, help_text) in TOOLS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        return importlib.import_module(TOOLS[argv[0]][0]).main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    from .runtime import set_threads

    set_threads(args.threads)
    if args.preset != "toy" and args.command in ("sft", "reward-model"):
        raise SystemExit(
            f"--preset {args.preset!r}: the {args.command} command only has the 'toy' preset"
        )
    importlib.import_module(COMMANDS[args.command][0]).run_cli(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
