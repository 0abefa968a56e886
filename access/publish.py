"""Publishing a run's outputs: one run per folder, every file at once.

A run holds a lock beside its output folder (``.<name>.lock``: holder PID,
host, start time and command, held with ``flock`` so that the kernel
releases it when the holder dies, however it dies). It writes into a
staging folder beside the output folder (``.<name>.staging-<pid>``, same
file system) and, at the end, exchanges the two folders with one
``renameat2(RENAME_EXCHANGE)`` system call. Until that call the output
folder holds the previous run's complete files; after it, the new run's.
A process killed at any moment leaves one or the other, never a mixture.

Before the exchange, files in the output folder that the tool did not write
(the planner's own notes, a ``README``, a ``.git``) are hard-linked (or
copied where links are not supported) into the staging folder, so they stay
where they are. Files of the previous run that this run did not write are
left behind, but only those listed in the previous ``run.json`` with the
same size and SHA-256; a listed file the planner has changed since is kept,
with a warning. A file saved into the folder during the exchange itself is
moved back after it.

Where ``renameat2`` is missing (not Linux, or a file system without it) the
exchange is two renames; a run killed between them leaves the previous
output under ``.<name>.old-<pid>``, and the next run into the folder puts it
back before anything else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from access.errors import InputError, warn

try:
    import fcntl
except ImportError:  # Windows: a byte-range lock, which the system also drops when its holder dies
    fcntl = None
    import msvcrt

__all__ = ["Holder", "OutputBusy", "output_lock", "staged", "manifest", "check_output_folder", "MANIFEST"]

#: The file whose ``files`` list names every file a run wrote (written last).
MANIFEST = "run.json"
_CHUNK = 1 << 20


class OutputBusy(InputError):
    """Another live run holds the output folder's lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) an output folder's lock."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                   " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python")

    def describe(self) -> str:
        return f"PID {self.pid} on {self.host}, started {self.started} ({self.command})"


def _hidden(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}"


def _read_holder(path: Path) -> Holder | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(d["pid"]), str(d["host"]), str(d["started"]), str(d.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting; False when another open file holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 1 << 30, os.SEEK_SET)  # a byte far past the holder's record, which stays readable
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


@contextmanager
def output_lock(out) -> Iterator[Holder]:
    """Hold the lock of output folder ``out`` for one run.

    Re-entrant within one process (``write_outputs`` inside ``access run``).
    A lock left by a process that no longer runs is taken over with a
    warning naming it.

    Raises
    ------
    OutputBusy
        A live process holds it; the message names its PID, host, start
        time and command.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    path = _hidden(out, "lock")
    me = Holder.me()
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            locked = _try_lock(fd)
        except OSError as exc:
            raise InputError(f"{out}: cannot take the output folder's lock {path} ({exc.strerror or exc}). Fix: "
                             "choose an output folder in a place you can write to.") from None
        if not locked:
            os.close(fd)
            holder = _read_holder(path)
            if holder is not None and holder.pid == me.pid and holder.host == me.host:
                yield holder  # this process already holds it
                return
            who = holder.describe() if holder else "another process (its lock file is being written)"
            raise OutputBusy(f"{out}: another run is writing to this output folder: {who}. Fix: wait for it to "
                             f"finish or choose another --out; if that process is gone, delete {path}.")
        try:  # the holder before us may have removed the file between our open and our lock
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        stale = _read_holder(path)
        if stale is not None and (stale.pid, stale.host) != (me.pid, me.host):
            warn(f"{out}: took over the lock left by {stale.describe()}, which is no longer running; "
                 "its unfinished output was never published.")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me.__dict__, ensure_ascii=False).encode("utf-8"))
        os.fsync(fd)
        _recover(out)
        yield me
    finally:
        os.ftruncate(fd, 0)  # where the file cannot be removed while open, an empty one is no stale lock
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def _recover(out: Path) -> None:
    """Undo what dead runs left beside ``out`` (we hold the lock)."""
    if not out.exists():
        olds = sorted(out.parent.glob(f".{out.name}.old-*"))
        if olds:  # killed between the two renames of the fallback exchange
            os.rename(olds[0], out)
            warn(f"{out}: restored the previous outputs from {olds[0].name} (a run was stopped while publishing).")
    for leftover in [*out.parent.glob(f".{out.name}.staging-*"), *out.parent.glob(f".{out.name}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _libc_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        f = libc.renameat2
    except (OSError, AttributeError):
        return None
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return f


def exchange(a: Path, b: Path) -> None:
    """Swap folders ``a`` and ``b`` in one system call (two renames as a fallback)."""
    f = _libc_renameat2()
    if f is not None:
        at_fdcwd, rename_exchange = -100, 2
        if f(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(b))
    old = b.parent / f".{b.name}.old-{os.getpid()}"
    os.rename(b, old)
    os.rename(a, b)
    os.rename(old, a)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file and symlink under ``folder``."""
    found = []
    for root, dirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [(rel / n).as_posix() for n in names]
        found += [(rel / d).as_posix() for d in dirs if os.path.islink(os.path.join(root, d))]
    return sorted(found)


def manifest(folder) -> list[dict]:
    """``[{"path", "bytes", "sha256"}]`` of every file under ``folder`` (bytes, hex)."""
    folder = Path(folder)
    rows = []
    for rel in _files(folder):
        p = folder / rel
        if p.is_file() and not p.is_symlink():
            rows.append({"path": rel, "bytes": p.stat().st_size, "sha256": sha256(p)})
    return rows


def _previous(out: Path) -> dict[str, dict]:
    """Files the previous run wrote, by relative path, from its ``run.json``."""
    try:
        rows = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return {}
    listed = {}
    for r in rows if isinstance(rows, list) else []:
        rel = r.get("path") if isinstance(r, dict) else None
        # only plain relative paths inside the folder: a hand-edited run.json must not reach outside it
        if isinstance(rel, str) and rel and not Path(rel).is_absolute() and ".." not in Path(rel).parts:
            listed[Path(rel).as_posix()] = r
    listed[MANIFEST] = {}
    return listed


def _carry_over(out: Path, stage: Path) -> list[str]:
    """Hard-link into ``stage`` what the planner keeps in ``out``; returns the dropped earlier outputs."""
    if not out.is_dir():
        return []
    previous = _previous(out)
    written = set(_files(stage))
    dropped = []
    for root, dirs, names in os.walk(out):
        rel_root = Path(root).relative_to(out)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        (stage / rel_root).mkdir(parents=True, exist_ok=True)
        for n in names + links:
            rel = (rel_root / n).as_posix()
            src, dst = out / rel, stage / rel
            if rel in written:
                continue  # this run's file replaces it
            if rel in previous:
                row = previous[rel]
                if rel == MANIFEST or (src.is_file() and src.stat().st_size == row.get("bytes")
                                       and sha256(src) == row.get("sha256")):
                    dropped.append(rel)
                    continue
                warn(f"{src}: kept; an earlier run wrote it but it has changed since, so it may be yours.")
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
    # folders left empty because they only held earlier outputs go with them
    emptied = {Path(d).parent for d in dropped}
    emptied |= {a for d in emptied for a in d.parents}
    for rel in sorted(emptied, key=lambda d: len(d.parts), reverse=True):
        if rel != Path(".") and (stage / rel).is_dir() and not any((stage / rel).iterdir()):
            (stage / rel).rmdir()
    return dropped


def _rescue(old: Path, out: Path, dropped: set[str]) -> None:
    """Move back what the planner put in the folder between the carry-over and the exchange."""
    for rel in _files(old):
        if rel not in dropped and not os.path.lexists(out / rel):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(old / rel, out / rel)


@contextmanager
def staged(out) -> Iterator[Path]:
    """Yield an empty staging folder for ``out``; publish it when the block ends.

    On normal exit the planner's own files are carried over, earlier
    outputs this run did not write are dropped, and the staging folder
    replaces ``out`` in one exchange. On an exception nothing is published
    and ``out`` is untouched. Takes the lock of ``out`` (re-entrant).
    """
    out = Path(out).resolve()
    with output_lock(out):
        stage = _hidden(out, f"staging-{os.getpid()}")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        try:
            yield stage
            dropped = set(_carry_over(out, stage))
            if out.exists():
                shutil.copymode(out, stage)
                exchange(stage, out)
                _rescue(stage, out, dropped)
            else:
                os.rename(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # the previous outputs after an exchange


def _inputs(scenario) -> dict[str, Path]:
    """Every input path of a scenario (any field holding paths, except the scenario file and output)."""
    found: dict[str, Path] = {}

    def visit(key: str, v) -> None:
        if isinstance(v, Path):
            found[key] = v.resolve()
        elif isinstance(v, dict):
            for k, x in v.items():
                visit(f"{key}.{k}", x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                visit(f"{key}[{i}]", x)

    for k, v in vars(scenario).items():
        if k not in ("path", "output"):
            visit(k, v)
    return found


def check_output_folder(out, scenario) -> Path:
    """The resolved output folder, refused when a run could remove or overwrite inputs.

    Output folders outside the scenario's folder are fine; the scenario's
    own folder, an input's folder and any folder containing them are not.

    Raises
    ------
    InputError
        Naming the output folder, the input it would hold and the fix.
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: the output folder is a file. Fix: give a folder (--out or [study] output).")
    guarded = {"the scenario file": Path(scenario.path).resolve(), **{f"input {k}": p for k, p in
                                                                      _inputs(scenario).items()}}
    problems = []
    for what, p in guarded.items():
        folder = p if p.is_dir() else p.parent
        if out == folder or out in folder.parents:
            problems.append(f"{out}: the output folder holds {what} ({p}); a run replaces the files of its output "
                            f"folder, so it must not be the scenario's or an input's folder. Fix: choose another "
                            f"--out, e.g. {folder / 'output'}.")
    if problems:
        raise InputError(problems)
    return out


def paths_record(scenario, out: Path) -> dict:
    """``run.json`` ``paths``: the scenario, output folder and inputs, resolved and absolute."""
    return {"scenario": str(Path(scenario.path).resolve()), "output": str(Path(out).resolve()),
            "inputs": {k: str(p) for k, p in _inputs(scenario).items()}}
