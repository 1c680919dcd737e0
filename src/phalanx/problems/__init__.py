"""Problem types (single-label, multi-label, regression): how logits read, train and score.

``Problem`` turns logits into scores and decisions and records itself in folder metadata;
``ProblemLoss`` is the training loss; ``phalanx.problems.targets`` encodes multi-label and
regression labels; ``phalanx.problems.metrics`` scores predictions; ``thresholds`` tunes
multi-label decision thresholds on validation.
"""

from .types import DEFAULT_THRESHOLD, HF_PROBLEM_TYPES, PROBLEM_TYPES, Problem, problem_type_name

__all__ = ["DEFAULT_THRESHOLD", "HF_PROBLEM_TYPES", "PROBLEM_TYPES", "Problem", "problem_type_name"]
