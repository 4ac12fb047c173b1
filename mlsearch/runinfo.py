"""``run_info.json``: what varies between machines and runs (kept out of metrics.json on purpose)."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy
import pandas
import tokenizers
import torch
import transformers

from mlsearch import __version__


def git_commit() -> str | None:
    """The checkout's commit, or None outside a git checkout (best effort)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_version() -> str:
    """The package's own version: from the source, so it is known in a checkout that is not pip-installed."""
    return __version__


def collect(**extra: Any) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "mlsearch": package_version(),
        "git_commit": git_commit(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **extra,
    }
