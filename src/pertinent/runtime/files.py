"""Files and folders the app creates for itself are private to its user: folders 0700, files 0600.

A folder or file that already exists is left as the operator made it.

>>> import tempfile, stat
>>> root = Path(tempfile.mkdtemp())
>>> oct(stat.S_IMODE(private_dir(root / "data").stat().st_mode))
'0o700'
>>> private_file(root / "data" / "x.db"); oct(stat.S_IMODE((root / "data" / "x.db").stat().st_mode))
'0o600'
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """``path`` as a folder, created with mode 0700 when missing (its missing parents get the default mode)."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then opens it and gives its -wal and -shm
    files the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
