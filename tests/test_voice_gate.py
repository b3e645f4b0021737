"""The per-user gate in front of transcription (unit): pending notes, the rate window, one answer per burst."""

from __future__ import annotations

from pathlib import Path

from bot.voice.gate import MAX_PENDING_PER_USER, STILL_LISTENING, VoiceGate
from testkit.settings import make_settings
from tests.helpers import ManualClock


async def test_at_most_two_notes_of_one_user_at_a_time_and_others_are_not_affected(tmp_path: Path) -> None:
    gate = VoiceGate(make_settings(tmp_path, voice_rate_limit_notes=100))
    assert MAX_PENDING_PER_USER == 2
    assert await gate.admit(1) == (True, None) and await gate.admit(1) == (True, None)
    assert await gate.admit(1) == (False, STILL_LISTENING)
    assert await gate.admit(2) == (True, None)  # another customer
    gate.release(1)
    assert await gate.admit(1) == (True, None)  # a place came free
    for user in (1, 1, 2):
        gate.release(user)
    assert gate.pending == 0 and gate.refused == {"pending": 1}


async def test_the_rate_limit_answers_once_per_burst_and_reopens_after_the_window(tmp_path: Path) -> None:
    clock = ManualClock()
    gate = VoiceGate(make_settings(tmp_path, voice_rate_limit_notes=2, voice_rate_limit_window_seconds=60),
                     clock=clock)
    for _ in range(2):
        assert (await gate.admit(7))[0]
        gate.release(7)
    clock.now += 15
    admitted, answer = await gate.admit(7)
    assert not admitted and answer is not None and "45 seconds" in answer
    assert await gate.admit(7) == (False, None)  # the rest of the burst is not answered again
    clock.now += 46
    assert await gate.admit(7) == (True, None)
    assert gate.refused == {"rate": 2}
