"""phalanx's own error type for input a user handed it (files, configs, options, requests).

``InputError`` is a ``ValueError``, so ``except ValueError`` keeps working; its message names
the bad value and how to fix it, and the CLI prints it as one line.
"""

from __future__ import annotations

import reprlib

__all__ = ["InputError", "ModelOutputError", "first_line", "shown"]


class InputError(ValueError):
    """A file, config value, option or request that phalanx cannot use, named with the fix."""


class ModelOutputError(InputError):
    """A model gave scores that are not finite (NaN / inf): its files are broken, not the
    request (the server answers 500 with the message, naming the model)."""


_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxlevel = 3


def shown(value: object, limit: int = 80) -> str:
    """A short ``repr`` of ``value``: a message never spells out a huge or nested input.

    >>> shown(list(range(100)))
    '[0, 1, 2, 3, 4, 5, ...]'
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(err: BaseException) -> str:
    """The first line of a library's error message, short (for a one-line message)."""
    lines = str(err).strip().splitlines()
    text = lines[0].strip() if lines else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
