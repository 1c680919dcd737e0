"""Texts a classifier cannot take are refused per input, with the input's index."""

from __future__ import annotations

import pytest

from phalanx import Pipeline, load_classifier
from phalanx.errors import InputError
from tests.hardening.harness import assert_refused, run_cli

BAD_UNICODE = [
    (["fine", "\ud800"], "input 1 is not valid Unicode"),
    (["\udfff at the start"], "input 0 is not valid Unicode"),
    (["a", "b", "c", "half an emoji \ud83d"], "input 3 is not valid Unicode"),
]


@pytest.mark.parametrize(("texts", "message"), BAD_UNICODE)
def test_classifier_refuses_invalid_unicode_naming_the_input(plain_adapter, texts, message):
    clf = load_classifier(plain_adapter)
    for call in (clf.classify, clf.decide_class, lambda t: clf.evaluate(t, [0] * len(t))):
        with pytest.raises(InputError, match=message):
            call(texts)


@pytest.mark.parametrize(("texts", "message"), BAD_UNICODE)
def test_pipeline_refuses_invalid_unicode_naming_the_input(plain_adapter, texts, message):
    pipe = Pipeline.create(model_path=str(plain_adapter))
    with pytest.raises(InputError, match=message):
        pipe(texts)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([1, "a"], "input 0 is int"),
        (["a", None], "input 1 is NoneType"),
        ([{"sentence": "x"}], "input 0 is a dict"),
        (5, "inputs must be a list of strings or dicts"),
    ],
)
def test_wrong_input_types_are_input_errors(plain_adapter, items, message):
    clf = load_classifier(plain_adapter)
    with pytest.raises(InputError, match=message):
        clf.classify(items)


def test_cli_refuses_undecodable_argv_bytes_in_one_line(plain_adapter):
    # bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape)
    ended = run_cli("classify", plain_adapter, "ok", b"caf\xe9".decode("utf-8", "surrogateescape"))
    assert_refused(ended, "input 1 is not valid Unicode")
