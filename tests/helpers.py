"""Shared test helpers: tiny tokenizers and configs, toy data, adapters with moved weights."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from phalanx.methods.sparta import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
from phalanx.training import TrainConfig

WORDS = (
    "i enjoyed very much the movie it was painful to watch couldn't enjoy more a bad good "
    "great awful boring charming journey bleak and desperate slow film is acting music "
    "refreshingly serious look at young women sometimes tedious like doing last year's "
    "taxes with your ex-wife you don't have know about appreciate in exactly minutes most "
    "of which passed as slowly if i'd been sitting naked on an igloo sank from quirky "
    "jerky utter turkey nolan poised embark major career commercial yet inventive "
    "filmmaker costumes cinematography sound are all astounding . , ! ? -- ' this that "
    "not love hate fun dull"
).split()


SENTENCES = [
    "I enjoyed very much the movie.",
    "It was painful to watch.",
    "I couldn't enjoy more the movie.",
    "It was a bad movie.",
    "a charming journey",
    "bleak and desperate",
    "the acting, costumes, music, cinematography and sound are all astounding.",
    "it's slow -- very, very slow.",
]


LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def make_tokenizer(path: Path, vocab_size: int, kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<eos>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for w in dict.fromkeys(WORDS):
        if len(vocab) < vocab_size:
            vocab[w] = len(vocab)
    i = 0
    while len(vocab) < vocab_size:
        vocab[f"w{i}"] = len(vocab)
        i += 1
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    if kind == "encoder":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            model_max_length=128,
        )
    elif kind == "seq2seq":  # T5-like: pad 0, EOS appended
        tok.post_processor = processors.TemplateProcessing(
            single="$A <eos>", pair="$A <eos> $B <eos>", special_tokens=[("<eos>", 4)]
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            eos_token="<eos>",
            model_max_length=128,
            model_input_names=["input_ids", "attention_mask"],
        )
    else:  # decoders: no pad token of their own, as most LMs
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            eos_token="<eos>",
            model_max_length=128,
            model_input_names=["input_ids", "attention_mask"],
        )
    fast.save_pretrained(path)
    return fast


def tiny_config(arch: str, num_labels: int = 2):
    from transformers import BertConfig, GemmaConfig, LlamaConfig, T5Config

    common = dict(num_labels=num_labels, vocab_size=128)
    if arch == "bert":
        return BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=128,
            hidden_dropout_prob=0.0,  # deterministic training steps in tests
            attention_probs_dropout_prob=0.0,
            **common,
        )
    if arch == "llama":
        return LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            pad_token_id=4,
            eos_token_id=4,
            bos_token_id=None,
            max_position_embeddings=128,
            tie_word_embeddings=False,
            **common,
        )
    if arch == "gemma":
        return GemmaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            pad_token_id=4,
            eos_token_id=4,
            bos_token_id=None,
            max_position_embeddings=128,
            **common,
        )
    if arch == "t5":
        return T5Config(
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=4,
            decoder_start_token_id=0,
            dropout_rate=0.0,
            **common,
        )
    raise ValueError(arch)


ARCHES = ["bert", "llama", "gemma"]


TOKENIZER_KIND = {"bert": "encoder", "t5": "seq2seq", "llama": "decoder", "gemma": "decoder"}


POSITIVE = [
    "good",
    "great",
    "charming",
    "love",
    "fun",
    "astounding",
    "refreshingly",
    "inventive",
    "enjoyed",
]


NEGATIVE = ["bad", "awful", "boring", "hate", "dull", "painful", "tedious", "bleak", "slow"]


def write_toy_csv(path: Path, n: int = 96) -> Path:
    """Short sentences from the tiny tokenizer's vocabulary; the label follows the adjective."""
    rows = ["text,label"]
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        rows.append(
            f"the movie was {words[i % len(words)]} and {words[(i * 7) % len(words)]},{i % 2}"
        )
    path.write_text("\n".join(rows) + "\n")
    return path


NEUTRAL = ["film", "music", "acting", "sound", "costumes", "cinematography", "serious", "look"]
STAR_WORDS = {1: NEGATIVE, 3: NEUTRAL, 5: POSITIVE}


def star_review(i: int, star: int) -> str:
    """A short review of the tiny tokenizer's words for a 1, 3 or 5 star rating."""
    words = STAR_WORDS[star]
    return f"the movie was {words[i % len(words)]} and {words[(i * 7) % len(words)]}"


def write_stars(
    path: Path, rows: list[tuple[str, object]], columns: tuple[str, str] = ("review", "stars")
) -> Path:
    """``review`` / ``stars`` rows (or other ``columns``) as CSV, or JSONL (keeping each
    value's JSON type)."""
    text, label = columns
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({text: r, label: s}) + "\n" for r, s in rows))
    else:
        path.write_text(f"{text},{label}\n" + "".join(f"{r},{s}\n" for r, s in rows))
    return path


def star_rows(n: int, start: int = 0) -> list[tuple[str, int]]:
    """``n`` (review, stars) rows cycling through 1, 3 and 5 stars."""
    return [(star_review(i, (1, 3, 5)[i % 3]), (1, 3, 5)[i % 3]) for i in range(start, start + n)]


def config(base: Path, data: Path, out: Path, **kw) -> TrainConfig:
    opts = dict(
        model=str(base), dataset=str(data), output=str(out), epochs=2, batch_size=8,
        eval_batch_size=16, max_length=16, lr=1e-2, progress=False, logging_steps=5,
    )  # fmt: skip
    opts.update(kw)
    return TrainConfig(**opts)


OPTIONS = {
    "sparta": {"density": 0.1},
    "lora": {"r": 4},
    "ia3": {},
    "ptuning": {"num_virtual_tokens": 4, "encoder_hidden_size": 16},
    "prompt_tuning": {"num_virtual_tokens": 4},
    "head": {},
    "full": {},
}


ID2LABEL = {0: "negative", 1: "positive"}


def build_adapter(base: Path, method_name: str, out: Path, meta: dict | None = None) -> Path:
    """Save an adapter whose trainable weights moved away from their init (not a no-op)."""
    from phalanx import get_method
    from phalanx.models.loading import load_base_classifier

    method = get_method(method_name)
    model = load_base_classifier(str(base), ID2LABEL)
    wrapped = method.apply(model, method.config_cls.from_dict(OPTIONS[method_name]))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=gen).to(p.dtype))
    method.save(wrapped, out, base_model=str(base), meta={"max_length": 64, **(meta or {})})
    return out


def train_adapter(base, out, *, density=0.1, seed=0, steps=4, template=None, labels=None):
    """Train a few steps on the tiny data and save; return (sparta, batch)."""
    model = AutoModelForSequenceClassification.from_pretrained(base)
    if labels:
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            ignore_mismatched_sizes=True,
        )
    tok = AutoTokenizer.from_pretrained(base)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
        tok.padding_side = "left"
    texts = [template.format(sentence=s) for s in SENTENCES] if template else SENTENCES
    batch = tok(texts, padding=True, return_tensors="pt")
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=density, seed=seed)).train()
    opt = torch.optim.AdamW([p for p in sparta.parameters() if p.requires_grad], lr=5e-2)
    y = torch.tensor(LABELS) % model.config.num_labels
    for _ in range(steps):
        sparta(**batch, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()
    sparta.eval()
    meta = {"input_template": template, "max_length": 64}
    save_sparta_adapter(sparta, out, base_model=str(base), meta=meta)
    return sparta, batch


RECIPES = Path(__file__).parents[1] / "examples" / "recipes"
SEED_RECIPE = RECIPES / "sst2_pruned90_quant_transfer.yaml"


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def toy_data(folder: Path, n: int = 48) -> Path:
    """48 toy sentences: 38 train / 5 validation / 5 test after the 10% carve-outs."""
    return write_toy_csv(folder / "toy.csv", n=n)


def run_options(base: Path, data: Path, out: Path, **kw) -> dict:
    opts = dict(
        model=str(base), dataset=str(data), output=str(out), batch_size=8,
        eval_batch_size=16, max_length=16, progress=False, logging_steps=50,
    )  # fmt: skip
    opts.update(kw)
    return opts


def sparsify(base: Path, out: Path, sparsity: float = 0.5) -> Path:
    """A copy of the tiny model whose encoder Linear weights are ``sparsity`` zeros."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from phalanx.compress.prune import MaskSet, prunable_parameters

    model = AutoModelForSequenceClassification.from_pretrained(base)
    masks = MaskSet(prunable_parameters(model))
    masks.set_sparsity(sparsity)
    masks.remove()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def zero_positions(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    from phalanx.compress.prune import prunable_parameters

    return {n: (p == 0) for n, p in prunable_parameters(model).items()}


# ----------------------------------------------------------------------------- other problem types

#: the label a text gets (multi-label toy data) when it holds a word of that group
TOPIC_WORDS = {"praise": POSITIVE, "complaint": NEGATIVE, "craft": NEUTRAL}


def topic_rows(n: int = 96) -> list[dict]:
    """Toy multi-label rows: 1-3 words from the praise / complaint / craft groups; a text's
    labels are the groups it draws from (several at once is common, none never)."""
    rows = []
    groups = list(TOPIC_WORDS)
    for i in range(n):
        chosen = [g for k, g in enumerate(groups) if (i >> k) & 1] or [groups[i % 3]]
        words = [TOPIC_WORDS[g][(i * (k + 3)) % len(TOPIC_WORDS[g])] for k, g in enumerate(chosen)]
        rows.append({"text": "the movie was " + " and ".join(words), "labels": chosen})
    return rows


def write_topics(path: Path, n: int = 96) -> Path:
    """``topic_rows`` as JSONL (a list per row), or CSV/TSV with ``|``-joined labels."""
    rows = topic_rows(n)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        lines = [f"text{sep}labels"] + [f"{r['text']}{sep}{'|'.join(r['labels'])}" for r in rows]
        path.write_text("\n".join(lines) + "\n")
    return path


def rating_rows(n: int = 96) -> list[dict]:
    """Toy regression rows: a score of (praise words - complaint words) plus a fraction."""
    rows = []
    for i in range(n):
        pos, neg = i % 3, (i // 3) % 3
        words = [POSITIVE[(i + k) % len(POSITIVE)] for k in range(pos)]
        words += [NEGATIVE[(i + k) % len(NEGATIVE)] for k in range(neg)] or ["film"]
        rows.append(
            {"text": "the movie was " + " and ".join(words), "score": pos - neg + (i % 7) / 10}
        )
    return rows


def write_ratings(path: Path, n: int = 96) -> Path:
    """``rating_rows`` as CSV (``text,score``) or JSONL."""
    rows = rating_rows(n)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("text,score\n" + "".join(f"{r['text']},{r['score']}\n" for r in rows))
    return path
