"""Labelled text datasets for training and evaluation: built-ins, local files, HF datasets.

``load_data`` always returns train / validation / test splits with their labels (class ids
0..C-1, sorted tuples of class ids for multi-label data, floats for regression), the label
names and the problem type; ``read_table`` reads one file into columns, ``read_texts`` the texts
of any source (no labels); templates render several columns into one input text.
"""

from .builtin import ROTTEN_TOMATOES_CHECKSUMS, ROTTEN_TOMATOES_SIZES
from .load import load_data
from .splits import DataSplits, TextDataset, split_checksum
from .tables import SUFFIXES, Table, read_table
from .targets import LabelSpec, infer_problem_type, multi_hot
from .texts import read_texts

__all__ = [
    "ROTTEN_TOMATOES_CHECKSUMS",
    "ROTTEN_TOMATOES_SIZES",
    "SUFFIXES",
    "DataSplits",
    "LabelSpec",
    "Table",
    "TextDataset",
    "infer_problem_type",
    "load_data",
    "multi_hot",
    "read_table",
    "read_texts",
    "split_checksum",
]
