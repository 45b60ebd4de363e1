"""Files written whole or not at all: through a hidden file beside the target, renamed when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` by ``write(partial)`` into a hidden file beside it, renamed onto ``path`` when complete.

    An interrupted or failed write leaves any earlier file at ``path`` whole and no partial file behind; the file
    gets the permissions the umask gives a file written in place (not ``mkstemp``'s owner-only ones).
    """
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(partial)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
