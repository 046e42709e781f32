"""One-way layers (issue 15): the package's module graph, built from EVERY import statement
(function-local ones included, read with ast), has no cycle and no edge from a lower layer up
to a higher one. A new module must be placed in LAYERS, so its place is a decision.

    core math -> toy world -> models/rollout -> algorithms -> analysis -> planning -> hf
    -> course -> CLI        (an arrow: "may be imported by")
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rlhf_lessons"

# layer -> modules (names relative to rlhf_lessons; "" is the package's __init__). Modules
# that other work will add are listed already, so that they pass when they arrive.
LAYERS: dict[str, tuple[str, ...]] = {
    "core math": ("", "_checks", "runtime", "losses", "advantages", "batching"),
    "toy world": (
        "toy",
        "toy.data",
        "toy.generate",
        "toy.judge",
        "toy.tokenizer",
        "toy.vocab",
        "toy.verifier",
    ),  # fmt: skip
    # doctor.py is one of the "analysis" modules, but every trainer builds one when
    # doctor=None (the contract), so it sits below the algorithms; it imports nothing of ours.
    "models/rollout": ("models", "rollout", "evaluate", "doctor"),
    "algorithms": (
        "trainers",
        "trainers.common",
        "trainers.contract",
        "trainers.sft",
        "trainers.reward_model",
        "trainers.ppo",
        "trainers.dpo",
        "trainers.grpo",
        "trainers.reinforce",
        "trainers.rloo",
        "trainers.toy_models",
        "trainers.run_cache",
    ),  # fmt: skip
    "analysis": ("optimum", "best_of_n", "comparison", "trl_count", "verifiable"),
    "planning": ("budget", "presets"),
    "hf": ("chat", "smoke", "hf", "distributed"),
    "course": (
        "pipeline",
        "student",
        "widgets",
        "widgets.budget",
        "widgets.clip",
        "widgets.labeller",
        "plots",
        "plots.clip",
        "plots.frontier",
        "plots.training",
        "plots.policy_gradient",
        "plots.budget",
        "plots.update",
        "exercises",
        *(f"exercises.lesson{n:02d}" for n in range(1, 11)),
        "exercises.capstone",
    ),  # fmt: skip
    "CLI": ("__main__",),
}
RANK = {m: i for i, mods in enumerate(LAYERS.values()) for m in mods}
LAYER_OF = {m: name for name, mods in LAYERS.items() for m in mods}

# Modules left out of the graph (none: every module follows the one-way rule).
SKIP: set[str] = set()


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports anywhere in its file (top level or inside functions)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
                if not (module == "rlhf_lessons" or module.startswith("rlhf_lessons.")):
                    continue
                module = module.removeprefix("rlhf_lessons").lstrip(".")
            # `from . import presets` names a module; `from .x import f` names the module x
            named = [f"{module}.{a.name}".lstrip(".") for a in node.names]
            targets = [t for t in named if t in mods] or [module]
        for target in targets:
            if isinstance(node, ast.Import):
                if not (target == "rlhf_lessons" or target.startswith("rlhf_lessons.")):
                    continue
                target = target.removeprefix("rlhf_lessons").lstrip(".")
            while target not in mods and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in mods and target != name:
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items() if m not in SKIP}


def test_every_module_has_a_layer(graph):
    missing = sorted(m for m in graph if m not in RANK)
    assert not missing, f"add these modules to LAYERS in tests/test_architecture.py: {missing}"


def test_no_import_goes_up_a_layer(graph):
    upward = sorted(
        f"{m} ({LAYER_OF[m]}) imports {d} ({LAYER_OF[d]})"
        for m, deps in graph.items()
        for d in deps
        if m in RANK and d in RANK and d not in SKIP and RANK[d] > RANK[m]
    )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle(graph):
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if d in SKIP:
                continue
            if state.get(d) == 1:
                cycles.append(" -> ".join(path[path.index(d) :] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_function_local_imports(graph):
    """The graph is only as good as its reader: a function-local import must show up."""
    assert "trainers.toy_models" in graph["trainers.ppo"]  # imported inside run_cli
    assert "chat" in graph["smoke"]  # imported inside functions
    assert "presets" in graph["chat"]  # `from . import presets as presets_module`


def test_trainers_never_import_the_gold_judge(graph):
    """The gold judge reaches a trainer as `gold_fn`; only a command line (run_cli) imports it."""
    for trainer in ("trainers.sft", "trainers.reward_model", "trainers.ppo", "trainers.dpo"):
        source = (PACKAGE / (trainer.replace(".", "/") + ".py")).read_text()
        tree = ast.parse(source)
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.Module)):
                continue
            body = fn.body if isinstance(fn, ast.FunctionDef) else [
                n for n in fn.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))
            ]  # fmt: skip
            for node in body:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom) and any(
                        a.name in ("gold_score", "gold_scores") for a in sub.names
                    ):
                        where = getattr(fn, "name", "module level")
                        assert where == "run_cli", f"{trainer} imports the judge in {where}"
