"""Output folders, checked before any work starts so that a bad path fails at once."""

from __future__ import annotations

import os
from pathlib import Path

from flankit.errors import FlankitError


def writable_dir(path: str | Path) -> Path:
    """Create `path` if needed and prove it writable; a FlankitError names it otherwise.

    The probe file is per process, so data-parallel ranks checking one folder never race.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise FlankitError(
            f"output directory is not writable: {exc.strerror}", file=str(path)
        ) from exc
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a temporary file, fsynced, then renamed, so a
    kill never leaves a half-written file under the real name."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
