"""The English word-error-rate sweep behind docs/BENCHMARKS.md "Lowering the English word error rate".

    HF_HUB_OFFLINE=1 .venv/bin/python bench/whisper_sweep.py [--only decoding,prompt,denoise,noise,sounds]
        [--model base]

Development clips only (tests/fixtures/voice and bench/data/voice_dev, English and no-speech): the
held-out set is never read here. Each candidate runs every clip once through what
`WhisperTranscriber._transcribe_sync` does after decoding the audio (faster-whisper with Silero VAD, the
`no_speech_prob` guard, `clean_text`, the prompt echo check, the correction by sound and the respelling), with
the model loaded once; a candidate may change the decoding options, the prompt, or the samples before the
decoder (a denoiser).
Columns: WER over all English clips, over the clean and the noisy ones, CPU seconds per audio second
(process time: steadier than wall time on a shared machine) and no-speech clips that came out as text.

`sounds` prints every dev clip before and after the correction by sound (bot/voice/sounds_like.py).

`noise` mixes the clean dev clips with pink noise or babble (three other dev clips) at 10 dB SNR, made in
memory with a fixed seed: a check that a choice does not only suit the dev set's one kind of steady noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SAMPLE_RATE = 16_000
Samples = np.ndarray


@dataclass(frozen=True)
class Item:
    name: str
    text: str  # "" = no speech
    noisy: bool
    samples: Samples
    language: str = "en"


# --- a denoising front-end (candidate a; measured, not adopted) --------------------------------------------
def snr_db(x: Samples) -> float:
    """Estimated SNR: loudest frames (95th percentile of 25 ms frame energies) over the quietest (10th)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160]
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return float(np.percentile(energy, 95) - np.percentile(energy, 10))


def wiener(x: Samples, floor: float = 0.1, over: float = 1.0, decision_directed: float | None = None,
           max_snr: float = 40.0) -> Samples:
    """A Wiener filter on the STFT, the noise spectrum taken from the quietest 10 % of frames; only when the
    estimated SNR is below `max_snr` (clean speech passes untouched). `floor`: the lowest gain."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import istft, stft

    if snr_db(x) >= max_snr:
        return x
    _, _, spec = stft(x, fs=SAMPLE_RATE, nperseg=512, noverlap=384)
    power = np.abs(spec) ** 2
    quiet = np.argsort(power.sum(axis=0))[: max(3, power.shape[1] // 10)]
    noise = power[:, quiet].mean(axis=1, keepdims=True) + 1e-12
    if decision_directed is None:
        gain = np.maximum(1 - over * noise / np.maximum(power, 1e-12), floor)
    else:  # Ephraim-Malah's decision-directed a-priori SNR
        gain = np.ones_like(power)
        previous = np.zeros(power.shape[0])
        for i in range(power.shape[1]):
            posterior = power[:, i] / noise[:, 0]
            prior = decision_directed * previous + (1 - decision_directed) * np.maximum(posterior - 1, 0)
            gain[:, i] = np.maximum(prior / (1 + prior), floor)
            previous = gain[:, i] ** 2 * posterior
    gain = uniform_filter1d(uniform_filter1d(gain, 3, axis=1), 3, axis=0)
    _, y = istft(spec * gain, fs=SAMPLE_RATE, nperseg=512, noverlap=384)
    return np.pad(y[: len(x)], (0, max(0, len(x) - len(y)))).astype(np.float32)


def highpass(x: Samples, hz: int, max_snr: float = 40.0) -> Samples:
    from scipy.signal import butter, sosfilt

    if snr_db(x) >= max_snr:
        return x
    return sosfilt(butter(4, hz, btype="highpass", fs=SAMPLE_RATE, output="sos"), x).astype(np.float32)


# --- the clips --------------------------------------------------------------------------------------------------
def dev_items() -> list[Item]:
    from bot.voice.audio import decode
    from testkit.voice import dev_clips

    return [Item(c.path.name, c.text, c.noisy, decode(c.path.read_bytes(), 600), c.language or "en")
            for c in dev_clips() if c.language in ("", "en")]


def german_dev_items() -> list[Item]:
    from bot.voice.audio import decode
    from testkit.voice import dev_clips

    return [Item(c.path.name, c.text, c.noisy, decode(c.path.read_bytes(), 600), c.language)
            for c in dev_clips() if c.language not in ("", "en")]


def noisy_copies(items: list[Item]) -> list[Item]:
    """The clean speech clips with pink noise (even ones) or babble of three other clips (odd ones) at 10 dB."""
    rng = np.random.default_rng(7)
    clean = [i for i in items if i.text and not i.noisy]
    out = []
    for n, item in enumerate(clean):
        x = item.samples
        if n % 2 == 0:
            spectrum = np.fft.rfft(rng.normal(0, 1, len(x)))
            spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
            noise, kind = np.fft.irfft(spectrum, len(x)), "pink"
        else:
            others = [o.samples for o in clean if o is not item][:3]
            noise, kind = sum(np.resize(o, len(x)) for o in others), "babble"
        noise = noise / (np.std(noise) or 1.0)
        active = x[np.abs(x) > 0.01]
        power = float(np.mean(active**2)) if len(active) else float(np.mean(x**2))
        mixed = (x + noise * np.sqrt(power / 10)).astype(np.float32)
        out.append(Item(f"{item.name}+{kind}", item.text, True, mixed))
    return out


# --- one candidate ------------------------------------------------------------------------------------------------
class Sweep:
    def __init__(self, model_name: str) -> None:
        from faster_whisper import WhisperModel

        from bench.whisper_bench import data_vocabulary, settings
        from bot.voice.whisper import model_source

        source = model_source(model_name)
        self.model = WhisperModel(source.path, device="cpu", compute_type="int8", cpu_threads=2,
                                  files=source.files)
        defaults = settings()
        self.vocabulary = data_vocabulary(defaults)
        self.weight = defaults.whisper_phrase_weight  # WHISPER_PHRASE_WEIGHT's default

    def run(self, label: str, items: list[Item], options: dict[str, Any] | None = None,
            front: Callable[[Samples], Samples] | None = None, hints: bool = True, verbose: bool = False,
            correct: bool = True, weight: float | None = None) -> None:
        from bot.voice.decoding import cafe_decoder
        from bot.voice.whisper import NO_SPEECH_MAX, clean_text
        from testkit.wer import normalize, word_error_rate

        told: dict[str, Any] = {"language": "en", "beam_size": 5, "vad_filter": True,
                                "condition_on_previous_text": False}
        if hints:
            told |= self.vocabulary.decode_options("prompt", "en")
        told |= options or {}
        pairs: dict[str, list[tuple[str, str]]] = {"all": [], "clean": [], "noisy": []}
        leaks, wrong, audio = 0, [], 0.0
        cpu = time.process_time()
        for item in items:
            samples = front(item.samples) if front else item.samples
            weight = self.weight if weight is None else weight
            chooser = partial(self.vocabulary.choose, weight=weight) if hints and weight > 0 else None
            with cafe_decoder(self.model).tuned(chooser):  # type: ignore[union-attr]
                segments, _ = self.model.transcribe(samples, **told)
                heard = [s for s in segments if s.no_speech_prob <= NO_SPEECH_MAX]
            text = clean_text(" ".join(s.text for s in heard))
            if self.vocabulary.echoes(text):
                text = ""
            elif hints and correct:
                text = self.vocabulary.correct(text)
            text = self.vocabulary.respell(text)
            if not item.text:
                leaks += bool(text)
                continue
            audio += len(item.samples) / SAMPLE_RATE
            for key in ("all", "noisy" if item.noisy else "clean"):
                pairs[key].append((item.text, text))
            if normalize(item.text) != normalize(text):
                wrong.append(f"    {item.name}: {text!r}")
        cpu_s = (time.process_time() - cpu) / audio
        cells = "".join(f"{100 * word_error_rate(p):>8.1f}" if p else f"{'-':>8}" for p in pairs.values())
        print(f"{label:58}{cells}{cpu_s:>9.3f}{leaks:>7}", flush=True)
        if verbose:
            print("\n".join(wrong))


    def sounds(self, items: list[Item]) -> None:
        """The correction by sound (bot/voice/sounds_like.py): every dev clip before and after, the WER both ways
        (all, clean, noisy) and the correction's own CPU time per audio second. German clips run through the
        English model too: what the correction would do to them (it is not applied to German in production)."""
        from bot.voice.whisper import NO_SPEECH_MAX, clean_text
        from testkit.wer import word_error_rate

        told = {"language": "en", "beam_size": 5, "vad_filter": True, "condition_on_previous_text": False,
                **self.vocabulary.decode_options("prompt", "en")}
        pairs: dict[str, dict[str, list[tuple[str, str]]]] = {k: {"all": [], "clean": [], "noisy": []}
                                                               for k in ("before", "after")}
        spent, audio, leaks = 0.0, 0.0, 0
        for item in items:
            segments, _ = self.model.transcribe(item.samples, **told)
            text = clean_text(" ".join(s.text for s in segments if s.no_speech_prob <= NO_SPEECH_MAX))
            text = "" if self.vocabulary.echoes(text) else text
            cpu = time.process_time()
            corrected = self.vocabulary.correct(text)
            spent += time.process_time() - cpu
            audio += len(item.samples) / SAMPLE_RATE
            before, after = self.vocabulary.respell(text), self.vocabulary.respell(corrected)
            mark = "  " if before == after else "=>"
            print(f"{mark} {item.name}: {before!r}")
            if mark == "=>":
                print(f"   {'':{len(item.name)}}  {after!r}")
            if not item.text:
                leaks += bool(after)
            if not item.text or item.language != "en":
                continue
            for key, text_ in (("before", before), ("after", after)):
                for group in ("all", "noisy" if item.noisy else "clean"):
                    pairs[key][group].append((item.text, text_))
        for key in ("before", "after"):
            cells = "  ".join(f"{group} {100 * word_error_rate(p):.1f} %" for group, p in pairs[key].items() if p)
            print(f"English dev WER {key} the correction: {cells}")
        print(f"correction CPU: {spent * 1000:.1f} ms for {audio:.1f} s of audio ({spent / audio:.5f} CPU s per "
              f"audio s); no-speech clips with text after it: {leaks}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="decoding,prompt,denoise,noise,sounds,phrases",
                        help="which groups of candidates")
    parser.add_argument("--model", default="", help="WHISPER_MODEL (default: the bundled tiny.en)")
    parser.add_argument("--verbose", action="store_true", help="print the dev set's wrong transcripts")
    args = parser.parse_args()
    groups = set(args.only.split(","))
    sweep = Sweep(args.model)
    items = dev_items()
    vocabulary = sweep.vocabulary
    print(f"{'English dev set, WER % / CPU s per audio s':58}{'all':>8}{'clean':>8}{'noisy':>8}{'CPU/s':>9}"
          f"{'leaks':>7}")
    sweep.run("plain, beam 1 (no menu)", items, {"beam_size": 1}, hints=False)
    sweep.run("menu's spelling prompt, beam 5 (before)", items, {"initial_prompt": vocabulary.prompt})
    sweep.run("lower-case prompt, beam 5, no sound correction", items, correct=False, weight=0)
    sweep.run("lower-case prompt, beam 5 + sound correction", items, weight=0)
    sweep.run("lower-case prompt, beam 5 + sound + readings chosen (now)", items, verbose=args.verbose)
    if "phrases" in groups:
        mixed = noisy_copies(items)
        for weight in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0):
            sweep.run(f"readings chosen, phrase weight {weight}", items, weight=weight)
            sweep.run(f"pink/babble 10 dB: readings chosen, phrase weight {weight}", mixed, weight=weight)
    if "sounds" in groups:
        sweep.sounds(items + german_dev_items())
    if "decoding" in groups:
        for label, options in [
            ("without_timestamps", {"without_timestamps": True}),
            ("temperature 0 only (no fallback)", {"temperature": 0.0}),
            ("patience 2", {"patience": 2.0}),
            ("beam 3", {"beam_size": 3}),
            ("beam 8", {"beam_size": 8}),
            ("length_penalty 0.8", {"length_penalty": 0.8}),
            ("length_penalty 1.2", {"length_penalty": 1.2}),
            ("log_prob_threshold off", {"log_prob_threshold": None}),
            ("compression_ratio_threshold off", {"compression_ratio_threshold": None}),
            ("condition_on_previous_text", {"condition_on_previous_text": True}),
            ("repetition_penalty 1.1", {"repetition_penalty": 1.1}),
            ("VAD speech_pad 200 ms (default 400)", {"vad_parameters": {"speech_pad_ms": 200}}),
            ("VAD speech_pad 800 ms", {"vad_parameters": {"speech_pad_ms": 800}}),
            ("VAD min_silence 500 ms (default 2000)", {"vad_parameters": {"min_silence_duration_ms": 500}}),
            ("VAD threshold 0.35 (default 0.5)", {"vad_parameters": {"threshold": 0.35}}),
            ("no VAD", {"vad_filter": False}),
        ]:
            sweep.run(label, items, options)
    if "prompt" in groups:
        from bot.voice.vocabulary import MAX_PROMPT_CHARS, _join_within

        lower = [t if t.isupper() else t.lower() for t in vocabulary.terms]
        head = f"{vocabulary.cafe} menu: "
        for label, prompt in [
            ("sentence, menu's spelling", "At the Copper Kettle Cafe customers order "
             + _join_within(vocabulary.terms, 640) + "."),
            ("sentence, lower case", "At the Copper Kettle Cafe customers order " + _join_within(lower, 640) + "."),
            ("lower case, no 'menu:' head", _join_within(lower, MAX_PROMPT_CHARS) + "."),
            ("lower case, item names only", head + _join_within(
                [n if n.isupper() else n.lower() for n in vocabulary.names], MAX_PROMPT_CHARS - len(head)) + "."),
            *[(f"lower case, cut at {n} characters", head + _join_within(lower, n) + ".")
              for n in (350, 420, 460, 500, 540, 580, 620)],
        ]:
            sweep.run(label, items, {"initial_prompt": prompt})
    noisy = [i for i in items if i.noisy or not i.text]  # the denoiser leaves the clean clips alone
    if "denoise" in groups:
        for label, front in [
            ("Wiener, gain floor 0.1", partial(wiener, floor=0.1)),
            ("Wiener, gain floor 0.2", partial(wiener, floor=0.2)),
            ("Wiener, gain floor 0.05", partial(wiener, floor=0.05)),
            ("Wiener, floor 0.1, noise x2", partial(wiener, floor=0.1, over=2.0)),
            ("Wiener, decision-directed, floor 0.2", partial(wiener, floor=0.2, decision_directed=0.98)),
            ("high-pass 100 Hz", partial(highpass, hz=100)),
            ("high-pass 200 Hz", partial(highpass, hz=200)),
        ]:
            sweep.run(f"noisy + no-speech clips: {label}", noisy, front=front)
        sweep.run("noisy + no-speech clips: no front-end", noisy)
    if "noise" in groups:
        mixed = noisy_copies(items)
        sweep.run("pink/babble 10 dB: plain, beam 1", mixed, {"beam_size": 1}, hints=False)
        sweep.run("pink/babble 10 dB: menu's spelling prompt", mixed, {"initial_prompt": vocabulary.prompt})
        sweep.run("pink/babble 10 dB: lower-case prompt, no sound correction", mixed, correct=False)
        sweep.run("pink/babble 10 dB: lower-case prompt", mixed)
        sweep.run("pink/babble 10 dB: lower-case + Wiener 0.2", mixed, front=partial(wiener, floor=0.2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
