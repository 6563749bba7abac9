"""Real storage faults for the Parquet folder: a small tmpfs filled up, and a read-only mount over it.

Both need root with CAP_SYS_ADMIN (a developer machine or a privileged container), because root
ignores permission bits: ``chmod`` cannot make a folder unwritable for it, a read-only mount can.
Where mounting is refused, the ``parquet`` and ``disk-full`` scenarios say they are not testable.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from pathlib import Path

FILLER = ".chaos-filler"


def mount_refused() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can (tried on a scratch folder)."""
    with tempfile.TemporaryDirectory(prefix="rankfeed-chaos-mount-") as scratch:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", scratch], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            return f"mounting a small filesystem is not permitted here ({result.stderr.strip() or 'mount failed'})"
        subprocess.run(["umount", scratch], check=False)
    return None


def mount_tmpfs(folder: Path, size_mb: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], check=True)


def make_read_only(folder: Path) -> None:
    """Mount ``folder`` over itself read-only: creating, renaming or truncating files there fails with
    EROFS for everyone, while every file stays visible and files already open keep being written,
    as on a filesystem remounted read-only after an error. ``unmount`` makes it writable again."""
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)


def unmount(folder: Path) -> None:
    """Unmount, lazily if a process still holds a file there (the cluster is stopped first anyway)."""
    if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(folder: Path) -> int:
    """Take every free byte with one hidden file (readers skip names starting with '.'); return its size.

    The job keeps writing meanwhile, so the file grows in steps, halving the step at each ENOSPC,
    down to one page: whatever the job wrote in between, nothing is left.
    """
    taken = 0
    step = 1 << 20
    descriptor = os.open(folder / FILLER, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        while step >= 4096:
            try:
                os.posix_fallocate(descriptor, taken, step)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                step //= 2
                continue
            taken += step
    finally:
        os.close(descriptor)
    return taken


def release(folder: Path) -> None:
    (folder / FILLER).unlink(missing_ok=True)
