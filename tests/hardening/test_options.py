"""0 and negative sizes are refused with the option and its range, never replaced by the default
(issue 18, class 11): through the CLI (a fresh process each) and the Python API."""

from __future__ import annotations

import pytest

from phalanx.compress.config import CompressConfig
from phalanx.data import load_data
from phalanx.errors import InputError
from phalanx.export import Pipeline, export_onnx
from phalanx.generative.classifier import GenerativeClassifier
from phalanx.serve.config import ServeConfig
from phalanx.training import TrainConfig
from phalanx.validation import check_int_range
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import build_adapter, write_recipe, write_toy_csv


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("options")
    base = tiny_base("bert")
    adapter = build_adapter(base, "sparta", root / "adapter")
    return {"root": root, "base": base, "adapter": adapter,
            "data": write_toy_csv(root / "toy.csv", n=24)}  # fmt: skip


def _cases(work) -> list[tuple[list, tuple[str, ...]]]:
    ad, data, root = work["adapter"], work["data"], work["root"]
    whole = "must be a whole number >= 1, got"
    return [
        (["classify", ad, "hi", "--batch-size", "0"], (f"--batch-size {whole} 0",)),
        (["classify", ad, "hi", "--batch-size", "-3"], (f"--batch-size {whole} -3",)),
        (["classify", ad, "hi", "--max-length", "0"], (f"--max-length {whole} 0",)),
        (["classify", ad, "hi", "--config", root / "zero.yaml"], (f"--batch-size {whole} 0",)),
        (["evaluate", ad, "--dataset", data, "--limit", "0"], (f"--limit {whole} 0",)),
        (["evaluate", ad, "--dataset", data, "--limit", "-1"], (f"--limit {whole} -1",)),
        (["evaluate", ad, "--dataset", data, "--batch-size", "0"], (f"--batch-size {whole} 0",)),
        (["evaluate", ad, "--dataset", data, "--max-length", "-2"], (f"--max-length {whole} -2",)),
        (["export", ad, "-o", root / "x", "--opset", "0"], ("--opset must be a whole number",)),
        (["export", ad, "-o", root / "x", "--calibration-size", "0"],
         (f"--calibration-size {whole} 0",)),
        (["export", ad, "-o", root / "x", "--calibration-size", "-5", "--quantize", "int8"],
         (f"--calibration-size {whole} -5",)),
        (["export", ad, "-o", root / "x", "--config", root / "yes.yaml"],
         ("overwrite must be true or false, got 'false'",)),
        (["serve", ad, "--threads", "0"], ("threads must be >= 1", "got 0")),
        (["serve", ad, "--threads", "-2"], ("threads must be >= 1", "got -2")),
        (["serve", ad, "--port", "-1"], ("port must be between 0 and 65535, got -1",)),
        (["serve", ad, "--port", "65536"], ("port must be between 0 and 65535",)),
        (["serve", ad, "--max-batch-size", "0"], ("max_batch_size must be >= 1, got 0",)),
        (["serve", ad, "--batch-size", "0"], ("batch_size must be >= 1, got 0",)),
        (["serve", ad, "--timeout-s", "0"], ("timeout_s must be > 0",)),
        (["serve", ad, "--max-wait-ms", "-1"], ("max_wait_ms must be between 0 and 10000",)),
    ]  # fmt: skip


def test_cli_refuses_zero_and_negative_sizes(work):
    (work["root"] / "zero.yaml").write_text("batch_size: 0\n")
    (work["root"] / "yes.yaml").write_text("overwrite: 'false'\n")
    for argv, fragments in _cases(work):
        ended = run_cli(*argv, cwd=work["root"], timeout=60)
        assert_refused(ended, *fragments, within=20)


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--batch-size", "0", "batch_size"),
        ("--max-steps", "-1", "max_steps"),
    ],
)
def test_train_cli_refuses_zero_and_negative_sizes(work, flag, value, field):
    ended = run_cli("train", "--model", work["base"], "--dataset", work["data"],
                    "-o", work["root"] / "run", flag, value)  # fmt: skip
    assert_refused(ended, f"{field} must be a positive integer, got {value}")
    assert not (work["root"] / "run").exists()


@pytest.mark.parametrize(
    "field",
    [
        "batch_size",
        "eval_batch_size",
        "max_length",
        "limit",
        "max_steps",
        "eval_steps",
        "grad_accum",
        "logging_steps",
        "early_stopping_patience",
        "save_total_limit",
    ],
)
@pytest.mark.parametrize("value", [0, -1])
def test_train_config_refuses_zero_and_negative_sizes(field, value):
    with pytest.raises(InputError, match=f"{field} must be a positive integer, got {value}"):
        TrainConfig(**{field: value})


def test_meaningful_zeros_are_kept(tmp_path):
    cfg = TrainConfig(max_grad_norm=0, weight_decay=0, warmup_ratio=0)  # 0: no clipping, ...
    assert (cfg.max_grad_norm, cfg.weight_decay, cfg.warmup_ratio) == (0, 0, 0)
    serve = ServeConfig(port=0, max_wait_ms=0)  # any free port; no waiting for a batch
    assert (serve.port, serve.max_wait_ms) == (0, 0)
    recipe = write_recipe(tmp_path, "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n")
    assert CompressConfig(recipe=str(recipe), distill_augment=0).distill_augment == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "max_steps must be a positive integer, got 0"),
        ({"batch_size": -1}, "batch_size must be a positive integer, got -1"),
        ({"limit": 0}, "limit must be a positive integer, got 0"),
        ({"eval_batch_size": 0}, "eval_batch_size must be a positive integer"),
        ({"distill_augment": -1}, "distill_augment=-1 must be >= 0"),
    ],
)
def test_compress_config_refuses_zero_and_negative_sizes(tmp_path, kwargs, message):
    recipe = write_recipe(tmp_path, "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n")
    with pytest.raises(InputError, match=message):
        CompressConfig(recipe=str(recipe), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"threads": 0}, "threads must be >= 1"), ({"port": -1}, "port must be between 0 and"),
     ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
     ({"batch_size": -4}, "batch_size must be >= 1"), ({"max_queue": 0}, "max_queue must be"),
     ({"max_texts_per_request": 0}, "max_texts_per_request must be >= 1"),
     ({"max_chars_per_text": 0}, "max_chars_per_text must be >= 1"),
     ({"timeout_s": 0}, "timeout_s must be > 0"), ({"timeout_s": -1}, "timeout_s must be > 0")],
)  # fmt: skip
def test_serve_config_refuses_zero_and_negative_sizes(kwargs, message):
    with pytest.raises(InputError, match=message):
        ServeConfig(models=["a"], **kwargs)


def test_library_calls_refuse_zero_and_negative_sizes(work, tmp_path):
    with pytest.raises(InputError, match="limit must be a positive number"):
        load_data(str(work["data"]), limit=0)
    with pytest.raises(ValueError, match="opset 0 is too old"):
        export_onnx(work["adapter"], tmp_path / "out", opset=0)
    assert not (tmp_path / "out").exists()
    for kwargs in ({"num_threads": 0}, {"max_length": 0}, {"batch_size": 0}, {"batch_size": -1}):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=f"{name} must be an int >= 1"):
            Pipeline.create(model_path=str(work["adapter"]), **kwargs)
    with pytest.raises(InputError, match="max_new_tokens must be a whole number >= 1, got 0"):
        GenerativeClassifier.generate(None, ["a text"], max_new_tokens=0)  # checked first
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(InputError, match="--batch-size must be a whole number >= 1"):
            check_int_range("--batch-size", bad)
    assert check_int_range("--opset", 17, 14) == 17
    with pytest.raises(InputError, match="between 0 and 9, got 10"):
        check_int_range("n", 10, 0, 9)
