"""Where the benchmark data live: ``$SEMST_DATA_DIR`` or ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from .. import _constants as C


def default_data_dir() -> Path:
    """Return the data folder used by the loaders.

    Returns
    -------
    The resolved value of the ``SEMST_DATA_DIR`` environment variable if set, else ``../shared/data``
    relative to the working directory.

    """
    value = os.environ.get(C.DATA_DIR_ENV)
    return Path(value).expanduser().resolve() if value else Path("../shared/data").resolve()
