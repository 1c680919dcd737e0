"""The adapter-folder contract: file names, the common metadata, finding and describing folders.

Every adapter folder phalanx writes holds ``phalanx.json`` (the metadata below) beside its
method's files: a SpaRTA / head folder is peft-sparta 0.0.3's layout (``config.json``,
``sparse_deltas.safetensors``, ``head_init.safetensors``), a peft folder is peft's
(``adapter_config.json``, ``adapter_model.safetensors``), a full fine-tune is a plain
transformers folder (``config.json``, ``model.safetensors``, ``pruning.json`` when heads or
neurons were removed). Only this module spells those names.

What a path given for a model is (an adapter folder, a run folder holding ``adapter/``, an
export folder holding ``phalanx_export.json``) is decided here, by ``resolve_folder``, for
every command and API that takes a model. Folders written here get the user's umask."""

from __future__ import annotations

__all__ = [
    "ADAPTER_FORMAT",
    "ADAPTER_FORMAT_VERSION",
    "CARD_FILE",
    "CONFIG_FILE",
    "EXPORT_FORMAT",
    "EXPORT_META_FILE",
    "HEAD_INIT_FILE",
    "HEAD_INIT_LEGACY_FILE",
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
]

META_FILE = "phalanx.json"
"""phalanx's metadata: method, its config, base model, labels, template, max length, ..."""

"""phalanx's metadata: method, its config, base model, labels, template, max length, ..."""

CONFIG_FILE = "config.json"
"""The transformers config (SpaRTA folders add ``sparta_pretrained_model``)."""

"""The transformers config (SpaRTA folders add ``sparta_pretrained_model``)."""

SPARSE_DELTAS_FILE = "sparse_deltas.safetensors"
"""SpaRTA: ``indices.<name>`` int32 [n, ndim] and ``deltas.<name>`` fp32 [n] per parameter."""

"""SpaRTA: ``indices.<name>`` int32 [n, ndim] and ``deltas.<name>`` fp32 [n] per parameter."""

SPARSE_DELTAS_LEGACY_FILE = "sparse_deltas.pt"
"""peft-sparta's older pickle of the same (read with ``weights_only=True``)."""

"""peft-sparta's older pickle of the same (read with ``weights_only=True``)."""

HEAD_INIT_FILE = "head_init.safetensors"
"""SpaRTA: the head's initial weights (key ``head``, plus one key per head tensor)."""

"""SpaRTA: the head's initial weights (key ``head``, plus one key per head tensor)."""

HEAD_INIT_LEGACY_FILE = "head_init.pt"

NEW_EMBEDDINGS_FILES = ("new_embeddings_init.safetensors", "new_embeddings_init.pt")
"""SpaRTA: rows of tokens added to the vocabulary (read only)."""

"""SpaRTA: rows of tokens added to the vocabulary (read only)."""

PEFT_CONFIG_FILE = "adapter_config.json"

PEFT_WEIGHTS_FILE = "adapter_model.safetensors"

MODEL_WEIGHTS_FILE = "model.safetensors"
"""A full fine-tune's weights (``save_pretrained``)."""

"""A full fine-tune's weights (``save_pretrained``)."""

PRUNING_FILE = "pruning.json"
"""The heads and neurons each layer kept (structurally pruned full models)."""

"""The heads and neurons each layer kept (structurally pruned full models)."""

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

CARD_FILE = "README.md"
"""The model card every adapter, run and export folder holds (``phalanx.folder.card``):
Hugging Face model-card format, YAML front matter then Markdown."""

ADAPTER_FORMAT = "phalanx-adapter"

ADAPTER_FORMAT_VERSION = 1
"""Bumped when a reader of the old version would misread the folder."""

"""Bumped when a reader of the old version would misread the folder."""

REPAIR = "restore it from a good copy, or re-train or re-save the adapter"
"""The fix every message about a broken adapter file ends with."""

"""The fix every message about a broken adapter file ends with."""

EXPORT_META_FILE = "phalanx_export.json"
"""What marks an export folder (``model.onnx`` and tokenizer files beside it): its metadata,
read by ``phalanx.export.format.read_export_meta``."""

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

"""Name patterns of what an adapter or model folder holds: the files an overwrite of one
replaces, besides those the new folder holds (so no file of an earlier method lingers)."""

"""A JSON field's check and what it expects, for messages (``(is_str, "a string")``)."""

"""``phalanx.json``'s common fields and their types (null means: not recorded)."""
