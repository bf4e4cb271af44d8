"""Write an output file whole or not at all (every report and export goes through here)."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from biofeedback.errors import UserError


def write_atomic(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``.

    A full disk, a quota or a kill mid-write then leaves the old file (or none), never a
    truncated report that opens as if it were complete. The rename is atomic on POSIX and
    Windows (`os.replace`) because the temporary file is in the same folder.

    Raises
    ------
    UserError
        One line naming ``path`` when the folder or disk refuses the write.
    """
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        what = "disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
        raise UserError(f"{path}: cannot write ({what}); nothing was written") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path
