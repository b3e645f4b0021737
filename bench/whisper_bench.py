"""Whisper benchmark: word error rate per decoding choice, real-time factor (cold, warm, 1 or all cores), throughput.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/whisper_bench.py [--notes 8] [--repeat 3]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/whisper_bench.py --wer [--heldout] [--model base] [--language auto]

`--wer`: word error rate and real-time factor of each decoding choice (beam size; the menu's words
as prompt, hotwords or not at all, bot/voice/vocabulary.py) on the development set (the fixtures of
tests/fixtures/voice and bench/data/voice_dev), and with `--heldout` on bench/data/voice_heldout,
a set recorded by someone who never saw the code and measured once, after the choice was made.
No-speech clips (silence, noise) count as "leaks" when they come out as anything but nothing.

Real-time factor (RTF) = processing time (decode + VAD + model) / audio duration,
through the production path (`WhisperTranscriber`) with the default model
(bundled tiny.en, int8). Each configuration runs in a fresh process, so "cold"
really is the first transcription after loading the model, and "one core" pins
that process to one CPU (sched_setaffinity) with cpu_threads=1.
Audio: the speech fixtures in tests/fixtures/voice (3-4 s menu questions) and a
30 s clip made of them. The machine is shared: run it on an idle box for figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures" / "voice"
# (label, beam size, WHISPER_MENU_HINTS, WHISPER_PHRASE_WEIGHT or None for the setting's): the first release's
# decoding first, the defaults marked in the table. "first": the decoder's first reading, no word model.
WER_CONFIGS: list[tuple[str, int, str, float | None]] = [
    ("plain", 1, "off", None), ("hotwords", 1, "hotwords", None), ("prompt", 1, "prompt", None),
    ("plain", 5, "off", None), ("hotwords", 5, "hotwords", None), ("first", 5, "prompt", 0.0),
    ("prompt", 5, "prompt", None)]


def short_notes() -> list[bytes]:
    import yaml

    spec = yaml.safe_load((FIXTURES / "references.yaml").read_text(encoding="utf-8"))
    return [(FIXTURES / item["file"]).read_bytes() for item in spec["speech"] if item["file"].endswith(".ogg")]


def long_note(seconds: float = 30.0) -> bytes:
    """The fixtures back to back (with half a second between them) as a WAV of about `seconds`."""
    import numpy as np

    from bot.voice.audio import SAMPLE_RATE, decode

    pieces, total = [], 0
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    while total < seconds * SAMPLE_RATE:
        for note in short_notes():
            samples = decode(note, 60)
            pieces += [samples, gap]
            total += len(samples) + len(gap)
    pcm = (np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)] * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def settings(**overrides: Any):  # type: ignore[no-untyped-def]
    """The defaults, or BENCH_BEAM / BENCH_HINTS for the speed children (--beam, --hints), then `overrides`."""
    from bot.config import load_settings

    decoding: dict[str, Any] = {}
    if os.environ.get("BENCH_BEAM"):
        decoding["whisper_beam_size"] = int(os.environ["BENCH_BEAM"])
    if os.environ.get("BENCH_HINTS"):
        decoding["whisper_menu_hints"] = os.environ["BENCH_HINTS"]
    return load_settings(_env_file=None, **{**decoding, **overrides})


def data_vocabulary(cfg: Any) -> Any:
    """The vocabulary of the sample menu, as a voice note is decoded with it."""
    from bot.knowledge.loader import load_cafe, load_menu
    from bot.voice.vocabulary import build_vocabulary

    return build_vocabulary(load_menu(cfg.menu_path)[0], load_cafe(cfg.cafe_path)[0])


# --- word error rate per decoding choice ----------------------------------------------------
def wer_table(sets: dict[str, list[Any]], model_name: str, language: str | None, repeat: int,
              configs: list[tuple[str, int, str, float | None]], pad: str = "auto") -> list[dict[str, Any]]:
    """Every clip through the production path (WhisperTranscriber with the menu's vocabulary), per config."""
    from faster_whisper import WhisperModel

    from bot.voice import WhisperTranscriber
    from bot.voice.audio import decode
    from bot.voice.whisper import cpu_threads_for, model_source
    from testkit.wer import word_error_rate

    base = settings(whisper_model=model_name, whisper_language=language, whisper_workers=1)
    vocabulary = data_vocabulary(base)
    source = model_source(model_name)
    label = source.label
    model = WhisperModel(source.path, device="cpu", compute_type="int8", cpu_threads=cpu_threads_for(base),
                         files=source.files)
    audio = {clip.path: clip.path.read_bytes() for clips in sets.values() for clip in clips}
    rows = []
    for name, beam, hints, weight in configs:
        chosen = {} if weight is None else {"whisper_phrase_weight": weight}
        cfg = settings(whisper_model=model_name, whisper_language=language, whisper_beam_size=beam,
                       whisper_menu_hints=hints, whisper_workers=1, whisper_pad_seconds=pad, **chosen)
        transcriber = WhisperTranscriber(cfg, model=model)

        row: dict[str, Any] = {"config": f"{name}, beam {beam}", "hints": hints, "beam": beam, "model": label,
                               "weight": cfg.whisper_phrase_weight}

        async def run(transcriber: Any = transcriber, row: dict[str, Any] = row) -> dict[str, Any]:
            for set_name, clips in sets.items():
                pairs: dict[str, list[tuple[str, str]]] = {}
                leaks, seconds, audio_s, wrong = [], 0.0, 0.0, []
                cpu = time.process_time()
                for clip in clips:
                    best = None
                    for _ in range(repeat):
                        t = await transcriber.transcribe(audio[clip.path], vocabulary)
                        best = t if best is None or t.processing_seconds < best.processing_seconds else best
                    assert best is not None
                    if not clip.speech:
                        if best.text:
                            leaks.append(f"{clip.path.name}: {best.text!r}")
                        continue
                    seconds += best.processing_seconds
                    audio_s += decode(audio[clip.path], 600).shape[0] / 16000
                    pairs.setdefault(clip.language, []).append((clip.text, best.text))
                    if word_error_rate([(clip.text, best.text)]) > 0:
                        wrong.append(f"{clip.path.name}: {best.text!r}")
                for lang, lang_pairs in pairs.items():
                    row[f"{set_name} {lang} WER"] = round(100 * word_error_rate(lang_pairs), 1)
                    row[f"{set_name} {lang} clips"] = len(lang_pairs)
                row[f"{set_name} RTF"] = round(seconds / audio_s, 3) if audio_s else None
                # CPU seconds per audio second over all repeats: steadier than wall time on a shared machine.
                cpu_s = time.process_time() - cpu
                row[f"{set_name} CPU/s"] = round(cpu_s / (audio_s * repeat), 3) if audio_s else None
                row[f"{set_name} leaks"] = leaks
                row[f"{set_name} wrong"] = wrong
            await transcriber.stop()
            return row

        rows.append(asyncio.run(run()))
    return rows


def print_wer(rows: list[dict[str, Any]], chosen: tuple[int, str, float], verbose: bool) -> None:
    columns = [key for key in rows[0] if key.endswith(("WER", "RTF", "CPU/s"))]
    print(f"{'decoding':22}" + "".join(f"{c:>16}" for c in columns) + f"{'no-speech leaks':>17}")
    for row in rows:
        mark = " *" if (row["beam"], row["hints"], row["weight"]) == chosen else ""
        leaks = sum(len(v) for k, v in row.items() if k.endswith("leaks"))
        cells = "".join(f"{('-' if row.get(c) is None else row[c]):>16}" for c in columns)
        print(f"{row['config'] + mark:22}{cells}{leaks:>17}")
        if verbose:
            for key in (k for k in row if k.endswith(("leaks", "wrong"))):
                for line in row[key]:
                    print(f"    {key.split()[0]}: {line}")
    print("(* = the defaults: WHISPER_BEAM_SIZE, WHISPER_MENU_HINTS and WHISPER_PHRASE_WEIGHT; WER in %, summed over "
          "the clips; RTF = processing s / audio s, best of the repeats, warm;\n CPU/s = CPU seconds per audio "
          "second, all clips incl. no-speech ones, mean of the repeats)")


# --- child processes: one configuration each --------------------------------------------
def child_rtf(cores: int, repeat: int) -> dict[str, Any]:
    """Load, one cold transcription, then warm ones; all on `cores` CPUs with that many threads."""
    from faster_whisper import WhisperModel

    from bot.voice import WhisperTranscriber
    from bot.voice.whisper import resolve_model

    cfg = settings(whisper_cpu_threads=cores, whisper_workers=1, whisper_queue_size=64)
    started = time.perf_counter()
    model = WhisperModel(resolve_model("")[0], device="cpu", compute_type="int8", cpu_threads=cores)
    load_s = time.perf_counter() - started
    transcriber = WhisperTranscriber(cfg, model=model)  # no warmup: the first call is cold
    vocabulary = data_vocabulary(cfg)
    notes, long = short_notes(), long_note()

    async def run() -> dict[str, Any]:
        cold = await transcriber.transcribe(notes[0], vocabulary)
        per_note: list[list[float]] = [[] for _ in notes]
        durations = [0.0] * len(notes)
        cpu = time.process_time()
        for _ in range(repeat):
            for i, note in enumerate(notes):
                t = await transcriber.transcribe(note, vocabulary)
                per_note[i].append(t.processing_seconds)
                durations[i] = t.duration
        cpu_short = (time.process_time() - cpu) / (sum(durations) * repeat)
        long_first = await transcriber.transcribe(long, vocabulary)
        cpu = time.process_time()
        warm_long = [await transcriber.transcribe(long, vocabulary) for _ in range(repeat)]
        cpu_long = (time.process_time() - cpu) / sum(t.duration for t in warm_long)
        await transcriber.stop()
        audio = sum(durations)
        return {
            "load_s": round(load_s, 2),
            "cold_s": round(cold.processing_seconds, 3),
            "cold_rtf": round(cold.rtf, 3),
            "short_best_s": round(statistics.median(min(p) for p in per_note), 3),
            "short_best_rtf": round(sum(min(p) for p in per_note) / audio, 3),
            "short_median_rtf": round(sum(statistics.median(p) for p in per_note) / audio, 3),
            "short_audio_s": round(audio / len(notes), 2),
            "long_first_rtf": round(long_first.rtf, 3),
            "long_best_rtf": round(min(t.rtf for t in warm_long), 3),
            "long_median_rtf": round(statistics.median(t.rtf for t in warm_long), 3),
            "long_audio_s": round(warm_long[0].duration, 1),
            # CPU seconds per audio second: less sensitive to other processes competing for the cores.
            "cpu_short_rtf": round(cpu_short, 3),
            "cpu_long_rtf": round(cpu_long, 3),
        }

    return asyncio.run(run())


def child_throughput(workers: int, threads: int, notes_at_once: int) -> dict[str, Any]:
    """`notes_at_once` voice notes submitted together to a pool of `workers` x `threads`."""
    from bot.voice import WhisperTranscriber

    cfg = settings(whisper_cpu_threads=threads, whisper_workers=workers, whisper_queue_size=notes_at_once)
    transcriber = WhisperTranscriber(cfg)
    transcriber.load()  # includes the warmup, as in production
    vocabulary = data_vocabulary(cfg)
    notes = short_notes()
    batch = [notes[i % len(notes)] for i in range(notes_at_once)]

    async def run() -> dict[str, Any]:
        async def timed(note: bytes) -> tuple[float, float]:
            started = time.perf_counter()
            transcript = await transcriber.transcribe(note, vocabulary)
            return time.perf_counter() - started, transcript.duration

        lags: list[float] = []
        done = asyncio.Event()

        async def watch_loop() -> None:
            """How late the event loop wakes up while the workers transcribe (what a text message would wait)."""
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        await asyncio.gather(*(timed(n) for n in batch[:2]))  # warm every worker
        watcher = asyncio.create_task(watch_loop())
        started = time.perf_counter()
        results = await asyncio.gather(*(timed(n) for n in batch))
        wall = time.perf_counter() - started
        done.set()
        await watcher
        await transcriber.stop()
        lags.sort()
        latencies = sorted(r[0] for r in results)
        audio = sum(r[1] for r in results)
        return {
            "wall_s": round(wall, 2),
            "notes_per_s": round(len(batch) / wall, 2),
            "audio_s_per_s": round(audio / wall, 1),
            "latency_p50_s": round(statistics.median(latencies), 2),
            "latency_max_s": round(latencies[-1], 2),
            "loop_lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 1),
            "loop_lag_max_ms": round(lags[-1] * 1000, 1),
        }

    return asyncio.run(run())


def run_child(args: list[str], pin: set[int] | None) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=8, help="voice notes submitted at once (throughput)")
    parser.add_argument("--repeat", type=int, default=3, help="warm repetitions")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--wer", action="store_true", help="word error rate and RTF per decoding choice")
    parser.add_argument("--heldout", action="store_true", help="also the held-out set (measure once, at the end)")
    parser.add_argument("--heldout-only", action="store_true", help="the held-out set without the dev set")
    parser.add_argument("--heldout2", action="store_true",
                        help="the second held-out set (bench/data/voice_heldout2; measure once, at the end)")
    parser.add_argument("--model", default="", help="WHISPER_MODEL (default: the bundled tiny.en)")
    parser.add_argument("--language", default="en", help="WHISPER_LANGUAGE: en, de, ... or auto (detect)")
    parser.add_argument("--heldout3", action="store_true",
                        help="the third held-out set (bench/data/voice_heldout3; measure once, at the end)")
    parser.add_argument("--pad", default="auto", help="WHISPER_PAD_SECONDS: auto, or seconds (30 = whole window)")
    parser.add_argument("--configs", default="", help="only these, e.g. 'plain:1,prompt:5'")
    parser.add_argument("--verbose", action="store_true", help="print the wrong transcripts and the leaks")
    parser.add_argument("--beam", type=int, default=0, help="speed: WHISPER_BEAM_SIZE (default: the setting's)")
    parser.add_argument("--hints", default="", help="speed: WHISPER_MENU_HINTS (default: the setting's)")
    args = parser.parse_args()
    if args.wer:
        return wer_main(args)
    if args.beam:
        os.environ["BENCH_BEAM"] = str(args.beam)  # read by settings() in the children
    if args.hints:
        os.environ["BENCH_HINTS"] = args.hints
    if args.child:
        kind, *rest = args.child
        if kind == "rtf":
            result = child_rtf(int(rest[0]), int(rest[1]))
        else:
            result = child_throughput(int(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return 0

    cpus = sorted(os.sched_getaffinity(0))
    cfg = settings()
    print(f"Whisper tiny.en (bundled), int8, CPU; beam {cfg.whisper_beam_size}, menu hints "
          f"{cfg.whisper_menu_hints}; {len(cpus)} cores available; faster-whisper in-process")
    print(f"\nReal-time factor (RTF = processing time / audio duration; lower is faster), best of {args.repeat}")
    results = {cores: run_child(["rtf", str(cores), str(args.repeat)], set(cpus[:cores]))
               for cores in sorted({1, len(cpus)})}
    r = next(iter(results.values()))
    rows = [
        ("model load (s)", "load_s"),
        ("cold: first note (s)", "cold_s"),
        ("cold: first note RTF", "cold_rtf"),
        (f"warm: {r['short_audio_s']} s note (s, median)", "short_best_s"),
        ("warm: short notes RTF, best", "short_best_rtf"),
        ("warm: short notes RTF, median", "short_median_rtf"),
        (f"{r['long_audio_s']:.0f} s note, first RTF", "long_first_rtf"),
        (f"{r['long_audio_s']:.0f} s note, warm RTF best", "long_best_rtf"),
        (f"{r['long_audio_s']:.0f} s note, warm RTF median", "long_median_rtf"),
        ("CPU-s per audio s, short", "cpu_short_rtf"),
        (f"CPU-s per audio s, {r['long_audio_s']:.0f} s", "cpu_long_rtf"),
    ]
    print(f"{'':34}" + "".join(f"{f'{c} core' + ('s' if c > 1 else ''):>10}" for c in results))
    for label, key in rows:
        print(f"{label:34}" + "".join(f"{results[c][key]:>10}" for c in results))
    print(f"(short notes: the {len(short_notes())} OGG fixtures; one core = pinned to one CPU, cpu_threads=1)")

    print(f"\nThroughput: {args.notes} voice notes (~3.4 s each) sent at once")
    print(f"{'workers x threads':>18} {'wall s':>7} {'notes/s':>8} {'audio s/s':>10} {'p50 s':>6} {'max s':>6} "
          f"{'loop lag p99/max ms':>20}")
    configs = [(1, 1), (1, len(cpus)), (len(cpus), 1)] if len(cpus) > 1 else [(1, 1)]
    for workers, threads in configs:
        r = run_child(["throughput", str(workers), str(threads), str(args.notes)], None)
        print(f"{f'{workers} x {threads}':>18} {r['wall_s']:>7} {r['notes_per_s']:>8} {r['audio_s_per_s']:>10} "
              f"{r['latency_p50_s']:>6} {r['latency_max_s']:>6} {r['loop_lag_p99_ms']:>13} / {r['loop_lag_max_ms']:<5}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {len(cpus)} cores (other processes skew figures)")
    return 0


def wer_main(args: argparse.Namespace) -> int:
    from testkit.voice import HELDOUT, HELDOUT2, HELDOUT3, clips_in, dev_clips, frozen_clips

    language = None if args.language == "auto" else args.language
    sets = {} if args.heldout_only or args.heldout2 or args.heldout3 else {"dev": dev_clips()}
    if args.heldout or args.heldout_only:
        sets["held-out"] = clips_in(HELDOUT)
    if args.heldout2:
        sets["held-out 2"] = frozen_clips(HELDOUT2)  # refuses a set whose files are not the frozen ones
    if args.heldout3:
        sets["held-out 3"] = frozen_clips(HELDOUT3)
    if language is not None:  # a fixed language: the clips in it (and the no-speech ones)
        sets = {k: [c for c in v if c.language in ("", language)] for k, v in sets.items()}
    configs = WER_CONFIGS
    if args.configs:
        wanted = {tuple(c.split(":")) for c in args.configs.split(",")}
        configs = [c for c in WER_CONFIGS if (c[0], str(c[1])) in wanted]
    defaults = settings()
    print(f"Whisper {args.model or 'tiny.en (bundled)'}, int8, CPU, language {args.language}, pad {args.pad}; "
          f"{', '.join(f'{k}: {len(v)} clips' for k, v in sets.items())}; best of {args.repeat}")
    rows = wer_table(sets, args.model, language, args.repeat, configs, args.pad)
    print_wer(rows, (defaults.whisper_beam_size, defaults.whisper_menu_hints, defaults.whisper_phrase_weight),
              args.verbose)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
