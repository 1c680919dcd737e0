"""``TrainConfig``: every setting of a training run, validated when built, saved as YAML.

Example:
    >>> cfg = TrainConfig(dataset="rotten_tomatoes", epochs=1, output="runs/demo")
    >>> cfg.resolved_lr()
    0.003
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import itertools
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.templates import template_fields
from ..errors import InputError
from ..validation import check_field_types
from ..yamlsafe import load_yaml_text

__all__ = ["TrainConfig", "field_docs", "fields_from", "load_yaml"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
#: validation metrics that can select the best epoch, per problem type (None: the first)
BEST_METRICS_BY_PROBLEM = {
    "single_label": ("accuracy", "macro_f1", "loss"),
    "multi_label": ("micro_f1", "macro_f1", "samples_f1", "mean_average_precision", "loss"),
    "regression": ("mse", "mae", "spearman", "pearson", "loss"),
}
BEST_METRICS = tuple(dict.fromkeys(m for ms in BEST_METRICS_BY_PROBLEM.values() for m in ms))
#: metrics where lower is better
LOWER_IS_BETTER = frozenset({"loss", "mse", "mae", "hamming_loss"})
TASKS = ("classification", "generative")
POS_WEIGHTS = ("none", "auto")
#: the options that say what the labels are and how they train (problem type and its kin)
PROBLEM_OPTIONS = (
    "problem_type", "label_columns", "label_separator", "allow_empty_labels",
    "normalize_target", "loss", "pos_weight", "thresholds",
)  # fmt: skip


@dataclass
class TrainConfig:
    """Settings of one training run (``phalanx train``; every field is a ``--flag``)."""

    method: str = "sparta"
    """Fine-tuning method (`phalanx methods` lists them)."""
    method_options: dict[str, Any] = field(default_factory=dict)
    """Options of the method's config, e.g. density=0.01 dropout=0.1 for sparta."""
    model: str = "minilm-l6"
    """Base model: a built-in name (`phalanx models`), a local folder or a Hub id."""
    dataset: str = "rotten_tomatoes"
    """Built-in dataset name (`phalanx datasets`), a csv/tsv/json/jsonl/parquet file, a folder
    of train/validation/test files, or a Hugging Face datasets name."""
    text_column: str = "text"
    """Column holding the text."""
    text_pair_column: str | None = None
    """Column holding a second sentence (sentence-pair tasks)."""
    label_column: str = "label"
    """Column holding the label (integers or strings)."""
    label_names: list[str] | None = None
    """Names of the classes in id order (default: inferred from the data). A data label
    equal to a name (as text: 1 and "1" alike) is that class; an integer label is read as a
    class id only when no name matches it and no name is a number."""
    problem_type: str | None = None
    """single_label, multi_label or regression (transformers' spellings too); default:
    inferred from the labels (lists: multi_label; many distinct fractional numbers:
    regression; else single_label)."""
    label_columns: list[str] | None = None
    """multi_label: one 0/1 column per label (comma-separated names), instead of a
    label_column holding label lists."""
    label_separator: str = "|"
    """multi_label: the separator of several labels in one CSV/TSV cell ("billing|bug")."""
    allow_empty_labels: bool = False
    """multi_label: accept texts with no label (else an empty label list is an error)."""
    normalize_target: bool = True
    """regression: train on (target - mean) / std of train; predictions come back in the
    data's units (the scale is saved with the adapter)."""
    loss: str | None = None
    """Training loss: cross_entropy (single_label), bce (multi_label), mse or huber
    (regression); default: the first for the problem type."""
    pos_weight: str = "none"
    """multi_label: none, or auto (each label's positives weigh negatives/positives, capped
    at 100: helps rare labels)."""
    thresholds: str = "global"
    """multi_label decision thresholds, tuned on validation to maximise F1: global (one for
    all labels), per_label, or a fixed probability such as 0.5."""
    validation_fraction: float = 0.1
    """Share of train carved out for validation when the data has no validation split."""
    test_fraction: float = 0.1
    """Share of train carved out for test when the data has no test split."""
    limit: int | None = None
    """Use at most this many examples per split (a stratified subset; quick runs)."""
    task: str = "classification"
    """classification (a new linear head) or generative (an LM scores each label's words;
    seq2seq and decoder LMs)."""
    verbalizers: list[str] | None = None
    """generative: the word(s) standing for each label, in id order (default: label names)."""
    input_template: str | None = None
    """Format applied to each text before tokenizing, e.g. 'Review: {sentence}'."""
    max_length: int = 64
    """Truncate inputs to this many tokens."""
    epochs: float = 3
    """Passes over the training data."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = 32
    """Training batch size per device."""
    eval_batch_size: int = 64
    """Evaluation batch size per device."""
    lr: float | None = None
    """Peak learning rate (default: the method's, e.g. 3e-3 for sparta)."""
    warmup_ratio: float = 0.06
    """Share of the steps spent warming the learning rate up linearly (then linear decay)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_accum: int = 1
    """Gradient accumulation steps (effective batch = batch_size x grad_accum x devices)."""
    max_grad_norm: float = 1.0
    """Clip gradients to this norm (0 disables clipping)."""
    layer_lr_decay: float = 1.0
    """Layer-wise lr decay: block i of L trains at lr x decay^(L-i), the embeddings at
    lr x decay^(L+1), the head at lr (1 = one lr for all; values of 0.8-0.95 are usual for
    full fine-tuning)."""
    early_stopping_patience: int | None = None
    """Stop after this many evaluations without improvement of best_metric."""
    best_metric: str | None = None
    """Validation metric that selects the best epoch (default: accuracy; micro_f1 for
    multi_label; mse for regression): accuracy, macro_f1, loss; micro_f1, samples_f1,
    mean_average_precision; mse, mae, spearman, pearson."""
    eval_steps: int | None = None
    """Evaluate (and checkpoint) every this many steps instead of every epoch."""
    seed: int = 42
    """Seed of the data order, dropout and the method's random choices."""
    precision: str = "auto"
    """auto (bf16 on GPUs that support it, else fp32), fp32, bf16 or fp16."""
    device: str = "auto"
    """auto (GPU when available), cpu or cuda."""
    output: str | None = None
    """Run folder (adapter/, checkpoints/, train_config.yaml, metrics.json); default
    runs/<method>-<model>-<dataset>."""
    overwrite: bool = False
    """Replace the results of an earlier run in the output folder."""
    resume: bool = False
    """Continue from the last checkpoint in <output>/checkpoints."""
    save_total_limit: int | None = 2
    """Keep at most this many checkpoints (the best one is always kept)."""
    report_to: list[str] = field(default_factory=lambda: ["none"])
    """Experiment trackers for the HF Trainer: none, tensorboard, wandb, mlflow, ..."""
    logging_steps: int = 50
    """Log the training loss every this many steps."""
    progress: bool = True
    """Show training progress on stderr: a bar on a terminal, else a line every logging_steps
    (through the phalanx.train logger, at INFO)."""

    def __post_init__(self) -> None:
        from ..registry import method_names

        # comma-separated text is a convenience for these two lists (YAML and --flags)
        if isinstance(self.verbalizers, str):
            self.verbalizers = [v.strip() for v in self.verbalizers.split(",")]
        if isinstance(self.label_columns, str):
            self.label_columns = [self.label_columns]
        if isinstance(self.label_columns, list) and all(
            isinstance(c, str) for c in self.label_columns
        ):  # "a,b c" from the command line: comma- or space-separated
            self.label_columns = [
                part.strip() for c in self.label_columns for part in c.split(",") if part.strip()
            ]
        if isinstance(self.report_to, str):
            self.report_to = [s.strip() for s in self.report_to.split(",") if s.strip()]
        check_field_types(self, "train config")
        names = method_names()
        if self.method not in names:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(names)}")
        self.method_config()  # the method's own validation, with its own messages
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.verbalizers is not None and self.task != "generative":
            raise InputError("verbalizers only apply to task=generative; drop them or set it")
        self._check_problem_options()
        _positive(self, "max_length", "batch_size", "eval_batch_size", "grad_accum")
        _positive(self, "logging_steps")
        _positive(self, "limit", "max_steps", "eval_steps", optional=True)
        _positive(self, "early_stopping_patience", "save_total_limit", optional=True)
        if not self.epochs > 0:
            raise InputError(f"epochs must be > 0, got {self.epochs}")
        if self.lr is not None and not self.lr > 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise InputError(
                f"layer_lr_decay must be in (0, 1] (1 = off), got {self.layer_lr_decay}"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise InputError(
                f"weight_decay ({self.weight_decay}) and max_grad_norm ({self.max_grad_norm}) "
                "must be >= 0"
            )
        for name, choices in (
            ("precision", PRECISIONS),
            ("device", DEVICES),
            ("best_metric", BEST_METRICS),
            ("pos_weight", POS_WEIGHTS),
        ):
            if name == "best_metric" and self.best_metric is None:
                continue  # the problem type's default
            if getattr(self, name) not in choices:
                raise InputError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        if self.input_template is not None:
            fields = template_fields(self.input_template)
            if not fields:
                raise InputError(
                    f"input_template {self.input_template!r} has no {{field}}; write it like "
                    "'Review: {sentence}'"
                )
            if self.text_pair_column is None and len(set(fields)) != 1:
                raise InputError(
                    f"input_template {self.input_template!r} has fields {fields}; without "
                    "text_pair_column it must have exactly one (the text)"
                )
            if self.text_pair_column is not None and len(set(fields)) != 2:
                raise InputError(
                    f"input_template {self.input_template!r} has fields {fields}; with "
                    "text_pair_column it needs two: the text first, then the pair"
                )
        if self.output is None:
            self.output = str(
                Path("runs") / f"{self.method}-{_slug(self.model)}-{_slug(self.dataset)}"
            )

    def _check_problem_options(self) -> None:
        """The problem-type options, as far as they can be checked before the data is read."""
        from ..problems import problem_type_name
        from ..problems.thresholds import threshold_setting

        if self.problem_type is not None:
            self.problem_type = problem_type_name(self.problem_type)
        if self.label_columns is not None:
            if not self.label_columns:
                raise InputError("label_columns is empty; name one 0/1 column per label")
            if self.problem_type not in (None, "multi_label"):
                raise InputError(
                    f"label_columns give multi_label data, but problem_type is "
                    f"{self.problem_type!r}: drop one of them"
                )
        if not self.label_separator:
            raise InputError("label_separator is empty; give the text between labels, e.g. '|'")
        threshold_setting(self.thresholds)
        if self.task == "generative" and self.problem_type not in (None, "single_label"):
            raise InputError(
                f"task=generative scores one label's words per text; problem_type "
                f"{self.problem_type} needs task=classification (a new head)"
            )
        if self.problem_type is not None:
            self.resolved_best_metric(self.problem_type)
            self.loss_for(self.problem_type)

    # -- derived values -----------------------------------------------------------------
    def resolved_best_metric(self, problem_type: str) -> str:
        """``best_metric``, or the problem type's default; one that does not apply to
        ``problem_type`` is refused."""
        return _for_problem("best_metric", self.best_metric, BEST_METRICS_BY_PROBLEM, problem_type)

    def loss_for(self, problem_type: str) -> str:
        """``loss``, or the problem type's default; one that does not apply is refused."""
        from ..problems.loss import LOSSES

        return _for_problem("loss", self.loss, LOSSES, problem_type)

    def method_config(self) -> Any:
        """The method's config object (``SpaRTAMethodConfig``, ...); its seed follows ``seed``."""
        from ..registry import get_method

        cls = get_method(self.method).config_cls
        options = dict(self.method_options)
        known = (
            {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        )
        if "seed" in known and "seed" not in options:
            options["seed"] = self.seed
        if hasattr(cls, "from_dict"):
            return cls.from_dict(options)
        return cls(**options)

    def resolved_lr(self) -> float:
        """``lr`` or the method's default learning rate (``Method.default_lr``)."""
        if self.lr is not None:
            return self.lr
        from ..registry import get_method

        return get_method(self.method).default_lr

    # -- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self) -> dict[str, Any]:
        """The dict saved beside an adapter: defaults filled in (lr, method options)."""
        out = self.to_dict()
        out["lr"] = self.resolved_lr()
        cfg = self.method_config()
        out["method_options"] = (
            cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
        )
        out["method_options"].pop("extra", None)
        return out

    def to_yaml(self, path: str | Path | None = None, resolved: bool = True) -> str:
        text = yaml.safe_dump(self.resolved() if resolved else self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are refused with the closest valid name."""
        if not isinstance(data, dict):
            raise InputError(
                f"a training config must be a mapping of options, got {type(data).__name__}"
            )
        refuse_unknown_options(cls, data, "training")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Load a YAML config; ``overrides`` (e.g. CLI flags) win over the file."""
        return cls.from_dict({**load_yaml(path), **overrides})


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file, with clear errors for missing, empty or malformed files."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    data = load_yaml_text(path.read_text(), f"config file {str(path)!r}")
    if data is None:
        raise InputError(f"config file {str(path)!r} is empty; write options as 'key: value' lines")
    if not isinstance(data, dict):
        raise InputError(f"config file {str(path)!r} must hold a mapping (key: value lines)")
    return data


def _for_problem(
    name: str, value: str | None, choices: dict[str, tuple[str, ...]], problem_type: str
) -> str:
    """``value`` of option ``name`` when it is one of ``problem_type``'s ``choices``; the
    first choice when it is None; else an error naming it and the choices."""
    allowed = choices[problem_type]
    if value is None:
        return allowed[0]
    if value not in allowed:
        raise InputError(
            f"{name} {value!r} does not apply to {problem_type} data; choose one of "
            f"{', '.join(allowed)}"
        )
    return value


def _positive(cfg: TrainConfig, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")


def _slug(name: str) -> str:
    stem = Path(name).stem if ("/" in name or "." in name) else name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem) or "run"


def fields_from(source: type, *names: str) -> Callable[[type], type]:
    """Class decorator, placed under ``@dataclass``: the class also gets the fields ``names``
    of the dataclass ``source`` (type, default and docstring), after its own fields.

    A config built on another one names what it shares instead of re-declaring it.
    """
    known = {f.name: f for f in dataclasses.fields(source)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"{source.__name__} has no field {unknown[0]!r}")

    def decorate(cls: type) -> type:
        annotations = dict(inspect.get_annotations(cls))
        for name in names:
            if name in annotations:
                raise InputError(
                    f"{cls.__name__}.{name} is declared and also taken from {source.__name__}"
                )
            f = known[name]
            annotations[name] = f.type
            setattr(cls, name, field(default=f.default, default_factory=f.default_factory))
        cls.__annotations__ = annotations
        cls._shared_fields = {**getattr(cls, "_shared_fields", {}), **dict.fromkeys(names, source)}
        return cls

    return decorate


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass (the string literal under each field), those of
    fields taken with :func:`fields_from` included.

    >>> field_docs(TrainConfig)["max_length"]
    'Truncate inputs to this many tokens.'
    """
    docs = {
        name: field_docs(source).get(name, "")
        for name, source in getattr(cls, "_shared_fields", {}).items()
    }
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return docs
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for prev, node in itertools.pairwise(body):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs


def refuse_unknown_options(cls: type, data: dict[str, Any], what: str) -> None:
    """Refuse keys of ``data`` that are not fields of dataclass ``cls``, naming the closest."""
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            valid = ", ".join(known)
            raise InputError(f"unknown {what} option {key!r}{hint} Valid options: {valid}")
