"""`make demo`: train SpaRTA on MiniLM over rotten_tomatoes, then use it as peft-sparta does.

Steps: fetch the built-in model and data if missing, train for one epoch (examples/demo.yaml;
progress bar and per-epoch validation metrics), evaluate the best epoch on the test split,
load the adapter with ``SpaRTAforSequenceClassification``, print the seed README's tables
for its four example sentences and its ten labelled out-of-distribution sentences, and end
by writing the run's evaluation report (``phalanx.report``) and printing its path.

    python examples/demo.py                  # about 8 minutes on 2 CPU cores
    python examples/demo.py --epochs 3       # the full accuracy run (about 25 minutes)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).with_name("demo.yaml")

SENTENCES = [
    "I enjoyed very much the movie.",
    "It was painful to watch.",
    "I couldn't enjoy more the movie.",
    "It was a bad movie.",
]
OOD_SENTENCES = [
    "it's a charming journey. ",
    "bleak and desperate",
    "nolan is poised to embark a major career as a commercial yet inventive filmmaker.",
    "the acting, costumes, music, cinematography and sound are all astounding. ",
    "it's slow -- very, very slow. ",
    "the film is a refreshingly serious look at young women.",
    "a sometimes tedious film.",
    "like doing last year's taxes with your ex-wife.",
    "you don't have to know about music to appreciate the film. ",
    "in exactly 89 minutes, most of which passed as slowly as if i'd been sitting naked on an "
    "igloo, the movie sank from quirky to jerky to utter turkey.",
]
OOD_LABELS = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0]


def section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(CONFIG), help="training config (YAML)")
    parser.add_argument("--epochs", type=float, help="override the config's epochs")
    parser.add_argument("--output", help="override the config's output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    logging.getLogger("phalanx").setLevel(logging.INFO)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # weight-loading bars; the training bar stays
    start = time.perf_counter()

    from phalanx import SpaRTAforSequenceClassification
    from phalanx.assets import download_assets
    from phalanx.training import TrainConfig, train

    section("1. built-in model and data (fetched once)")
    fetched = download_assets(["minilm-l6", "rotten_tomatoes"])
    print(
        "downloaded: " + ", ".join(fetched) if fetched else "minilm-l6 and rotten_tomatoes present"
    )

    section("2. training SpaRTA on minilm-l6 over rotten_tomatoes")
    overrides = {k: v for k, v in (("epochs", args.epochs), ("output", args.output)) if v}
    config = TrainConfig.from_yaml(args.config, **overrides)
    result = train(config)
    print(result.trainable_line)
    val = result.validation
    print(
        f"trained {result.steps} steps in {result.train_seconds / 60:.1f} min; best epoch "
        f"{val.get('epoch', 0):g}: validation accuracy {100 * val.get('accuracy', 0):.1f}%"
    )

    section(f"3. test split ({result.test['n']} sentences never seen in training)")
    print(result.test)

    section("4. the adapter, loaded as peft-sparta loads one")
    model = SpaRTAforSequenceClassification(adapter=str(result.adapter_path), device="cpu")
    print(model)
    class_probs = model.classify(SENTENCES)
    print(class_probs)
    print(model.id2label)
    print("\n Prob   Sentence")
    print(" ----   -----------------------------")
    for sentence, pos_prob in zip(SENTENCES, class_probs[:, 1], strict=True):
        print(f"{pos_prob.item() * 100:>4.0f}%\t{sentence}")
    classes = model.decide_class(SENTENCES)
    print("\n Sentiment   Sentence")
    print("-----------  -------------------------------")
    for sentence, sentence_class in zip(SENTENCES, classes, strict=True):
        print(f"'{sentence_class}':  {sentence}")

    section("5. out-of-distribution sentences (the seed README's ten)")
    print(model.evaluate(OOD_SENTENCES, OOD_LABELS, batch_size=64))

    section("6. the evaluation report of the run (HTML page, PNG figures, report.json)")
    from phalanx import report

    written = report(result.output_dir, overwrite=True)  # the test split again, plotted
    print(f"files: {', '.join(sorted(p.name for p in written.files.values()))}")

    print(f"\ndemo finished in {(time.perf_counter() - start) / 60:.1f} minutes")
    print(f"adapter: {result.adapter_path}  (try: phalanx classify {result.adapter_path} 'text')")
    print(f"report: {written.html}  (open it in a browser; phalanx report {result.output_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
