"""The boto3 that the Lambda runtime provides, for local execution environments.

Functions are built without boto3 because Lambda supplies it; locally it comes from this layer,
installed once from the pinned, hashed functions/boto3-bundle/requirements.txt.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "functions" / "boto3-bundle" / "requirements.txt"


def ensure_boto3_layer(work_dir: Path) -> Path:
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    target = work_dir / "runtime" / f"boto3-{digest}"
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".tmp")
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
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
