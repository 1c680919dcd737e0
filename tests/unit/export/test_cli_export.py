"""``phalanx export`` and ``phalanx classify`` / ``evaluate`` on export folders."""

from __future__ import annotations

import json
import shutil

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.export import read_export_meta
from tests.helpers import LABELS, SENTENCES


def _csv(path, rows):
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_export_command_writes_a_folder_classify_runs(adapter_and_export, tmp_path, capsys):
    adapter, _ = adapter_and_export("bert", "sparta")
    data = _csv(tmp_path / "calib.csv", [(s, y) for s, y in zip(SENTENCES, LABELS, strict=True)])
    out = tmp_path / "static"
    static = ["--quantize", "int8-static", "--calibration", str(data), "--opset", "17"]
    rc = main(["export", str(adapter), "-o", str(out), *static])
    assert rc == 0, capsys.readouterr().err
    assert "exported" in capsys.readouterr().out
    meta = read_export_meta(out)
    assert meta["quantization"] == "int8-static" and meta["opset"] == 17
    assert main(["classify", str(out), SENTENCES[0], SENTENCES[3], "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == [SENTENCES[0], SENTENCES[3]]
    assert all(r["label"] in ("negative", "positive") for r in rows)


def test_classify_on_an_export_matches_the_adapter(adapter_and_export, capsys):
    adapter, export = adapter_and_export("bert", "sparta")
    assert main(["classify", str(export), *SENTENCES, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clf = load_classifier(adapter)
    assert [r["label"] for r in rows] == clf.decide_class(SENTENCES)
    probs = clf.classify(SENTENCES)[:, 1].tolist()
    assert all(
        abs(r["probabilities"]["positive"] - p) < 1e-3 for r, p in zip(rows, probs, strict=True)
    )


def test_evaluate_on_an_export_gives_the_adapters_metrics(adapter_and_export, tmp_path, capsys):
    adapter, export = adapter_and_export("bert", "sparta")
    data = _csv(tmp_path / "eval.csv", [(s, y) for s, y in zip(SENTENCES, LABELS, strict=True)])
    results = {}
    for name, folder in (("onnx", export), ("adapter", adapter)):
        out = tmp_path / f"{name}.json"
        args = ["evaluate", str(folder), "--dataset", str(data), "--split", "all"]
        assert main([*args, "--output", str(out)]) == 0, capsys.readouterr().err
        results[name] = json.loads(out.read_text())
    assert results["onnx"]["accuracy"] == results["adapter"]["accuracy"]
    assert abs(results["onnx"]["loss"] - results["adapter"]["loss"]) < 1e-4


def test_non_utf8_input_file_is_a_clear_error(adapter_and_export, tmp_path, capsys):
    _, export = adapter_and_export("bert", "sparta")
    bad = tmp_path / "reviews.csv"
    bad.write_bytes("text\nun film tr\xe8s bon\n".encode("latin-1"))
    assert main(["classify", str(export), "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "row 1: line 2 of" in err and "reviews.csv is not valid UTF-8" in err
    assert "byte 0xe8" in err and "iconv" in err


def test_export_user_errors_exit_2_in_one_line(adapter_and_export, tmp_path, capsys):
    adapter, export = adapter_and_export("bert", "sparta")
    assert main(["export", str(adapter)]) == 2
    assert "give the export folder" in capsys.readouterr().err
    assert main(["export", str(adapter), "-o", str(export)]) == 2  # not empty, no --overwrite
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["classify", str(export), "good", "--device", "cuda"]) == 2
    assert "runs on cpu" in capsys.readouterr().err


def test_token_int8_export_without_recorded_data_falls_back_to_random_words(
    adapter_and_export, tmp_path, capsys
):
    # the tiny adapter records no training dataset: int8-token still exports (int8-static
    # would refuse), and a recorded dataset that cannot be read is not fatal either
    adapter, _ = adapter_and_export("bert", "lora")
    out = tmp_path / "token"
    assert main(["export", str(adapter), "-o", str(out), "--quantize", "int8-token"]) == 0
    assert read_export_meta(out)["quantization"] == "int8-token"
    assert main(["classify", str(out), SENTENCES[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["label"] in ("negative", "positive")
    missing = tmp_path / "no-such.csv"
    moved = tmp_path / "moved"
    shutil.copytree(adapter, moved)
    meta = json.loads((moved / "phalanx.json").read_text())
    meta["training"] = {**(meta.get("training") or {}), "dataset": str(missing)}
    (moved / "phalanx.json").write_text(json.dumps(meta))
    assert main(["export", str(moved), "-o", str(tmp_path / "y"), "--quantize", "int8-token"]) == 0
    assert "using random vocabulary words" in capsys.readouterr().err
    rc = main(["export", str(adapter), "-o", str(tmp_path / "x"), "--quantize", "int8-token",
               "--calibration", str(missing)])  # fmt: skip
    assert rc == 2 and str(missing) in capsys.readouterr().err  # an explicit source must load
