"""Notebook kernels started by a grid or study die with the process that started them.

Its own module, imported by every kernel at start-up (``PAPERMILL_KWARGS`` in mlsearch.cells), so
that start-up imports nothing else.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent() -> None:
    """In a notebook kernel: ask Linux to SIGKILL this kernel when the process that started it dies.

    jupyter_client starts kernels in a session of their own, so ``kill -9`` of a grid's process
    group misses them; left alone, a kernel notices its parent is gone only at its next poll (up to a
    second later) and meanwhile keeps training and writing into the run folder that a rerun of the
    grid is about to resume. A no-op outside Linux or when not started by a kernel manager.
    """
    parent = int(os.environ.get("JPY_PARENT_PID") or 0)
    if not sys.platform.startswith("linux") or parent <= 1:
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


