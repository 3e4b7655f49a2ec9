"""One writer at a time: an exclusive lock file per OUT, or per shard of OUT.

flock is unreliable on Lustre and NFS, and a pid means nothing on another host,
so a lock is a file created with ``O_EXCL`` holding its holder's host, boot id,
pid, process start time and a heartbeat that a thread refreshes every 30 s. A
lock is stale when it is on this host (same boot) and its process is gone, or
when its heartbeat is older than 5 minutes (a Slurm task resubmitted on another
node then goes on after at most that wait). A stale lock is first hard-linked to
a name made from its content (``O_EXCL`` semantics: of two runs that find the
same stale lock, one link fails), then removed, then created anew; those
``.stale-*`` names are kept, so the same stale content can never be taken twice.

Runs that write the whole OUT (a plain convert, ``merge``) take ``all.lock`` and
need no other lock to be held; a shard takes ``shard-NNNN.lock`` and needs that
no whole-OUT lock is held, so shards run side by side.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Dict, Optional

from .output import temporary_name

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0
WHOLE = "all"


class LockError(Exception):
    """Another run holds OUT (or the same shard of it)."""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    """The start time of a process in clock ticks since boot (Linux), '' where unknown:
    tells a live holder from a new process that got its pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(holder: dict) -> str:
    return (f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
            f"started {holder.get('started', '?')} ({holder.get('command', '?')})")


def is_stale(holder: dict, now: Optional[float] = None) -> bool:
    now = time.time() if now is None else now
    if now - float(holder.get("heartbeat", 0)) > STALE_SECONDS:
        return True
    if holder.get("host") != socket.gethostname():
        return False  # only its heartbeat tells
    if holder.get("boot_id") != _boot_id():
        return True  # this host rebooted since: the holder is gone
    pid = int(holder.get("pid", -1))
    return not _alive(pid) or _process_start(pid) != holder.get("process_start", "")


class OutLock:
    """``with OutLock(folder, name, command):`` holds ``folder/<name>.lock``."""

    def __init__(self, folder: Path, name: str, command: str):
        self.folder = Path(folder)
        self.name = name
        self.path = self.folder / f"{name}.lock"
        self.holder = {
            "host": socket.gethostname(), "boot_id": _boot_id(), "pid": os.getpid(),
            "process_start": _process_start(os.getpid()),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": command, "heartbeat": time.time(),
        }
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- taking and releasing ------------------------------------------------------

    def __enter__(self) -> "OutLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # a stale lock taken over by another run in between: look again
            if self._create():
                break
            holder = read_lock(self.path)
            if holder is not None and not is_stale(holder):
                raise LockError(f"{self.path}: another samed2d run works on this output ({describe(holder)}); "
                                f"wait for it to end (a lock whose holder died is taken over after at most "
                                f"{STALE_SECONDS / 60:.0f} minutes)")
            if holder is not None:
                _take_over(self.path, holder)
        else:
            raise LockError(f"{self.path}: cannot take the lock (it keeps changing)")
        conflict = self._conflicting()
        if conflict is not None:
            self._remove_own()
            raise LockError(f"{conflict[0]}: another samed2d run works on this output ({describe(conflict[1])}); "
                            f"{'a whole-output run (merge, or a convert without shards) needs every shard to have ended' if self.name == WHOLE else 'a shard cannot run while a whole-output run (merge, or a convert without shards) holds it'}")
        self._thread = threading.Thread(target=self._beat, name="samed2d-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._remove_own()

    # -- internals -------------------------------------------------------------------

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self._content())
        finally:
            os.close(fd)
        return True

    def _content(self) -> bytes:
        self.holder["heartbeat"] = time.time()
        return (json.dumps(self.holder, sort_keys=True) + "\n").encode("utf-8")

    def _conflicting(self):
        """Another live lock this one excludes: (path, holder) or None."""
        for path in sorted(self.folder.glob("*.lock")):
            if path == self.path or (self.name != WHOLE and path.name != f"{WHOLE}.lock"):
                continue
            holder = read_lock(path)
            if holder is not None and not is_stale(holder):
                return path, holder
        return None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            holder = read_lock(self.path)
            if holder is None or holder.get("pid") != self.holder["pid"] or holder.get("host") != self.holder["host"]:
                return  # taken over (we were deemed dead): never write over another's lock
            tmp = self.folder / temporary_name()
            try:
                tmp.write_bytes(self._content())
                os.replace(tmp, self.path)
            except OSError:
                tmp.unlink(missing_ok=True)

    def _remove_own(self) -> None:
        holder = read_lock(self.path)
        if holder is not None and holder.get("pid") == self.holder["pid"] and holder.get("host") == self.holder["host"]:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def read_lock(path: Path) -> Optional[dict]:
    """The holder written in a lock file; None when it is gone. A lock file that cannot
    be parsed (its holder was killed while writing it) counts by its file time."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        mtime = Path(path).stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        holder = json.loads(text)
        if not isinstance(holder, dict):
            raise ValueError
        return holder
    except ValueError:
        return {"heartbeat": mtime, "command": "unreadable lock file"}


def _take_over(path: Path, holder: dict) -> None:
    """Removes a stale lock unless another run took it over first."""
    digest = hashlib.sha1(json.dumps(holder, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    try:
        os.link(path, path.with_name(f".stale-{path.stem}-{digest}"))
    except FileExistsError:
        return  # another run is taking this very lock over: try again from the start
    except FileNotFoundError:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def held_locks(folder: Path) -> Dict[str, dict]:
    """Live locks in ``folder``: name -> holder (for messages and tests)."""
    out: Dict[str, dict] = {}
    for path in sorted(Path(folder).glob("*.lock")) if Path(folder).is_dir() else []:
        holder = read_lock(path)
        if holder is not None and not is_stale(holder):
            out[path.stem] = holder
    return out


