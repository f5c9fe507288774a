"""Best-fit packing of variable-length examples into fixed-length rows.

Works in one dimension (decoder-only: one sequence per example) or two (encoder-decoder:
inputs and targets each have a capacity). Examples are buffered, sorted longest first, and each
goes into the open row whose remaining room on the binding side is the smallest that fits
(found by bisection). Rows still open when a buffer is done carry over to the next buffer, so
efficiency does not drop at buffer edges; nearly full rows are emitted.

Example:
    >>> p = BestFitPacker((10,))
    >>> rows = p.add_many([(6,), (4,), (3,), (7,)]) + p.finish()
    >>> sorted(sorted(r) for r in rows)
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class BestFitPacker:
    """Assign example numbers to rows; each row's lengths stay within `capacity`."""

    def __init__(
        self, capacity: Sequence[int], buffer_size: int = 4096, max_open: int = 512, scan: int = 64
    ) -> None:
        self.scan = scan
        if not capacity or any(c <= 0 for c in capacity):
            raise ValueError("capacities must be positive")
        self.capacity = tuple(capacity)
        self.buffer_size = buffer_size
        self.max_open = max_open
        self._buffer: list[tuple[tuple[int, ...], int]] = []
        self._count = 0
        self._open: list[tuple[list[int], list[int]]] = []  # (remaining per dim, members)

    def add(self, lengths: Sequence[int]) -> list[list[int]]:
        """Queue one example (its lengths per dimension); returns rows completed meanwhile."""
        lengths = tuple(min(int(x), c) for x, c in zip(lengths, self.capacity))
        self._buffer.append((lengths, self._count))
        self._count += 1
        if len(self._buffer) >= self.buffer_size:
            return self._flush(final=False)
        return []

    def add_many(self, many: Sequence[Sequence[int]]) -> list[list[int]]:
        out: list[list[int]] = []
        for lengths in many:
            out.extend(self.add(lengths))
        return out

    def finish(self) -> list[list[int]]:
        return self._flush(final=True)

    def _flush(self, final: bool) -> list[list[int]]:
        items, self._buffer = self._buffer, []
        cap = self.capacity
        dims = len(cap)
        # The binding side is the one whose buffered total fills its capacity first.
        load = (
            [sum(it[0][d] for it in items) / cap[d] for d in range(dims)] if items else [0] * dims
        )
        primary = max(range(dims), key=lambda d: load[d])
        # Largest first by combined size, so long-target items are placed before the gaps close.
        items.sort(key=lambda it: (-sum(it[0][d] / cap[d] for d in range(dims)), it[1]))
        bins = self._open
        keys: list[tuple[int, int]] = sorted((b[0][primary], i) for i, b in enumerate(bins))
        for lengths, number in items:
            need = lengths[primary]
            j = bisect.bisect_left(keys, (need, -1))
            placed = False
            # Tightest fits first; then the emptiest rows, for items whose other side is the problem.
            near = range(j, min(j + self.scan, len(keys)))
            far = range(len(keys) - 1, max(j + self.scan, len(keys) - self.scan) - 1, -1)
            for k in (*near, *far):
                rem, bi = keys[k]
                remaining = bins[bi][0]
                if all(remaining[d] >= lengths[d] for d in range(dims)):
                    del keys[k]
                    for d in range(dims):
                        remaining[d] -= lengths[d]
                    bins[bi][1].append(number)
                    bisect.insort(keys, (remaining[primary], bi))
                    placed = True
                    break
            if not placed:
                remaining = [cap[d] - lengths[d] for d in range(dims)]
                bins.append((remaining, [number]))
                bisect.insort(keys, (remaining[primary], len(bins) - 1))
        if final:
            done, self._open = [b[1] for b in bins], []
            return done
        # Keep the emptiest rows open for the next buffer; emit the rest.
        # A row stays open only if the smallest example seen could still fit on every side.
        smallest = [max(min((it[0][d] for it in items), default=1), 1) for d in range(dims)]
        alive = [i for i, b in enumerate(bins) if all(b[0][d] >= smallest[d] for d in range(dims))]
        alive.sort(key=lambda i: -bins[i][0][primary])
        keep = set(alive[: self.max_open])
        done = [bins[i][1] for i in range(len(bins)) if i not in keep]
        self._open = [bins[i] for i in sorted(keep)]
        return done
