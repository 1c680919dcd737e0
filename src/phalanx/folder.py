"""The adapter-folder contract: file names, the common metadata, finding and describing folders.

Every adapter folder phalanx writes holds ``phalanx.json`` (the metadata below) beside its
method's files: a SpaRTA / head folder is peft-sparta 0.0.3's layout (``config.json``,
``sparse_deltas.safetensors``, ``head_init.safetensors``), a peft folder is peft's
(``adapter_config.json``, ``adapter_model.safetensors``), a full fine-tune is a plain
transformers folder (``config.json``, ``model.safetensors``, ``pruning.json`` when heads or
neurons were removed). Only this module spells those names.

What a path given for a model is (an adapter folder, a run folder holding ``adapter/``, an
export folder holding ``phalanx_export.json``) is decided here, by ``resolve_folder``, for
every command and API that takes a model. Folders written here get the user's umask.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import InputError, first_line, shown

__all__ = [
    "ADAPTER_FORMAT",
    "ADAPTER_FORMAT_VERSION",
    "CONFIG_FILE",
    "EXPORT_FORMAT",
    "EXPORT_META_FILE",
    "HEAD_INIT_FILE",
    "HEAD_INIT_LEGACY_FILE",
    "LABELS_FIELD",
    "META_FILE",
    "MODEL_FOLDER_FILES",
    "MODEL_WEIGHTS_FILE",
    "NEW_EMBEDDINGS_FILES",
    "PEFT_CONFIG_FILE",
    "PEFT_WEIGHTS_FILE",
    "PRUNING_FILE",
    "REPAIR",
    "SPARSE_DELTAS_FILE",
    "SPARSE_DELTAS_LEGACY_FILE",
    "TOKENIZER_CONFIG_FILE",
    "TOKENIZER_FILES",
    "Field",
    "ModelFolder",
    "adapter_info",
    "adapter_meta",
    "apply_umask",
    "atomic_folder",
    "base_model_of",
    "check_apart",
    "check_fields",
    "check_finite",
    "check_head_rows",
    "check_id2label",
    "check_meta",
    "check_writable",
    "created_mode",
    "has_tokenizer",
    "is_dict",
    "is_export",
    "is_int",
    "is_labels",
    "is_names",
    "is_str",
    "labels_of",
    "read_config",
    "read_json",
    "read_meta",
    "read_tensors",
    "resolve_adapter",
    "resolve_folder",
    "saved_columns",
    "tensor_header",
    "write_json",
    "write_meta",
]

META_FILE = "phalanx.json"
"""phalanx's metadata: method, its config, base model, labels, template, max length, ..."""
CONFIG_FILE = "config.json"
"""The transformers config (SpaRTA folders add ``sparta_pretrained_model``)."""
SPARSE_DELTAS_FILE = "sparse_deltas.safetensors"
"""SpaRTA: ``indices.<name>`` int32 [n, ndim] and ``deltas.<name>`` fp32 [n] per parameter."""
SPARSE_DELTAS_LEGACY_FILE = "sparse_deltas.pt"
"""peft-sparta's older pickle of the same (read with ``weights_only=True``)."""
HEAD_INIT_FILE = "head_init.safetensors"
"""SpaRTA: the head's initial weights (key ``head``, plus one key per head tensor)."""
HEAD_INIT_LEGACY_FILE = "head_init.pt"
NEW_EMBEDDINGS_FILES = ("new_embeddings_init.safetensors", "new_embeddings_init.pt")
"""SpaRTA: rows of tokens added to the vocabulary (read only)."""
PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
MODEL_WEIGHTS_FILE = "model.safetensors"
"""A full fine-tune's weights (``save_pretrained``)."""
PRUNING_FILE = "pruning.json"
"""The heads and neurons each layer kept (structurally pruned full models)."""
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
ADAPTER_FORMAT = "phalanx-adapter"
ADAPTER_FORMAT_VERSION = 1
"""Bumped when a reader of the old version would misread the folder."""
REPAIR = "restore it from a good copy, or re-train or re-save the adapter"
"""The fix every message about a broken adapter file ends with."""
EXPORT_META_FILE = "phalanx_export.json"
"""What marks an export folder (``model.onnx`` and tokenizer files beside it): its metadata,
read by ``phalanx.export.format.read_export_meta``."""
EXPORT_FORMAT = "phalanx-onnx-export"


TOKENIZER_FILES = (
    "added_tokens.json",
    "chat_template.jinja",
    "merges.txt",
    "sentencepiece.bpe.model",
    "special_tokens_map.json",
    "spiece.model",
    "tokenizer.json",
    TOKENIZER_CONFIG_FILE,
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
)
"""What a tokenizer's ``save_pretrained`` may write."""
MODEL_FOLDER_FILES = (
    META_FILE,
    CONFIG_FILE,
    SPARSE_DELTAS_FILE,
    SPARSE_DELTAS_LEGACY_FILE,
    HEAD_INIT_FILE,
    HEAD_INIT_LEGACY_FILE,
    *NEW_EMBEDDINGS_FILES,
    PEFT_CONFIG_FILE,
    PEFT_WEIGHTS_FILE,
    "adapter_model.bin",
    MODEL_WEIGHTS_FILE,
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    PRUNING_FILE,
    "generation_config.json",
    *TOKENIZER_FILES,
)
"""Name patterns of what an adapter or model folder holds: the files an overwrite of one
replaces, besides those the new folder holds (so no file of an earlier method lingers)."""


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


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; InputError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 / JSON, a 5,000-digit number
        why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InputError(f"{path} is not valid JSON ({why}); {REPAIR}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not an object; {REPAIR}")
    return data


def _read_optional(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


# -- typed metadata -------------------------------------------------------------------------
Field = tuple[Callable[[Any], bool], str]
"""A JSON field's check and what it expects, for messages (``(is_str, "a string")``)."""


def is_int(low: int) -> Callable[[Any], bool]:
    """A check for an int (never a bool) of at least ``low``."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_dict(v: Any) -> bool:
    return isinstance(v, dict)


def is_names(v: Any) -> bool:
    """A list of non-empty strings."""
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def is_labels(v: Any) -> bool:
    """A non-empty list of distinct, non-empty strings."""
    return is_names(v) and len(v) >= 1 and len(set(v)) == len(v)


LABELS_FIELD: Field = (is_labels, "a list of distinct, non-empty strings")


def check_fields(
    data: dict[str, Any],
    fields: Mapping[str, Field],
    path: str | os.PathLike,
    fix: str = REPAIR,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """``data`` (the JSON object read from ``path``) when each field of ``fields`` that is
    there and not null passes its check and every ``required`` one is there; else InputError
    naming the file, the field, the value and ``fix``."""
    for key in required:
        if data.get(key) is None:
            raise InputError(f"{path} has no {key}; {fix}")
    for key, (ok, expected) in fields.items():
        value = data.get(key)
        if value is not None and not ok(value):
            raise InputError(
                f"{path}: {key} must be {expected}, got {shown(value)} "
                f"({type(value).__name__}); {fix}"
            )
    return data


def check_id2label(id2label: Any, path: str | os.PathLike, fix: str = REPAIR) -> list[str]:
    """The label names of an ``id2label`` mapping "0".."n-1" to distinct strings, in id
    order; InputError naming the file otherwise."""
    if isinstance(id2label, dict) and sorted(id2label) == sorted(map(str, range(len(id2label)))):
        labels = [id2label[str(i)] for i in range(len(id2label))]
        if is_labels(labels):
            return labels
    raise InputError(
        f'{path}: id2label must map "0".."n-1" to distinct label names, got '
        f"{shown(id2label)}; {fix}"
    )


_META_FIELDS: dict[str, Field] = {
    "format": (is_str, "a string"),
    "format_version": (is_int(1), "an integer >= 1"),
    "method": (is_str, "a method name (a string)"),
    "task": (is_str, "a string"),
    "base_model": (is_str, "a model name or folder (a string)"),
    "model_type": (is_str, "a string"),
    "labels": LABELS_FIELD,
    "max_length": (is_int(1), "an integer >= 1"),
    "input_template": (is_str, "a string"),
    "trainable_parameters": (is_int(0), "an integer >= 0"),
    "method_config": (is_dict, "an object"),
    "metrics": (is_dict, "an object"),
    "dataset": (is_dict, "an object"),
    "training": (is_dict, "an object"),
    "base_fingerprint": (is_dict, "an object"),
    "head_modules": (is_names, "a list of module names"),
    "main_head": (is_str, "a parameter name (a string)"),
    "verbalizers": LABELS_FIELD,
}
"""``phalanx.json``'s common fields and their types (null means: not recorded)."""

_CONFIG_FIELDS: dict[str, Field] = {
    key: (is_str, "a string")
    for key in ("model_type", "sparta_pretrained_model", "_name_or_path", "problem_type")
}


def check_meta(meta: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """``meta`` (the parsed ``phalanx.json`` at ``path``) when its common fields have their
    types and its format version is one this phalanx reads; InputError otherwise."""
    path = Path(path)
    if not isinstance(meta, dict):
        raise InputError(f"{path} holds a JSON {type(meta).__name__}, not an object; {REPAIR}")
    check_fields(meta, _META_FIELDS, path)
    version = meta.get("format_version")
    if version is not None and version > ADAPTER_FORMAT_VERSION:
        raise InputError(
            f"{path} has format_version {version}: the folder was written by a newer phalanx "
            f"(this one reads {ADAPTER_FORMAT_VERSION}); upgrade phalanx"
        )
    return meta


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``phalanx.json``, its common fields checked (``{}`` when it has none: a
    peft-sparta or peft folder)."""
    path = Path(folder) / META_FILE
    return check_meta(read_json(path), path) if path.is_file() else {}


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``config.json`` (``{}`` when it has none), its names and labels checked:
    ``id2label`` maps "0".."n-1" to distinct strings and ``num_labels`` agrees."""
    path = Path(folder) / CONFIG_FILE
    config = check_fields(_read_optional(path), _CONFIG_FIELDS, path)
    id2label = config.get("id2label")
    n = None if id2label is None else len(check_id2label(id2label, path))
    num = config.get("num_labels")
    if num is not None and (not is_int(1)(num) or (n is not None and num != n)):
        raise InputError(f"{path}: num_labels={shown(num)} but id2label has {n} entries; {REPAIR}")
    return config


# -- tensor files ---------------------------------------------------------------------------
def tensor_header(path: str | os.PathLike) -> dict[str, tuple[list[int], str]]:
    """``name -> (shape, dtype)`` from a ``.safetensors`` header, reading no tensor data;
    InputError naming the file when it is cut short or its header is garbled."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {
                k: (list(f.get_slice(k).get_shape()), str(f.get_slice(k).get_dtype()))
                for k in f.keys()  # noqa: SIM118 (safe_open is no mapping)
            }
    except (SafetensorError, OSError, ValueError) as err:
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: BaseException) -> InputError:
    return InputError(
        f"{path} is not a readable safetensors file ({first_line(err)}): it was cut short "
        f"or garbled; {REPAIR}"
    )


def read_tensors(path: str | os.PathLike) -> Any:
    """The tensors of a ``.safetensors`` file (a dict), or of a legacy ``.pt`` read with
    ``weights_only=True`` (never unpickling objects), on the CPU; InputError naming the file
    when it is cut short or garbled (what a ``.pt`` holds is the caller's to check)."""
    import pickle

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise _unreadable(path, err) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputError(
            f"{path} cannot be read as plain tensors (torch.load with weights_only=True "
            f"refused it: {first_line(err)}); phalanx never unpickles other objects: "
            f"{REPAIR}"
        ) from None


def _all_finite(t: Any) -> bool:
    import torch

    flat = t.detach().reshape(-1)
    step = 1 << 24  # bounded temporaries for huge tensors
    for i in range(0, flat.numel(), step):
        chunk = flat[i : i + step]
        # a NaN / inf element makes the sum NaN / inf (one fast pass); a sum that is not
        # finite may also be an overflow of finite values, which the exact test tells apart
        if not torch.isfinite(chunk.sum()) and not torch.isfinite(chunk).all():
            return False
    return True


def check_finite(tensors: Iterable[tuple[str, Any]], path: str | os.PathLike) -> None:
    """InputError naming ``path`` and the first floating tensor of ``(name, tensor)`` pairs
    holding NaN or inf (one summing pass per tensor, no copy of a contiguous one)."""
    for name, t in tensors:
        if t.is_floating_point() and t.numel() and not _all_finite(t):
            raise InputError(f"{path}: tensor {name!r} holds NaN or inf values; {REPAIR}")


def check_head_rows(
    shapes: Mapping[str, Any], main_head: str, labels: int, weights: Path, source: Path
) -> None:
    """Refuse weights whose final head (``main_head``, under any prefix) has another number
    of rows than the ``labels`` the file ``source`` lists; ``shapes``: name -> shape."""
    for name, shape in shapes.items():
        final = name == main_head or name.endswith("." + main_head)
        if final and len(shape) == 2 and shape[0] != labels:
            raise InputError(
                f"{source} lists {labels} labels but {weights} holds {name} of shape "
                f"{list(shape)} (one row per label); {REPAIR}"
            )


def write_meta(folder: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write ``phalanx.json`` into ``folder``."""
    write_json(Path(folder) / META_FILE, meta)


def adapter_meta(
    model_config: Any,
    *,
    method: str,
    method_config: dict[str, Any],
    base_model: str,
    trainable_parameters: int,
    fields: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The common ``phalanx.json`` fields every writer records, then ``fields`` (the
    method's own, e.g. ``base_fingerprint``), then ``extra`` (the caller's: template,
    max length, metrics, ...; it wins).

    ``model_config`` is the transformers config of the saved model (labels, model type).
    """
    id2label = {int(k): v for k, v in model_config.id2label.items()}
    return {
        "format": ADAPTER_FORMAT,
        "format_version": ADAPTER_FORMAT_VERSION,
        "method": method,
        "method_config": method_config,
        "base_model": base_model,
        "model_type": model_config.model_type,
        "labels": [id2label[i] for i in sorted(id2label)],
        "trainable_parameters": trainable_parameters,
        **(fields or {}),
        **(extra or {}),
    }


def base_model_of(
    folder: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> str | None:
    """The base model a folder needs, or None when it names none.

    ``phalanx.json``'s ``base_model`` wins; then peft-sparta's ``sparta_pretrained_model``
    in ``config.json``, peft's ``base_model_name_or_path`` in ``adapter_config.json``, and
    last ``config.json``'s ``_name_or_path`` (older peft-sparta adapters). ``meta`` and
    ``config`` are the already parsed ``phalanx.json`` / ``config.json``, if at hand.
    """
    folder = Path(folder)
    meta = read_meta(folder) if meta is None else meta
    if meta.get("base_model"):
        return str(meta["base_model"])
    config = read_config(folder) if config is None else config
    base = (
        config.get("sparta_pretrained_model")
        or _read_optional(folder / PEFT_CONFIG_FILE).get("base_model_name_or_path")
        or config.get("_name_or_path")
    )
    return str(base) if base else None


def labels_of(
    folder: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> list[str] | None:
    """The class names in id order: ``phalanx.json``'s, else ``config.json``'s ``id2label``."""
    meta = read_meta(folder) if meta is None else meta
    if meta.get("labels"):
        return list(meta["labels"])
    config = read_config(folder) if config is None else config
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)] or None


def has_tokenizer(folder: str | os.PathLike) -> bool:
    """Whether the folder carries its own tokenizer (else the base model's is used)."""
    return (Path(folder) / TOKENIZER_CONFIG_FILE).is_file()


def is_export(path: str | os.PathLike) -> bool:
    """True for a phalanx export folder (of any format version), or a folder whose
    ``phalanx_export.json`` is broken (``read_export_meta`` then says how).

    >>> is_export("runs/demo/adapter")  # doctest: +SKIP
    False
    """
    file = Path(path) / EXPORT_META_FILE
    if not file.is_file():
        return False
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return True
    return not isinstance(data, dict) or data.get("format") == EXPORT_FORMAT


@dataclass(frozen=True)
class ModelFolder:
    """What a path given for a model turned out to be (``resolve_folder``)."""

    kind: Literal["adapter", "export"]
    path: Path
    """The folder to read: the adapter folder (a run folder's ``adapter/``) or the export."""
    run: Path | None = None
    """The run folder the adapter was found in, when the path was one."""


def resolve_folder(
    path: str | os.PathLike | None, *, exports: bool = True, command: str = ""
) -> ModelFolder:
    """What ``path`` is: an adapter folder, a run folder holding ``adapter/`` (its adapter),
    or, when ``exports``, an export folder.

    A run whose training did not finish says how to resume it; an export where only an
    adapter will do (``exports=False``) names the adapter it came from. ``command`` names
    the command in those messages (``"phalanx export"``).
    """
    if path is None or not str(path):
        kinds = "an adapter, run or export folder" if exports else "an adapter or run folder"
        raise InputError(f"give the model: {kinds} (e.g. runs/NAME or runs/NAME/adapter)")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"model folder {str(path)!r} does not exist")
    if is_export(p):
        if not exports:
            raise InputError(_export_not_adapter(p, command))
        return ModelFolder("export", p)
    if any((p / f).is_file() for f in (META_FILE, CONFIG_FILE, PEFT_CONFIG_FILE)):
        return ModelFolder("adapter", p)
    if (p / "adapter").is_dir():
        return ModelFolder("adapter", resolve_folder(p / "adapter", exports=False).path, p)
    if (p / "checkpoints").is_dir():
        saved = p / "checkpoints" / "train_config.yaml"  # what train writes before it starts
        how = (
            f"phalanx train --config {saved} --resume"
            if saved.is_file()
            else f"phalanx train --output {path} --resume (with the run's other options)"
        )
        raise InputError(
            f"{str(path)!r} is a run folder without a finished adapter (training did not "
            f"complete); continue it with: {how}"
        )
    raise InputError(
        f"{str(path)!r} holds no adapter (no {META_FILE} / {CONFIG_FILE}), no run (no "
        f"adapter/ folder) and no export (no {EXPORT_META_FILE})"
    )


def _export_not_adapter(path: Path, command: str) -> str:
    """Why an export folder cannot stand in for an adapter, naming the adapter it came from."""
    try:
        source = json.loads((path / EXPORT_META_FILE).read_text(encoding="utf-8"))["source"]
        origin = f" ({source['adapter']})" if isinstance(source.get("adapter"), str) else ""
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        origin = ""
    what = command or "this"
    return (
        f"{path} is an ONNX export folder; {what} needs the adapter or run folder it was "
        f"exported from{origin}"
    )


def resolve_adapter(path: str | os.PathLike | None, command: str = "") -> Path:
    """An adapter folder, or a run folder's ``adapter/`` (``resolve_folder`` without
    exports)."""
    return resolve_folder(path, exports=False, command=command).path


def saved_columns(meta: Mapping[str, Any]) -> dict[str, str | None]:
    """The text / text_pair / label columns of the run that trained a model, from its
    ``phalanx.json`` or an export's metadata (``dataset.columns``, else the resolved training
    config's ``*_column``); None where nothing is recorded.

    >>> saved_columns({"dataset": {"columns": {"text": "review", "label": "stars"}}})
    {'text': 'review', 'text_pair': None, 'label': 'stars'}
    """
    dataset = meta.get("dataset")
    columns = dataset.get("columns") if isinstance(dataset, dict) else None
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    out: dict[str, str | None] = {}
    for key in ("text", "text_pair", "label"):
        if isinstance(columns, dict) and (key in columns or key == "text_pair"):
            value = columns.get(key)
        else:
            value = training.get(f"{key}_column")
        out[key] = value if isinstance(value, str) and value else None
    return out


def adapter_info(path: Path) -> dict[str, Any]:
    """What ``phalanx info`` shows, read from the folder's JSON files only."""
    from .registry import method_for_folder

    meta = read_meta(path)
    config = read_config(path)
    method = method_for_folder(path, meta)
    for weights in sorted(path.glob("*.safetensors")):
        tensor_header(weights)  # a cut-short or garbled file is named here already
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "kind": "adapter",
        "adapter": str(path),
        "method": method.name,
        "base_model": base_model_of(path, meta, config),
        "model_type": meta.get("model_type") or config.get("model_type"),
        "trainable_parameters": meta.get("trainable_parameters"),
        "labels": labels_of(path, meta, config) or [],
        "input_template": meta.get("input_template"),
        "max_length": meta.get("max_length"),
        "size_bytes": size,
        "method_config": meta.get("method_config"),
        "metrics": meta.get("metrics", {}),
        "dataset": meta.get("dataset", {}).get("source"),
        "columns": saved_columns(meta),
    }
