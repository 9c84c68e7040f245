"""The boto3 that the Lambda runtime provides, for local execution environments.

Functions are built without boto3 because Lambda supplies it; locally it comes from this layer,
installed once per lock from the pinned, hashed functions/boto3-bundle/requirements.txt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "functions" / "boto3-bundle" / "requirements.txt"
# Shared by every run from this checkout (build/ is git-ignored): installing it takes 10-20 s.
LAYER_CACHE = ROOT / "build" / "runtime"


def ensure_boto3_layer(cache_dir: Path = LAYER_CACHE) -> Path:
    """The layer for the lock's current content, installed into ``cache_dir`` unless it is there."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"boto3-{digest}"
    if (target / ".complete").exists():
        return target
    # Runs may start at once: each installs into its own staging directory, the first rename wins.
    staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "--target",
            str(staging),
            "-r",
            str(LOCK),
        ],
        check=True,
    )
    (staging / ".complete").touch()
    if target.exists() and not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)  # left half-made by a run that was stopped
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run installed it first
    return target
