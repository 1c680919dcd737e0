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

from .checks import (
    LABELS_FIELD,
    Field,
    check_fields,
    check_id2label,
    check_meta,
    is_dict,
    is_int,
    is_labels,
    is_names,
    is_str,
    read_config,
    read_json,
    read_meta,
    tensor_header,
)
from .kinds import ModelFolder, adapter_info, resolve_adapter, resolve_folder, saved_columns
from .meta import adapter_meta, base_model_of, has_tokenizer, is_export, labels_of, write_meta
from .names import (
    ADAPTER_FORMAT,
    ADAPTER_FORMAT_VERSION,
    CARD_FILE,
    CONFIG_FILE,
    EXPORT_FORMAT,
    EXPORT_META_FILE,
    HEAD_INIT_FILE,
    HEAD_INIT_LEGACY_FILE,
    META_FILE,
    MODEL_FOLDER_FILES,
    MODEL_WEIGHTS_FILE,
    NEW_EMBEDDINGS_FILES,
    PEFT_CONFIG_FILE,
    PEFT_WEIGHTS_FILE,
    PRUNING_FILE,
    REPAIR,
    SPARSE_DELTAS_FILE,
    SPARSE_DELTAS_LEGACY_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILES,
)
from .tensors import check_finite, check_head_rows, read_tensors
from .writing import (
    apply_umask,
    atomic_folder,
    check_apart,
    check_writable,
    created_mode,
    write_json,
)

__all__ = [
    "ADAPTER_FORMAT",
    "ADAPTER_FORMAT_VERSION",
    "CARD_FILE",
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
