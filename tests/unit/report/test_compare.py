"""``phalanx report RUN_A RUN_B`` and ``phalanx report COMPARE_FOLDER``: one table, one chart,
each run's own report beside them; runs of different problem types are refused."""

from __future__ import annotations

import json
import shutil

import pytest

import phalanx
from phalanx.cli.parser import main
from phalanx.errors import InputError
from tests.unit.report.test_report import decode_png

pytestmark = pytest.mark.usefixtures("one_thread")


def test_two_runs_side_by_side(tiny_run, sparta_run, tmp_path):
    rep = phalanx.report(tiny_run, sparta_run, output=tmp_path / "cmp")
    content = json.loads(rep.json.read_text())
    rows = {r["name"]: r for r in content["runs"]}
    assert list(rows) == ["full", "sparta"]
    assert content["metric"] == "accuracy" and content["metrics"][:2] == ["accuracy", "macro_f1"]
    for name, row in rows.items():
        own = json.loads((rep.folder / name / "report.json").read_text())
        assert row["metrics"]["accuracy"] == pytest.approx(own["metrics"]["accuracy"])
        assert row["metrics"]["ece"] == pytest.approx(own["calibration"]["ece"])
        assert row["report"] == f"{name}/report.html"
        assert (rep.folder / row["report"]).is_file()
        assert row["data"] == "the test split of " + own["data"]["dataset"]
    assert rows["sparta"]["trainable_parameters"] < rows["full"]["trainable_parameters"]
    assert rows["full"]["metrics"]["accuracy"] > rows["sparta"]["metrics"]["accuracy"]
    assert content["figures"] == {"compare": "compare.png"}
    decode_png(rep.folder / "compare.png")
    page = rep.html.read_text()
    assert page.count('<img src="data:image/png;base64,') == 1
    assert 'href="full/report.html"' in page and 'href="sparta/report.html"' in page
    assert not content["notes"]  # same data, everything recorded


def test_a_compare_folder_stands_for_its_runs(tiny_run, sparta_run, tmp_path, capsys):
    folder = tmp_path / "compare-toy"
    folder.mkdir()
    rows = [{"method": m} for m in ("sparta", "lora", "full")]
    (folder / "compare.json").write_text(json.dumps({"rows": rows}))
    shutil.copytree(sparta_run, folder / "sparta")
    shutil.copytree(tiny_run, folder / "full")
    assert main(["-q", "report", str(folder)]) == 0
    out = tmp_path / "compare-toy-report"
    captured = capsys.readouterr()
    assert captured.out.strip().endswith(f"report written to {out / 'report.html'}")
    content = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in content["runs"]] == ["sparta", "full"]  # the table's order
    (note,) = content["notes"]
    assert note.startswith("lora: no finished run") and "note: lora" in captured.err


def test_runs_of_different_problem_types_are_refused(tiny_run, regression_run, tmp_path):
    with pytest.raises(InputError, match="different problem types") as err:
        phalanx.report(tiny_run, regression_run, output=tmp_path / "x")
    assert "is single_label" in str(err.value) and "is regression" in str(err.value)
    assert not (tmp_path / "x").exists()
