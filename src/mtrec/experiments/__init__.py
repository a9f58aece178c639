"""Experiments over the library: architecture and weighting comparisons, ablations. They
train and evaluate, so they sit above both ``mtrec.training`` and ``mtrec.evaluation``."""
