"""Decontamination: drop training examples that share a long n-gram with evaluation data.

Evaluation texts are read from the benchmarks' own files (BBH JSON, MMLU CSV, MGSM TSV, TyDiQA
SQuAD JSON, or any JSONL with `input`/`question` fields); a training example is contaminated when
any run of `n` consecutive lower-cased words (default 13, as in GPT-3 and the Flan papers' checks)
also occurs in an evaluation text. Texts shorter than `n` words cannot match and are skipped.

Example:
    >>> idx = NgramIndex(n=3)
    >>> idx.add("The quick brown fox jumps")
    >>> idx.contains("a QUICK brown fox!"), idx.contains("brown dog")
    (True, False)
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from flankit.data.tasks import Task
from flankit.errors import FlankitError

WORD = re.compile(r"\w+", re.UNICODE)
# Punctuation to spaces, then split: the same words as WORD on ASCII text, several times faster.
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…–—¿¡。、，：；！？（）"})
# Task-level fields repeat across every example of a task; they are not per-example content.
TASK_LEVEL_FIELDS = ("description", "definition")
VERSION = 3  # bump when the hashing changes, to invalidate cached indexes
# Every character `str.split()` splits on: those outside ASCII become spaces before hashing.
_UNICODE_SPACES = (
    "\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_NON_ASCII_SPLIT = [chr(c) for c in _PUNCT if c > 127] + list(_UNICODE_SPACES)
_SPACE_BYTE = np.zeros(256, dtype=bool)
_SPACE_BYTE[[ord(c) for c in _ASCII_SPACES + string.punctuation]] = True
_BYTE_PRIME = 0x9E3779B97F4A7C15  # odd: every power differs modulo 2**64
_CHUNK_CHARS = 4 << 20


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation removed."""
    return text.lower().translate(_PUNCT).split()


class NgramIndex:
    """A sorted array of 64-bit hashes of word n-grams, checked many texts at a time."""

    def __init__(self, n: int = 13) -> None:
        if n < 1:
            raise FlankitError("decontamination n-gram length must be >= 1")
        self.n = n
        self.hashes = np.empty(0, dtype=np.uint64)
        self.texts = 0

    def _window_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rolling polynomial hashes of every n-word window that stays inside one text, and
        the text each window belongs to."""
        hashes, owners, start, size = [], [], 0, 0
        for i, t in enumerate(texts):  # a few MiB at a time, to bound the arrays' memory
            size += len(t)
            if size >= _CHUNK_CHARS or i == len(texts) - 1:
                h, o = self._chunk_window_hashes(texts[start : i + 1])
                hashes.append(h)
                owners.append(o + start)
                start, size = i + 1, 0
        if len(hashes) == 1:
            return hashes[0], owners[0]
        if not hashes:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        return np.concatenate(hashes), np.concatenate(owners)

    def _chunk_window_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        # The words of `words()`, found and hashed on the UTF-8 bytes with numpy: a byte table
        # splits on ASCII whitespace and punctuation; texts with other characters first get
        # the rest of `_PUNCT` and the Unicode spaces replaced by spaces.
        lowered = (t.lower() for t in texts)
        encoded = [(t if t.isascii() else _non_ascii_to_space(t)).encode() for t in lowered]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        data = np.frombuffer(b" ".join(encoded), dtype=np.uint8)
        solid = ~_SPACE_BYTE[data]
        edge = np.diff(solid.view(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        total = len(starts)
        if total < self.n:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        # Word hash: sum over its bytes of (byte + 1) * P**offset, modulo 2**64 (byte + 1 so
        # that a NUL byte still counts).
        word_of = np.cumsum(edge[:-1] == 1) - 1
        offset = np.arange(len(data)) - starts[word_of.clip(0)]
        with np.errstate(over="ignore"):
            powers = np.ones(int((ends - starts).max()), dtype=np.uint64)
            powers[1:] = np.cumprod(np.full(len(powers) - 1, _BYTE_PRIME, dtype=np.uint64))
            terms = (data.astype(np.uint64) + np.uint64(1)) * powers[
                offset.clip(0, len(powers) - 1)
            ]
            terms[~solid] = 0
            h = np.add.reduceat(terms, starts)
            # splitmix64's finaliser: the windows' sums below need well-mixed word hashes.
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
            windows = total - self.n + 1
            acc = np.zeros(windows, dtype=np.uint64)
            mult = np.uint64(1)
            for k in range(self.n):
                acc += h[k : k + windows] * mult
                mult = mult * np.uint64(1099511628211)
        text_starts = np.cumsum(lengths + 1) - lengths - 1
        owner = np.searchsorted(text_starts, starts, side="right") - 1
        valid = owner[:windows] == owner[self.n - 1 :]
        return acc[valid], owner[:windows][valid]

    def add(self, text: str) -> None:
        self.add_many([text])

    def add_many(self, texts: list[str]) -> None:
        grams, _ = self._window_hashes(texts)
        self.texts += len(texts)
        # Sort and drop repeats (np.union1d's hash-based unique is many times slower here).
        both = np.sort(np.concatenate([self.hashes, grams]))
        self.hashes = both[np.concatenate(([True], both[1:] != both[:-1]))] if len(both) else both

    def contains(self, text: str) -> bool:
        return bool(self.contains_many([text])[0])

    def contains_many(self, texts: list[str]) -> np.ndarray:
        """One boolean per text: does it share an n-gram with the index?"""
        hit = np.zeros(len(texts), dtype=bool)
        if not len(self.hashes) or not texts:
            return hit
        grams, owner = self._window_hashes(texts)
        # A bitmap of hash prefixes rules most windows out cheaply; survivors are checked exactly.
        maybe = self._bitmap()[(grams >> np.uint64(40)).astype(np.int64)]
        grams, owner = grams[maybe], owner[maybe]
        pos = np.searchsorted(self.hashes, grams).clip(0, len(self.hashes) - 1)
        hit[owner[self.hashes[pos] == grams]] = True
        return hit

    def _bitmap(self) -> np.ndarray:
        if getattr(self, "_bits_for", None) is not self.hashes:
            bits = np.zeros(1 << 24, dtype=bool)
            bits[(self.hashes >> np.uint64(40)).astype(np.int64)] = True
            self._bits, self._bits_for = bits, self.hashes
        return self._bits


def _non_ascii_to_space(text: str) -> str:
    # A few str.replace scans: many times faster than str.translate, which maps char by char.
    for c in _NON_ASCII_SPLIT:
        if c in text:
            text = text.replace(c, " ")
    return text


def eval_texts(path: str | Path) -> Iterator[str]:
    """The question/context texts in an evaluation file or a directory of them."""
    for file in _eval_files(Path(path)):
        reader = _TEXT_READERS.get(file.suffix)
        if reader is not None:
            yield from reader(file)


def _csv_texts(path: Path) -> Iterator[str]:
    """MMLU: question, A, B, C, D, answer."""
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if row:
                yield " ".join(row[:-1]) if len(row) > 2 else row[0]


def _tsv_texts(path: Path) -> Iterator[str]:
    """MGSM: question \t answer."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.split("\t", 1)[0]


def _jsonl_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                yield " ".join(str(row.get(k, "")) for k in ("input", "question", "context"))


def _json_file_texts(path: Path) -> Iterator[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FlankitError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from exc
    yield from _json_texts(data)


_TEXT_READERS = {
    ".csv": _csv_texts,
    ".tsv": _tsv_texts,
    ".jsonl": _jsonl_texts,
    ".json": _json_file_texts,
}


def _json_texts(data) -> Iterator[str]:
    if isinstance(data, dict):
        yield from _json_mapping_texts(data)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                yield " ".join(
                    str(item.get(k, "")) for k in ("input", "question", "context") if k in item
                )
            else:
                yield from _json_texts(item)


def _json_mapping_texts(data: dict) -> Iterator[str]:
    if isinstance(data.get("examples"), list):  # BBH / BIG-bench
        for ex in data["examples"]:
            if isinstance(ex, dict):
                yield str(ex.get("input", ""))
    elif isinstance(data.get("data"), list):  # SQuAD format (TyDiQA GoldP)
        for article in data["data"]:
            for para in article.get("paragraphs", []):
                yield para.get("context", "")
                for qa in para.get("qas", []):
                    yield qa.get("question", "")
    else:
        for value in data.values():  # e.g. {"finnish": [{context, question, ...}]}
            yield from _json_texts(value)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    return (
        Path(cache_dir or os.environ.get("FLANKIT_CACHE", Path.home() / ".cache" / "flankit"))
        / "decontam"
    )


def task_key(index_key: str, task: Task) -> str:
    """Identifies one task's decontamination result: the eval index, the source file, the rows."""
    source = task.meta.get("source", "")
    stat = None
    if source and os.path.isfile(source):
        stat = (os.path.getsize(source), os.path.getmtime(source))
    ends = [task.examples[0].fields, task.examples[-1].fields] if task.examples else []
    parts = [index_key, VERSION, task.name, source, stat, len(task.examples), ends]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def build_index(paths: list[str], n: int = 13, cache_dir: str | Path | None = None) -> NgramIndex:
    """An n-gram index over every evaluation text found under `paths`.

    The index is cached under `cache_dir` (default ~/.cache/flankit/decontam), keyed by the
    files' paths, sizes and modification times, so later builds skip re-reading the benchmarks.
    """
    key, cached = _cached_index_path(paths, n, cache_dir)
    cache = cached.parent
    index = NgramIndex(n)
    index.key = key
    if cached.exists():
        index.hashes = np.load(cached, allow_pickle=False)
        return index
    for p in paths:
        index.add_many([t for t in eval_texts(p) if t])
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"{key}.tmp.npy"
        np.save(tmp, index.hashes, allow_pickle=False)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs time
    return index


def index_in_background(
    paths: list[str], n: int = 13, cache_dir: str | Path | None = None
) -> Callable[[], NgramIndex]:
    """Start `build_index` in a forked process and return a call that waits for its result.

    A first build reads the benchmarks while the main process loads the training collections
    (one core each); a cached index, or a system without `fork`, is read in the call itself.
    Errors surface from the call, as `build_index` raises them.
    """
    import multiprocessing as mp

    if _cached_index_path(paths, n, cache_dir)[1].exists() or (
        "fork" not in mp.get_all_start_methods()
    ):
        return lambda: build_index(paths, n, cache_dir)
    pool = mp.get_context("fork").Pool(1)
    job = pool.apply_async(build_index, (paths, n, cache_dir))
    pool.close()

    def wait() -> NgramIndex:
        try:
            return job.get()
        finally:
            pool.join()

    return wait


def _cached_index_path(paths: list[str], n: int, cache_dir: str | Path | None) -> tuple[str, Path]:
    """The cache key of the index over `paths` and the file it is cached in."""
    files = sorted({str(f) for p in paths for f in _eval_files(Path(p))})
    key = hashlib.sha256(
        repr([n, VERSION] + [(f, os.path.getsize(f), os.path.getmtime(f)) for f in files]).encode()
    ).hexdigest()[:24]
    return key, cache_root(cache_dir) / f"{key}.npy"


def _eval_files(path: Path) -> list[Path]:
    """The evaluation files at `path`: itself, or those below it (sorted) when it is a folder."""
    if path.is_dir():
        return sorted(c for c in path.rglob("*") if c.is_file() and c.suffix in _TEXT_READERS)
    if not path.exists():
        raise FlankitError(
            "evaluation file not found", file=str(path), hint="fix decontaminate.eval_paths"
        )
    return [path]


def contaminated(task: Task, index: NgramIndex) -> np.ndarray:
    """One boolean per example of `task`: does it share an n-gram with the evaluation data?"""
    texts = [
        " ".join(
            " ".join(v) if isinstance(v, list) else str(v)
            for k, v in ex.fields.items()
            if k not in TASK_LEVEL_FIELDS
        )
        for ex in task.examples
    ]
    return index.contains_many(texts)


def decontaminate(task: Task, index: NgramIndex) -> int:
    """Remove contaminated examples from `task` in place; return how many were removed."""
    hits = contaminated(task, index)
    kept = [ex for ex, hit in zip(task.examples, hits) if not hit]
    removed = len(task.examples) - len(kept)
    task.examples = kept
    return removed
