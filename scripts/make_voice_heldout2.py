"""Re-create the second HELD-OUT voice-note test set in bench/data/voice_heldout2/ from its references.yaml.

Debian packages needed (bookworm): apt-get install -y espeak-ng flite sox festival festvox-kallpc16k
    festvox-kdlpc16k festvox-us-slt-hts
plus the project's .venv (av, numpy, yaml).

The set is frozen (see bench/data/voice_heldout2/FROZEN.md): never tune anything on it. This script
exists so that the audio can be inspected and re-made, not so that it can be changed. It runs
scripts/make_voice_heldout.py's pipeline (imported from it: encoding, sox effects, backgrounds), with a
Festival engine added, a voice's pitch made optional and the speech checked while the clips are made.

Per clip (all settings come from references.yaml):
  1. TTS to a wav:
       espeak-ng -v VOICE -s SPEED -p PITCH -w raw.wav "TEXT"
       flite -voice VOICE --setf duration_stretch=SPEED --setf int_f0_target_mean=PITCH -t "TEXT" -o raw.wav
       echo "TEXT" | text2wave -o raw.wav -eval "(voice_VOICE)" [SETTINGS]
     where Festival's SETTINGS are, for diphone voices (kal_diphone, ked_diphone),
       -eval "(Parameter.set 'Duration_Stretch SPEED)"
       -eval "(set-car! (cdr (assoc 'target_f0_mean int_lr_params)) PITCH)"   (only if PITCH is set)
     and for HTS voices (cmu_us_slt_arctic_hts), which ignore Duration_Stretch, the hts_engine rate
       -eval "(set! hts_engine_params (append hts_engine_params (list (list \"-r\" 1/SPEED))))"
     (TEXT is the clip's `say` if present, else its `text`.) For flite and Festival, SPEED is a
     duration stretch (>1 = slower); for espeak-ng words per minute.
  2. sox (-D: no dither, -R: repeatable) to 48 kHz mono 16-bit, plus the clip's `effects`,
     normalised to -3 dBFS, with 0.5 s of room before and 0.7 s after:
       sox -D -R raw.wav -t raw -e signed-integer -b 16 -c 1 -r 48000 out.raw [EFFECTS] gain -n -3 pad 0.5 0.7
  3. Background (clips with `mix`), generated in numpy with the clip's seed so it is repeatable:
       pink   white noise shaped to 1/f power (FFT), high-passed at 40 Hz
       brown  integrated white noise (1/f^2), leaky, high-passed at 40 Hz
       babble the `babble` sentences of the clip's language, each spoken by its own voice
              (espeak-ng), looped from a random offset, summed
     kinds joined with "+" are each scaled to unit RMS and summed; the sum is scaled so that
     RMS(active speech: samples above -40 dBFS, before padding) / RMS(noise) = snr_db,
     then (if the clip has `effects`) passed through the same effects, so the noise is in the same
     room, and added over the whole clip; finally peak-normalised to -1 dBFS.
  4. Encoded by PyAV (libopus) as OGG/Opus, 48 kHz mono, 32 kbit/s, 20 ms frames, with
     fflags=+bitexact (fixed stream serial number, no encoder-version tag).

    .venv/bin/python scripts/make_voice_heldout2.py            # re-make every clip
    .venv/bin/python scripts/make_voice_heldout2.py --check    # only decode each file: duration, level
    .venv/bin/python scripts/make_voice_heldout2.py --hashes   # print the SHA-256s for FROZEN.md

With the same tool versions (see FROZEN.md) a re-run is byte-identical; other espeak-ng/flite/
Festival/sox/libopus versions may give slightly different audio. The committed files (and
FROZEN.md's hashes) are the set.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The first set's pipeline, unchanged: encoding, sox effects and the generated backgrounds.
from make_voice_heldout import (
    MAX_SECONDS,
    RATE,
    apply_effects,
    babble,
    brown,
    effect_args,
    encode_opus,
    hashes,
    pink,
    rms,
    sox_to_samples,
)

FOLDER = Path(__file__).resolve().parent.parent / "bench" / "data" / "voice_heldout2"
# Sanity bounds for "the clip really contains the sentence" (no recogniser: level and duration only):
# seconds of speech per word of the reference text (when making: active frames of the dry TTS output;
# in --check: the span of frames clearly above the lead-in), and how far the speech stands above the
# clip's first 0.4 s (silence or background only).
MIN_ACTIVE_PER_WORD = 0.15
MAX_ACTIVE_PER_WORD = 1.2
MIN_CONTRAST_DB = 6.0


def festival_settings(voice: str, speed: float | None, pitch: float | None) -> list[str]:
    """text2wave -eval arguments: the voice, then its speed (duration stretch) and pitch."""
    args = ["-eval", f"(voice_{voice})"]
    if voice.endswith("_hts"):
        if speed is not None:  # hts_engine's -r is a speaking rate (>1 faster): the inverse stretch
            rate = f"{1 / float(speed):.4f}"
            args += ["-eval", f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate}))))']
        if pitch is not None:
            raise ValueError(f"pitch is not supported for the Festival HTS voice {voice!r}")
    else:
        if speed is not None:
            args += ["-eval", f"(Parameter.set 'Duration_Stretch {float(speed)})"]
        if pitch is not None:
            args += ["-eval", f"(set-car! (cdr (assoc 'target_f0_mean int_lr_params)) {float(pitch)})"]
    return args


def tts(text: str, engine: str, voice: str, speed, pitch, wav: Path) -> None:
    stdin = None
    if engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(50 if pitch is None else pitch),
               "-w", str(wav), text]
    elif engine == "flite":
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={speed}"]
        if pitch is not None:
            cmd += ["--setf", f"int_f0_target_mean={pitch}"]
        cmd += ["-t", text, "-o", str(wav)]
    elif engine == "festival":
        cmd = ["text2wave", "-o", str(wav), *festival_settings(voice, speed, pitch)]
        stdin = text + "\n"
    else:
        raise ValueError(f"unknown TTS engine {engine!r}")
    subprocess.run(cmd, check=True, input=stdin, text=True if stdin is not None else None)


def frame_db(x: np.ndarray, rate: int = RATE, ms: int = 20) -> np.ndarray:
    """Level of each 20 ms frame in dBFS."""
    n = rate * ms // 1000
    frames = np.asarray(x[: len(x) // n * n], dtype=np.float64).reshape(-1, n)
    return 20 * np.log10(np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-12)


def active_seconds(x: np.ndarray, floor_db: float, rate: int = RATE, ms: int = 20) -> float:
    """Seconds of 20 ms frames louder than floor_db."""
    return float(np.sum(frame_db(x, rate, ms) > floor_db)) * ms / 1000


def speech_span(x: np.ndarray, floor_db: float, rate: int = RATE, ms: int = 20) -> float:
    """Seconds from the first to the last 20 ms frame louder than floor_db (0 if none is)."""
    loud = np.flatnonzero(frame_db(x, rate, ms) > floor_db)
    return float(loud[-1] - loud[0] + 1) * ms / 1000 if len(loud) else 0.0


def speech_problems(item: dict, active: float) -> list[str]:
    words = len(item["text"].split())
    if not MIN_ACTIVE_PER_WORD * words <= active <= MAX_ACTIVE_PER_WORD * words:
        return [f"{active:.2f}s of speech for {words} words"]
    return []


def make_clip(item: dict, babble_talkers: dict[str, list[np.ndarray]], work: Path) -> np.ndarray:
    raw = work / "raw.wav"
    tts(item.get("say") or item["text"], item["engine"], item["voice"], item.get("speed"), item.get("pitch"),
        raw)
    fx = effect_args(item.get("effects"))
    speech = sox_to_samples(raw, work, [], pad=None).astype(np.float64)  # dry, for the speech level
    speech_rms = rms(speech[np.abs(speech) > 0.01]) if np.any(np.abs(speech) > 0.01) else rms(speech)
    dry_active = active_seconds(speech, float(np.max(frame_db(speech))) - 35)
    if problems := speech_problems(item, dry_active):  # silence or garbage from the TTS voice
        raise ValueError(f"{item['file']}: TTS output looks wrong: {'; '.join(problems)}")
    print(f"TTS {len(speech) / RATE:.2f}s, {dry_active:.2f}s active; ", end="")
    clip = sox_to_samples(raw, work, fx, pad=(0.5, 0.7)).astype(np.float64)
    mix = item.get("mix")
    if mix:
        rng = np.random.default_rng(int(mix["seed"]))
        n = len(clip)
        parts = []
        for kind in mix["kind"].split("+"):
            if kind == "pink":
                parts.append(pink(n, rng))
            elif kind == "brown":
                parts.append(brown(n, rng))
            elif kind == "babble":
                parts.append(babble(n, rng, babble_talkers[item["language"]]))
            else:
                raise ValueError(f"unknown noise kind {kind!r}")
        noise: np.ndarray = np.sum([p / (rms(p) + 1e-12) for p in parts], axis=0)
        noise *= speech_rms / (10 ** (float(mix["snr_db"]) / 20)) / (rms(noise) + 1e-12)
        noise = apply_effects(noise.astype(np.float32), fx, work).astype(np.float64)
        clip = clip + noise
    clip = clip / (np.max(np.abs(clip)) + 1e-12) * (10 ** (-1 / 20))
    return clip.astype(np.float32)


def check(folder: Path, spec: dict) -> bool:
    ok = True
    for item in spec["clips"]:
        path = folder / item["file"]
        try:
            with av.open(str(path)) as container:
                stream = container.streams.audio[0]
                ctx = stream.codec_context
                codec, rate, channels = ctx.name, ctx.sample_rate, ctx.channels
                chunks = [f.to_ndarray().astype(np.float64).reshape(-1) for f in container.decode(stream)]
        except Exception as exc:
            print(f"FAIL {item['file']}: {exc}")
            ok = False
            continue
        samples = np.concatenate(chunks)
        if samples.dtype.kind != "f" and np.max(np.abs(samples)) > 2:
            samples = samples / 32768.0
        seconds = len(samples) / rate
        level = 20 * np.log10(rms(samples) + 1e-12)
        peak = 20 * np.log10(np.max(np.abs(samples)) + 1e-12)
        problems = []
        if codec != "opus" or rate != RATE or channels != 1:
            problems.append(f"format {codec}/{rate}/{channels}")
        if not 1.0 <= seconds < MAX_SECONDS:
            problems.append(f"duration {seconds:.1f}s")
        if level < -40:
            problems.append(f"near-silent (RMS {level:.1f} dBFS)")
        # speech vs. the first 0.4 s (before the speech starts: silence or the background alone)
        levels = frame_db(samples, rate)
        lead = max(20 * np.log10(rms(samples[: int(0.4 * rate)]) + 1e-12), -120.0)
        contrast = float(np.percentile(levels, 90)) - lead
        active = speech_span(samples, max(float(np.max(levels)) - 35, lead + MIN_CONTRAST_DB), rate)
        if contrast < MIN_CONTRAST_DB:
            problems.append(f"speech only {contrast:.1f} dB above the lead-in")
        problems += speech_problems(item, active)
        ok &= not problems
        print(f"{'FAIL' if problems else 'ok  '} {item['file']:40s} {codec} {rate} Hz {channels} ch {seconds:5.2f}s "
              f"RMS {level:6.1f} dBFS peak {peak:5.1f} dBFS lead-in {lead:6.1f} dBFS speech {active:5.2f}s "
              f"{path.stat().st_size:6d} B  {'; '.join(problems)}")
    return ok


def main(folder: Path = FOLDER, description: str = __doc__ or "") -> int:
    """Every clip of the set in `folder` (the third set's script calls this with its own folder)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only decode and check the existing files")
    parser.add_argument("--hashes", action="store_true", help="only print the SHA-256s for FROZEN.md")
    args = parser.parse_args()
    spec = yaml.safe_load((folder / "references.yaml").read_text(encoding="utf-8"))
    if args.hashes:
        refs, audio = hashes(folder)
        print(f"references.yaml               {refs}")
        print(f"*.ogg sorted by name, concat  {audio}")
        return 0
    if args.check:
        return 0 if check(folder, spec) else 1
    for tool in ("flite", "espeak-ng", "sox", "text2wave"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: apt-get install -y espeak-ng flite sox festival "
                  "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        talkers: dict[str, list[np.ndarray]] = {}
        for language, lines in spec["babble"].items():
            talkers[language] = []
            for line in lines:
                tts(line["text"], "espeak-ng", line["voice"], line["speed"], 50, work / "babble.wav")
                talk = sox_to_samples(work / "babble.wav", work, [], pad=(0.3, 0.3))
                talkers[language].append(talk.astype(np.float64))
        for item in spec["clips"]:
            samples = make_clip(item, talkers, work)
            seconds = len(samples) / RATE
            if seconds >= MAX_SECONDS:
                print(f"{item['file']} is {seconds:.1f}s, over {MAX_SECONDS}s", file=sys.stderr)
                return 1
            encode_opus(samples, folder / item["file"])
            print(f"{item['file']}: {seconds:.1f}s  [{item['engine']} {item['voice']}; noise: {item['noise']}]  "
                  f"{item['text']}")
    return 0 if check(folder, spec) else 1


if __name__ == "__main__":
    raise SystemExit(main())
