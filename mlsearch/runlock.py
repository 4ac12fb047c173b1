"""One trainer per run folder: a lock file that two jobs (grid shards, two shells) cannot both hold.

``with run_lock(run_dir):`` creates ``run_dir/.lock`` atomically (``O_CREAT | O_EXCL``) holding the
owner's host, process id and start time, and removes it on exit. A lock whose owner is a process of
this host that no longer runs (killed, ``kill -9``, a crashed node's job restarted here) is stale: it is
taken over with a message. A lock held by a live process, or by a process of another host (whose
liveness cannot be checked from here), is an error that names the owner and what to do.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlsearch.errors import MlsearchError

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` for the duration of the block (see the module docstring)."""
    run_dir = Path(run_dir)
    created = [d for d in [run_dir, *run_dir.parents] if not d.exists()]  # removed again if left empty
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fix = "free disk space" if exc.errno == errno.ENOSPC else "choose a writable folder"
        raise MlsearchError(f"cannot write results: {exc.strerror}", str(run_dir), fix) from None
    path = run_dir / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            host, pid = owner.get("host"), owner.get("pid")
            if host == me["host"] and isinstance(pid, int) and (pid == me["pid"] or not _alive(pid)):
                print(f"{run_dir}: taking over the lock of process {pid} (no longer running)", file=sys.stderr)
                path.unlink(missing_ok=True)
                continue
            raise MlsearchError(
                f"run folder is being trained by process {pid} on {host} (since {owner.get('started', '?')})",
                str(path),
                "wait for that job to finish, or delete the lock file if that process is gone",
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield path
    finally:
        if _owner(path).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
        for d in created:  # deepest first: a run stopped by bad input leaves no empty folders behind
            try:
                d.rmdir()
            except OSError:
                break
