"""The embedding model on CTranslate2: the same weights and vectors, without torch in the bot.

sentence-transformers needs torch and transformers in the process: 365 MB resident before any
model is loaded, and ~6 s of imports holding the GIL while the bot answers (docs/BENCHMARKS.md
"Memory"). CTranslate2 already runs Whisper here; it runs the embedding model's BERT encoder as
well, and `tokenizers` (the Rust tokenizer sentence-transformers itself uses) turns text into
word pieces. Mean pooling and normalisation are the model's own (checked in its modules.json),
done in numpy. At float32 the vectors equal sentence-transformers' to 1e-7, so the model id,
the thresholds and every stored entry stay valid (tests/test_embedder_ct2.py).

The encoder is converted from the model's folder once, by the converter that ships with
CTranslate2 (it reads the weights through transformers and torch, so it runs in a child
process: the bot never imports them). `scripts/bootstrap.sh` and the Dockerfile convert the
bundled model at install time; otherwise the first load converts it (about 10 s), offline.
`python -m bot.semantic.convert prepare [MODEL]` converts ahead of time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.models_check import verify_if_bundled
from bot.semantic.embedder import DEFAULT_TORCH_THREADS, BackgroundEmbedder, resolve_model

log = logging.getLogger(__name__)

BATCH_SIZE = 64
CONVERTED_TYPE = "float32"  # what is stored; EMBEDDING_INT8 quantizes at load
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16}


class ConversionError(RuntimeError):
    """The model could not be converted (not a mean-pooling BERT-like model, or the converter failed)."""


def pooling_config(source: Path) -> int:
    """The model's maximum sequence length, if it is Transformer → mean Pooling → Normalize; else raises.

    Those are the steps this module reproduces; any other model needs EMBEDDING_BACKEND=sentence-transformers.
    """
    try:
        modules = json.loads((source / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((source / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        settings = json.loads((source / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ConversionError(f"{source} is not a sentence-transformers model folder ({exc})") from exc
    if kinds != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise ConversionError(f"{source}: only Transformer → mean Pooling → Normalize models run on "
                              f"CTranslate2 (this one is {' → '.join(kinds)}); "
                              "set EMBEDDING_BACKEND=sentence-transformers")
    return int(settings.get("max_seq_length", 512))


def _fingerprint(source: Path, quantization: str) -> str:
    """What a conversion depends on: the source's files (name, size, mtime), CTranslate2's version, the type."""
    import ctranslate2

    digest = hashlib.sha256(f"{ctranslate2.__version__} {quantization}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(source)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def stores() -> list[Path]:
    """Where converted models live, in order: beside the installed packages (written at install time,
    read-only to the bot in the image), then the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path(sys.prefix) / "share" / "cafe-bot" / "ct2", cache / "cafe-bot" / "ct2"]


def prepare(source: Path, model_id: str) -> Path:
    """The converted model for `source` (float32; int8 is applied when loading), converting it into the first
    writable store if no store has it."""
    name = f"{_safe(model_id)}-{CONVERTED_TYPE}-{_fingerprint(source, CONVERTED_TYPE)}"
    for store in stores():
        if (store / name / "model.bin").is_file():
            return store / name
    pooling_config(source)
    errors = []
    for store in stores():
        try:
            store.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".converting-", dir=store))
        except OSError as exc:
            errors.append(f"{store}: {exc}")
            continue
        try:
            started = time.perf_counter()
            _convert_in_child(source, work / "model", CONVERTED_TYPE)
            try:
                (work / "model").rename(store / name)  # atomic: a replica converting too loses the race harmlessly
            except OSError:
                if not (store / name / "model.bin").is_file():
                    raise
            log.info("embedding model %s converted for CTranslate2 in %.1fs (%s)", model_id,
                     time.perf_counter() - started, store / name)
            return store / name
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raise ConversionError(f"no writable place for the converted embedding model: {'; '.join(errors)}")


def _convert_in_child(source: Path, target: Path, quantization: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # the folder is local: never download
    done = subprocess.run(
        [sys.executable, "-m", "bot.semantic.convert", "convert", str(source), str(target),
         "--quantization", quantization],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0 or not (target / "model.bin").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ConversionError(f"converting {source} for CTranslate2 failed: {' | '.join(tail)}")


def _safe(model_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)


def word_embeddings(weights: Path) -> np.ndarray:
    """The input embedding table from a safetensors file, memory-mapped (read only, paged in as used)."""
    with weights.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    entry = next((v for k, v in header.items() if k == WORD_EMBEDDINGS or k.endswith("." + WORD_EMBEDDINGS)), None)
    if entry is None or entry["dtype"] not in _SAFETENSORS_DTYPES:
        raise ConversionError(f"{weights} has no {WORD_EMBEDDINGS} table this module can read")
    start, end = entry["data_offsets"]
    table = np.memmap(weights, dtype=_SAFETENSORS_DTYPES[entry["dtype"]], mode="r", offset=8 + size + start,
                      shape=tuple(entry["shape"]))
    assert table.nbytes == end - start
    return table


class Ct2Embedder(BackgroundEmbedder):
    """The default embedder: CTranslate2 + tokenizers, mean pooling and normalisation in numpy."""

    def __init__(self, model: str = "", *, threads: int = DEFAULT_TORCH_THREADS, int8: bool = False) -> None:
        super().__init__()
        source, self._converted_id = resolve_model(model)
        self._source = Path(source)
        # int8: quantized when loaded, about 0.997 cosine to the float vectors (not sentence-transformers'
        # int8): its own id, so entries of one never mix with the other.
        self._compute_type = "int8" if int8 else "float32"
        self.model_id = self._converted_id + ("+ct2-int8" if int8 else "")
        self._threads = threads
        self._encoder: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        if not self._source.is_dir():
            raise ConversionError(f"EMBEDDING_MODEL {self._source} is not a folder: a model name needs "
                                  "EMBEDDING_BACKEND=sentence-transformers (or download it to a folder)")
        verify_if_bundled(self._source)  # the bundled weights against bot/model_sums.json
        started = time.perf_counter()
        max_length = pooling_config(self._source)
        converted = prepare(self._source, self._converted_id)
        tokenizer = Tokenizer.from_file(str(self._source / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        self._tokenizer = tokenizer
        self._encoder = ctranslate2.Encoder(str(converted), device="cpu", compute_type=self._compute_type,
                                            intra_threads=self._threads, inter_threads=1)
        self._dim = int(self._forward(["dimension"]).shape[1])
        log.info("embedding model %s loaded on CTranslate2 in %.1fs (dim %d, %d thread(s))",
                 self.model_id, time.perf_counter() - started, self._dim, self._threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= BATCH_SIZE:
            return self._forward(texts)
        return np.concatenate([self._forward(texts[i:i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)])

    def _forward(self, texts: list[str]) -> np.ndarray:
        ids = [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]
        hidden = np.asarray(self._encoder.forward_batch(ids).last_hidden_state, dtype=np.float32)  # padded
        lengths = np.array([len(row) for row in ids], dtype=np.float32)
        mask = (np.arange(hidden.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(lengths, 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)

    def word_table(self) -> tuple[Callable[[str], list[int]], np.ndarray] | None:
        """The model's word pieces of a word and its input embedding table (the soft unknown-word rule,
        `bot/semantic/words.py`); None before the model is loaded."""
        if self._tokenizer is None:
            return None
        weights = self._source / "model.safetensors"
        if not weights.is_file():
            return None
        tokenizer = self._tokenizer

        def pieces(word: str) -> list[int]:
            return list(tokenizer.encode(word, add_special_tokens=False).ids)

        return pieces, word_embeddings(weights)
