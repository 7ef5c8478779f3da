"""Semantic signals learned from the index itself, tried on top of the ranking (ViNewsQA dev, 48k articles).

    python bench/semantic.py --index /path/to/48k-index [--every 2] [--dims 256]

The misses left at Recall@10 are questions that name nothing particular to
their article. This measures whether what can be learned from the
collection at index time, with the libraries already installed
(scikit-learn comes with pyvi), brings the relevant article into the top 10:

- LSA: a truncated SVD of the articles' log-tf x idf word matrix (title x2,
  sapo, body); the cosine between the question and each of the 100 best
  candidates is added to their score (scaled by the best score);
- expansion: the 10 words nearest the question in the LSA space, searched
  as BM25F words at a small weight;
- topic: a naive Bayes classifier of the labelled sections (categories)
  predicts the question's section and the section of unlabelled articles;
  a candidate in the predicted section is raised by ``x * P(section)``.
  ``topic (oracle)`` raises every health article instead: every ViNewsQA
  question is about health, so this is the ceiling of a perfect classifier,
  not something a search box can know.

Each is reported for several weights, with the headline (known-item) set
alongside, which must not drop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relevance import headlines, load  # noqa: E402
from sklearn.decomposition import TruncatedSVD  # noqa: E402
from sklearn.naive_bayes import MultinomialNB  # noqa: E402
from sklearn.preprocessing import normalize  # noqa: E402

from searchsvc.analysis.vietnamese import load_model  # noqa: E402
from searchsvc.engine.query import build, parse  # noqa: E402
from searchsvc.engine.search import SearchService  # noqa: E402
from searchsvc.index.schema import TEXT_PARTS, WORD, field_name  # noqa: E402

PART_WEIGHTS = {"title": 2.0, "sapo": 1.0, "body": 1.0}
DEPTH = 100


def word_matrix(arrays) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Articles x pyvi words (in at least 3 articles), part-weighted counts, from the posting lists."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for part in TEXT_PARTS:
        name = field_name(part, WORD)
        for term, info in arrays.reader.iter_field(name):
            if info.doc_frequency() < 3:
                continue
            term = term.decode("utf-8") if isinstance(term, bytes) else term
            p = arrays.postings(name, term)
            j = vocab.setdefault(term, len(vocab))
            rows.append(p.ids.astype(np.int32))
            cols.append(np.full(len(p.ids), j, dtype=np.int32))
            vals.append(PART_WEIGHTS[part] * p.freqs.astype(np.float32))
    x = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(arrays.size, len(vocab)))
    x.sum_duplicates()
    return x, vocab


def rank_of(order: np.ndarray, doc: int) -> int:
    found = np.flatnonzero(order == doc)
    return int(found[0]) if len(found) else 10**6


def measure(rows: list, score) -> tuple[float, float, float]:
    """MRR@10, Recall@10, success@1 after re-scoring each query's candidates with ``score(row)``."""
    rr, hit, first = [], [], []
    for row in rows:
        top = row["top"]
        order = top[np.argsort(-score(row), kind="stable")]
        r = rank_of(order[:10], row["doc"])
        rr.append(1 / (r + 1) if r < 10 else 0.0)
        hit.append(r < 10)
        first.append(r == 0)
    return float(np.mean(rr)), float(np.mean(hit)), float(np.mean(first))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--dims", type=int, default=256)
    args = ap.parse_args()
    load_model()
    svc = SearchService(args.index)
    opened = svc.current()
    arrays, ranker = opened.arrays, opened.ranker
    t0 = time.perf_counter()
    x, vocab = word_matrix(arrays)
    n = arrays.size
    df = np.bincount(x.indices, minlength=x.shape[1])
    idf = (np.log((n + 1) / (df + 1)) + 1).astype(np.float32)
    logtf = x.copy()
    logtf.data = np.log1p(logtf.data)
    svd = TruncatedSVD(args.dims, n_iter=5, random_state=0)
    docs = normalize(svd.fit_transform(normalize(logtf.multiply(idf).tocsr()))).astype(np.float32)
    terms = normalize(svd.components_.T).astype(np.float32)
    names = sorted(vocab, key=vocab.get)
    print(f"matrix {x.shape} and LSA {args.dims}: {time.perf_counter() - t0:.0f} s", flush=True)

    sections = np.asarray(arrays.column("category").codes)
    labels = arrays.column("category").labels
    sources = arrays.column("source")
    source = np.array([sources.labels[c] for c in np.asarray(sources.codes)])
    labelled = (sections > 0) & (source != "UIT-ViNewsQA")  # the questions' own articles are not trained on
    nb = MultinomialNB(alpha=0.1).fit(logtf[labelled], sections[labelled])
    predicted = np.where(sections > 0, sections, nb.classes_[nb.predict_proba(logtf).argmax(1)])
    slot = {c: i for i, c in enumerate(nb.classes_)}
    health = np.array([labels[c] == "Sức khỏe" for c in sections])

    def row(q: str, rel: str) -> dict:
        plan = build(parse(q))
        plan.restored = svc._restored(opened, plan)
        ranked = ranker.rank(plan)
        top = ranked.order(0, DEPTH)
        a = plan.scored[0]
        words = [w for w in a.unique_words if w not in a.question_words and w in vocab]
        v = np.zeros(args.dims, dtype=np.float32)
        counts = np.zeros(len(vocab), dtype=np.float32)
        for w in words:
            v += idf[vocab[w]] * terms[vocab[w]]
            counts[vocab[w]] += 1
        norm = float(np.linalg.norm(v))
        near = []
        if norm:
            sims = terms @ (v / norm)
            near = [(names[j], float(sims[j])) for j in np.argsort(-sims)[:30] if names[j] not in words][:10]
        expansion = ranker.score_words(near)[top]
        section_p = nb.predict_proba(sp.csr_matrix(np.log1p(counts)))[0]
        scores = ranked.scores[top]
        return {
            "top": top, "doc": opened.searcher.document_number(id=rel),
            "score": scores / (scores[0] if len(scores) and scores[0] > 0 else 1.0),
            "cos": docs[top] @ (v / norm) if norm else np.zeros(len(top), dtype=np.float32),
            "expansion": expansion / (scores[0] if len(scores) and scores[0] > 0 else 1.0),
            "section": section_p[[slot[c] for c in predicted[top]]],
            "health": health[top].astype(np.float32),
        }

    sets = {"questions": load(args.every, None), "headlines": headlines(300)}
    rows = {name: [row(q, rel) for _, q, rel in qs] for name, qs in sets.items()}
    print(f"{sum(map(len, rows.values()))} queries: {time.perf_counter() - t0:.0f} s", flush=True)

    trials = [("ranking as served", 0.0, lambda r, w: r["score"])]
    trials += [("LSA cosine", w, lambda r, w: r["score"] + w * r["cos"]) for w in (0.05, 0.1, 0.2, 0.4)]
    trials += [("LSA expansion", w, lambda r, w: r["score"] + w * r["expansion"]) for w in (0.05, 0.1, 0.2, 0.3)]
    trials += [("topic", w, lambda r, w: r["score"] * (1 + w * r["section"])) for w in (0.1, 0.2, 0.3)]
    trials += [("topic (oracle)", w, lambda r, w: r["score"] * (1 + w * r["health"])) for w in (0.1, 0.2, 0.4)]
    print(f"{'signal':18s} {'weight':>6s}  {'MRR@10':>7s} {'R@10':>6s}   headline s@1")
    for label, w, f in trials:
        mrr, recall, _ = measure(rows["questions"], lambda r, f=f, w=w: f(r, w))
        _, _, s1 = measure(rows["headlines"], lambda r, f=f, w=w: f(r, w))
        print(f"{label:18s} {w:6.2f}  {mrr:7.4f} {recall:6.3f}   {s1:.3f}", flush=True)


if __name__ == "__main__":
    main()
