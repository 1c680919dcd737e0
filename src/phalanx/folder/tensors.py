"""Reading a folder's tensor files safely: headers, safetensors or weights-only pickles, NaN."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, first_line
from .names import REPAIR

__all__ = ["check_finite", "check_head_rows", "read_tensors"]


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
