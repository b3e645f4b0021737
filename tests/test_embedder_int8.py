"""EMBEDDING_INT8: the embedding model's linear layers quantized at load (docs/CACHING.md).

Quantized vectors must keep the meaning (close to the float ones, paraphrases still nearer than
other questions) and carry their own model id, so entries of one never mix with the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.knowledge import KnowledgeBase
from bot.semantic import Ct2Embedder, SentenceTransformerEmbedder, build_semantic_cache
from storage.db import Database
from storage.knowledge import KnowledgeRepository
from testkit.settings import make_settings

QUESTIONS = ["Do you have oat milk?", "Is there any oat milk for my coffee?", "What time do you close on Sunday?",
             "Is the lentil soup vegan?", "How much is a large cappuccino?", "Where is the toilet?"]


@pytest.fixture(scope="module")
def int8() -> Iterator[SentenceTransformerEmbedder]:
    model = SentenceTransformerEmbedder(int8=True)
    model.load()
    yield model
    asyncio.run(model.stop())


def test_int8_vectors_keep_the_meaning_of_the_float_ones(
    embedder: Ct2Embedder, int8: SentenceTransformerEmbedder
) -> None:
    exact, quantized = embedder.encode(QUESTIONS), int8.encode(QUESTIONS)
    assert quantized.shape == exact.shape and quantized.dtype == np.float32
    assert np.allclose(np.linalg.norm(quantized, axis=1), 1.0, atol=1e-3)
    agreement = (exact * quantized).sum(axis=1)
    assert agreement.min() > 0.9, agreement
    similarity = quantized @ quantized.T
    paraphrase = similarity[0, 1]
    assert paraphrase > max(similarity[0, 2:]), similarity[0]  # oat milk is still nearest to oat milk


def test_int8_vectors_carry_their_own_model_id(embedder: Ct2Embedder,
                                               int8: SentenceTransformerEmbedder) -> None:
    assert int8.model_id == f"{embedder.model_id}+int8"
    assert int8.dim == embedder.dim


async def test_the_settings_reach_the_embedder_the_semantic_cache_is_built_with(tmp_path: Path) -> None:
    kinds = {"ctranslate2": (Ct2Embedder, "+ct2-int8"), "sentence-transformers": (SentenceTransformerEmbedder, "+int8")}
    for backend, (kind, suffix) in kinds.items():
        for flag in (False, True):
            settings = make_settings(tmp_path, semantic_cache_enabled=True, embedding_int8=flag,
                                     embedding_backend=backend)
            async with Database(tmp_path / f"{backend}-{flag}.db") as db:
                semantic, components = build_semantic_cache(settings, db,
                                                            KnowledgeBase(settings, KnowledgeRepository(db)))
                assert semantic is not None
                [model] = [c for c in components if isinstance(c, kind)]
                assert model.model_id.endswith(suffix) is flag
                assert semantic.embedding_id.startswith(model.model_id)
