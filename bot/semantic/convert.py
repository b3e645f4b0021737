"""`python -m bot.semantic.convert prepare [MODEL]`: the embedding model converted for CTranslate2 ahead of time.

`scripts/bootstrap.sh` and the Dockerfile run `prepare` at install time; `convert` is the child
process in which bot/semantic/ct2.py runs CTranslate2's converter (it imports transformers and torch,
which the bot's own process never does).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.semantic.ct2 import ConversionError, prepare
from bot.semantic.embedder import resolve_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.semantic.convert", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="convert SOURCE into TARGET (the child process of `prepare`)")
    convert.add_argument("source")
    convert.add_argument("target")
    convert.add_argument("--quantization", default="float32")
    ready = commands.add_parser("prepare", help="convert the embedding model unless it is already converted")
    ready.add_argument("model", nargs="?", default="", help="EMBEDDING_MODEL (default: the bundled model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "convert":
        from ctranslate2.converters import TransformersConverter
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        TransformersConverter(args.source).convert(args.target, quantization=args.quantization, force=True)
        return 0
    source, model_id = resolve_model(args.model)
    try:
        print(prepare(Path(source), model_id))
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
