"""The tests; importing the package first imports aiogram as `python main.py run` does (its models built on
first use: bot/telegram/aiogram_import.py), so the in-process tests run the production path too."""

from bot.telegram.aiogram_import import import_aiogram

import_aiogram()
