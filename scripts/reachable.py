"""Exit 0 if the URL answers (any HTTP status below 500) within the timeout, else 1.

Used by scripts/bootstrap.sh and scripts/lock.sh to decide whether PyTorch's CPU index can
be used before pip is pointed at it: pip retries an unreachable host five times (about
10 s) for every page it wants, and on a machine that reaches only PyPI that would be paid
on every install. Standard library only: it runs before the venv has anything in it.
Usage: python3 scripts/reachable.py URL [TIMEOUT_SECONDS]
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def reachable(url: str, timeout: float) -> bool:
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "cafebot-bootstrap"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: reachable.py URL [TIMEOUT_SECONDS]")
    sys.exit(0 if reachable(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 5.0) else 1)
