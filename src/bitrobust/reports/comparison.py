"""What a comparison of evaluated models shows, before any table or figure draws it (paper 3, Sec. 5.4, Fig. 7).

For several runs: the rates p evaluated, the Prop. 1 upper bound on the expected robust
error at each p (App. C.2; :mod:`bitrobust.metrics.bounds`), and per precision m and rate
p the model with the lowest mean RErr (the black curves of Fig. 7 -- the per-p Pareto
frontier of RErr over models) together with the models on the Err/RErr trade-off front
(no other model of the same precision has both lower Err and lower RErr). The tables of
:mod:`bitrobust.reports.tables` and the figures of :mod:`bitrobust.reports.figures`
render these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult
from bitrobust.metrics.bounds import DEFAULT_DELTA, bound_applies, excess_term, rerr_upper_bound
from bitrobust.reports.runs import Run, example_run  # noqa: F401 (examples below)


@dataclass(frozen=True)
class BestAtRate:
    """The lowest mean RErr at rate p among the models of precision ``bits``."""

    bits: int
    p: float
    name: str
    err: float
    rerr_mean: float
    rerr_std: float
    rerr_bound: float | None
    pareto: tuple[str, ...]  # models not dominated in (Err, RErr at p), input order


def rate_symbol(runs: Sequence[Run]) -> str:
    """"p" for bit error results, "eps" for L-inf weight noise (``eval --errors linf``); never both.

    >>> rate_symbol([example_run("A", 0.05, (0.2, 0.3))])
    'p'
    """
    kinds = {run.result.source == "linf" for run in runs}
    if len(kinds) > 1:
        raise BitrobustError("cannot compare L-inf weight noise results (eval --errors linf) with bit error results in one report")
    return "eps" if kinds == {True} else "p"


def report_rates(runs: Sequence[Run]) -> list[float]:
    """All evaluated rates p > 0 over the runs, ascending.

    >>> report_rates([example_run("A", 0.05, (0.2,), p=0.01), example_run("B", 0.05, (0.2,), p=0.001)])
    [0.001, 0.01]
    """
    return sorted({r.p for run in runs for r in run.result.rates if r.p > 0})


def rate_result(run: Run, p: float) -> RateResult | None:
    """The run's result at rate p, None if it was not evaluated there.

    >>> rate_result(example_run("A", 0.05, (0.2, 0.3)), 0.5) is None
    True
    """
    try:
        return run.result.rate(p)
    except KeyError:
        return None


def run_excess(run: Run, delta: float) -> float | None:
    """Prop. 1 excess term for this run's n test examples and l chips, or None if it does not apply.

    >>> round(run_excess(example_run("A", 0.05, (0.2, 0.3)), 0.01), 4)
    2.5067
    """
    res = run.result
    return excess_term(res.n_examples, res.trials, delta) if bound_applies(res.source) else None


def rate_bound(run: Run, p: float, delta: float) -> float | None:
    """min(1, RErr mean + excess) at rate p (App. C.2), None where Prop. 1 does not apply.

    >>> rate_bound(example_run("A", 0.05, (0.2, 0.3)), 0.01, 0.01)
    1.0
    """
    r = rate_result(run, p)
    if r is None or not bound_applies(run.result.source):
        return None
    return rerr_upper_bound(min(1.0, max(0.0, r.mean)), run.result.n_examples, run.result.trials, delta)


def precisions(runs: Sequence[Run]) -> list[int]:
    """Precisions m present, highest first (Tab. 18 order: m = 8, then 4, ...).

    >>> precisions([example_run("A", 0.05, (0.2,), bits=4), example_run("B", 0.05, (0.2,))])
    [8, 4]
    """
    return sorted({run.bits for run in runs}, reverse=True)


def pareto_front(points: Sequence[tuple[str, float, float]]) -> tuple[str, ...]:
    """Names whose (Err, RErr) no other point beats in both (<= in both, < in one).

    >>> pareto_front([("a", 1, 5), ("b", 2, 4), ("c", 2, 5)])
    ('a', 'b')
    """
    front = []
    for name, e, r in points:
        dominated = any(e2 <= e and r2 <= r and (e2 < e or r2 < r) for _, e2, r2 in points)
        if not dominated:
            front.append(name)
    return tuple(front)


def best_per_rate(runs: Sequence[Run], delta: float = DEFAULT_DELTA) -> list[BestAtRate]:
    """Per precision m (highest first) and rate p (ascending): the model with the lowest mean RErr.

    Ties go to the first run given. This is the per-p Pareto frontier of Fig. 7 (black).

    >>> [(b.p, b.name, b.pareto) for b in best_per_rate([example_run("A", 0.05, (0.2, 0.3)),
    ...                                                   example_run("B", 0.06, (0.1, 0.1))])]
    [(0.01, 'B', ('A', 'B'))]
    """
    out = []
    for bits in precisions(runs):
        group = [run for run in runs if run.bits == bits]
        for p in report_rates(group):
            have = [(run, rate_result(run, p)) for run in group]
            have = [(run, r) for run, r in have if r is not None]
            if not have:
                continue
            run, r = min(have, key=lambda item: item[1].mean)
            front = pareto_front([(o.name, o.result.err, ro.mean) for o, ro in have])
            out.append(BestAtRate(bits, p, run.name, run.result.err, r.mean, r.std, rate_bound(run, p, delta), front))
    return out
