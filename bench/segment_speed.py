"""Time pyvi's CRF feature extraction against searchsvc.pyvi_features.

Why: segmentation dominates indexing time, and pyvi's pure-Python feature
dicts are a large share of it. This measures, per paragraph of the first N
VNTC articles, features alone and features + CRF predict, for pyvi and for
our drop-in, and checks that the predicted labels agree. Our token cache
starts cold in the first (features only) run.

    python bench/segment_speed.py --n 2000
"""

from __future__ import annotations

import argparse
import gc
import gzip
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "vntc.jsonl.gz"


def load_paragraphs(n: int) -> list[str]:
    """Non-empty paragraphs ("\\n"-separated) of the first ``n`` article bodies."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        bodies = [json.loads(line)["body"] for line in itertools.islice(lines, n)]
    return [p for body in bodies for p in body.split("\n") if p.strip()]


def timed(run: Callable[[], object]) -> tuple[float, object]:
    """Wall time of ``run()``, GC left on as in the indexer."""
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="articles (default 2000)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} not found")

    sys.path.insert(0, str(REPO))  # run as a script from anywhere
    from pyvi.ViTokenizer import ViTokenizer

    from searchsvc.pyvi_features import sent2features

    model = ViTokenizer.model
    paragraphs = load_paragraphs(args.n)
    sents = [ViTokenizer.sylabelize(p)[1] for p in paragraphs]
    sents = [s for s in sents if s]
    chars = sum(len(p) for p in paragraphs)
    syllables = sum(len(s) for s in sents)
    print(
        f"{args.n} articles, {len(sents)} paragraphs, {chars:,} chars, "
        f"{syllables:,} syllables (Python {sys.version.split()[0]})"
    )

    def pyvi_features() -> None:
        for s in sents:
            ViTokenizer.sent2features(s, False)

    def our_features() -> None:
        for s in sents:
            sent2features(s)

    def pyvi_predict() -> list[list[str]]:
        return [model.predict([ViTokenizer.sent2features(s, False)])[0] for s in sents]

    def our_predict() -> list[list[str]]:
        return [model.predict([sent2features(s)])[0] for s in sents]

    rows = []
    for name, pyvi_run, our_run in [
        ("features only", pyvi_features, our_features),
        ("features + predict", pyvi_predict, our_predict),
    ]:
        t_pyvi, labels_pyvi = timed(pyvi_run)
        t_ours, labels_ours = timed(our_run)
        rows.append((name, t_pyvi, t_ours))
        if labels_pyvi is not None:
            differ = sum(
                list(a) != list(b) for a, b in zip(labels_pyvi, labels_ours, strict=True)
            )
            print(f"paragraphs whose labels differ: {differ}")

    print(f"{'':20} {'pyvi chars/s':>14} {'ours chars/s':>14} {'speed-up':>9}")
    for name, t_pyvi, t_ours in rows:
        print(
            f"{name:20} {chars / t_pyvi:>14,.0f} {chars / t_ours:>14,.0f} "
            f"{t_pyvi / t_ours:>8.2f}x"
        )
    print(f"(per syllable, features only: pyvi {rows[0][1] / syllables * 1e6:.2f} µs, "
          f"ours {rows[0][2] / syllables * 1e6:.2f} µs)")


if __name__ == "__main__":
    main()
