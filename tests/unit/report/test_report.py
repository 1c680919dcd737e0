"""``phalanx report`` / ``phalanx.report`` on a tiny trained run: the files, figures that
agree with ``clf.evaluate`` and an ECE computed here, the sections that are left out (with a
note) when a folder has no history, and the one-line errors of bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import phalanx
from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.inference.files import evaluation_data

pytestmark = pytest.mark.usefixtures("one_thread")

SINGLE_LABEL_FIGURES = {
    "confusion_matrix",
    "reliability",
    "score_histogram",
    "pr_curves",
    "roc_curves",
    "training_curves",
}
SECTIONS = ["summary", "confusion-matrix", "per-class", "calibration", "curves", "training"]


def decode_png(path: Path) -> np.ndarray:
    """The image in ``path`` (matplotlib's PNG reader: a broken file raises)."""
    from matplotlib import image

    pixels = image.imread(path, format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # not a blank canvas
    return pixels


@pytest.fixture(scope="module")
def written(tiny_run, tmp_path_factory):
    return phalanx.report(tiny_run, output=tmp_path_factory.mktemp("out") / "report")


def test_a_run_report_writes_the_page_every_figure_and_report_json(written):
    folder = written.folder
    assert written.html == folder / "report.html" and written.json == folder / "report.json"
    assert set(written.files) == {"html", "json", *SINGLE_LABEL_FIGURES}
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == sorted(f"{name}.png" for name in SINGLE_LABEL_FIGURES)
    for png in folder.glob("*.png"):
        decode_png(png)
    content = json.loads(written.json.read_text())
    assert content["sections"] == [*SECTIONS, "examples"]
    assert content["figures"] == {name: f"{name}.png" for name in SINGLE_LABEL_FIGURES}
    page = written.html.read_text()
    for sid in content["sections"]:
        assert f'<section id="{sid}">' in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(SINGLE_LABEL_FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network


def test_report_json_agrees_with_evaluate_and_an_ece_computed_here(written, tiny_run, toy_data):
    content = json.loads(written.json.read_text())
    clf = load_classifier(tiny_run)
    data = evaluation_data(clf, str(toy_data), split="test")
    ev = clf.evaluate(data.texts, data.labels)
    got = content["metrics"]
    assert got["n"] == ev["n"] == content["data"]["n"] == 40
    assert got["accuracy"] == pytest.approx(ev["accuracy"])
    assert got["confusion_matrix"] == ev["confusion_matrix"]
    for label, row in ev["per_class"].items():
        assert got["per_class"][label]["f1"] == pytest.approx(row["f1"])
        assert content["per_class"]["rows"][label]["f1"] == pytest.approx(row["f1"])
    # the run's own test split, carved as in training: the figures training recorded
    recorded = json.loads((tiny_run / "metrics.json").read_text())["test"]
    assert got["accuracy"] == pytest.approx(recorded["accuracy"])
    assert 0.5 < got["accuracy"] < 1.0  # the flipped labels are mistakes

    probs = clf.classify(data.texts).double().numpy()
    confidence, correct = probs.max(1), probs.argmax(1) == clf._label_ids(data.labels).numpy()
    ece = 0.0
    for b in range(15):  # (b/15, (b+1)/15], the first bin closed at 0
        low, high = b / 15, (b + 1) / 15
        inside = (confidence <= high) & ((confidence > low) if b else (confidence >= 0))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    assert content["calibration"]["ece"] == pytest.approx(ece, abs=1e-6)
    assert content["headlines"]["ece"] == content["calibration"]["ece"]
    assert "15 equal-width bins" in content["calibration"]["rule"]

    ex = content["examples"]
    assert ex["confident_mistakes"] and ex["unsure_correct"]
    assert all(r["true"] != r["predicted"] for r in ex["confident_mistakes"])
    assert all(r["true"] == r["predicted"] for r in ex["unsure_correct"])
    scores = [r["score"] for r in ex["confident_mistakes"]]
    assert scores == sorted(scores, reverse=True)
    history = content["history"]
    assert history["metric"] == "accuracy" and len(history["evaluations"]) == 3
    assert history["best_step"] == recorded_best(tiny_run)


def recorded_best(run: Path) -> int:
    return json.loads((run / "metrics.json").read_text())["best_step"]


def test_an_adapter_outside_a_run_is_reported_without_training_curves(tiny_run, tmp_path):
    lone = tmp_path / "lone"
    shutil.copytree(tiny_run / "adapter", lone)
    rep = phalanx.report(lone, output=tmp_path / "rep")
    content = rep.content
    assert "training" not in content["sections"] and content["history"] is None
    assert not (rep.folder / "training_curves.png").exists()
    (note,) = [n for n in content["notes"] if "training curves" in n]
    assert "outside a run folder" in note and str(lone) in note
    page = rep.html.read_text()
    assert 'id="training"' not in page and 'id="notes"' in page
    # the same adapter inside its run folder finds the run's history
    inside = phalanx.report(tiny_run / "adapter", output=tmp_path / "rep2").content
    assert "training" in inside["sections"] and inside["history"]["evaluations"]


def test_an_export_folder_is_reported_without_history(tiny_run, tmp_path, written):
    from phalanx.export import export_onnx

    onnx = export_onnx(tiny_run, tmp_path / "onnx")
    rep = phalanx.report(onnx, output=tmp_path / "rep")
    assert rep.content["model"]["kind"] == "export"
    assert "training" not in rep.content["sections"]
    assert any("export folder" in n for n in rep.content["notes"])
    adapter = json.loads(written.json.read_text())["metrics"]
    assert rep.content["metrics"]["accuracy"] == pytest.approx(adapter["accuracy"])
    assert rep.content["metrics"]["loss"] == pytest.approx(adapter["loss"], abs=1e-4)


def _bad_labels(folder: Path) -> Path:
    path = folder / "bad.csv"
    path.write_text("text,label\nthe movie was bad,neg\nthe movie was good,pos\nthe film,1\n")
    return path


def test_a_dataset_whose_labels_do_not_match_is_one_line_naming_them(tiny_run, tmp_path):
    with pytest.raises(InputError) as err:
        phalanx.report(tiny_run, dataset=_bad_labels(tmp_path), output=tmp_path / "rep")
    message = str(err.value)
    assert "\n" not in message and "do not match" in message
    assert "'neg', 'pos'" in message and "['0', '1']" in message
    assert not (tmp_path / "rep").exists()


def test_cli_report_prints_the_path_and_errors_in_one_line(tiny_run, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["-q", "report", str(tiny_run), "-o", str(out), "--examples", "3"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.strip().splitlines()[-1] == f"report written to {out / 'report.html'}"
    content = json.loads((out / "report.json").read_text())
    assert len(content["examples"]["unsure_correct"]) == 3
    # an existing report is kept unless --overwrite
    assert main(["-q", "report", str(tiny_run), "-o", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    (out / "mine.txt").write_text("kept")
    assert main(["-q", "report", str(tiny_run), "-o", str(out), "--overwrite"]) == 0
    assert (out / "mine.txt").read_text() == "kept"
    capsys.readouterr()
    bad = _bad_labels(tmp_path)
    new = tmp_path / "new"
    assert main(["-q", "report", str(tiny_run), "--dataset", str(bad), "-o", str(new)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("phalanx report: error: the labels of")
    assert not new.exists()


def test_outputs_never_land_inside_an_input_and_the_default_is_beside_the_run(tiny_run):
    with pytest.raises(InputError, match="report folder"):
        phalanx.report(tiny_run, output=tiny_run / "report")
    with pytest.raises(InputError, match="give the model"):
        phalanx.report()
    from phalanx.report import default_output
    from phalanx.report.data import find_subject

    assert default_output([find_subject(tiny_run)]) == tiny_run.with_name("full-report")
    assert default_output([find_subject(tiny_run / "adapter")]) == tiny_run.with_name("full-report")


def test_phalanx_report_is_the_function_and_the_package():
    import phalanx.report as package
    from phalanx.report import report

    assert callable(phalanx.report) and callable(package)
    assert phalanx.report.report is report  # the package, bound on import, calls report
    with pytest.raises(InputError, match="give the model"):
        package()


def test_without_matplotlib_the_error_names_the_extra(tiny_run, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    with pytest.raises(ImportError, match=r"pip install 'phalanx\[report\]'"):
        phalanx.report(tiny_run, output=tmp_path / "rep")
    assert not (tmp_path / "rep").exists()
