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
    conda = {r.replace(" ", "") for r in _conda_pip() if not r.startswith("-e")}
    assert pyproject == conda, (
        f"only in pyproject: {pyproject - conda}; only in environment.yml: {conda - pyproject}"
    )


def test_extras_installed_by_conda_env():
    extras = set(_pyproject()["optional-dependencies"])
    editable = [r for r in _conda_pip() if r.startswith("-e")]
    assert editable, "environment.yml must install the course itself (-e .[...])"
    named = set(re.search(r"\[(.*)\]", editable[0]).group(1).split(","))
    assert named == extras, f"environment.yml installs extras {named}, pyproject has {extras}"


def test_torch_range_admits_the_pinned_cpu_wheel():
    torch_req = next(r for r in _pyproject()["dependencies"] if _name(r) == "torch")
    makefile = (ROOT / "Makefile").read_text()
    pin = re.search(r"TORCH_SPEC \?= torch==([\d.]+)", makefile).group(1)
    from packaging.specifiers import SpecifierSet

    assert pin in SpecifierSet(torch_req[len("torch") :]), (
        f"Makefile pins torch {pin}, outside {torch_req}"
    )


def test_trl_is_pinned_in_dev():
    dev = _pyproject()["optional-dependencies"]["dev"]
    assert "trl==1.16.0" in dev, (
        "trl must stay pinned: its API and config fields move between releases"
    )
