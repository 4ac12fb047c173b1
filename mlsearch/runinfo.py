"""``run_info.json``: what varies between machines and runs (kept out of metrics.json on purpose)."""

from __future__ import annotations

import datetime as dt
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import transformers


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


def package_version() -> str | None:
    try:
        return metadata.version("mlsearch")
    except metadata.PackageNotFoundError:
        return None


def collect(**extra: Any) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "mlsearch": package_version(),
        "git_commit": git_commit(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **extra,
    }
