"""Writing folders: atomic replacement, the user's umask, outputs kept apart from inputs."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from .names import MODEL_FOLDER_FILES

__all__ = [
    "apply_umask",
    "atomic_folder",
    "check_apart",
    "check_writable",
    "created_mode",
    "write_json",
]


@contextlib.contextmanager
def atomic_folder(
    path: str | os.PathLike, overwrite: bool = False, *, owned: Iterable[str] = MODEL_FOLDER_FILES
) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success its files land in ``path``.

    A missing ``path`` becomes the new folder in one rename. A non-empty one is refused
    unless ``overwrite``; then only the writer's own entries are replaced: the names the new
    folder holds and those matching the ``owned`` patterns (what an earlier write of this
    kind may have left). Anything else there (a user's notes, other outputs) stays. A
    symlinked ``path`` is written through (its target is the folder).

    Example:
        >>> with atomic_folder("out/adapter") as tmp:  # doctest: +SKIP
        ...     (tmp / "config.json").write_text("{}")
    """
    check_writable(path, overwrite)
    final = Path(os.path.realpath(os.path.expanduser(path)))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        apply_umask(tmp)  # mkdtemp's 0700 would become the folder's mode, safetensors' 0600
        if final.exists():
            _merge_into(tmp, final, tuple(owned))
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    """The process's umask (read from /proc where it can be, else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def created_mode(folder: bool = True) -> int:
    """The mode the user's umask gives a new folder (``0o777 & ~umask``) or file
    (``0o666 & ~umask``): what a folder made by ``mkdtemp`` (always 0700) is set to before
    it is moved into place."""
    return (0o777 if folder else 0o666) & ~_umask()


def apply_umask(path: str | os.PathLike) -> None:
    """Give ``path`` and everything under it (what phalanx just wrote there) the modes the
    user's umask gives new folders and files (``created_mode``); links are left alone.

    Writers that create files 0600 (safetensors) or folders 0700 (``mkdtemp``) would
    otherwise hide a user's outputs from the group the umask shares them with.
    """
    root = Path(path)
    folder, file = created_mode(), created_mode(folder=False)
    for entry in [root, *root.rglob("*")]:
        if not entry.is_symlink():
            entry.chmod(folder if entry.is_dir() else file)


def check_writable(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse a ``path`` that is a file, or a non-empty folder unless ``overwrite`` (what
    ``atomic_folder`` checks first; commands call it before their slow work)."""
    final = Path(os.path.realpath(os.path.expanduser(path)))
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{path} exists and is not empty; choose another folder or pass overwrite=True "
            "(--overwrite on the command line)"
        )


def _merge_into(new: Path, final: Path, owned: tuple[str, ...]) -> None:
    """Move ``new``'s entries into ``final``, first setting aside the entries of ``final``
    they replace and those matching ``owned``; undone if a move fails."""
    names = sorted(p.name for p in new.iterdir())
    stale = [
        p.name
        for p in final.iterdir()
        if p.name in names or any(fnmatch.fnmatchcase(p.name, pat) for pat in owned)
    ]
    aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    moved: list[str] = []
    try:
        for name in stale:
            os.replace(final / name, aside / name)
        for name in names:
            os.replace(new / name, final / name)
            moved.append(name)
    except BaseException:
        for name in moved:
            os.replace(final / name, new / name)
        for p in aside.iterdir():
            os.replace(p, final / p.name)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def check_apart(
    output: str | os.PathLike,
    inputs: Mapping[str, str | os.PathLike | None],
    what: str = "output",
) -> None:
    """Refuse an ``output`` that is, holds or lies inside one of the ``inputs``.

    ``inputs`` maps how the message names each input (``"input adapter"``) to its path;
    only paths that exist are compared (a Hub id or a built-in name is not one), after
    resolving symlinks and ``..``. Writing there could destroy the input, so commands call
    this before any slow work; the one-line error names both paths.

    >>> check_apart("runs/demo", {"input adapter": "runs/demo/adapter"})  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    phalanx.errors.InputError: output runs/demo contains the input adapter runs/demo/adapter; ...
    """
    out = Path(os.path.realpath(os.path.expanduser(output)))
    for name, given in inputs.items():
        if not isinstance(given, str | os.PathLike) or not given:
            continue
        if not os.path.lexists(os.path.expanduser(given)):
            continue
        src = Path(os.path.realpath(os.path.expanduser(given)))
        if out == src or (out.exists() and src.exists() and os.path.samefile(out, src)):
            relation = "is"
        elif src.is_relative_to(out):
            relation = "contains"
        elif out.is_relative_to(src):
            relation = "lies inside"
        else:
            continue
        raise InputError(
            f"{what} {_shown_path(output, out)} {relation} the {name} "
            f"{_shown_path(given, src)}; choose another {what} (writing there could destroy "
            f"the {name})"
        )


def _shown_path(given: str | os.PathLike, real: Path) -> str:
    """The path as the user gave it, plus where it leads when a symlink or ``..`` hides that."""
    text = str(given)
    plain = os.path.abspath(os.path.expanduser(given)) == str(real) and ".." not in Path(text).parts
    return text if plain else f"{text} (= {real})"


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as indented JSON with sorted keys (the layout every phalanx file uses)."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
