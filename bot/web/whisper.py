"""The runbook's Whisper health check and an admin endpoint to transcribe an upload.

GET  /api/agent/whisper  status and model (503 when the model failed to load)
POST /api/agent/whisper  multipart audio upload (field `file`) -> transcript, language, duration, timing
                         (decoded as a voice note is: told the menu's words, in the menu's spelling);
                         `?language=de`: heard as a customer of that language's note (multilingual models)
"""

from __future__ import annotations

import re

from aiohttp import BodyPartReader, web

from bot.voice import (
    MAX_AUDIO_BYTES,
    AudioDecodeError,
    AudioTooLong,
    TranscriberBusy,
    TranscriberUnavailable,
)
from bot.web.auth import admin_required, json_error
from bot.web.keys import SERVICES

PATH = "/api/agent/whisper"
FILE_FIELDS = ("file", "audio", "voice")
RETRY_AFTER_SECONDS = 5
_LANGUAGE = re.compile(r"[a-z]{2,3}")


async def whisper_status(request: web.Request) -> web.Response:
    transcriber = request.app[SERVICES].transcriber
    if transcriber is None:
        return web.json_response({"status": "error", "loaded": False, "error": "voice is not configured"}, status=503)
    status = transcriber.status()
    return web.json_response(status.as_dict(), status=503 if status.status == "error" else 200)


@admin_required
async def whisper_transcribe(request: web.Request) -> web.Response:
    transcriber = request.app[SERVICES].transcriber
    if transcriber is None:
        return json_error(503, "voice is not configured")
    language = request.query.get("language") or None
    if language is not None and not _LANGUAGE.fullmatch(language):
        return json_error(400, "language: a language code such as en or de")
    if not request.content_type.startswith("multipart/"):
        return json_error(400, "send the audio as multipart/form-data in a field named 'file'")
    try:
        audio = await _read_upload(request)
    except ValueError as exc:
        return json_error(400, f"malformed multipart body: {exc}")
    if audio is None:
        return json_error(400, "no audio: send the file in a multipart field named 'file'")
    if len(audio) > MAX_AUDIO_BYTES:
        return json_error(413, f"audio larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB", limit_bytes=MAX_AUDIO_BYTES)
    if not audio:
        return json_error(400, "the uploaded file is empty")
    try:
        transcript = await transcriber.transcribe(audio, request.app[SERVICES].vocabulary.current, language)
    except TranscriberBusy:
        return web.json_response(
            {"error": "busy, please try again in a moment"}, status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except TranscriberUnavailable as exc:
        return json_error(503, f"speech model unavailable: {exc}")
    except AudioTooLong as exc:
        return json_error(400, f"audio longer than WHISPER_MAX_SECONDS ({exc.limit:.0f}s)", limit_seconds=exc.limit)
    except AudioDecodeError as exc:
        return json_error(400, f"not decodable audio: {exc}")
    return web.json_response({
        "text": transcript.text,
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "duration": transcript.duration,
        "speech_duration": transcript.speech_duration,
        "model": transcriber.status().model,
        "vocabulary": transcript.vocabulary,
        "timing": {
            "queue_ms": round(transcript.queue_seconds * 1000, 1),
            "decode_ms": round(transcript.decode_seconds * 1000, 1),
            "transcribe_ms": round(transcript.transcribe_seconds * 1000, 1),
            "total_ms": round((transcript.queue_seconds + transcript.processing_seconds) * 1000, 1),
            "rtf": round(transcript.rtf, 4),
        },
    })


async def _read_upload(request: web.Request) -> bytes | None:
    """The first file field's bytes; stops reading one chunk past the limit (the caller answers 413)."""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name not in FILE_FIELDS and part.filename is None:
            await part.release()
            continue
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_AUDIO_BYTES:
                break
        return b"".join(chunks)
    return None


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, whisper_status)
    app.router.add_post(PATH, whisper_transcribe)
