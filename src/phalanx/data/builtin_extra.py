"""Readers of the multi-label and regression built-ins' carrier files.

``pubmed_mesh``: MEDLINE citations (title + abstract) labelled with their MeSH descriptors,
parsed once from the XML and cached next to it as JSONL; ``lee_similarity``: Lee et al.'s
news documents, paired, with their mean human similarity.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import combinations
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from ..assets import _atomic_write
from .tables import Table

__all__ = [
    "MESH_CHECK_TAGS",
    "PUBMED_TOP_K",
    "mesh_table",
    "parse_medline",
    "read_lee_similarity",
    "read_pubmed_mesh",
]

logger = logging.getLogger(__name__)

#: MeSH "check tags": descriptors NLM's indexers add to (nearly) every citation they apply to,
#: whatever its subject (MEDLINE indexing manual, "Check Tags"): human / animal, sex,
#: pregnancy, the age groups and the history periods; plus "In Vitro Techniques", a check tag
#: in older indexing such as this file's 1979-80 citations. They say who or what was studied,
#: not what a text is about, so pubmed_mesh drops them.
MESH_CHECK_TAGS = frozenset(
    {
        "Humans",
        "Animals",
        "Male",
        "Female",
        "Pregnancy",
        "Infant, Newborn",
        "Infant",
        "Child, Preschool",
        "Child",
        "Adolescent",
        "Young Adult",
        "Adult",
        "Middle Aged",
        "Aged",
        "Aged, 80 and over",
        "History, Ancient",
        "History, Medieval",
        *(
            f"History, {n} Century"
            for n in ("15th", "16th", "17th", "18th", "19th", "20th", "21st")
        ),
        "In Vitro Techniques",
    }
)

#: pubmed_mesh keeps this many of the most frequent descriptors (ties broken by name)
PUBMED_TOP_K = 50

_CACHE_VERSION = 1  # bump when the parsing or the selection changes


def _flat(elem: ElementTree.Element | None) -> str:
    """An element's text with its inline markup, whitespace collapsed ('' when absent)."""
    return "" if elem is None else " ".join("".join(elem.itertext()).split())


def parse_medline(stream: BinaryIO) -> Iterator[tuple[str, list[str]]]:
    """``(text, descriptors)`` of each citation with an abstract and MeSH headings.

    text = ``ArticleTitle`` + " " + every ``Abstract/AbstractText`` part, joined by spaces;
    descriptors = the ``MeshHeading/DescriptorName`` names in file order, without repeats.
    """
    for _, elem in ElementTree.iterparse(stream, events=("end",)):
        if elem.tag != "PubmedArticle":
            continue
        citation = elem.find("MedlineCitation")
        article = None if citation is None else citation.find("Article")
        if article is not None:
            parts = [_flat(p) for p in article.findall("Abstract/AbstractText")]
            abstract = " ".join(p for p in parts if p)
            names = [
                _flat(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")
            ]
            descriptors = list(dict.fromkeys(n for n in names if n))
            if abstract and descriptors:
                title = _flat(article.find("ArticleTitle"))
                yield f"{title} {abstract}".strip(), descriptors
        elem.clear()


def mesh_table(
    records: Iterable[tuple[str, list[str]]],
    k: int = PUBMED_TOP_K,
    check_tags: frozenset[str] = MESH_CHECK_TAGS,
) -> Table:
    """``{"text": [...], "labels": [[name, ...], ...]}``: check tags dropped, only the ``k``
    most frequent descriptors kept (ties broken by name), texts left with none dropped;
    each text's labels sorted by name."""
    rows = [(text, [d for d in ds if d not in check_tags]) for text, ds in records]
    counts = Counter(d for _, ds in rows for d in ds)
    kept = set(sorted(counts, key=lambda d: (-counts[d], d))[:k])
    table: Table = {"text": [], "labels": []}
    for text, ds in rows:
        labels = sorted(d for d in ds if d in kept)
        if labels:
            table["text"].append(text)
            table["labels"].append(labels)
    return table


def read_pubmed_mesh(path: Path, k: int = PUBMED_TOP_K) -> Table:
    """The pubmed_mesh table from the MEDLINE ``.xml.gz`` at ``path``: parsed once (a few
    seconds), then read from ``<stem>.k<k>.jsonl`` beside it (its first line records the
    source's size and mtime, so a new source file is parsed again)."""
    cache = path.with_name(f"{path.name.split('.')[0]}.k{k}.jsonl")
    stat = path.stat()
    header = {"version": _CACHE_VERSION, "source": path.name, "size": stat.st_size,
              "mtime_ns": stat.st_mtime_ns, "k": k}  # fmt: skip
    if cache.is_file():
        with cache.open(encoding="utf-8") as f:
            first = f.readline()
            try:
                if json.loads(first) == header:
                    rows = [json.loads(line) for line in f]
                    return {
                        "text": [r["text"] for r in rows],
                        "labels": [r["labels"] for r in rows],
                    }
            except (json.JSONDecodeError, KeyError, TypeError):
                pass
        logger.info("%s is stale or unreadable: parsing %s again", cache, path)
    logger.info("parsing %s (once; a few seconds)", path)
    with gzip.open(path) as stream:
        table = mesh_table(parse_medline(stream), k)
    lines = [json.dumps(header)]
    lines += [
        json.dumps({"text": t, "labels": ls}, ensure_ascii=False)
        for t, ls in zip(table["text"], table["labels"], strict=True)
    ]
    _atomic_write(cache, ("\n".join(lines) + "\n").encode())
    return table


# ----------------------------------------------------------------------------- lee_similarity

_LEE_DOCS = 50


def read_lee_similarity(corpus: Path, similarities: Path) -> Table:
    """Pairs of Lee et al.'s 50 documents (``lee.cor``, latin-1, one a line) with their
    mean human similarity (``similarities0-1.txt``: a 50 x 50 matrix, rows of numbers);
    one row per unordered pair (i < j), in order: 1,225 rows."""
    docs = [" ".join(line.split()) for line in corpus.read_bytes().decode("latin-1").splitlines()]
    docs = [d for d in docs if d]
    matrix = [
        [float(x) for x in re.split(r"[\s,]+", line.strip())]
        for line in similarities.read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    if (
        len(docs) != _LEE_DOCS
        or len(matrix) != _LEE_DOCS
        or any(len(r) != _LEE_DOCS for r in matrix)
    ):
        raise RuntimeError(
            f"{corpus} / {similarities}: expected {_LEE_DOCS} documents and a {_LEE_DOCS}x"
            f"{_LEE_DOCS} matrix, got {len(docs)} and {len(matrix)} rows; the carrier changed?"
        )
    pairs = list(combinations(range(_LEE_DOCS), 2))
    return {
        "text": [docs[i] for i, _ in pairs],
        "text_pair": [docs[j] for _, j in pairs],
        "similarity": [matrix[i][j] for i, j in pairs],
    }
