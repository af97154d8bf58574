"""The `container` mode: each child in a podman (or docker) container.

For a grader that is neither root nor able to use bubblewrap (a laptop, macOS
with Docker Desktop or podman machine). Each child runs as `python3` in a
local image, with no network, a read-only root, a 4 MB `/tmp`, every
capability dropped, no new privileges, the `nobody` uid, the grader's resource
limits as ulimits, and only two folders mounted, read-only: the runner and the
clean copy of the submission. The kit, the reference, the reports, the secret
and the class are not in it.

The runner needs the standard library only, so any image with Python 3.11 or
later works (`python:3.11-slim`). The grader never downloads one at run time
(`--pull=never`): pull it once, or build one from this machine's own Python
with `python -m grader container-image` (`build_image`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_IMAGE = "python:3.11-slim"
LOCAL_IMAGE = "localhost/micrograd-grader-child:latest"
ENGINES = ("podman", "docker")
# Resource limits as `--ulimit` names (RLIMIT_AS has none: RLIMIT_DATA bounds the heap and mmaps).
ULIMITS = {"RLIMIT_AS": "data", "RLIMIT_CPU": "cpu", "RLIMIT_FSIZE": "fsize", "RLIMIT_NOFILE": "nofile",
           "RLIMIT_CORE": "core", "RLIMIT_NPROC": "nproc"}  # fmt: skip
NOBODY = "65534:65534"


@dataclass
class Engine:
    """A container engine that ran the smoke test."""

    program: str
    """podman or docker, as found on PATH."""
    image: str
    """The image every child runs in."""
    options: list[str] = field(default_factory=list)
    """Global options the smoke test found necessary (`--runtime runc` where crun cannot run)."""

    @property
    def name(self) -> str:
        return Path(self.program).name


def engine_env() -> dict[str, str]:
    """The engine's own environment (it finds its storage through HOME and XDG_*), without the
    grader's secret. Nothing of it reaches a container: `run` passes only what is named."""
    return {k: v for k, v in os.environ.items() if k != "GRADER_SECRET"}


def run_command(engine: Engine, name: str, limits: dict[str, int], tmp_bytes: int,
                mounts: list[tuple[Path, str]], argv: list[str]) -> list[str]:  # fmt: skip
    """`ENGINE run` for one child: every mount read-only, nothing else of the host."""
    cmd = [engine.program, *engine.options, "run", "--rm", "--name", name, "--pull=never", "--network=none",
           "--read-only", "--user", NOBODY, "--cap-drop=all", "--security-opt", "no-new-privileges",
           "--tmpfs", f"/tmp:size={tmp_bytes}", "--workdir", "/submission", "--env", "LC_ALL=C.UTF-8"]  # fmt: skip
    for rlimit, value in limits.items():
        if rlimit in ULIMITS:
            cmd += ["--ulimit", f"{ULIMITS[rlimit]}={value}:{value}"]
    for host, inside in mounts:
        cmd += ["--volume", f"{host}:{inside}:ro"]
    return [*cmd, engine.image, "python3", *argv]


def child_name() -> str:
    return f"micrograd-child-{uuid.uuid4().hex[:12]}"


def remove(engine: Engine, name: str) -> None:
    """Stop and remove a child's container (its client was killed: the container may still run)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        now = ["--time", "0"] if engine.name == "podman" else []  # podman waits 10 s for SIGTERM otherwise
        subprocess.run([engine.program, *engine.options, "rm", "--force", *now, name], env=engine_env(),
                       capture_output=True, timeout=60, check=False)  # fmt: skip


def find_engine(image: str | None, limits: dict[str, int]) -> tuple[Engine | None, str]:
    """The first engine that runs `python3` in the image, or (None, why not)."""
    problems = []
    for candidate in ENGINES:
        program = shutil.which(candidate)
        if not program:
            continue
        for options in ([], ["--runtime", "runc"]):
            if options and (candidate != "podman" or not shutil.which("runc")):
                continue
            engine = Engine(program, image or DEFAULT_IMAGE, options)
            problem = _smoke_test(engine, limits)
            if not problem:
                return engine, ""
            if "cgroups in hybrid mode" not in problem:  # crun on cgroup v1: runc may work
                break
        problems.append(f"{candidate}: {problem}")
    if not problems:
        return None, "no container engine (podman or docker) is installed"
    return None, "; ".join(problems)


def _smoke_test(engine: Engine, limits: dict[str, int]) -> str:
    with tempfile.TemporaryDirectory(prefix="grader-container-") as tmp:
        os.chmod(tmp, 0o755)
        argv = ["-I", "-S", "-c", "import sys; print(6 * 7 if sys.version_info >= (3, 11) else 'too old')"]
        cmd = run_command(engine, child_name(), limits, 1 << 20, [(Path(tmp), "/submission")], argv)
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=engine_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
    if run.returncode == 0 and run.stdout.strip() == "42":
        return ""
    if run.stdout.strip() == "too old":
        return f"the image {engine.image} has a Python older than 3.11"
    text = (run.stderr.strip() or run.stdout.strip() or f"exit code {run.returncode}")[-300:]
    if "image not known" in text or "Unable to find image" in text or "No such image" in text:
        return (f"the image {engine.image} is not on this machine (the grader never downloads at run time): "
                f"`{engine.name} pull {engine.image}` once, or `python -m grader container-image`")  # fmt: skip
    return text


def build_image(program: str, python: str, tag: str = LOCAL_IMAGE) -> str:
    """An image of this machine's own Python (the `uid` mode's jail: the interpreter, its
    libraries and the standard library) with `python3` on PATH, for machines that cannot pull."""
    from grader.jail import build_jail

    jail = build_jail(python, [])
    try:
        link = jail / "usr" / "local" / "bin" / "python3"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(Path(python).resolve())
        with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
            archive = Path(tmp) / "rootfs.tar"
            with tarfile.open(archive, "w") as tar:
                tar.add(jail, arcname=".")
            run = subprocess.run([program, "import", str(archive), tag], capture_output=True, text=True,
                                 timeout=600, env=engine_env(), check=False)  # fmt: skip
    finally:
        shutil.rmtree(jail, ignore_errors=True)
    if run.returncode != 0:
        raise OSError(f"{program} import failed: {run.stderr.strip()[-300:]}")
    return tag
