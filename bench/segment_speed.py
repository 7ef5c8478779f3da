"""Time pyvi's CRF segmentation steps against searchsvc.analysis.pyvi_features.

Why: segmentation dominates indexing time. This measures, per paragraph of
the first N VNTC articles: feature extraction alone (pyvi's
``sent2features`` vs ours), and features + CRF tagging end to end: pyvi
(its features, ``model.predict``), our features with ``model.predict``, and
``pyvi_features.tag`` (no dicts at all). It checks that all predicted labels
agree. Our caches start cold: the token cache in the first (features only)
run, the item cache in the ``tag`` run.

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


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and CPU time of ``run()``, GC left on as in the indexer.

    CPU time is the steadier figure on a shared machine (it leaves out time
    spent waiting for a core), so speed-ups are shown by both.
    """
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="articles (default 2000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts (default 1)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} not found")

    sys.path.insert(0, str(REPO))  # run as a script from anywhere
    from pyvi.ViTokenizer import ViTokenizer

    from searchsvc.analysis.pyvi_features import sent2features, tag

    model = ViTokenizer.model
    paragraphs = load_paragraphs(args.n)
    sents = [ViTokenizer.sylabelize(p)[1] for p in paragraphs]
    sents = [s for s in sents if s]
    chars = sum(len(p) for p in paragraphs)
    syllables = sum(len(s) for s in sents)
    print(
        f"{args.n} articles, {len(sents)} paragraphs, {chars:,} chars, "
        f"{syllables:,} syllables (Python {sys.version.split()[0]}, best of {args.repeat})"
    )

    def pyvi_features() -> None:
        for s in sents:
            ViTokenizer.sent2features(s, False)

    def our_features() -> None:
        for s in sents:
            sent2features(s)

    # One call per paragraph for all three, so per-call costs weigh alike.
    def pyvi_predict() -> list[list[str]]:
        return [list(model.predict([ViTokenizer.sent2features(s, False)])[0]) for s in sents]

    def our_predict() -> list[list[str]]:
        return [list(model.predict([sent2features(s)])[0]) for s in sents]

    def our_tag() -> list[list[str]]:
        return [tag([s])[0] for s in sents]

    def best(run: Callable[[], object]) -> tuple[tuple[float, float], object]:
        """(fastest wall time, fastest CPU time), and the first run's result."""
        results = [timed(run) for _ in range(args.repeat)]
        return (min(r[0] for r in results), min(r[1] for r in results)), results[0][2]

    t_pyvi_features, _ = best(pyvi_features)
    t_our_features, _ = best(our_features)
    t_pyvi_predict, labels_pyvi = best(pyvi_predict)
    t_our_predict, labels_predict = best(our_predict)
    t_tag, labels_tag = best(our_tag)
    for name, labels in [("sent2features + predict", labels_predict), ("tag", labels_tag)]:
        differ = sum(a != b for a, b in zip(labels_pyvi, labels, strict=True))
        print(f"paragraphs whose labels differ from pyvi's ({name}): {differ}")

    rows = [
        ("features only", t_pyvi_features, t_our_features),
        ("features + predict", t_pyvi_predict, t_our_predict),
        ("features + tag()", t_pyvi_predict, t_tag),
    ]
    print(
        f"{'(wall time)':20} {'pyvi chars/s':>14} {'ours chars/s':>14} {'speed-up':>9} "
        f"{'pyvi µs/syl':>12} {'ours µs/syl':>12} {'CPU speed-up':>13}"
    )
    for name, (t_pyvi, c_pyvi), (t_ours, c_ours) in rows:
        print(
            f"{name:20} {chars / t_pyvi:>14,.0f} {chars / t_ours:>14,.0f} {t_pyvi / t_ours:>8.2f}x "
            f"{t_pyvi / syllables * 1e6:>12.2f} {t_ours / syllables * 1e6:>12.2f} {c_pyvi / c_ours:>12.2f}x"
        )
    print(
        f"tag() vs our sent2features + model.predict: {t_our_predict[0] / t_tag[0]:.2f}x wall, "
        f"{t_our_predict[1] / t_tag[1]:.2f}x CPU"
    )


if __name__ == "__main__":
    main()
