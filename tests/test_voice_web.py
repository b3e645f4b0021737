"""GET and POST /api/agent/whisper on the running side server, with the real model."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.services import Seams
from bot.voice import MAX_AUDIO_BYTES, TranscriberUnavailable, WhisperTranscriber
from testkit.settings import make_settings
from testkit.voice import fixture_bytes
from tests.helpers import admin_headers, running_app
from tests.voice_support import HearsModel

pytestmark = pytest.mark.slow


def upload(data: bytes, field: str = "file", filename: str = "note.ogg") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename, content_type="audio/ogg")
    return form


async def test_get_reports_status_and_model(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/whisper"
        async with http.get(url) as r:
            assert r.status == 200
            body = await r.json()
    assert body["status"] == "ok" and body["loaded"] is True
    assert body["model"] == "tiny.en (bundled)"
    assert (body["device"], body["compute_type"]) == ("cpu", "int8")
    assert {"queue", "transcriptions", "avg_rtf"} <= body.keys()


async def test_get_reports_loading_then_ok_for_a_transcriber_the_app_builds(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """No seam: the application builds the bundled model itself and loads it in the background."""
    async with running_app(make_settings(tmp_path)) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/whisper"
        async with http.get(url) as r:
            assert (await r.json())["status"] in ("loading", "ok")
        await app.services.transcriber.wait_loaded()
        async with http.get(url) as r:
            body = await r.json()
    assert body["status"] == "ok" and body["loaded"] is True


async def test_get_answers_503_when_the_model_failed_to_load(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    (tmp_path / "empty").mkdir()
    async with running_app(make_settings(tmp_path, whisper_model=str(tmp_path / "empty"))) as app:
        with pytest.raises(TranscriberUnavailable):
            await app.services.transcriber.wait_loaded()
        async with http.get(f"http://127.0.0.1:{app.port}/api/agent/whisper") as r:
            assert r.status == 503
            body = await r.json()
    assert body["status"] == "error" and body["loaded"] is False and body["error"]


async def test_post_transcribes_an_upload(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/whisper"
        async with http.post(url, data=upload(fixture_bytes("sunday_closing.ogg")), headers=admin_headers()) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
    assert "sunday" in body["text"].lower()
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(3.8, abs=0.3)
    assert body["timing"]["transcribe_ms"] > 0 and body["timing"]["rtf"] > 0
    assert body["model"] == "tiny.en (bundled)"


async def test_post_requires_the_admin_token(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/whisper"
        async with http.post(url, data=upload(fixture_bytes("oat_milk.ogg"))) as r:
            assert r.status == 401
        async with http.post(url, data=upload(fixture_bytes("oat_milk.ogg")),
                             headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
    assert whisper.status().status == "ok"


async def test_post_rejects_bad_uploads_with_clear_errors(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/whisper"

        async def post(**kwargs: object) -> tuple[int, str]:
            async with http.post(url, headers=admin_headers(), **kwargs) as r:  # type: ignore[arg-type]
                return r.status, (await r.json())["error"]

        status, error = await post(json={"audio": "base64?"})
        assert status == 400 and "multipart" in error
        form = aiohttp.FormData()
        form.add_field("comment", "no file here")
        status, error = await post(data=form)
        assert status == 400 and "'file'" in error
        status, error = await post(data=upload(b""))
        assert status == 400 and "empty" in error
        status, error = await post(data=upload(fixture_bytes("corrupt.ogg")))
        assert status == 400 and "not decodable audio" in error
        status, error = await post(data=upload(b"\0" * (MAX_AUDIO_BYTES + 1)))
        assert status == 413 and "20 MB" in error


async def test_post_hears_the_upload_in_the_language_asked_for(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """`?language=de`: the note is heard as a German customer's would be (a multilingual model is told it)."""
    settings = make_settings(tmp_path, whisper_model="base")
    model = HearsModel("Habt ihr Hafermilch?", "de")
    transcriber = WhisperTranscriber(settings, model=model)
    try:
        async with running_app(settings, Seams(transcriber=transcriber)) as app:
            url = f"http://127.0.0.1:{app.port}/api/agent/whisper"
            for query in ("?language=de", ""):
                async with http.post(url + query, data=upload(fixture_bytes("oat_milk.ogg")),
                                     headers=admin_headers()) as r:
                    assert r.status == 200, await r.text()
            async with http.post(url + "?language=../etc", data=upload(fixture_bytes("oat_milk.ogg")),
                                 headers=admin_headers()) as r:
                assert r.status == 400 and "language" in (await r.json())["error"]
    finally:
        await transcriber.stop()
    assert model.told == ["de", None]  # asked for German; nothing asked: detected
