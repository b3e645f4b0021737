"""The install is what the lock files say, and the configuration files cannot drift from the code.

Lock files (scripts/lock.sh): every package pinned with `==` and hashed; the direct pins of
requirements.in inside; torch's CPU build in requirements.lock, PyPI's in requirements-gpu.lock,
the same versions of everything else; the environment the tests run in installed from them.
`.env.example` and the README's configuration table list exactly the settings of
`bot.config.Settings`, and `.env.example`'s values are the defaults.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from bot import __version__
from bot.config import Settings
from testkit import ROOT
from testkit.servers import free_port

sys.path.insert(0, str(ROOT / "scripts"))
import lock_local_hashes  # scripts/ is not a package
import reachable

LOCKS = ("requirements.lock", "requirements-gpu.lock", "requirements-dev.lock")
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)
# Settings whose .env.example value is a suggestion, not the default (the example runs with Redis).
EXAMPLE_NOT_DEFAULT = {"redis_url"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        return self.marker is None or Marker(self.marker).evaluate()


def read_lock(name: str) -> list[Pin]:
    pins: list[Pin] = []
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if not line or line.startswith(("#", " ")):
            continue
        match = _REQUIREMENT.match(line)
        assert match, f"{name} line {number + 1} is not a pinned requirement: {line!r}"
        hashes = []
        for following in lines[number + 1:]:
            stripped = following.strip()
            if not stripped.startswith("--hash="):
                break
            hashes.append(stripped.removeprefix("--hash=").rstrip(" \\"))
        pins.append(Pin(canonicalize_name(match["name"]), match["version"], match["marker"], tuple(hashes)))
    return pins


def read_in(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            package, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned with =="
            pins[canonicalize_name(package)] = version
    return pins


def versions(pins: list[Pin]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pin in pins:
        out.setdefault(pin.name, set()).add(pin.version)
    return out


# --- lock files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_pinned_and_hashed(lock: str) -> None:
    text = (ROOT / lock).read_text(encoding="utf-8")
    assert "scripts/lock.sh" in text.splitlines()[1], "the header names the refresh command"
    pins = read_lock(lock)
    assert pins
    for pin in pins:
        assert pin.hashes, f"{lock}: {pin.name}=={pin.version} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), f"{lock}: {pin.name} hashes"


def test_the_locks_hold_the_direct_pins() -> None:
    runtime, gpu, dev = (versions(read_lock(name)) for name in LOCKS)
    for package, version in read_in("requirements.in").items():
        if package == "torch":
            assert runtime[package] == {f"{version}+cpu"}, "requirements.lock has torch's CPU build"
            assert gpu[package] == {version}, "requirements-gpu.lock has PyPI's torch"
        else:
            assert runtime[package] == {version} == gpu[package], package
    for package, version in read_in("requirements-dev.in").items():
        assert dev[package] == {version}, package


def test_the_cpu_lock_has_no_cuda_libraries_and_the_gpu_lock_the_same_other_versions() -> None:
    runtime, gpu, dev = (versions(read_lock(name)) for name in LOCKS)
    cuda = [p for p in runtime if p.startswith(("nvidia-", "cuda-", "triton"))]
    assert not cuda, f"CUDA packages in the CPU lock: {cuda}"
    assert any(p.startswith("nvidia-") for p in gpu), "PyPI's torch brings NVIDIA's libraries on Linux"
    for package, found in runtime.items():
        if package != "torch":
            assert gpu.get(package) == found, f"{package}: {found} in requirements.lock, {gpu.get(package)} in gpu"
    for package, found in dev.items():
        if package in runtime:
            assert found <= runtime[package], f"{package}: the dev lock moved it off requirements.lock's pin"


def test_the_test_environment_is_installed_from_the_lock() -> None:
    """What test.sh and CI run in is what requirements.lock (or its GPU twin) and the dev lock pin."""
    gpu_torch = versions(read_lock("requirements-gpu.lock"))["torch"]
    wrong = []
    for pin in read_lock("requirements.lock") + read_lock("requirements-dev.lock"):
        if not pin.applies():
            continue
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{pin.name} missing")
            continue
        allowed = {pin.version} | (gpu_torch if pin.name == "torch" else set())
        if installed not in allowed:
            wrong.append(f"{pin.name} {installed} (locked {pin.version})")
    assert not wrong, "the venv differs from the lock (run ./test.sh to reinstall): " + ", ".join(wrong)


def test_local_wheel_copies_get_their_hash_added(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("demo-pkg==1.0+cpu \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r requirements.in\n"
                    "other==2.0 \\\n    --hash=sha256:" + "b" * 64 + "\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "demo_pkg-1.0+cpu-py3-none-any.whl").write_bytes(b"a local build")
    (wheels / "demo_pkg-0.9-py3-none-any.whl").write_bytes(b"not the locked version")
    local = lock_local_hashes.sha256(wheels / "demo_pkg-1.0+cpu-py3-none-any.whl")

    assert lock_local_hashes.main([str(lock), str(wheels)]) == 0
    assert lock_local_hashes.main([str(lock), str(wheels)]) == 0  # a second run adds nothing
    assert lock.read_text() == ("demo-pkg==1.0+cpu \\\n    --hash=sha256:" + "a" * 64 + " \\\n"
                                f"    --hash=sha256:{local}\n    # via -r requirements.in\n"
                                "other==2.0 \\\n    --hash=sha256:" + "b" * 64 + "\n")


def test_reachable_tells_an_answering_server_from_a_closed_port() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert reachable.reachable(f"http://127.0.0.1:{server.server_address[1]}/missing", 5)  # a 404 answers
    finally:
        server.shutdown()
    started = time.monotonic()
    assert not reachable.reachable(f"http://127.0.0.1:{free_port()}/", 5)
    assert time.monotonic() - started < 5


# --- configuration files ----------------------------------------------------------------------------
_EXAMPLE_ENTRY = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$")  # `# NAME=value`: listed, left at the default


def _example() -> list[tuple[str, str]]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return [(m[1], m[2]) for line in lines if (m := _EXAMPLE_ENTRY.match(line))]


def test_env_example_lists_every_setting_once() -> None:
    names = [name for name, _ in _example()]
    fields = [name.upper() for name in Settings.model_fields]
    assert sorted(set(names)) == sorted(names), "a variable is listed twice"
    assert not set(fields) - set(names), f"missing from .env.example: {sorted(set(fields) - set(names))}"
    assert not set(names) - set(fields), f"not a setting: {sorted(set(names) - set(fields))}"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(ROOT)  # relative paths in the example are relative to the checkout
    uncommented = tmp_path / "example.env"  # commented-out entries are checked too
    uncommented.write_text("".join(f"{name}={value}\n" for name, value in _example()), encoding="utf-8")
    example = Settings(_env_file=uncommented)  # type: ignore[call-arg]
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        if name in EXAMPLE_NOT_DEFAULT:
            continue
        mine, theirs = getattr(example, name), getattr(default, name)
        if isinstance(mine, Path):
            mine, theirs = mine.resolve(), Path(theirs).resolve()
        assert mine == theirs, f"{name.upper()}: .env.example says {mine!r}, the default is {theirs!r}"


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in documented)
    assert not missing, f"not in the README's configuration table: {missing}"


def test_readme_states_the_current_system_prompt_size() -> None:
    from bot.config import DATA_DIR
    from bot.knowledge.loader import load_cafe, load_menu
    from bot.prompts import build_system_prompt

    (menu, _), (cafe, _) = load_menu(DATA_DIR / "menu.yaml"), load_cafe(DATA_DIR / "cafe.yaml")
    size = len(build_system_prompt(menu, cafe))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"The system prompt is {size:,} characters" in readme, f"the README's prompt size is stale ({size:,})"


# --- version ------------------------------------------------------------------------------------
def test_version_is_the_pyproject_version_and_main_prints_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert __version__ == project["version"]
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "--version"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.startswith(f"cafe-concierge-bot {__version__} (Python {sys.version.split()[0]}, torch ")
    assert metadata.version("torch") in out


def test_supported_python_versions_are_stated_consistently() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
    assert sys.version_info >= (3, 11)
