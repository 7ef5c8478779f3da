"""How readers really type: success@10 of headline spans typed in capitals, Telex/VNI keys, with typos, abbreviated.

    python bench/typed.py --index /path/to/48k-index [--count 300] [--english 200] [--only 'dropped letter'] [--misses]

Known-item queries: 4-7 consecutive words of a corpus title (as bench/relevance.py
makes them); that article must be among the first ten. Each span is typed:

- printed (as in the title), in capitals;
- with Telex or VNI keys and the input method off (``Haf Nooij``, ``Ha2 No6i5``);
- with one letter dropped from its longest word (``nghên cứu``);
- with hỏi and ngã swapped on one syllable (``sữa chữa``), spans that have one;
- abbreviated or spelled out (titles holding an abbreviation of engine/synonyms.txt,
  or its long form, typed the other way: ``ủy ban nhân dân quận`` for ``UBND quận``).

Then the queries that must never be rewritten: the ViNewsQA dev questions, the
printed headline spans, and English words, brands and foreign names found in the
corpus titles (ASCII words that are not Vietnamese syllables).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import re
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/typing.py: a script's folder comes first on sys.path, and that name would shadow Python's typing.
_HERE = os.path.dirname(os.path.abspath(__file__))


def _relevance():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_relevance", Path(_HERE) / "relevance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rel = _relevance()
EVAL, headlines, load, timing = _rel.EVAL, _rel.headlines, _rel.load, _rel.timing

_TONE_KEYS = {"\u0301": ("s", "1"), "\u0300": ("f", "2"), "\u0309": ("r", "3"), "\u0303": ("x", "4"),
              "\u0323": ("j", "5")}
_MARK_KEYS = {("a", "\u0302"): ("aa", "a6"), ("e", "\u0302"): ("ee", "e6"), ("o", "\u0302"): ("oo", "o6"),
              ("a", "\u0306"): ("aw", "a8"), ("o", "\u031b"): ("ow", "o7"), ("u", "\u031b"): ("uw", "u7")}


def keys(word: str, vni: bool) -> str:
    """The keys a reader presses for ``word`` in Telex (or VNI) with the input method off."""
    out, tone = [], ""
    for ch in word:
        if ch in "đĐ":
            out.append(("d9" if vni else "dd") if ch == "đ" else ("D9" if vni else "DD"))
            continue
        base, *marks = unicodedata.normalize("NFD", ch)
        for m in marks:
            if m in _TONE_KEYS:
                tone = _TONE_KEYS[m][vni]
        mark = next((m for m in marks if (base.lower(), m) in _MARK_KEYS), None)
        if mark is None:
            out.append(base)
        else:
            typed = _MARK_KEYS[(base.lower(), mark)][vni]
            out.append(base + typed[1:])
    return "".join(out) + tone


def typed_keys(text: str, vni: bool) -> str:
    """Each word's keys; punctuation around a word is typed as it is."""
    out = []
    for w in text.split():
        m = re.match(r"^(\W*)(.*?)(\W*)$", w)
        out.append(m.group(1) + keys(m.group(2), vni) + m.group(3))
    return " ".join(out)


def drop_letter(text: str, rng: random.Random) -> str | None:
    words = text.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    w = words[longest]
    if len(w) < 4:
        return None
    at = rng.randrange(1, len(w))
    words[longest] = w[:at] + w[at + 1:]
    return " ".join(words)


_HOI, _NGA = "\u0309", "\u0303"


def swap_hoi_nga(text: str, rng: random.Random) -> str | None:
    words = text.split()
    at = [i for i, w in enumerate(words) if any(m in unicodedata.normalize("NFD", w) for m in (_HOI, _NGA))]
    if not at:
        return None
    i = rng.choice(at)
    nfd = unicodedata.normalize("NFD", words[i])
    nfd = nfd.replace(_HOI, "\x00").replace(_NGA, _HOI).replace("\x00", _NGA)
    words[i] = unicodedata.normalize("NFC", nfd)
    return " ".join(words)


def synonym_groups() -> list[list[str]]:
    groups = []
    for line in (ROOT / "searchsvc" / "engine" / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "=>" not in line:
            groups.append([t.strip() for t in line.split(",") if t.strip()])
    return groups


def titles() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT.parent / "shared" / "corpus").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                out.append((d["id"], d["title"]))
    return out


def abbreviation_spans(all_titles, count: int, rng: random.Random, per_group: int = 12) -> list[tuple[str, str, str]]:
    """Spans of titles around an abbreviation or its long form, typed the other way (the whole form always
    inside the span), at most ``per_group`` per synonym group so that VN/Việt Nam does not make the set."""
    by_group: dict[int, list[tuple[str, str, str]]] = collections.defaultdict(list)
    groups = synonym_groups()
    for doc_id, title in all_titles:
        for g, group in enumerate(groups):
            short = [x for x in group if " " not in x and len(x) <= 8]
            long = [x for x in group if x not in short]
            for form in group:
                m = re.search(r"(?<!\w)" + re.escape(form) + r"(?!\w)", title, 0 if form in short else re.IGNORECASE)
                others = long if form in short else short
                if not m or not others:
                    continue
                other = rng.choice(others)
                before, after = title[:m.start()].split(), title[m.end():].split()
                # 3 to 5 words of the title besides the form: enough to name the article, as a reader recalls it
                n = rng.randint(3, 5)
                take_before = min(len(before), rng.randint(0, n))
                take_after = min(len(after), n - take_before)
                words = before[len(before) - take_before:] + other.split() + after[:take_after]
                if take_before + take_after >= 3:
                    by_group[g].append((doc_id, " ".join(words).strip(",.:;!?\"'“”()"), doc_id))
                break
    picked = []
    for items in by_group.values():
        rng.shuffle(items)
        picked += items[:per_group]
    rng.shuffle(picked)
    return picked[:count]


def english_words(all_titles, count: int) -> list[str]:
    """ASCII words of titles that are not Vietnamese syllables, most frequent first: brands, names, English."""
    from searchsvc.analysis.input_methods import is_syllable

    counts: collections.Counter[str] = collections.Counter()
    for _, title in all_titles:
        for w in re.findall(r"(?<!\w)[A-Za-z][A-Za-z0-9]+(?!\w)", title):
            if len(w) >= 3 and not is_syllable(w.lower()) and not w.isupper():
                counts[w] += 1
    return [w for w, _ in counts.most_common(count)]


def success(service, queries, transform, misses: list | None = None) -> dict:
    """Success@10 of ``queries`` typed by ``transform``; each one missed goes to ``misses`` (span, typed, read as)."""
    from searchsvc.engine.search import SearchRequest

    found, times, n = 0, [], 0
    for _, query, relevant in queries:
        typed = transform(query)
        if typed is None:
            continue
        n += 1
        start = time.perf_counter()
        result = service.search(SearchRequest(q=typed, per_page=10))
        times.append((time.perf_counter() - start) * 1000)
        hit = relevant in [h.id for h in result.hits]
        found += hit
        if not hit and misses is not None:
            misses.append((query, typed, (result.rewritten or {}).get("text", "")))
    return {"queries": n, "success@10": round(found / max(n, 1), 4), **timing(times or [0.0])}


def rewritten(service, texts: list[str]) -> list[tuple[str, dict]]:
    from searchsvc.engine.search import SearchRequest

    out = []
    for text in texts:
        r = service.search(SearchRequest(q=text, per_page=10))
        if r.rewritten:
            out.append((text, r.rewritten))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--count", type=int, default=300, help="headline spans per way of typing")
    ap.add_argument("--english", type=int, default=200, help="English words and names that must stay as typed")
    ap.add_argument("--every", type=int, default=1, help="ViNewsQA dev questions: every k-th")
    ap.add_argument("--only", action="append", help="run only this way of typing (repeatable; the sets stay the "
                    "same) and skip the never-rewritten checks")
    ap.add_argument("--misses", action="store_true", help="print each query missed: span, as typed, as read")
    args = ap.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"skipped: {EVAL} is absent")
    from searchsvc.analysis.vietnamese import load_model
    from searchsvc.engine.search import SearchService

    load_model()
    service = SearchService(args.index)
    service.warm()
    rng = random.Random(11)
    spans = headlines(args.count)
    all_titles = titles()
    ways = {
        "printed": lambda q: q,
        "capitals": lambda q: q.upper(),
        "telex": lambda q: typed_keys(q, vni=False),
        "vni": lambda q: typed_keys(q, vni=True),
        "dropped letter": lambda q: drop_letter(q, rng),
        "hỏi/ngã swapped": lambda q: swap_hoi_nga(q, rng),
    }
    results, missed = {}, {}
    for name, transform in ways.items():
        if args.only and name not in args.only:
            for _, q, _ in spans:  # the random draws of the ways run after it stay the same
                transform(q)
            continue
        results[name] = success(service, spans, transform, missed.setdefault(name, []))
        print(f"{name:18} {json.dumps(results[name])}", flush=True)
    abbreviated = abbreviation_spans(all_titles, args.count, rng)
    if not args.only or "abbreviation" in args.only:
        results["abbreviation"] = success(service, abbreviated, lambda q: q, missed.setdefault("abbreviation", []))
        print(f"{'abbreviation':18} {json.dumps(results['abbreviation'])}", flush=True)
    if args.misses:
        for name, found in missed.items():
            for span, typed, read in found:
                print(f"missed, {name}: {span!r} typed {typed!r} read as {read!r}")
    if args.only:
        return

    questions = [q for _, q, _ in load(args.every, None)]
    english = english_words(all_titles, args.english)
    checks = {"ViNewsQA questions": questions, "headline spans": [q for _, q, _ in spans],
              "English words and names": english}
    never = {}
    for name, texts in checks.items():
        found = rewritten(service, texts)
        never[name] = {"queries": len(texts), "rewritten": len(found), "examples": found[:50]}
        print(f"rewritten, {name}: {len(found)} of {len(texts)}", found[:5], flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"typed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"success": results, "never_rewritten": never, "english": english},
                               ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"written {path}")


if __name__ == "__main__":
    main()
