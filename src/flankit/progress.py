"""Progress for long phases: a line when a phase starts and when it ends, or a bar with a count.

tqdm computes rates from the wall clock over a moving window (`smoothing`), so a rate and its
ETA follow the machine's real speed, also when other work slows it down.

Example:
    >>> with phase("build", "loading", enabled=False):
    ...     pass
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


@contextmanager
def phase(command: str, what: str, *, enabled: bool = True):
    """`command: what ...` on stderr, then `command: what: N.N s` when the block ends."""
    if not enabled:
        yield
        return
    t0 = time.perf_counter()
    print(f"{command}: {what} ...", file=sys.stderr, flush=True)
    yield
    print(f"{command}: {what}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def bar(command: str, what: str, total: int | None, *, unit: str, enabled: bool = True):
    """A tqdm bar named `command: what` (disabled when `enabled` is false)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        desc=f"{command}: {what}",
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )
