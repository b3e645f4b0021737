#!/usr/bin/env python3
"""Send a test message to the staff group (the runbook's scripts/test-telegram.mjs).

Same as `python main.py notify-test`; reads the same environment / .env.
Usage: scripts/test_telegram.py [--text "..."]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["notify-test", *sys.argv[1:]]))
