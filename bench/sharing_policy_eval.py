"""How the sharing policy classifies questions nobody here wrote: `python -m bench.sharing_policy_eval [FILE]`.

Each probe file (bench/data/sharing_*.yaml) was written by someone who had not seen the
rules, in groups: `shareable` questions must be served from the shared cache (with and
without a dialog open), every other group must be blocked — `self_reference` inside a
dialog (it is shareable for a customer who has said nothing yet), `foreign` for the
English-only semantic cache. `sharing_dev.yaml` and `sharing_dev2.yaml` were used to tune
the rules; `sharing_heldout_v3.yaml` (the default) was frozen before it was measured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bot.knowledge.loader import load_menu
from bot.semantic.sharing import CacheKind, SharingPolicy

ROOT = Path(__file__).resolve().parent.parent


def evaluate(path: Path, verbose: bool = False) -> dict[str, tuple[int, int]]:
    """group -> (right, total); for `shareable` "right" means served both with and without a dialog."""
    menu, _ = load_menu(ROOT / "data" / "menu.yaml")
    policy = SharingPolicy(lambda: menu)
    groups: dict[str, list[str]] = yaml.safe_load(path.read_text("utf-8"))
    results: dict[str, tuple[int, int]] = {}
    for group, questions in groups.items():
        cache = CacheKind.SEMANTIC if group == "foreign" else CacheKind.EXACT
        right = 0
        for question in questions:
            fresh = policy.assess(question, has_history=False).serve_blocker(cache)
            in_dialog = policy.assess(question, has_history=True).serve_blocker(cache)
            ok = fresh is None and in_dialog is None if group == "shareable" else in_dialog is not None
            right += ok
            if verbose and not ok:
                print(f"  {group}: {question!r} -> {fresh or '-'} / in a dialog {in_dialog or '-'}")
        results[group] = (right, len(questions))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "bench" / "data" / "sharing_heldout_v3.yaml"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list every misclassified probe")
    args = parser.parse_args()
    results = evaluate(Path(args.file), args.verbose)
    print(f"\n{Path(args.file).name}\n\n| group | expected | right | share |\n| --- | --- | --- | --- |")
    for group, (right, total) in results.items():
        expected = "served" if group == "shareable" else "blocked"
        print(f"| {group} | {expected} | {right}/{total} | {right / total:.1%} |")
    unsafe = [v for k, v in results.items() if k not in ("shareable", "foreign")]
    right, total = sum(r for r, _ in unsafe), sum(t for _, t in unsafe)
    print(f"| all unsafe (personal … instruction) | blocked | {right}/{total} | {right / total:.1%} |")


if __name__ == "__main__":
    main()
