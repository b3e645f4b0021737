"""Entry point: `python main.py` (same as `python main.py run`). See `python main.py --help`."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
