"""Add the hashes of local wheel copies to a lock file written by `uv pip compile`.

uv records the files of the first source that offers a version. A machine may also keep
its own copy of a wheel (a local wheel folder, a mirror) whose bytes differ from the index
copy; without its hash, `pip install --require-hashes` refuses it there. For every wheel
in the given folders whose name and version are pinned in the lock, its SHA-256 is added
to that pin when missing. Standard library only (runs from scripts/lock.sh).
Usage: python3 scripts/lock_local_hashes.py LOCK_FILE [FOLDER ...]
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_hashes(lines: list[str], key: tuple[str, str], hashes: list[str]) -> tuple[list[str], int]:
    """The lock's lines with `hashes` appended to the pin of `key` (name, version) where missing."""
    out: list[str] = []
    added = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = _PIN.match(line)
        i += 1
        if not match or (normalise(match.group(1)), match.group(2)) != key:
            continue
        block: list[str] = []
        while i < len(lines) and lines[i].lstrip().startswith("--hash="):
            block.append(lines[i].rstrip(" \\\n"))
            i += 1
        known = {b.strip().removeprefix("--hash=sha256:") for b in block}
        for h in hashes:
            if h not in known:
                block.append(f"    --hash=sha256:{h}")
                added += 1
        out.extend(b + (" \\\n" if n < len(block) - 1 else "\n") for n, b in enumerate(block))
    return out, added


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    lock = Path(argv[0])
    lines = lock.read_text().splitlines(keepends=True)
    pins = {(normalise(m.group(1)), m.group(2)) for line in lines if (m := _PIN.match(line))}
    total = 0
    for folder in argv[1:]:
        for wheel in sorted(Path(folder).glob("*.whl")):
            name, version = wheel.name.split("-")[:2]
            key = (normalise(name), version)
            if key in pins:
                lines, added = add_hashes(lines, key, [sha256(wheel)])
                if added:
                    print(f"{lock}: added the hash of {wheel}", file=sys.stderr)
                total += added
    if total:
        lock.write_text("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
