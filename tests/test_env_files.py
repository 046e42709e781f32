"""environment.yml (conda) and pyproject.toml (pip) must name the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip, "environment.yml has no pip: section"
    return pip[0]["pip"]


def test_runtime_dependencies_agree():
    pyproject = {r.replace(" ", "") for r in _pyproject()["dependencies"]}
    conda = {r.replace(" ", "") for r in _conda_pip() if not r.startswith("-")}
    assert pyproject == conda, (
        f"only in pyproject: {pyproject - conda}; only in environment.yml: {conda - pyproject}"
    )


def _self_extras(extra: str) -> set[str]:
    """The extras `extra` names, following rlhf-lessons[...] references to itself."""
    extras = _pyproject()["optional-dependencies"]
    found, todo = set(), [extra]
    while todo:
        name = todo.pop()
        found.add(name)
        for req in extras[name]:
            if _name(req) == "rlhf-lessons":
                todo += [
                    e for e in re.search(r"\[(.*)\]", req).group(1).split(",") if e not in found
                ]
    return found


def test_dev_is_every_extra():
    extras = set(_pyproject()["optional-dependencies"])
    assert _self_extras("dev") == extras, f"[dev] leaves out {extras - _self_extras('dev')}"


def test_extras_installed_by_conda_env():
    extras = set(_pyproject()["optional-dependencies"])
    editable = [r for r in _conda_pip() if r.startswith("-e")]
    assert editable, "environment.yml must install the course itself (-e .[...])"
    named = set()
    for extra in re.search(r"\[(.*)\]", editable[0]).group(1).split(","):
        named |= _self_extras(extra)
    assert named == extras, f"environment.yml installs extras {named}, pyproject has {extras}"


def test_torch_range_admits_the_pinned_cpu_wheel():
    torch_req = next(r for r in _pyproject()["dependencies"] if _name(r) == "torch")
    makefile = (ROOT / "Makefile").read_text()
    pin = re.search(r"TORCH_SPEC \?= torch==([\d.]+)", makefile).group(1)
    from packaging.specifiers import SpecifierSet

    assert pin in SpecifierSet(torch_req[len("torch") :]), (
        f"Makefile pins torch {pin}, outside {torch_req}"
    )


def test_trl_is_pinned_in_crosscheck():
    crosscheck = _pyproject()["optional-dependencies"]["crosscheck"]
    assert "trl==1.16.0" in crosscheck, (
        "trl must stay pinned: its API and config fields move between releases"
    )


# ── constraints.txt: the reproducible install (issue 15, item 6) ─────────────────────────────


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not name==version"
            pins[_normal(name)] = version
    return pins


def _requirements() -> list[str]:
    project = _pyproject()
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if _name(r) != "rlhf-lessons"]
    return reqs


def test_constraints_satisfy_pyproject():
    from packaging.requirements import Requirement

    pins = _pins()
    wrong, missing = [], []
    for text in _requirements():
        req = Requirement(text)
        name = _normal(req.name)
        if name == "torch":  # the Makefile's TORCH_SPEC pins it (CPU or CUDA wheel)
            assert name not in pins, "constraints.txt must leave torch to TORCH_SPEC"
        elif name not in pins:
            missing.append(req.name)
        elif pins[name] not in req.specifier:
            wrong.append(f"{req.name}=={pins[name]} (pyproject: {text})")
    assert not wrong, f"constraints.txt pins outside pyproject's range: {wrong}; make constraints"
    assert not missing, f"constraints.txt does not pin {missing}: install them, make constraints"
    assert "rlhf-lessons" not in pins, "constraints.txt must not pin the course itself"


def test_constraints_satisfy_environment_yml_and_are_installed_by_it():
    from packaging.requirements import Requirement

    pip = _conda_pip()
    assert "-c constraints.txt" in pip, "environment.yml must install with -c constraints.txt"
    pins = _pins()
    for text in pip:
        if text.startswith("-"):
            continue
        req = Requirement(text)
        if _normal(req.name) in pins:
            assert pins[_normal(req.name)] in req.specifier, (
                f"constraints.txt pins {req.name}=={pins[_normal(req.name)]}, "
                f"environment.yml asks {text}"
            )


def test_every_install_uses_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    course = [line for line in installs if "-e " in line]
    assert course and all("-c $(CONSTRAINTS)" in line for line in course), course
    assert "CONSTRAINTS := constraints.txt" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pre_commit_hooks_run_the_pinned_linters():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    revs = {repo["repo"].rsplit("/", 1)[-1]: repo["rev"] for repo in config["repos"]}
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "codespell"} <= hooks, hooks
    pins = _pins()
    for repo, package in (("ruff-pre-commit", "ruff"), ("codespell", "codespell")):
        assert revs[repo] == f"v{pins[package]}", (
            f".pre-commit-config.yaml runs {package} {revs[repo]}, constraints.txt pins "
            f"{pins[package]}: make them agree"
        )


def test_make_lab_runs_as_root_and_without_a_display():
    import os
    import shutil
    import subprocess

    import pytest

    if shutil.which("make") is None:
        pytest.skip("no make")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run(
        ["make", "-n", "lab"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    lab = [line for line in done.stdout.splitlines() if "jupyter lab" in line]
    assert lab, done.stdout + done.stderr
    if os.uname().sysname != "Darwin":
        assert "--no-browser" in lab[0], lab[0]
    assert ("--allow-root" in lab[0]) == (os.getuid() == 0), lab[0]
    with_display = subprocess.run(
        ["make", "-n", "lab"],
        cwd=ROOT,
        env={**env, "DISPLAY": ":0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--no-browser" not in with_display.stdout
