"""Has a key file changed since it was read? The local keyring and the KMS key config are re-read
when a rotation rewrites them, without a restart and without a timer thread: each use of the
provider asks, and the file is stat'ed at most every ``interval_seconds``."""

from __future__ import annotations

import os
import time

#: Modification time and inode: a rotation renames a new file into place, which can share an mtime tick.
FileStamp = tuple[int, int]
_MISSING: FileStamp = (0, 0)


def file_stamp(path: str) -> FileStamp:
    try:
        st = os.stat(path)
    except OSError:
        return _MISSING
    return (st.st_mtime_ns, st.st_ino)


class FilePoll:
    def __init__(self, path: str, interval_seconds: float, stamp: FileStamp) -> None:
        self.path = path
        self.interval_seconds = interval_seconds
        self._stamp = stamp
        self._next = time.monotonic() + interval_seconds

    def poll(self, *, now: bool = False) -> FileStamp | None:
        """The file's new stamp if a check is due (or ``now``: a provider asked for a key id it does
        not hold, see LocalKeyring.handles) and the file changed since the last accepted read."""
        if self.interval_seconds <= 0:
            return None
        t = time.monotonic()
        if not now and t < self._next:
            return None
        self._next = t + self.interval_seconds
        stamp = file_stamp(self.path)
        return None if stamp == self._stamp else stamp

    def changed_now(self) -> FileStamp | None:
        """Like poll, without waiting for the interval (readiness checks)."""
        stamp = file_stamp(self.path)
        return None if stamp == self._stamp else stamp

    def accept(self, stamp: FileStamp) -> None:
        """The file was read as of ``stamp``."""
        self._stamp = stamp
