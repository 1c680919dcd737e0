"""The request and response bodies of ``POST /v1/classify`` (for validation and ``/docs``).

A response's ``results`` take the shape of the model's problem type (``problem_type``):
single_label ``{"label", "score", "probabilities"}`` (the probabilities sum to 1),
multi_label ``{"labels", "probabilities"}`` (independent per-label probabilities, each
label at or above its threshold listed), regression ``{"value"}``: the records of
``phalanx.inference.records``, the same as ``Pipeline`` and ``classify --json`` give.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClassifyRequest",
    "ClassifyResponse",
    "MultiLabelPrediction",
    "Prediction",
    "RegressionPrediction",
]


class ClassifyRequest(BaseModel):
    """Texts (or dicts of template fields) to classify, and the model to use."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str | dict[str, str]] = Field(
        min_length=1,
        description="Strings, or dicts with the model's input_template fields.",
        examples=[["a charming journey", "it's slow -- very, very slow."]],
    )
    model: str | None = Field(default=None, description="A name from /v1/models (default: first)")


class Prediction(BaseModel):
    """A single_label model's prediction for one text."""

    label: str = Field(description="The most likely label.", examples=["positive"])
    score: float = Field(description="Its probability: probabilities[label].", examples=[0.97])
    probabilities: dict[str, float] = Field(
        description="Every label's probability, in the model's label order (they sum to 1).",
        examples=[{"negative": 0.03, "positive": 0.97}],
    )


class MultiLabelPrediction(BaseModel):
    """A multi_label model's prediction for one text."""

    labels: list[str] = Field(
        description="The labels at or above their thresholds, in label order (maybe none).",
        examples=[["billing", "bug"]],
    )
    probabilities: dict[str, float] = Field(
        description="Each label's own probability (a sigmoid each: they need not sum to 1).",
        examples=[{"billing": 0.91, "bug": 0.77, "praise": 0.04}],
    )


class RegressionPrediction(BaseModel):
    """A regression model's prediction for one text."""

    value: float = Field(description="The predicted value, in the data's units.", examples=[3.7])


class ClassifyResponse(BaseModel):
    """The model that answered, what it predicts, and one result per text in input order."""

    model: str = Field(description="The model's name (see /v1/models).", examples=["pos"])
    problem_type: str = Field(
        description="single_label, multi_label or regression: the shape of each result.",
        examples=["single_label"],
    )
    labels: list[str] = Field(
        description="The model's labels, in order (regression: the target's name).",
        examples=[["negative", "positive"]],
    )
    thresholds: list[float] | None = Field(
        default=None, description="multi_label: each label's decision threshold, in order."
    )
    target: str | None = Field(default=None, description="regression: the target's name.")
    results: list[Prediction | MultiLabelPrediction | RegressionPrediction] = Field(
        description="One result per text, in input order."
    )
