"""Adapter and export folders are checked before they are trusted (issue 18, classes 4 and 6).

Each case copies a valid folder, breaks one thing (cuts a file short, garbles bytes, rewrites
a JSON field, puts NaN or an out-of-range index into a tensor) and expects one line naming
the file, what is wrong and the fix, from the Python API, the server's model loading and
(for a representative subset, run in parallel) the CLI. Model outputs that are not finite
are an error everywhere, never a label.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from phalanx import load_classifier
from phalanx.errors import InputError, ModelOutputError
from phalanx.export import Pipeline, export_onnx
from phalanx.serve import ModelRegistry
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import build_adapter

REFIT = "re-train or re-save the adapter"
REEXPORT = "export the adapter again"
DELTAS = "sparse_deltas.safetensors"
HEAD = "head_init.safetensors"


# -- the valid folders, built once -----------------------------------------------------------
@pytest.fixture(scope="module")
def good(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """Valid folders: SpaRTA, LoRA and full adapters on a tiny BERT, a peft-sparta-style
    folder (no phalanx.json), an ONNX export, and a full model whose logits overflow."""
    base = tiny_base("bert")
    root = tmp_path_factory.mktemp("good")
    out = {m: build_adapter(base, m, root / m) for m in ("sparta", "lora", "full")}
    out["export"] = export_onnx(out["sparta"], root / "export")
    shutil.copytree(out["sparta"], root / "peft-sparta")
    (root / "peft-sparta" / "phalanx.json").unlink()
    out["peft-sparta"] = root / "peft-sparta"
    # finite weights whose logits are inf: the pooler saturates at 1, the head sums 32 x 3e38
    shutil.copytree(out["full"], root / "overflow")
    weights = root / "overflow" / "model.safetensors"
    state = load_file(weights)
    state["bert.pooler.dense.weight"] = torch.zeros_like(state["bert.pooler.dense.weight"])
    state["bert.pooler.dense.bias"] = torch.full_like(state["bert.pooler.dense.bias"], 100.0)
    state["classifier.weight"] = torch.full_like(state["classifier.weight"], 3e38)
    save_file(state, weights)
    out["overflow"] = root / "overflow"
    return out


# -- ways to break a folder ------------------------------------------------------------------
def truncate(name: str, keep: int) -> Callable[[Path], None]:
    """Cut file ``name`` to ``keep`` bytes (negative: that many bytes off the end)."""

    def change(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: keep if keep >= 0 else len(data) + keep])

    return change


def garble(name: str, at: int, junk: bytes) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        data = bytearray((folder / name).read_bytes())
        data[at : at + len(junk)] = junk
        (folder / name).write_bytes(bytes(data))

    return change


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        f = folder / name
        f.write_bytes(text) if isinstance(text, bytes) else f.write_text(text)

    return change


def rewrite_json(name: str, **fields) -> Callable[[Path], None]:
    """Set (or with None: drop) top-level fields of a JSON file."""

    def change(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        for key, value in fields.items():
            data.pop(key, None) if value is None else data.__setitem__(key, value)
        (folder / name).write_text(json.dumps(data))

    return change


def tensors(name: str, edit: Callable[[dict[str, torch.Tensor]], None]):
    """Load a safetensors file, ``edit`` its dict in place, save it back."""

    def change(folder: Path) -> None:
        state = load_file(folder / name)
        edit(state)
        save_file({k: v.contiguous() for k, v in state.items()}, folder / name)

    return change


def body(state: dict[str, torch.Tensor]) -> str:
    """The first encoder parameter with SpaRTA deltas (n > 0)."""
    return next(
        k[len("indices.") :]
        for k, v in state.items()
        if k.startswith("indices.bert.encoder") and len(v) and v.shape[1] == 2
    )


def nan_in(prefix: str, value: float = float("nan")):
    def edit(state):
        key = next(k for k in state if k.startswith(prefix) and state[k].numel())
        state[key] = state[key].clone()
        state[key].view(-1)[-1] = value

    return edit


def set_index(row: int, value: list[int]):
    def edit(state):
        key = f"indices.{body(state)}"
        state[key] = state[key].clone()
        state[key][row] = torch.tensor(value, dtype=state[key].dtype)

    return edit


def reshape_indices(state):
    key = f"indices.{body(state)}"
    state[key] = state[key][:, :1]


def float_indices(state):
    key = f"indices.{body(state)}"
    state[key] = state[key].float()


def half_deltas(state):
    key = f"deltas.{body(state)}"
    state[key] = state[key].half()


def short_deltas(state):
    key = f"deltas.{body(state)}"
    state[key] = state[key][:-1]


def one_row_head(state):
    state["head"] = state["head"][:1]
    state["classifier.weight"] = state["head"].clone()


def short_head(state):
    for kind in ("indices", "deltas"):
        state[f"{kind}.classifier.weight"] = state[f"{kind}.classifier.weight"][:-1]


def rename_param(state):
    name = body(state)
    for kind in ("indices", "deltas"):
        state[f"{kind}.bert.nope.weight"] = state.pop(f"{kind}.{name}")


def drop_param(state):
    name = body(state)
    del state[f"indices.{name}"], state[f"deltas.{name}"]


def drop_deltas(state):
    del state[f"deltas.{body(state)}"]


def transpose_pooler_init(state):
    state["bert.pooler.dense.weight"] = state["bert.pooler.dense.weight"].reshape(16, 64)


class Payload:
    """Pickled, it would run a shell command: weights_only must refuse it."""

    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def legacy_pt(content: Callable[[Path], object], cut: int | None = None):
    """Replace sparse_deltas.safetensors by a legacy sparse_deltas.pt holding ``content``."""

    def change(folder: Path) -> None:
        (folder / DELTAS).unlink()
        target = folder / "sparse_deltas.pt"
        data = content(folder)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            torch.save(data, target)
        if cut is not None:
            target.write_bytes(target.read_bytes()[:cut])

    return change


def pickled_command(folder: Path) -> object:
    Payload.marker = folder / "pwned"
    return {"indices": {}, "deltas": Payload()}


def plain_tensors(folder: Path) -> object:
    return {"indices": {"x": torch.zeros(1, 2, dtype=torch.int32)}, "deltas": {"x": torch.ones(1)}}


def three_labels(folder: Path) -> None:
    labels = {"0": "a", "1": "b", "2": "c"}
    rewrite_json("config.json", id2label=labels, label2id={v: int(k) for k, v in labels.items()})(
        folder
    )


def link_outside(folder: Path) -> None:
    outside = folder.parent / f"{folder.name}-elsewhere.onnx"
    shutil.copy(folder / "model.onnx", outside)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to(outside)


# -- the cases ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    source: str
    change: Callable[[Path], None]
    file: str
    """The file the message must name."""
    fragments: tuple[str, ...]
    fix: str = REFIT


S, X = "sparta", "export"
CONTENT = [  # class 4: tensors checked for name, shape, dtype, index range, finiteness
    Case("nan-body-delta", S, tensors(DELTAS, nan_in("deltas.bert.encoder")), DELTAS,
         ("deltas.bert.encoder", "NaN or inf")),
    Case("inf-head-delta", S, tensors(DELTAS, nan_in("deltas.classifier", float("inf"))),
         DELTAS, ("deltas.classifier", "NaN or inf")),
    Case("nan-head-init", S, tensors(HEAD, nan_in("classifier.weight")), HEAD,
         ("classifier.weight", "NaN or inf")),
    Case("index-one-column", S, tensors(DELTAS, reshape_indices), DELTAS,
         ("1 coordinates per row", "2 dimensions")),
    Case("index-float", S, tensors(DELTAS, float_indices), DELTAS,
         ("not int32 / int64",)),
    Case("index-past-a-row", S, tensors(DELTAS, set_index(0, [0, 40])), DELTAS,
         ("position 40 in dimension 1", "outside the parameter's shape [32, 32]")),
    Case("index-past-the-end", S, tensors(DELTAS, set_index(-1, [32, 0])), DELTAS,
         ("position 32 in dimension 0",)),
    Case("index-negative", S, tensors(DELTAS, set_index(0, [-1, 3])), DELTAS,
         ("position -1 in dimension 0",)),
    Case("deltas-fp16", S, tensors(DELTAS, half_deltas), DELTAS, ("not float32",)),
    Case("deltas-shorter-than-indices", S, tensors(DELTAS, short_deltas), DELTAS,
         ("not float32 of shape",)),
    Case("unknown-parameter", S, tensors(DELTAS, rename_param), DELTAS,
         ("deltas.bert.nope.weight", "no parameter of the base model")),
    Case("missing-parameter", S, tensors(DELTAS, drop_param), DELTAS,
         ("has no entry for parameter",)),
    Case("indices-without-deltas", S, tensors(DELTAS, drop_deltas), DELTAS, ("has no deltas.",)),
    Case("head-init-shape", S, tensors(HEAD, transpose_pooler_init), HEAD,
         ("bert.pooler.dense.weight has shape [16, 64]", "[32, 32]")),
    Case("head-init-rows", S, tensors(HEAD, one_row_head), "config.json",
         ("lists 2 labels but the head", "[1, 32]")),
    Case("head-keys-differ", S, tensors(HEAD, lambda s: s.update(head=s["head"] + 1)), HEAD,
         ("'head' and 'classifier.weight' differ",)),
    Case("head-deltas-short", S, tensors(DELTAS, short_head), DELTAS,
         ("64 initial values", "63 deltas")),
    Case("lora-nan", "lora", tensors("adapter_model.safetensors", nan_in("base_model.model.bert")),
         "adapter_model.safetensors", ("lora_", "NaN or inf")),
    Case("lora-inf-head", "lora",
         tensors("adapter_model.safetensors", nan_in("base_model.model.classifier", float("inf"))),
         "adapter_model.safetensors", ("classifier", "NaN or inf")),
    Case("full-nan", "full", tensors("model.safetensors", nan_in("bert.encoder")),
         "model.safetensors", ("bert.encoder", "NaN or inf")),
]  # fmt: skip
FILES = [  # class 6: corrupted or malformed files
    *(
        Case(f"deltas-cut-at-{n}", S, truncate(DELTAS, n), DELTAS,
             ("not a readable safetensors file", "cut short or garbled"))
        for n in (0, 7, 100, 2000, -1)
    ),
    Case("head-cut", S, truncate(HEAD, 300), HEAD, ("not a readable safetensors file",)),
    Case("header-not-utf8", S, garble(DELTAS, 12, b"\xff\xfe\xfd"), DELTAS,
         ("not a readable safetensors file",)),
    Case("header-not-json", S, garble(DELTAS, 8, b"[[[["), DELTAS,
         ("not a readable safetensors file",)),
    Case("header-huge-length", S, garble(DELTAS, 0, b"\xff" * 8), DELTAS,
         ("not a readable safetensors file",)),
    Case("lora-cut", "lora", truncate("adapter_model.safetensors", -10),
         "adapter_model.safetensors", ("not a readable safetensors file",)),
    Case("full-cut", "full", truncate("model.safetensors", 5000), "model.safetensors",
         ("not a readable safetensors file",)),
    Case("pt-pickled-command", S, legacy_pt(pickled_command), "sparse_deltas.pt",
         ("weights_only=True", "never unpickles")),
    Case("pt-garbage", S, legacy_pt(lambda f: b"not a zip file at all"), "sparse_deltas.pt",
         ("weights_only=True",)),
    Case("pt-cut", S, legacy_pt(plain_tensors, cut=200), "sparse_deltas.pt",
         ("weights_only=True",)),
    Case("meta-list", S, write("phalanx.json", "[1, 2]"), "phalanx.json",
         ("holds a JSON list, not an object",)),
    Case("meta-not-json", S, write("phalanx.json", "{not json"), "phalanx.json",
         ("is not valid JSON",)),
    Case("meta-huge-number", S, write("phalanx.json", '{"max_length": ' + "9" * 5000 + "}"),
         "phalanx.json", ("is not valid JSON",)),
    Case("format-version-string", S, rewrite_json("phalanx.json", format_version="1"),
         "phalanx.json", ("format_version must be an integer >= 1", "'1' (str)")),
    Case("format-version-newer", S, rewrite_json("phalanx.json", format_version=99),
         "phalanx.json", ("newer phalanx", "format_version 99"), "upgrade phalanx"),
    *(
        Case(f"max-length-{v!r}", S, rewrite_json("phalanx.json", max_length=v), "phalanx.json",
             ("max_length must be an integer >= 1",))
        for v in (-5, 0, 2.5, "64", True)
    ),
    *(
        Case(f"labels-{v!r}", S, rewrite_json("phalanx.json", labels=v), "phalanx.json",
             ("labels must be a list of distinct, non-empty strings",))
        for v in ([0, 1], "ab", ["pos", "pos"], ["neg", ""], [])
    ),
    Case("meta-labels-vs-config", S, rewrite_json("phalanx.json", labels=["a", "b", "c"]),
         "phalanx.json", ("lists 3 labels", "has 2 in id2label")),
    Case("config-list", S, write("config.json", "[]"), "config.json", ("holds a JSON list",)),
    Case("config-id2label-keys", S, rewrite_json("config.json", id2label={"1": "a", "2": "b"}),
         "config.json", ('id2label must map "0".."n-1"',)),
    Case("config-id2label-numbers", S, rewrite_json("config.json", id2label={"0": 0, "1": 1}),
         "config.json", ("id2label must map",)),
    Case("config-num-labels", S, rewrite_json("config.json", num_labels=3), "config.json",
         ("num_labels=3 but id2label has 2",)),
    Case("config-labels-vs-head", "peft-sparta", three_labels, "config.json",
         ("lists 3 labels but the head", "[2, 32]")),
    Case("full-config-labels-vs-head", "full", three_labels, "config.json",
         ("lists 3 labels but", "classifier.weight of shape [2, 32]")),
    Case("lora-labels-vs-head", "lora", rewrite_json("phalanx.json", labels=["a", "b", "c"]),
         "phalanx.json", ("lists 3 labels but", "classifier.weight of shape [2, 32]")),
    Case("full-config-list", "full", write("config.json", "[1]"), "config.json",
         ("holds a JSON list",)),
    Case("peft-config-no-type", "lora", rewrite_json("adapter_config.json", peft_type=None),
         "adapter_config.json", ("names no peft_type",)),
    # export folders
    Case("onnx-garbage", X, write("model.onnx", b"hello, not a graph"), "model.onnx",
         ("not an ONNX model",), REEXPORT),
    Case("onnx-empty", X, write("model.onnx", b""), "model.onnx", ("not an ONNX model",),
         REEXPORT),
    *(
        Case(f"onnx-cut-at-{n}", X, truncate("model.onnx", n), "model.onnx",
             ("not an ONNX model",), REEXPORT)
        for n in (50, 5000, -100)
    ),
    Case("export-meta-list", X, write("phalanx_export.json", "[]"), "phalanx_export.json",
         ("not phalanx export metadata",), REEXPORT),
    Case("export-meta-not-json", X, write("phalanx_export.json", '{"format": '),
         "phalanx_export.json", ("is not valid JSON",), REEXPORT),
    Case("export-max-length-string", X, rewrite_json("phalanx_export.json", max_length="64"),
         "phalanx_export.json", ("max_length must be an integer >= 1",), REEXPORT),
    Case("export-max-length-negative", X, rewrite_json("phalanx_export.json", max_length=-1),
         "phalanx_export.json", ("max_length must be an integer >= 1",), REEXPORT),
    Case("export-padding-side", X, rewrite_json("phalanx_export.json", padding_side="up"),
         "phalanx_export.json", ("padding_side must be",), REEXPORT),
    Case("export-id2label-numbers", X, rewrite_json("phalanx_export.json", id2label={"0": 1}),
         "phalanx_export.json", ("id2label must map",), REEXPORT),
    Case("export-no-pad-id", X, rewrite_json("phalanx_export.json", pad_token_id=None),
         "phalanx_export.json", ("has no pad_token_id",), REEXPORT),
    Case("export-labels-disagree", X, rewrite_json("phalanx_export.json", labels=["b", "a"]),
         "phalanx_export.json", ("disagree with id2label",), REEXPORT),
    # class 11: model_file must stay inside the export folder
    Case("model-file-up", X, rewrite_json("phalanx_export.json", model_file="../sparta/x.onnx"),
         "phalanx_export.json", ("points outside the export folder",), REEXPORT),
    Case("model-file-absolute", X, rewrite_json("phalanx_export.json", model_file="/etc/hostname"),
         "phalanx_export.json", ("points outside the export folder",), REEXPORT),
    Case("model-file-symlink-out", X, link_outside, "phalanx_export.json",
         ("points outside the export folder",), REEXPORT),
    Case("model-file-number", X, rewrite_json("phalanx_export.json", model_file=3),
         "phalanx_export.json", ("model_file must be",), REEXPORT),
]  # fmt: skip
CASES = {c.id: c for c in CONTENT + FILES}


def broken(good: dict[str, Path], root: Path, case: Case) -> Path:
    folder = root / case.id
    shutil.copytree(good[case.source], folder)
    case.change(folder)
    return folder


def check_message(err: BaseException, folder: Path, case: Case) -> None:
    message = str(err)
    assert "\n" not in message, message
    assert str(folder / case.file) in message, (case.file, message)
    for fragment in (*case.fragments, case.fix):
        assert fragment in message, (fragment, message)


# -- Python API and server loading: every case -------------------------------------------------
@pytest.mark.parametrize("case", CASES.values(), ids=CASES)
def test_api_and_server_refuse_with_one_line(good, tmp_path, case):
    folder = broken(good, tmp_path, case)
    loaders = [lambda: Pipeline.create(model_path=folder)]
    if case.source == X:
        from phalanx.export.classifier import ExportClassifier

        loaders.append(lambda: ExportClassifier(folder))
    else:
        loaders.append(lambda: load_classifier(folder))
    loaders.append(lambda: ModelRegistry.load([f"m={folder}"]))
    for load in loaders:
        with pytest.raises(InputError) as caught:
            load()
        check_message(caught.value, folder, case)
    assert not (folder / "pwned").exists()  # the pickled command never ran


def test_valid_folders_still_load_and_classify(good):
    for name in ("sparta", "lora", "full", "peft-sparta"):
        probs = load_classifier(good[name]).classify(["a charming journey", "bleak"])
        assert probs.shape == (2, 2) and torch.isfinite(probs).all()
    assert Pipeline.create(model_path=good["export"])("a charming journey")["label"]


# -- model outputs that are not finite: an error, never a label --------------------------------
def test_non_finite_outputs_are_an_error_in_every_api(good):
    clf = load_classifier(good["overflow"])
    for call in (clf.classify, clf.decide_class, clf.logits):
        with pytest.raises(ModelOutputError, match=r"not finite \(NaN or inf\) for input 0"):
            call(["a charming journey"])
    with pytest.raises(ModelOutputError, match=str(good["overflow"])):
        clf.evaluate(["a charming journey", "bleak"], ["positive", "negative"])
    pipe = Pipeline.create(model_path=good["overflow"])
    with pytest.raises(ModelOutputError, match="not finite"):
        pipe("a charming journey")


def test_an_export_whose_graph_gives_nan_is_an_error(good):
    pipe = Pipeline.create(model_path=good["export"])
    run = pipe._run

    def nan_for_the_second(batch):
        out = run(batch)
        out[-1, 0] = np.nan
        return out

    pipe._run = nan_for_the_second
    with pytest.raises(ModelOutputError, match=f"{good['export']}.*{REEXPORT}"):
        pipe(["a charming journey"])


def test_the_server_answers_500_json_naming_the_broken_model(good):
    pytest.importorskip("fastapi")
    import httpx

    from phalanx.serve import BackgroundServer, create_app

    registry = ModelRegistry.load([f"ok={good['sparta']}", f"broken={good['overflow']}"])
    with (
        BackgroundServer(create_app(registry)) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as client,
    ):
        r = client.post("/v1/classify", json={"texts": ["a charming journey"], "model": "broken"})
        assert r.status_code == 500
        body = r.json()
        assert body["model"] == "broken" and "'broken' is broken" in body["error"]
        assert "not finite" in body["error"] and "NaN" not in r.text.replace("NaN or inf", "")
        ok = client.post("/v1/classify", json={"texts": ["a charming journey"], "model": "ok"})
        assert ok.status_code == 200  # the other model keeps serving


# -- the CLI: a representative subset, in parallel ---------------------------------------------
CLI = [  # (command, case id, extra arguments)
    ("classify", "nan-body-delta", ()),
    ("classify", "deltas-cut-at-100", ()),
    ("classify", "pt-pickled-command", ()),
    ("info", "config-list", ()),
    ("info", "onnx-garbage", ()),
    ("classify", "model-file-up", ()),
]


@pytest.fixture(scope="module")
def cli_runs(good, tmp_path_factory):
    """(command, case) -> (folder, how the CLI ended); the overflow model with --json too."""
    root = tmp_path_factory.mktemp("cli")
    jobs = {}
    for command, name, extra in CLI:
        folder = root / name
        if not folder.exists():
            folder = broken(good, root, CASES[name])
        text = ("a charming journey",) if command == "classify" else ()
        jobs[command, name] = (folder, (command, folder, *text, *extra))
    jobs["classify", "overflow"] = (
        good["overflow"],
        ("classify", good["overflow"], "a charming journey", "--json"),
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        ended = {key: pool.submit(run_cli, *argv) for key, (_, argv) in jobs.items()}
        return {key: (jobs[key][0], future.result()) for key, future in ended.items()}


@pytest.mark.parametrize(("command", "name", "extra"), CLI, ids=[f"{c}-{n}" for c, n, _ in CLI])
def test_cli_prints_one_line_naming_the_file(cli_runs, command, name, extra):
    folder, ended = cli_runs[command, name]
    case = CASES[name]
    assert_refused(ended, str(folder / case.file), *case.fragments, case.fix)
    assert not (folder / "pwned").exists()


def test_cli_classify_json_never_prints_nan(cli_runs):
    folder, ended = cli_runs["classify", "overflow"]
    assert_refused(ended, str(folder), "not finite")
    assert "NaN" not in ended.stdout and ended.stdout.strip() == ""
