"""What every method's config shares: dict round-trips that name unknown options."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar

from ..errors import InputError, shown
from ..validation import check_field_types

__all__ = ["MethodConfig"]


class MethodConfig:
    """Mixin for method config dataclasses.

    ``from_dict`` refuses options the method does not take and lists those it does; every
    option's value is checked against its declared type (subclasses with a
    ``__post_init__`` of their own call ``super().__post_init__()`` first).
    """

    method_name: ClassVar[str] = ""
    default_lr: ClassVar[float] = 1e-3

    def __post_init__(self) -> None:
        check_field_types(self, f"method {self.method_name or type(self).__name__!r} option")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def option_names(cls) -> list[str]:
        return sorted(f.name for f in fields(cls) if f.name != "extra")  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise InputError(
                f"method options must be a mapping such as {{density: 0.01}}, got {shown(data)}"
            )
        unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            name = cls.method_name or cls.__name__
            raise InputError(
                f"method {name!r} does not take option(s) {unknown}; "
                f"it takes: {', '.join(cls.option_names()) or 'no options'}"
            )
        return cls(**data)
