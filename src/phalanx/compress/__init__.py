"""Sparse transfer: SparseML-style recipes, pruning, distillation, quantization-aware training.

``phalanx.compress.compress`` (also ``phalanx.compress_model``) runs a recipe; the modules
import torch and transformers lazily through it.
"""
