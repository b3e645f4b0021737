"""The fakes and fixtures shared by the tests and the benchmarks.

The fake Telegram and OpenAI servers (`testkit.fakes`), the settings and identities a run
against them uses (`settings`), a private Redis (`servers`), the staff group and an
always-open cafe (`ordering`), the speech fixtures (`voice`). Tests and benchmarks both
import from here, so neither imports the other. Production code (bot/, handlers/,
storage/) never imports it: tests/test_walls.py checks.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: data/, main.py, tests/fixtures/
