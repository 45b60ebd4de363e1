"""Files written whole or not at all: through a hidden file beside the target, renamed when complete."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` by ``write(partial)`` into a hidden file beside it, renamed onto ``path`` when complete.

    An interrupted or failed write leaves any earlier file at ``path`` whole and no partial file behind. A file
    replaced keeps its permissions and (where the user may set it) its group, as one rewritten in place does; a new
    one gets those the umask gives (not ``mkstemp``'s owner-only ones).
    """
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(partial)
        try:
            earlier = os.stat(path)
        except OSError:  # a new file
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(partial, 0o666 & ~umask)
        else:
            os.chmod(partial, stat.S_IMODE(earlier.st_mode))
            with contextlib.suppress(OSError):  # a group the user is not in: the user's own
                os.chown(partial, -1, earlier.st_gid)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
