"""Neuron-level bit error tolerance T^b of a BNN (paper 1, Sec. III; paper 2, Sec. III).

For input x_i, hidden neuron n and output position (u, v), the local tolerance is the
distance of the integer pre-activation h from the folded BN threshold,
T_{i,n,u,v} = |h - s_n - 1/2| (Eq. 1), divided by Z in the first layer whose inputs are
in {0..Z} (Eq. 2). By Theorem 1, T >= b means any floor(b/2) weight flips of the neuron
leave its output at (u, v) unchanged. T^b averages 1{T >= b} over positions (Eq. 3),
neurons of all layers but the output layer (Eq. 4) and inputs (Eq. 5); the tuple over
b in (2, 4, 8, 16, 32, 64) is T and its mean is T-bar.

Interpretation notes (DESIGN.md, Contract 4):

* h is the integer pre-activation *after* max pooling where the block pools (the
  pooled value is what BN + sign see). Theorem 1 still holds there: each pooled input
  moves by at most 2 floor(b/2) (times Z in layer 1) under floor(b/2) flips, and max is
  1-Lipschitz, so the pooled h moves by at most as much.
* gamma < 0 flips the comparison direction (output +1 iff h <= s_n); T is a distance to
  the boundary s_n + 1/2 and is the same formula. A neuron with gamma == 0 is constant;
  its s_n lies outside the reachable range of h, so T is large and no flip changes it.
* The theorem is stated per position: for each (u, v) with T >= b, floor(b/2) flips do
  not change the output at (u, v) (hence also "for all u, v" as in the paper). Zero
  padding only helps: a weight that multiplies a padded zero does not change h.
* Inputs must be integers with |x| <= Z (:func:`bitrobust.nn.integer.check_integer_input`);
  the proof only needs |summand| <= Z. Real-valued inputs are rejected.
* T^b weights every neuron equally (positions are averaged inside a neuron first), as
  Eqs. 3-5 say; for FC nets this equals the flat mean over all (input, neuron) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import BNN
from bitrobust.models.bnn_integer import IntegerBNN

DEFAULT_BS: tuple[float, ...] = (2, 4, 8, 16, 32, 64)


def _check_bs(bs: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    out = tuple(float(b) for b in bs)
    if not out or any(not b >= 0 for b in out):
        raise BitrobustError(f"tolerance levels b must be a non-empty list of numbers >= 0, got {bs!r}")
    return out


def local_tolerance(model: BNN, x: torch.Tensor, net: IntegerBNN | None = None) -> list[torch.Tensor]:
    """T_{i,n,u,v} per hidden block: float64 tensors (N, C) or (N, C, U, V).

    T = |h - s_n - 1/2| (paper 1, Eq. 1); the first block's values are divided by Z (Eq. 2).

    >>> from bitrobust.models.bnn import build_bnn
    >>> model = build_bnn("C4-MP2-FC8-10", seed=0).eval()
    >>> x = torch.randint(0, 256, (3, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    >>> [tuple(t.shape) for t in local_tolerance(model, x)]
    [(3, 4, 14, 14), (3, 8)]
    """
    net = IntegerBNN(model) if net is None else net
    preacts = net.hidden_preactivations(x)
    out = []
    for i, (h, th) in enumerate(zip(preacts, net.thresholds)):
        t = th.margin(h)
        out.append(t / net.input_max if i == 0 else t)
    return out


def tolerance_per_input(tolerances: list[torch.Tensor], bs: tuple[float, ...] = DEFAULT_BS) -> torch.Tensor:
    """T_i^b (Eq. 4) as an (N, len(bs)) float64 tensor from the local tolerances of one batch."""
    bs = _check_bs(bs)
    levels = torch.tensor(bs, dtype=torch.float64)
    per_neuron = []
    for t in tolerances:
        flat = t.reshape(t.shape[0], t.shape[1], -1)  # (N, C, UV)
        hits = flat.unsqueeze(-1) >= levels.to(flat.device)  # (N, C, UV, B)
        per_neuron.append(hits.to(torch.float64).mean(dim=2))  # T_{i,n}^b, Eq. 3
    return torch.cat(per_neuron, dim=1).mean(dim=1)  # T_i^b, Eq. 4


@torch.no_grad()
def tolerance(
    model: BNN, x: torch.Tensor, bs: tuple[float, ...] = DEFAULT_BS, batch_size: int = 1000
) -> tuple[float, ...]:
    """The tuple T = (T^{b_1}, ..., T^{b_B}) of paper 1, Eq. 5, over the inputs ``x``.

    >>> from bitrobust.models.bnn import build_bnn
    >>> model = build_bnn("FC8-10", seed=0).eval()
    >>> x = torch.randint(0, 256, (20, 784), generator=torch.Generator().manual_seed(0))
    >>> values = tolerance(model, x)
    >>> len(values), list(values) == sorted(values, reverse=True)
    (6, True)
    """
    bs = _check_bs(bs)
    if len(x) == 0:
        raise BitrobustError("T^b needs at least one input")
    if model.num_hidden_neurons() == 0:
        raise BitrobustError("T^b needs a BNN with at least one hidden layer")
    net = IntegerBNN(model)
    total = torch.zeros(len(bs), dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        t = local_tolerance(model, x[start : start + batch_size], net)
        total += tolerance_per_input(t, bs).sum(dim=0).cpu()
    return tuple(float(v) for v in total / len(x))


def t_bar(values: tuple[float, ...] | list[float]) -> float:
    """T-bar: the mean of the tuple T (paper 1, Sec. V-C).

    >>> t_bar((0.5, 0.25))
    0.375
    """
    if len(values) == 0:
        raise BitrobustError("T-bar of an empty tuple")
    return float(sum(values) / len(values))


@dataclass(frozen=True)
class ToleranceResult:
    """T^b for each b, and T-bar."""

    bs: tuple[float, ...]
    values: tuple[float, ...]
    mean: float

    def as_dict(self) -> dict[str, float]:
        out = {f"T^{b:g}": v for b, v in zip(self.bs, self.values)}
        out["T_bar"] = self.mean
        return out


@dataclass(frozen=True)
class ToleranceMetric:
    """Settings of the T metric: levels ``bs`` and the evaluation batch size."""

    bs: tuple[float, ...] = DEFAULT_BS
    batch_size: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "bs", _check_bs(self.bs))
        if self.batch_size < 1:
            raise BitrobustError(f"batch_size must be >= 1, got {self.batch_size}")

    def measure(self, model: BNN, x: torch.Tensor) -> ToleranceResult:
        values = tolerance(model, x, self.bs, self.batch_size)
        return ToleranceResult(self.bs, values, t_bar(values))
