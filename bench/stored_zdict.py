"""Write searchsvc/index/stored.zdict: the preset deflate dictionary of the stored column (index/stored.py).

The commonest words and runs of two and three words of a sample of the corpus's articles (every STRIDE-th of
../shared/corpus and the ViNewsQA documents, as bench/index.py reads them), by how many bytes each would save
(count x length), the most valuable last (deflate reaches the end of the dictionary with the shortest
distances), then the skeleton of a pickled stored dict. Statistics of words, not articles: no article's text
is in it.

A new dictionary is a new stored format: bump mapped.FORMAT with it.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.index import read_texts, sources  # noqa: E402
from searchsvc.analysis import vietnamese as analysis  # noqa: E402
from searchsvc.index.schema import build_schema  # noqa: E402

SIZE = 32 * 1024  # deflate's window
STRIDE = 16


def skeleton() -> bytes:
    """A stored dict's pickle with empty values: its field names and framing."""
    schema = build_schema()
    return pickle.dumps({name: "" for name in schema.stored_names() if not name.endswith("_offsets")},
                        pickle.HIGHEST_PROTOCOL)


def build(texts: list[tuple[str, str, str]], size: int = SIZE) -> bytes:
    counted: Counter[str] = Counter()
    for parts in texts:
        for text in parts:
            words = analysis.clean(text).split()
            for n in (1, 2, 3):
                counted.update(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    ranked = sorted(counted.items(), key=lambda kv: (-kv[1] * len(kv[0].encode("utf-8")), kv[0]))
    tail = skeleton()
    chosen, used = [], len(tail)
    for text, count in ranked:
        if count < 2:
            break
        b = (text + " ").encode("utf-8")
        if used + len(b) <= size:
            chosen.append(b)
            used += len(b)
    return b"".join(reversed(chosen)) + tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=STRIDE, help="every N-th article of the corpus")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "searchsvc/index/stored.zdict")
    args = ap.parse_args()
    texts = read_texts(sources(), None)[::args.stride]
    data = build(texts)
    args.out.write_bytes(data)
    print(f"{len(texts)} articles sampled, {len(data)} bytes written to {args.out}")


if __name__ == "__main__":
    main()
