"""Property-based pass over the dataset readers: any file content gives splits or InputError."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phalanx.data import DataSplits, load_data
from phalanx.errors import InputError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["0", "1", "NaN", "nan", "", "NA", "null", "1.5", "-3", "a,b", '"q"']),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


def _load(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(content)
        try:
            result = load_data(str(path))
        except InputError as err:
            assert str(err), "an InputError must say what is wrong"
            return
        assert isinstance(result, DataSplits)
        n = len(result.label_names)
        assert n >= (1 if result.problem_type == "regression" else 2)
        for split in (result.train, result.validation, result.test):
            assert all(isinstance(t, str) and t for t in split.texts)
            for y in split.labels:  # a class id, a set of them, or a finite target
                if result.problem_type == "multi_label":
                    assert isinstance(y, tuple) and all(0 <= i < n for i in y)
                elif result.problem_type == "regression":
                    assert isinstance(y, float) and math.isfinite(y)
                else:
                    assert 0 <= y < n


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl"])
@SETTINGS
@given(content=st.binary(max_size=300))
def test_any_bytes(suffix, content):
    _load(content, suffix)


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t")])
@SETTINGS
@given(
    header=st.lists(st.sampled_from(["text", "label", "x", "", "text"]), min_size=1, max_size=4),
    rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=30),
)
def test_tables_of_odd_cells(suffix, sep, header, rows):
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    _load("\n".join(lines).encode(), suffix)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
@SETTINGS
@given(records=st.lists(st.dictionaries(st.sampled_from(["text", "label", "y"]), json_values)))
def test_json_records_of_any_shape(suffix, records):
    if suffix == ".json":
        content = json.dumps(records)
    else:
        content = "\n".join(json.dumps(r) for r in records)
    _load(content.encode(), suffix)


@SETTINGS
@given(value=json_values)
def test_json_documents_of_any_shape(value):
    _load(json.dumps(value).encode(), ".json")
