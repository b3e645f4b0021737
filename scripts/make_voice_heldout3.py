"""Re-create the third HELD-OUT voice-note test set in bench/data/voice_heldout3/ from its references.yaml.

Debian packages needed (bookworm): apt-get install -y espeak-ng flite sox festival festvox-kallpc16k
    festvox-kdlpc16k festvox-us-slt-hts
plus the project's .venv (av, numpy, yaml).

The set is frozen (see bench/data/voice_heldout3/FROZEN.md): never tune anything on it. This script
exists so that the audio can be inspected and re-made, not so that it can be changed. It is
scripts/make_voice_heldout2.py (which made the second set) pointed at the third set's folder: this
script only calls it, so the pipeline is the same code. The third set also has German clips (language:
de, spoken by espeak-ng's German voice with variants), with their own German babble talkers.

The pipeline (TTS, sox, background, encoding) is described in scripts/make_voice_heldout2.py.

    .venv/bin/python scripts/make_voice_heldout3.py            # re-make every clip
    .venv/bin/python scripts/make_voice_heldout3.py --check    # only decode each file: duration, level
    .venv/bin/python scripts/make_voice_heldout3.py --hashes   # print the SHA-256s for FROZEN.md
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_voice_heldout2 import main

FOLDER = Path(__file__).resolve().parent.parent / "bench" / "data" / "voice_heldout3"

if __name__ == "__main__":
    raise SystemExit(main(FOLDER, __doc__ or ""))
