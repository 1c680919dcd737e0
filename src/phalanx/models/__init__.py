"""Base models: per-architecture facts, loading, pruned-model folders, fingerprints."""

from .loading import (
    default_max_length,
    load_base_classifier,
    load_tokenizer,
    resolve_dtype,
    tokenizer_source,
)

__all__ = [
    "default_max_length",
    "load_base_classifier",
    "load_tokenizer",
    "resolve_dtype",
    "tokenizer_source",
]
