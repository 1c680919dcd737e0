"""What every method's config shares: dict round-trips that name unknown options."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar

__all__ = ["MethodConfig"]


class MethodConfig:
    """Mixin for method config dataclasses.

    ``from_dict`` refuses options the method does not take and lists those it does.
    """

    method_name: ClassVar[str] = ""
    default_lr: ClassVar[float] = 1e-3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def option_names(cls) -> list[str]:
        return sorted(f.name for f in fields(cls) if f.name != "extra")  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            name = cls.method_name or cls.__name__
            raise ValueError(
                f"method {name!r} does not take option(s) {unknown}; "
                f"it takes: {', '.join(cls.option_names()) or 'no options'}"
            )
        return cls(**data)
