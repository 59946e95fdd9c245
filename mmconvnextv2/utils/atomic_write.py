"""Files that are never half-written: whole and durable at their final name, or absent.

Every writer of the package goes through :func:`atomic_write`: the data goes to a uniquely named
temporary file beside the destination, is flushed to the disk, and replaces the destination in one
rename, which is then made durable by syncing the folder. On failure the temporary file is removed.
"""
import os
import os.path as osp
import secrets
from collections.abc import Callable
from typing import BinaryIO


def fsync_directory(directory: str) -> None:
    """Makes a rename in ``directory`` durable; folders cannot be opened for this on Windows."""
    if os.name != 'posix':
        return
    fd = os.open(directory or '.', os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: str, dst: str) -> None:
    """Flushes the written file ``src`` to the disk, then renames it over ``dst``, durably."""
    with open(src, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    fsync_directory(osp.dirname(dst))


def atomic_write(path: str, write: Callable[[BinaryIO], None], durable: bool = True) -> None:
    """Calls ``write`` on a temporary binary file that then replaces ``path`` atomically.

    Args:
        path: Destination; its folder is created when missing.
        write: Writes the content to the open file it is given.
        durable: Sync the file and its folder to the disk, so that ``path`` survives a crash of
            the machine too. Bulk writers of many small files pass False and sync once at the end
            (``os.sync()``) before they write the file that marks their output complete.
    """
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600); this one gets the umask's permissions.
    tmp = osp.join(folder, f'.{osp.basename(path)}.{secrets.token_hex(8)}.tmp')
    try:
        with open(tmp, 'xb') as f:
            write(f)
        if durable:
            replace_durably(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes, durable: bool = True) -> None:
    """Writes ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(data), durable)


def atomic_write_text(path: str, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    atomic_write_bytes(path, text.encode('utf-8'))
