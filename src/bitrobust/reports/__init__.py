"""Reports: every table (Markdown/CSV/JSON) and matplotlib figure of the toolkit, in one layer.

Shared primitives: :mod:`~bitrobust.reports.text` (percentages, Markdown tables, CSV) and
:mod:`~bitrobust.reports.plotting` (the Agg backend, series styles, atomic PNGs). Each
writer extracts its numbers, then renders them: :mod:`~bitrobust.reports.comparison` ->
:mod:`~bitrobust.reports.tables` and :mod:`~bitrobust.reports.figures` (paper 3's model
comparisons), :mod:`~bitrobust.reports.robustness`, :mod:`~bitrobust.reports.energy`,
:mod:`~bitrobust.reports.profiled`, :mod:`~bitrobust.reports.bnn` (papers 1 and 2) and
:mod:`~bitrobust.reports.weights`. :mod:`~bitrobust.reports.experiment` composes them into
the report of a reproduced experiment from plain data (:mod:`~bitrobust.reports.experiment_input`).
"""
