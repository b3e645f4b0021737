"""Voice notes, audio files and video notes: listen, show the transcript, answer it like text.

Cheap checks come first (the per-user gate of bot/voice/gate.py, applied by
`VoiceGateMiddleware`, then the declared
duration and size: nothing is downloaded for a note we would refuse), then a place in
the transcriber's workers and queue is reserved (a flood of notes gets "busy" answers,
not a download each), then getFile and the download through the bot's own session (so
TELEGRAM_API_URL applies), then the transcription in the reserved place; the place is
given back on every path (download failed, file refused, handler cancelled). Every
outcome gets a reply: the transcript and then the answer, admitted and answered like text
(`admitted()`, then handlers.chat.answer with kind "voice"), or a sentence saying what to do.
"""

from __future__ import annotations

import io
import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction, ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import Audio, Document, Message, VideoNote, Voice
from aiohttp import ClientError

from bot.config import Settings
from bot.conversation import Conversation
from bot.i18n import N_, _, current_locale
from bot.telegram.chat_action import QuietChatActionSender
from bot.telegram.drafts import DraftStreams
from bot.telegram.middlewares import VoiceGateMiddleware, admitted
from bot.text import escape, split_message
from bot.voice import (
    MAX_AUDIO_BYTES,
    AudioDecodeError,
    AudioTooLong,
    Transcriber,
    TranscriberBusy,
    TranscriberUnavailable,
    Transcript,
    TranscriptionSlot,
)
from bot.voice.vocabulary import MenuVocabulary, Vocabulary
from handlers.chat import answer

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 60

TOO_LONG = N_(
    "That one is {seconds} seconds long — I can listen to voice notes of up to {limit} seconds. "
    "Could you send a shorter one, or type your question?"
)
TOO_BIG = N_(
    "That file is too big for me to download (bots can fetch files of up to 20 MB). "
    "Could you send a shorter voice note, or type your question?"
)
BUSY = N_("I'm busy with other voice notes right now — please try again in a moment.")
NOTHING_HEARD = N_("I couldn't hear anything, could you try again?")
UNREADABLE = N_(
    "I couldn't play that file — it doesn't look like audio I can read. "
    "Please send a voice note or an audio file (OGG, MP3, M4A, WAV)."
)
UNAVAILABLE = N_("Sorry, I can't listen to voice notes right now. Could you type your question instead?")
DOWNLOAD_FAILED = N_("I couldn't download that from Telegram. Could you send it again?")

Media = Voice | Audio | VideoNote | Document


def media_of(message: Message) -> Media | None:
    return message.voice or message.audio or message.video_note or message.document


async def on_voice(
    message: Message, bot: Bot, settings: Settings, transcriber: Transcriber, conversation: Conversation,
    drafts: DraftStreams,
    vocabulary: MenuVocabulary,
) -> None:
    media = media_of(message)
    if media is None:  # the router's filter lets only media through
        return
    duration = getattr(media, "duration", None)
    if duration is not None and duration > settings.whisper_max_seconds:
        await message.answer(_(TOO_LONG).format(seconds=duration, limit=settings.whisper_max_seconds))
        return
    if media.file_size is not None and media.file_size > MAX_AUDIO_BYTES:
        await message.answer(_(TOO_BIG))
        return

    try:
        slot = transcriber.reserve()
    except TranscriberBusy:
        await message.answer(_(BUSY))
        return
    except TranscriberUnavailable:
        await message.answer(_(UNAVAILABLE))
        return
    async with slot, QuietChatActionSender(bot=bot, chat_id=message.chat.id, action=ChatAction.RECORD_VOICE):
        audio = await download(bot, media)
        # A failed download answers after the slot is released, so the reply never finds it still taken.
        outcome = audio if isinstance(audio, str) else await listen(slot, audio, vocabulary.current)
    if isinstance(outcome, str):
        await message.answer(outcome)
        return

    for part in split_message(outcome.text, limit=4000):
        await message.answer(f"🎤 {escape(part)}")
    # The same path as text: length limit, one turn per user, cache, history, agent_events (the rate limit
    # counted this note before it was downloaded: bot.telegram.middlewares.RateLimitMiddleware).
    async with admitted(message, conversation, outcome.text) as ok:
        if ok:
            await answer(message, bot, conversation, outcome.text, kind="voice", drafts=drafts)


async def download(bot: Bot, media: Media) -> bytes | str:
    """The file's bytes, or the reply to give when they cannot be had."""
    try:
        file = await bot.get_file(media.file_id)
        if file.file_size is not None and file.file_size > MAX_AUDIO_BYTES:
            return _(TOO_BIG)
        if not file.file_path:
            return _(DOWNLOAD_FAILED)
        buffer = io.BytesIO()
        await bot.download_file(file.file_path, buffer, timeout=DOWNLOAD_TIMEOUT_SECONDS)
    except TelegramBadRequest as exc:
        log.warning("getFile refused %s: %s", media.file_unique_id, exc.message)
        return _(TOO_BIG) if "too big" in exc.message.lower() else _(DOWNLOAD_FAILED)
    except (TelegramAPIError, TelegramNetworkError, ClientError, TimeoutError) as exc:
        log.warning("download of %s failed: %s", media.file_unique_id, type(exc).__name__)
        return _(DOWNLOAD_FAILED)
    return buffer.getvalue()


async def listen(slot: TranscriptionSlot, audio: bytes, vocabulary: Vocabulary) -> Transcript | str:
    """The transcript (told the menu's words, in the menu's spelling), or the reply to give instead."""
    try:
        transcript = await slot.transcribe(audio, vocabulary, current_locale())
    except TranscriberBusy:
        return _(BUSY)
    except AudioTooLong as exc:
        return _(TOO_LONG).format(seconds=int(exc.seconds), limit=int(exc.limit))
    except AudioDecodeError as exc:
        log.info("undecodable audio (%d bytes): %s", len(audio), exc)
        return _(UNREADABLE)
    except TranscriberUnavailable:
        return _(UNAVAILABLE)
    log.info(
        "transcribed %.1fs of audio (%.1fs speech) in %.2fs (rtf %.3f, queued %.2fs)",
        transcript.duration, transcript.speech_duration, transcript.processing_seconds, transcript.rtf,
        transcript.queue_seconds,
    )
    if not transcript.text:
        return _(NOTHING_HEARD)
    return transcript


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.middleware(VoiceGateMiddleware())  # per-user limits before anything is downloaded
    router.message.register(
        on_voice,
        F.voice | F.audio | F.video_note | F.document.mime_type.startswith("audio/"),
    )
    return router
