"""The default embedder on CTranslate2 (bot/semantic/ct2.py): sentence-transformers' vectors without torch.

Its vectors must be sentence-transformers' own (the model id, the thresholds and every stored entry
depend on it), the bot's process must never import torch, and a model not yet converted is converted
offline in a child process.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import bot.semantic.ct2 as ct2
from bot.semantic import Ct2Embedder, SentenceTransformerEmbedder
from bot.semantic.embedder import resolve_model
from testkit import ROOT

QUESTIONS = ["Do you have oat milk?", "what time do u open on saturdays", "Is the lentil soup vegan?",
             "How much is a large cappuccino with an extra shot and oat milk, please?", "wifi?", "",
             "Ünïcödé & emoji ☕ — café crème?", "word " * 300]  # the last is cut at the model's 256 pieces


@pytest.fixture(scope="module")
def reference() -> Iterator[SentenceTransformerEmbedder]:
    model = SentenceTransformerEmbedder()
    model.load()
    yield model
    asyncio.run(model.stop())


def test_its_vectors_are_sentence_transformers_own(embedder: Ct2Embedder,
                                                    reference: SentenceTransformerEmbedder) -> None:
    ours, theirs = embedder.encode(QUESTIONS), reference.encode(QUESTIONS)
    assert ours.shape == theirs.shape == (len(QUESTIONS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-4
    assert embedder.model_id == reference.model_id  # so entries stored by either stay valid
    one_by_one = np.stack([embedder.encode([q])[0] for q in QUESTIONS])  # batching pads; padding must not count
    assert np.abs(one_by_one - ours).max() < 1e-4


def test_its_word_table_is_the_models_own(embedder: Ct2Embedder, reference: SentenceTransformerEmbedder) -> None:
    ours, theirs = embedder.word_table(), reference.word_table()
    assert ours is not None and theirs is not None
    for word in ("oat", "cappuccino", "gluten", "toilet", "café"):
        assert ours[0](word) == theirs[0](word), word
        assert np.array_equal(ours[1][ours[0](word)], theirs[1][theirs[0](word)]), word


def test_the_bots_process_never_imports_torch_or_transformers() -> None:
    code = ("import sys; from bot.semantic import Ct2Embedder; e = Ct2Embedder(); e.load(); e.encode(['hi']);"
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, check=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_model_not_converted_yet_is_converted_at_first_load_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Ct2Embedder
) -> None:
    blocked, store = tmp_path / "not-a-folder", tmp_path / "store"
    blocked.write_text("")  # the image's install-time store, not writable by the bot: the next one is used
    monkeypatch.setattr(ct2, "stores", lambda: [blocked / "ct2", store])
    source, model_id = resolve_model("")
    model = Ct2Embedder()
    try:
        model.load()
        [converted] = list(store.iterdir())
        assert converted.name.startswith(f"{model_id}-float32-") and (converted / "model.bin").is_file()
        assert np.abs(model.encode(QUESTIONS[:3]) - embedder.encode(QUESTIONS[:3])).max() < 1e-4
        assert ct2.prepare(Path(source), model_id) == converted  # found again, not converted twice
    finally:
        asyncio.run(model.stop())


def test_a_model_it_cannot_run_is_refused_with_the_setting_to_use(tmp_path: Path) -> None:
    source, _ = resolve_model("")
    other = tmp_path / "cls-pooling"
    shutil.copytree(source, other)
    pooling = other / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(ct2.ConversionError, match="EMBEDDING_BACKEND=sentence-transformers"):
        ct2.pooling_config(other)
    named = Ct2Embedder("sentence-transformers/some-model-name")
    try:
        with pytest.raises(ct2.ConversionError, match="is not a folder"):
            named.load()
    finally:
        asyncio.run(named.stop())
