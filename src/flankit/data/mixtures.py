"""Mixtures: which task, which example and which rendering variant comes next.

Within a collection, tasks are weighted by their example counts, capped per task
(`min(n, cap)`, optionally raised to 1/temperature); collections are weighted by their rates.
Presets give the paper's Proportion A and B and the Flan Collection's recommended rates by role.

`Mixture.stream()` is infinite and deterministic; its position (`state()`) can be saved and
restored exactly. `Mixture.every_example_once()` is finite: each example of each task once.

Example:
    >>> from flankit.data.collections import CollectionSpec, load_collection
    >>> spec = CollectionSpec(name="synthetic", examples_per_task=20)
    >>> mix = Mixture([(spec, load_collection(spec))], seed=0)
    >>> stream = mix.stream()
    >>> first = [next(stream) for _ in range(3)]
    >>> again = mix.stream(state={"step": 0, "cursors": {}})
    >>> first == [next(again) for _ in range(3)]
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from flankit.data.collections import CollectionSpec, defaults_for
from flankit.data.tasks import FORMATS, Task, Variant, example_rng
from flankit.errors import FlankitError

# Rates and per-task caps by role (FLAN_PAPER.md Table 23; FLAN repo run_example.py / mixtures.py).
PRESETS: dict[str, dict[str, tuple[float, int]]] = {
    "proportion_a": {
        "muffin": (0.52, 30_000),
        "t0sf": (0.15, 20_000),
        "cot": (0.03, 100_000),
        "niv2": (0.30, 5_000),
    },
    "proportion_b": {
        "muffin": (0.46, 30_000),
        "t0sf": (0.279, 20_000),
        "cot": (0.018, 100_000),
        "niv2": (0.242, 5_000),
    },
    "flan2022": {
        "muffin": (0.40, 30_000),
        "t0sf": (0.32, 20_000),
        "niv2": (0.20, 5_000),
        "cot": (0.05, 100_000),
        "dialog": (0.03, 200_000),
    },
}
BLOCK = 4096


@dataclass(frozen=True)
class Ref:
    """A pointer to one training example: task number, example index, epoch, and variant."""

    task: int
    index: int
    epoch: int
    variant: Variant


def _task_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def data_seed(mixture_seed: int | None, seed: int) -> int:
    """The seed of the data order: `mixture.seed` where a config sets it, else the job's
    `seed` (which also initialises a trained model). The one place this default is decided."""
    return seed if mixture_seed is None else mixture_seed


class Mixture:
    """Sampling weights over tasks, and deterministic streams of `Ref`s."""

    def __init__(
        self,
        collections: list[tuple[CollectionSpec, list[Task]]],
        *,
        seed: int = 0,
        preset: str | None = None,
        temperature: float = 1.0,
    ) -> None:
        if preset is not None and preset not in PRESETS:
            raise FlankitError(
                f"unknown mixture preset {preset!r}; choose one of {', '.join(PRESETS)}"
            )
        if temperature <= 0:
            raise FlankitError("mixture temperature must be > 0")
        self.seed = seed
        self.preset = preset
        self.tasks: list[Task] = []
        self.specs: list[CollectionSpec] = []
        probs: list[float] = []
        self.collection_rates: dict[str, float] = {}
        raw_rates = []
        for spec, tasks in collections:
            if not tasks:
                continue
            defaults = defaults_for(spec)
            role = spec.role or defaults.role
            cap = spec.cap
            rate = spec.rate
            if preset is not None and role in PRESETS[preset]:
                p_rate, p_cap = PRESETS[preset][role]
                rate = p_rate if rate is None else rate
                cap = p_cap if cap is None else cap
            cap = cap if cap is not None else defaults.cap
            weights = np.array([min(len(t), cap) for t in tasks], dtype=np.float64) ** (
                1.0 / temperature
            )
            if rate is None:
                if preset is not None:
                    raise FlankitError(
                        f"collection {spec.name} has no role in preset {preset}; give it a `rate`",
                        hint=f"roles in {preset}: {', '.join(PRESETS[preset])}",
                    )
                rate = float(sum(min(len(t), cap) for t in tasks))  # examples-proportional
            raw_rates.append((spec.name, rate, weights / weights.sum()))
            self.tasks.extend(tasks)
            self.specs.extend([spec] * len(tasks))
        if not self.tasks:
            raise FlankitError("the mixture has no tasks with examples")
        total = sum(r for _, r, _ in raw_rates)
        for name, rate, w in raw_rates:
            self.collection_rates[name] = rate / total
            probs.extend((rate / total) * w)
        self.probs = np.asarray(probs, dtype=np.float64)
        self.probs /= self.probs.sum()
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise FlankitError(f"task {dup!r} appears in two collections", task=dup)
        self._format_tables = [self._formats(spec) for spec in self.specs]
        self.fingerprint = zlib.crc32(
            repr(
                [(t.name, len(t), round(float(p), 12)) for t, p in zip(self.tasks, self.probs)]
            ).encode()
        )

    @staticmethod
    def _formats(spec: CollectionSpec) -> tuple[list[str], np.ndarray, float, float]:
        d = defaults_for(spec)
        formats = spec.formats or d.formats
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise FlankitError(
                f"collection {spec.name}: unknown format {sorted(unknown)[0]!r}; choose from {', '.join(FORMATS)}"
            )
        names = list(formats)
        w = np.array([formats[n] for n in names], dtype=np.float64)
        cot = d.cot if spec.cot is None else spec.cot
        inv = d.inversion if spec.inversion is None else spec.inversion
        return names, np.cumsum(w / w.sum()), cot, inv

    # ------------------------------------------------------------------ variants

    def variant(self, task_i: int, index: int, epoch: int) -> Variant:
        """The rendering variant of one example, fixed by (seed, task, index, epoch)."""
        task = self.tasks[task_i]
        names, cum, cot_p, inv_p = self._format_tables[task_i]
        rng = example_rng(self.seed, task.name + "|variant", index, epoch)
        fmt = names[
            int(np.searchsorted(cum, rng.random() * cum[-1], side="right").clip(0, len(names) - 1))
        ]
        inverted = task.supports_inversion and task.has_rationale and rng.random() < inv_p
        cot = (not inverted) and task.supports_cot and rng.random() < cot_p
        return Variant(fmt, cot=cot, inverted=inverted)

    # ------------------------------------------------------------------ streams

    def _task_choices(self, block: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 7, block])
        return rng.choice(len(self.tasks), size=BLOCK, p=self.probs)

    def _perm(self, task_i: int, epoch: int) -> np.ndarray:
        n = len(self.tasks[task_i])
        return np.random.default_rng(
            [self.seed, _task_key(self.tasks[task_i].name), epoch]
        ).permutation(n)

    def stream(self, state: dict | None = None) -> MixtureStream:
        """An infinite stream of Refs, starting from a saved `state()` if given."""
        return MixtureStream(self, state)

    def every_example_once(self) -> Iterator[Ref]:
        """Each example of each task exactly once, tasks interleaved at random (no caps)."""
        for ti, idx, epoch in self.every_example_once_draws():
            yield Ref(ti, idx, epoch, self.variant(ti, idx, epoch))

    def every_example_once_draws(self) -> Iterator[tuple[int, int, int]]:
        """`every_example_once` without the variants: (task, example index, epoch 0)."""
        owners = np.concatenate(
            [np.full(len(t), i, dtype=np.int32) for i, t in enumerate(self.tasks)]
        )
        order = np.random.default_rng([self.seed, 11]).permutation(len(owners))
        cursors = [0] * len(self.tasks)
        perms = [self._perm(i, 0) for i in range(len(self.tasks))]
        for pos in order:
            ti = int(owners[pos])
            k = cursors[ti]
            cursors[ti] += 1
            yield ti, int(perms[ti][k]), 0

    def table(self) -> list[dict]:
        """Per-task mixing weights, for reports."""
        return [
            {"task": t.name, "collection": t.collection, "examples": len(t), "rate": float(p)}
            for t, p in zip(self.tasks, self.probs)
        ]


class MixtureStream:
    """Iterator over an infinite mixture; `state()` captures the position exactly."""

    def __init__(self, mixture: Mixture, state: dict | None) -> None:
        self.mix = mixture
        self.step = 0
        self.cursors = np.zeros(len(mixture.tasks), dtype=np.int64)
        if state:
            fp = state.get("fingerprint")
            if fp is not None and fp != mixture.fingerprint:
                raise FlankitError(
                    "saved data position belongs to a different mixture (tasks, sizes or rates changed)",
                    hint="restore with the same data config, or start the stream afresh",
                )
            self.step = int(state["step"])
            name_to_i = {t.name: i for i, t in enumerate(mixture.tasks)}
            for name, k in state.get("cursors", {}).items():
                self.cursors[name_to_i[name]] = int(k)
        self._block_id = -1
        self._block = None
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def state(self) -> dict:
        return {
            "step": self.step,
            "fingerprint": self.mix.fingerprint,
            "cursors": {self.mix.tasks[i].name: int(k) for i, k in enumerate(self.cursors) if k},
        }

    def __iter__(self) -> MixtureStream:
        return self

    def __next__(self) -> Ref:
        ti, idx, epoch = self.draw()
        return Ref(ti, idx, epoch, self.mix.variant(ti, idx, epoch))

    def draw(self) -> tuple[int, int, int]:
        """The next (task, example index, epoch) without its variant: a build's workers find
        the variants (`Mixture.variant`, one seeded generator per example) in parallel."""
        block, offset = divmod(self.step, BLOCK)
        if block != self._block_id:
            self._block = self.mix._task_choices(block)
            self._block_id = block
        ti = int(self._block[offset])
        k = int(self.cursors[ti])
        n = len(self.mix.tasks[ti])
        epoch, pos = divmod(k, n)
        key = (ti, epoch)
        perm = self._perms.get(key)
        if perm is None:
            self._perms.pop((ti, epoch - 1), None)
            perm = self._perms[key] = self.mix._perm(ti, epoch)
        self.cursors[ti] = k + 1
        self.step += 1
        return ti, int(perm[pos]), epoch

    def repeats(self) -> dict[str, float]:
        """How many times each task's examples have been seen so far (draws / examples)."""
        return {t.name: float(k) / len(t) for t, k in zip(self.mix.tasks, self.cursors) if len(t)}
