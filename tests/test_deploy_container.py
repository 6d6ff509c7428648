"""deploy/Containerfile, as far as a machine with no container engine can test it: its own install steps (the
`pip` lines of each stage, with that stage's WORKDIR and COPY) run in clean virtualenvs standing for the base
image's Python; the result holds ecrwatch and its dependencies only (no test or demo extras), `ecrwatch`
works as the entrypoint with the image's environment, a `check` run writes nothing outside the state volume
and TMPDIR (a read-only root filesystem would refuse it), and the CronJobs run as the user the image creates.

The build takes a while (wheels for every dependency, a virtualenv per stage): one test (marked slow) does it
once and checks everything that needs it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ecrwatch.sim.server import SimAWS

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
CRONJOBS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
# What python:3.X-slim brings besides the interpreter; a virtualenv made by this Python may add setuptools.
BASE_PACKAGES = {"pip", "setuptools"}


# --- the Containerfile, parsed ----------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending.strip())
        pending = ""
    return [(word.upper(), rest.strip()) for word, _, rest in (x.partition(" ") for x in logical)]


def stages(text: str) -> list[Stage]:
    parsed: list[Stage] = []
    for instruction, arguments in instructions(text):
        if instruction == "FROM":
            base, _, name = arguments.partition(" AS ")
            parsed.append(Stage(name.strip() or str(len(parsed)), base.strip()))
        else:
            parsed[-1].steps.append((instruction, arguments))
    return parsed


def final_stage() -> Stage:
    return stages(CONTAINERFILE.read_text())[-1]


def image_user() -> tuple[int, int]:
    """The numeric USER of the image, after checking it is the user the image creates."""
    steps = final_stage().steps
    (user,) = [arguments for instruction, arguments in steps if instruction == "USER"]
    uid, _, gid = user.partition(":")
    commands = " && ".join(arguments for instruction, arguments in steps if instruction == "RUN")
    created_user = re.search(r"useradd [^&]*--uid (\d+) [^&]*--gid (\d+)", commands)
    created_group = re.search(r"groupadd [^&]*--gid (\d+)", commands)
    assert created_user and created_group, "the image creates its user and group with fixed ids"
    assert (uid, gid) == (created_user.group(1), created_user.group(2)) == (uid, created_group.group(1))
    return int(uid), int(gid)


def image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for instruction, arguments in final_stage().steps:
        if instruction == "ENV":
            environment.update(word.split("=", 1) for word in shlex.split(arguments))  # type: ignore[misc]
    return environment


# --- the build, emulated ----------------------------------------------------------------------------------------


@dataclass
class Built:
    python: Path  # the final stage's interpreter, with what its RUN steps installed
    entrypoint: list[str]
    environment: dict[str, str]


def _inside(root: Path, container_path: str, workdir: str) -> Path:
    """A path of the stage's filesystem, under the directory that stands for its root."""
    absolute = container_path if container_path.startswith("/") else f"{workdir.rstrip('/')}/{container_path}"
    resolved = (root / absolute.lstrip("/")).resolve()
    assert resolved.is_relative_to(root), container_path
    return resolved


def _run(command: str, python: Path, root: Path, workdir: str) -> None:
    """A RUN line: its pip commands run with the stage's Python; `rm -rf` of a path inside the stage is done
    here. Anything else (useradd, groupadd) changes the system, not the Python: checked, not run."""
    cwd = _inside(root, workdir, "/")
    for part in command.split("&&"):
        words = shlex.split(part)
        if words[0] == "pip":
            subprocess.run([str(python), "-m", "pip", *words[1:]], cwd=cwd, check=True, capture_output=True)
        elif words[:2] == ["rm", "-rf"]:
            for target in words[2:]:
                shutil.rmtree(_inside(root, target, workdir))
        else:
            assert words[0] in ("groupadd", "useradd"), f"the test does not know how to emulate: {part}"


def build(workspace: Path) -> Built:
    built: dict[str, Path] = {}  # stage name -> its root
    python = Path(sys.executable)
    entrypoint: list[str] = []
    for stage in stages(CONTAINERFILE.read_text()):
        root = workspace / f"stage-{stage.name}"
        root.mkdir(parents=True)
        environment = workspace / f"python-{stage.name}"  # the base image's Python, clean
        subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
        python = environment / "bin" / "python"
        workdir = "/"
        for instruction, arguments in stage.steps:
            if instruction == "WORKDIR":
                workdir = arguments
                _inside(root, workdir, "/").mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                words = shlex.split(arguments)
                origin = ROOT
                if words[0].startswith("--from="):
                    origin = built[words.pop(0).removeprefix("--from=")]
                *sources, target = words
                for source in sources:
                    from_path = origin / source.lstrip("/")
                    to_path = _inside(root, target, workdir)
                    if from_path.is_dir():
                        shutil.copytree(from_path, to_path, dirs_exist_ok=True)
                    else:
                        to_path.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(from_path, to_path / from_path.name)
            elif instruction == "RUN":
                _run(arguments, python, root, workdir)
            elif instruction == "ENTRYPOINT":
                entrypoint = json.loads(arguments)
        built[stage.name] = root
    return Built(python, entrypoint, image_environment())


def installed(python: Path) -> dict[str, dict[str, Any]]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], check=True, capture_output=True, text=True
    )
    return {canonicalize_name(p["name"]): p for p in json.loads(listing.stdout)}


def dependency_closure(python: Path, name: str) -> set[str]:
    """The distribution and everything it requires (no extras), as installed for that Python."""
    code = (
        "import json, sys\n"
        "from importlib.metadata import distribution\n"
        "print(json.dumps({n: distribution(n).requires or [] for n in sys.argv[1:]}))\n"
    )
    seen: set[str] = set()
    todo = [name]
    while todo:
        batch = [n for n in dict.fromkeys(todo) if n not in seen]
        todo = []
        if not batch:
            break
        out = subprocess.run([str(python), "-c", code, *batch], check=True, capture_output=True, text=True)
        for distribution, requires in json.loads(out.stdout).items():
            seen.add(canonicalize_name(distribution))
            for line in requires:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    todo.append(canonicalize_name(requirement.name))
    return seen


def run_entrypoint(image: Built, *args: str, home: Path, env: dict[str, str] | None = None) -> Any:
    """The image's ENTRYPOINT with these arguments and the image's ENV, HOME and TMPDIR mapped to `home`."""
    environment = {k: v.replace("/tmp", str(home)) for k, v in image.environment.items()}
    environment["PATH"] = f"{image.python.parent}:/usr/bin:/bin"
    environment.update(env or {})
    return subprocess.run(
        [*image.entrypoint, *args], env=environment, cwd=home, capture_output=True, text=True, timeout=120
    )


# --- tests ------------------------------------------------------------------------------------------------------


def test_the_image_builds_from_a_slim_python_in_two_stages() -> None:
    parsed = stages(CONTAINERFILE.read_text())
    assert len(parsed) == 2
    assert all(re.fullmatch(r"(docker\.io/library/)?python:3\.\d+-slim(-\w+)?", s.base) for s in parsed)
    assert ("ENTRYPOINT", '["ecrwatch"]') in parsed[-1].steps


def _files(*roots: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for root in roots for p in root.rglob("*")}


@pytest.mark.slow
def test_the_install_steps_give_ecrwatch_and_its_dependencies_only_working_on_a_read_only_root(
    sim_aws: SimAWS, tmp_path: Path
) -> None:
    # One test for the whole build: under pytest-xdist, separate tests could each build the image.
    image = build(tmp_path / "image")

    # Only ecrwatch and what it requires (no extras): no moto, pytest, cfn-lint, ...
    packages = installed(image.python)
    closure = dependency_closure(image.python, "ecrwatch")
    assert {"boto3", "kubernetes", "rich", "click"} <= closure
    assert set(packages) - BASE_PACKAGES == closure
    assert not {"moto", "pytest", "hypothesis", "cfn-lint", "jsonschema", "ruff", "mypy"} & set(packages)

    # The ENTRYPOINT is ecrwatch, working with the image's environment.
    scratch, state = tmp_path / "tmp", tmp_path / "state"
    scratch.mkdir()
    state.mkdir()
    result = run_entrypoint(image, "--help", home=scratch)
    assert result.returncode == 0, result.stderr
    assert "Usage: ecrwatch" in result.stdout
    for command in ("check", "status", "enable-scanning", "iam-policy"):
        assert command in result.stdout

    # A check run (against the simulated account) writes its state and report, and nothing in the installed
    # tree, which stands for the image's read-only root filesystem.
    installed_tree = image.python.parent.parent
    before = _files(installed_tree)
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    result = run_entrypoint(
        image,
        "check",
        "--region",
        "us-east-1",
        "--no-eks",
        "--format",
        "json",
        "--state",
        str(state / "state.json"),
        "--output",
        str(state / "last-report.json"),
        home=scratch,
        env=aws,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((state / "last-report.json").read_text())["summary"]["running_containers"] == 0
    assert (state / "state.json").is_file()
    assert _files(installed_tree) == before


# --- the CronJobs run the image as its user ---------------------------------------------------------------------


def _pods() -> list[tuple[str, dict[str, Any]]]:
    pods = []
    for path in CRONJOBS:
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] == "CronJob":
                pods.append((path.name, document["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return pods


@pytest.mark.parametrize(("manifest", "pod"), _pods(), ids=[name for name, _ in _pods()])
def test_the_cronjob_runs_as_the_user_the_image_creates_on_a_read_only_root(manifest: str, pod: dict[str, Any]) -> None:
    uid, gid = image_user()
    context = pod["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (uid, gid, True)
    (container,) = pod["containers"]
    assert container.get("securityContext", {}).get("readOnlyRootFilesystem") is True
    assert "command" not in container  # the image's ENTRYPOINT (ecrwatch) runs; args are its arguments
    # What the image points HOME and TMPDIR to must be writable: an emptyDir mounted there.
    environment = image_environment()
    assert environment["HOME"] == environment["TMPDIR"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[environment["TMPDIR"]]]
