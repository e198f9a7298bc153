"""The one writer of every result file: what it may replace, and the lock on an output folder.

Rules (``docs/error_cases.md``, "Nothing lost"):

- nothing but a regular file is ever replaced: a device node, a pipe, a socket, a folder, or a link
  to one of those is refused, even with ``--overwrite`` (a rename would put a file in its place);
- an existing regular file is replaced only when this writer wrote it in this run, or with
  ``overwrite``;
- a command's own inputs (its images, its review file, its model) are never written, even with
  ``overwrite``;
- the bundled resources (demo models and samples) are never written;
- an output folder is held by one run at a time (:func:`folder_lock`).

:class:`OutputGuard` checks every planned path before a long computation (:meth:`OutputGuard.check_all`)
and again at each write, which goes through :func:`inspector_app.core.data.atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

LOCK_NAME = ".inspector-app.lock"


class WriteRefused(OSError):
    """A planned output that would destroy something; the message is one line naming the path."""

    def __init__(self, message: str):
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class FolderBusy(WriteRefused):
    """An output folder another run holds."""


def special_file(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists and is not a regular file (nor a link to one), else ``None``."""
    try:
        st = os.stat(path)  # follows a link: a link to /dev/null counts as the device
    except FileNotFoundError:
        try:
            os.lstat(path)
        except FileNotFoundError:
            return None
        return None  # a dangling link: replacing it loses nothing but the link
    except OSError:
        return None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_special(path: str | os.PathLike[str]) -> None:
    """Raise :class:`WriteRefused` when ``path`` exists and is not a regular file."""
    what = special_file(path)
    if what is not None:
        raise WriteRefused(f"{path}: is {what}, not a regular file; it is never replaced (choose another output)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class WriteFailed(OSError):
    """A file could not be written (a full disk, a file-size limit, an I/O error): one sentence that
    names the file and says that the file already there, if any, is unchanged."""

    def __str__(self) -> str:
        return str(self.strerror)


def _io_errno(e: BaseException) -> int | None:
    """The ``errno`` of a failed write: an ``OSError``'s, or the one a writer in another language
    reports in its message (safetensors: ``… I/O error: No space left on device (os error 28)``)."""
    if isinstance(e, OSError):
        return e.errno
    m = re.search(r"\(os error (\d+)\)", str(e))
    return int(m.group(1)) if m and type(e).__name__ == "SafetensorError" else None


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    An interrupted or failed write never leaves a half file in place of a good one, and nothing but
    a regular file is ever replaced (:func:`refuse_special`, checked again just before the rename).
    A write that fails for want of space (or any other I/O error) raises :class:`WriteFailed`.
    """
    p = Path(path)
    refuse_special(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    existed = p.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:200]}.", suffix=".part", dir=p.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        refuse_special(p)
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        code = None if isinstance(e, WriteRefused) else _io_errno(e)
        if code is None:
            raise
        why = os.strerror(code) if code else str(e)
        raise WriteFailed(code, f"cannot write {p}: {why[:1].lower()}{why[1:]} "
                                f"({'the file already there is unchanged' if existed else 'nothing was written'})") from e
    return p


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _bundled_root() -> Path | None:
    try:
        from ..resources import resources_dir

        root = resources_dir()
        return root.resolve() if root is not None else None
    except (ImportError, OSError):  # pragma: no cover - a broken installation
        return None


def _resolved(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a link loop
        return Path(os.path.abspath(p))


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (resolved, links followed) lies in ``folder`` (resolved)."""
    try:
        _resolved(path).relative_to(_resolved(folder))
        return True
    except ValueError:
        return False


def in_bundled_resources(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies in the bundled resources folder (the demo models and samples)."""
    root = _bundled_root()
    return root is not None and inside(path, root)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class OutputGuard:
    """Checks and writes one command's outputs (see the module docstring).

    ``inputs``: files this command reads (never written); ``overwrite``: existing regular files may
    be replaced; ``bundled``: writing into the bundled resources is allowed (only for the commands
    that make models, e.g. ``calibrate --in-place`` on a bundled model).
    """

    def __init__(self, inputs: Iterable[str | os.PathLike[str] | None] = (), overwrite: bool = False, bundled: bool = False,
                 hint: str = "choose another output or add --overwrite"):
        self.overwrite = overwrite
        self.bundled = bundled
        self.hint = hint
        self.written: set[Path] = set()
        self._input_paths: set[Path] = set()
        self._input_ids: set[tuple[int, int]] = set()
        self.add_inputs(inputs)

    def add_inputs(self, inputs: Iterable[str | os.PathLike[str] | None]) -> None:  # None: skipped
        for p in inputs:
            if p is None:
                continue
            self._input_paths.add(_resolved(p))
            ident = _identity(Path(p))
            if ident is not None:
                self._input_ids.add(ident)

    def is_input(self, path: str | os.PathLike[str]) -> bool:
        ident = _identity(Path(path))
        return _resolved(path) in self._input_paths or (ident is not None and ident in self._input_ids)

    def check(self, path: str | os.PathLike[str]) -> Path:
        """``path`` when it may be written now; :class:`WriteRefused` (one line) otherwise."""
        p = Path(path)
        if not self.bundled and in_bundled_resources(p):
            raise WriteRefused(f"{p}: is in the bundled resources, which are never written; choose another output")
        if self.is_input(p):
            raise WriteRefused(f"{p}: is one of this command's inputs; it is never replaced (choose another output)")
        refuse_special(p)
        if os.path.lexists(p) and not self.overwrite and _resolved(p) not in self.written:
            raise WriteRefused(f"{p} exists; {self.hint}")
        return p

    def check_all(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Every planned output checked at once, before the work that produces them."""
        for p in paths:
            self.check(p)

    def write(self, path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
        """``write(tmp)`` then rename onto ``path``, after :meth:`check`."""
        p = self.check(path)
        atomic_write(p, write)
        self.written.add(_resolved(p))
        return p

    def write_bytes(self, path: str | os.PathLike[str], data: bytes) -> Path:
        return self.write(path, lambda tmp: Path(tmp).write_bytes(data))


def data_files(folder: str | os.PathLike[str], limit: int = 100_000) -> list[Path]:
    """The files under ``folder`` (recursively, at most ``limit``), to pass as a command's inputs;
    empty when ``folder`` is not a folder."""
    d = Path(folder)
    out: list[Path] = []
    if not d.is_dir():
        return out
    for root, _dirs, files in os.walk(d):
        out += [Path(root) / f for f in files]
        if len(out) >= limit:
            break
    return out[:limit]


def _pid_of(lock: Path) -> str:
    try:
        return lock.read_text().strip()[:20] or "?"
    except OSError:
        return "?"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder`` (created if missing) for this run: a second run asking for it meanwhile gets
    :class:`FolderBusy` at once. The lock file (``.inspector-app.lock``) is removed on release,
    and so is the folder when this run created it and left it empty."""
    d = Path(folder)
    created = not d.exists()
    if os.path.lexists(d) and not d.is_dir():
        raise WriteRefused(f"{d}: is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteRefused(f"{d}: cannot write there ({e.strerror or e})") from None
    lock = d / LOCK_NAME
    refuse_special(lock)
    fd = _acquire(lock, d)
    try:
        yield d
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
        _release(fd)
        if created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty


def _acquire(lock: Path, d: Path) -> int:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: an exclusive create
        try:
            return os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise FolderBusy(f"{d}: another inspector-app run is writing there (pid {_pid_of(lock)}); "
                             "wait for it or choose another output folder") from None
    for _ in range(10):  # the holder may unlink the file between our open and our lock: retry
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            raise WriteRefused(f"{d}: cannot write there ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise FolderBusy(f"{d}: another inspector-app run is writing there (pid {_pid_of(lock)}); "
                             "wait for it or choose another output folder") from None
        if _same(fd, lock):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise FolderBusy(f"{d}: another inspector-app run is writing there; wait for it or choose another output folder")


def _same(fd: int, path: Path) -> bool:
    st = os.fstat(fd)
    return _identity(path) == (st.st_dev, st.st_ino)


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
