"""phalanx's LoRA and IA3 folders in plain peft: ``AutoPeftModelForSequenceClassification``
loads a 3-label folder with the right head and label names, with the call its model card
shows, and predicts what ``load_classifier`` predicts.

peft builds the base from ``adapter_config.json``'s ``base_model_name_or_path`` with
transformers, from the base's own config (``peft/auto.py``): nothing in the adapter folder
reaches that config, so a folder of other than two labels needs ``num_labels`` /
``id2label`` in the call (else: a size mismatch on the head). The card writes them out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from phalanx import get_method, load_classifier
from phalanx.folder.card import BUILTIN_MODEL_HUB_IDS, read_card
from phalanx.methods.peft_backed.model import peft_base_path
from phalanx.models.loading import load_base_classifier
from tests.helpers import OPTIONS, SENTENCES

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def _three_label_adapter(base: Path, method_name: str, out: Path) -> Path:
    """A saved 3-label adapter whose trainable weights moved away from their init."""
    method = get_method(method_name)
    model = load_base_classifier(str(base), LABELS)
    wrapped = method.apply(model, method.config_cls.from_dict(OPTIONS[method_name]))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=gen).to(p.dtype))
    method.save(wrapped, out, base_model=str(base), meta={"max_length": 64})
    return out


def _card_snippet(folder: Path) -> str:
    """The plain-peft code block of the folder's model card."""
    body = read_card(folder)[1]
    section = body.split("### peft\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.parametrize("method_name", ["lora", "ia3"])
def test_plain_peft_loads_a_three_label_folder_as_its_card_shows(method_name, tiny_base, tmp_path):
    from peft import AutoPeftModelForSequenceClassification

    base = tiny_base("bert")
    folder = _three_label_adapter(base, method_name, tmp_path / f"{method_name}3")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base)  # the user's local base, as given
    code = _card_snippet(folder)
    assert f'"{folder.name}"' in code and "num_labels=3" in code
    # the card names the folder and the base by name; here they are local paths. The tiny
    # base checkpoint has a 2-row head of its own: the card says to add this flag then
    code = code.replace(f'"{folder.name}"', repr(str(folder)))
    code = code.replace(f'"{base.name}"', repr(str(base)))
    code = code.replace(").eval()", "    ignore_mismatched_sizes=True,\n).eval()")
    scope: dict = {}
    exec(compile(code, "card-snippet", "exec"), scope)
    model, tokenizer = scope["model"], scope["tokenizer"]
    assert isinstance(model, AutoPeftModelForSequenceClassification._target_peft_class)
    head = model.get_base_model().classifier
    assert head.weight.shape[0] == 3
    assert model.config.id2label == LABELS and model.config.num_labels == 3
    clf = load_classifier(folder)
    assert clf.labels == list(LABELS.values())
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        plain = model(**batch).logits
    torch.testing.assert_close(plain, clf.logits(SENTENCES), rtol=1e-4, atol=1e-5)
    predicted = [model.config.id2label[i] for i in plain.argmax(-1).tolist()]
    assert predicted == clf.decide_class(SENTENCES)


def test_a_peft_folder_gets_phalanx_card_not_peft_template(tiny_base, tmp_path):
    folder = _three_label_adapter(tiny_base("bert"), "lora", tmp_path / "lora")
    front, body = read_card(folder)
    assert front["library_name"] == "phalanx" and "peft" in front["tags"]
    assert "[More Information Needed]" not in body and "base_model:adapter:" not in body
    assert str(tmp_path) not in (folder / "README.md").read_text()


def test_peft_base_path_names_builtins_by_hub_id_and_keeps_others(tmp_path):
    assert peft_base_path("minilm-l6") == BUILTIN_MODEL_HUB_IDS["minilm-l6"]
    assert peft_base_path("org/model") == "org/model"  # never its cache snapshot
    assert peft_base_path(str(tmp_path)) == str(tmp_path)
