"""The public verbs of fault injection: :func:`inject` (a context manager that restores the
model) and :func:`faulty_copy` for weights."""

from bitrobust.injection.weights import faulty_copy, inject, load_faulty_weights

__all__ = ["faulty_copy", "inject", "load_faulty_weights"]
