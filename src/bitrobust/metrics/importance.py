"""Neuron importance Pi and its variance VAR(Pi) for BNNs (paper 1, Sec. IV, Algorithm 1).

Pi[n] = (A - A*) / A, where A is the accuracy on (X, y) and A* the accuracy when the
binary output of neuron n is negated (a conv neuron's whole channel, every position);
VAR(Pi) = 1/N sum_n (Pi[n] - mean Pi)^2 over all neurons but the output layer (Eq. 6).

:func:`neuron_importance_naive` is Algorithm 1 verbatim: one forward pass of the float
model over X per neuron, with a hook negating that neuron's output.
:func:`neuron_importance` gives bit-identical values much faster. The clean forward pass
is cached; negating output c of block l only changes block l+1's pre-activation by the
contribution of that channel, dz = L_{l+1}(-2 a_c) (for FC -> FC the rank-one term
-2 a_c W[:, c]), so only the layers after l are recomputed, for many neurons at once.
The recomputation is the BNN's integer form (:class:`~bitrobust.models.bnn_integer.IntegerBNN`,
the blocks' own steps with folded thresholds, exactly equivalent to BN + sign) on
integer-valued float tensors, with the output layer's own batch norm, so every
prediction equals the naive one. When block l+1 is a
hidden FC layer following an FC layer, its units move by exactly +-2, so only units
with |h - s - 1/2| < 2 can switch; the change they cause in block l+2 is
dz_{l+2}[n] = P - a_n Q[:, n] with P = -W_{l+2}(c . a_{l+1}) and
Q = W_{l+2} diag(c . d) W_{l+1} (c: those critical units, d: threshold directions), one
matrix product per input for all neurons n of block l.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import BNN
from bitrobust.models.bnn_integer import IntegerBNN
from bitrobust.nn.binary import binary_layers


def _check_model(model: BNN) -> None:
    if not isinstance(model, BNN):
        raise BitrobustError(f"neuron importance needs a BNN, got {type(model).__name__}")
    if model.num_hidden_neurons() == 0:
        raise BitrobustError("neuron importance needs a BNN with at least one hidden layer")
    for _, layer in binary_layers(model):
        if layer.flip is not None and not layer.flip.training_only:
            raise BitrobustError("neuron importance is defined without transient flips; clear them first")


def _check_data(x: torch.Tensor, y: torch.Tensor) -> None:
    if len(x) == 0 or len(x) != len(y):
        raise BitrobustError(f"need as many labels as inputs (> 0), got {len(x)} inputs and {len(y)} labels")


@contextlib.contextmanager
def _eval_mode(model: BNN) -> Iterator[BNN]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def importance_from_counts(correct: int, correct_negated: torch.Tensor) -> torch.Tensor:
    """Pi[n] = (A - A*) / A = (correct - correct*_n) / correct, float64.

    >>> importance_from_counts(80, torch.tensor([80, 60, 90])).tolist()
    [0.0, 0.25, -0.125]
    """
    if correct == 0:
        raise BitrobustError("neuron importance is undefined when the clean accuracy A is 0")
    return (float(correct) - correct_negated.to(torch.float64)) / float(correct)


def importance_variance(pi: torch.Tensor) -> float:
    """VAR(Pi) = 1/N sum_n (Pi[n] - mean Pi)^2, the population variance (paper 1, Eq. 6).

    >>> importance_variance(torch.tensor([0.0, 1.0]))
    0.25
    """
    if pi.numel() == 0:
        raise BitrobustError("VAR(Pi) of no neurons")
    return float(pi.to(torch.float64).var(unbiased=False))


@torch.no_grad()
def _count_correct(model: BNN, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> int:
    correct = 0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        yb = y[start : start + batch_size].to(xb.device)
        correct += int((model(xb).argmax(1) == yb).sum())
    return correct


@torch.no_grad()
def neuron_importance_naive(
    model: BNN,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
    neurons: Sequence[int] | None = None,
) -> torch.Tensor:
    """Algorithm 1 of paper 1: Pi for every hidden neuron, one full forward pass per neuron.

    Order: hidden blocks in order, neurons (channels) in order within a block.
    ``neurons`` (indices in that order) restricts the loop to a subset, e.g. for timing.
    """
    _check_model(model)
    _check_data(x, y)
    widths = model.hidden_widths()
    index = [(l, c) for l, width in enumerate(widths) for c in range(width)]
    chosen = range(len(index)) if neurons is None else [int(n) for n in neurons]
    if any(not 0 <= n < len(index) for n in chosen):
        raise BitrobustError(f"neuron indices must be in [0, {len(index)})")
    blocks = model.hidden_blocks
    with _eval_mode(model):
        correct = _count_correct(model, x, y, batch_size)  # line 2: A = accuracy(model(X), y)
        counts = []
        for n in chosen:  # line 3: for each neuron n
            l, c = index[n]

            def negate(module, inputs, out, c=c):  # line 4: flip the activation output of n
                out = out.clone()
                out[:, c] = -out[:, c]
                return out

            handle = blocks[l].act.register_forward_hook(negate)
            try:
                counts.append(_count_correct(model, x, y, batch_size))  # line 5: A*
            finally:
                handle.remove()
    return importance_from_counts(correct, torch.tensor(counts, dtype=torch.int64))  # line 6


class _Plan:
    """The BNN's integer form on integer-valued float tensors (exact below 2^24), plus Pi's deltas."""

    def __init__(self, model: BNN) -> None:
        self.net = IntegerBNN(model, dtype=model.blocks[0].layer.weight.dtype)
        self.blocks = self.net.blocks
        self.weights = self.net.weights
        self.num_hidden = self.net.num_hidden

    def clean(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Clean pass: per block the pre-pool z and (hidden blocks) the +-1 output; predictions."""
        zs, inputs = [], []
        for a, z, h in self.net.steps(x):
            inputs.append(a)
            zs.append(z)
        return zs, inputs[1:], self.net.output_logits(h).argmax(1)

    # -- negation of channels cs of hidden block l ----------------------------------------
    def next_delta(self, l: int, d: torch.Tensor, cs: torch.Tensor) -> torch.Tensor:
        """Change of block l+1's pre-pool z when channels cs of block l change by d (B, k, ...)."""
        j = l + 1
        block, w = self.blocks[j], self.weights[j]
        k = len(cs)
        if block.is_conv:  # each negated channel convolved with its slice of the kernels
            kernels = w[:, cs].transpose(0, 1).reshape(k * w.shape[0], 1, *w.shape[2:])
            dz = F.conv2d(d, kernels, padding=int(block.layer.padding[0]), groups=k)
            return dz.view(d.shape[0], k, w.shape[0], *dz.shape[2:])
        if d.dim() == 2:  # FC after FC: rank-one term -2 a_c W[:, c]
            return d.unsqueeze(2) * w[:, cs].t().unsqueeze(0)
        # FC after a flattened conv block: the columns of channel c
        wc = w.view(w.shape[0], -1, d[0, 0].numel())[:, cs]  # (K, k, P)
        return torch.einsum("bjp,kjp->bjk", d.flatten(2), wc)

    def propagate(self, j: int, z: torch.Tensor) -> torch.Tensor:
        """Predictions from block j's perturbed pre-pool z: the rest of the net, recomputed densely."""
        return self.net.logits_from(j, z).argmax(1)

    def uses_fc_fc(self, l: int, batch: int, max_elements: int) -> bool:
        """Block l is FC, block l+1 a hidden FC block (the +-2 shortcut applies) and its terms fit."""
        j = l + 1
        if self.blocks[l].is_conv or j >= self.num_hidden or self.blocks[j].is_conv:
            return False
        return batch * self.weights[j + 1].numel() <= max_elements  # W_{l+2} diag(c . d) per input

    def row_size(self, l: int, zs: list[torch.Tensor], fc_fc: bool) -> int:
        """Largest per-(input, neuron) tensor when negating a neuron of block l."""
        return max(z[0].numel() for z in zs[l + 2 if fc_fc else l + 1 :])

    def fc_fc_terms(self, l: int, zs: list[torch.Tensor], outs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """P (B, K) and W_{l+2} diag(c . d) (B, K, J) for block l -> hidden FC block l+1 = j.

        Negating a_l[n] moves h_j by -2 a_l[n] W_j[:, n] = +-2 per unit, so unit u switches
        iff c_u = 1{|g_u| < 2} (g = h - s - 1/2) and the move points across; with
        a_j = d . sgn(g) that gives da_j = -c . a_j - a_l[n] c . d . W_j[:, n], hence
        dz_{j+1}[n] = P - a_l[n] Q[:, n], P = -W_{j+1}(c . a_j), Q = W_{j+1} diag(c . d) W_j.
        """
        j = l + 1
        w_next = self.weights[j + 1]
        threshold = self.net.thresholds[j]
        critical = ((zs[j] - threshold.s - 0.5).abs() < 2).to(zs[j].dtype)
        direction = threshold.direction.to(zs[j].dtype)
        p = -(critical * outs[j]) @ w_next.t()
        scaled = w_next.unsqueeze(0) * (critical * direction).unsqueeze(1)
        return p, scaled

    def negated_predictions(
        self,
        l: int,
        cs: torch.Tensor,
        zs: list[torch.Tensor],
        outs: list[torch.Tensor],
        fc_fc: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(B, k) predictions with output channel cs[i] of block l negated, for each i.

        ``fc_fc``: the :meth:`fc_fc_terms` of block l, to take the shortcut (see there).
        """
        a = outs[l]
        batch, k = a.shape[0], len(cs)
        if fc_fc is None:
            z = zs[l + 1].unsqueeze(1) + self.next_delta(l, -2 * a[:, cs], cs)
            return self.propagate(l + 1, z.reshape(batch * k, *z.shape[2:])).view(batch, k)
        p, scaled = fc_fc
        out = scaled.shape[1]
        q = (scaled.reshape(batch * out, -1) @ self.weights[l + 1][:, cs]).view(batch, out, k).transpose(1, 2)
        z = zs[l + 2].unsqueeze(1) + p.unsqueeze(1) - a[:, cs].unsqueeze(2) * q  # (B, k, K)
        return self.propagate(l + 2, z.reshape(batch * k, -1)).view(batch, k)


@torch.no_grad()
def neuron_importance(
    model: BNN,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_neurons: int | None = None,
    batch_size: int = 500,
    max_elements: int = 2**24,
) -> torch.Tensor:
    """Pi for every hidden neuron, identical to :func:`neuron_importance_naive`, computed fast.

    Up to ``batch_size`` inputs and ``batch_neurons`` neurons (default: as many as fit)
    are processed at once, so that no intermediate tensor has more than about
    ``max_elements`` entries. The model's binary weights B(W) are used.

    >>> from bitrobust.models.bnn import build_bnn
    >>> model = build_bnn("FC8-FC8-10", seed=0).eval()
    >>> x = torch.randint(0, 256, (40, 784), generator=torch.Generator().manual_seed(0))
    >>> y = model(x).argmax(1)
    >>> torch.equal(neuron_importance(model, x, y), neuron_importance_naive(model, x, y))
    True
    """
    _check_model(model)
    _check_data(x, y)
    if (batch_neurons is not None and batch_neurons < 1) or batch_size < 1 or max_elements < 1:
        raise BitrobustError("batch_neurons, batch_size and max_elements must be >= 1")
    device = model.blocks[0].layer.weight.device
    with _eval_mode(model):
        plan = _Plan(model)
        widths = model.hidden_widths()
        offsets = [sum(widths[:i]) for i in range(len(widths))]
        counts = torch.zeros(sum(widths), dtype=torch.int64)
        correct = 0
        for start in range(0, len(x), batch_size):
            xb = model.prepare_input(x[start : start + batch_size].to(device))
            yb = y[start : start + batch_size].to(device)
            zs, outs, pred = plan.clean(xb)
            correct += int((pred == yb).sum())
            for l, width in enumerate(widths):
                shortcut = plan.uses_fc_fc(l, len(xb), max_elements)
                k = max(1, min(width, max_elements // max(1, len(xb) * plan.row_size(l, zs, shortcut))))
                if batch_neurons is not None:
                    k = min(k, batch_neurons)
                fc_fc = plan.fc_fc_terms(l, zs, outs) if shortcut else None
                for c0 in range(0, width, k):
                    cs = torch.arange(c0, min(width, c0 + k), device=device)
                    preds = plan.negated_predictions(l, cs, zs, outs, fc_fc)
                    hits = (preds == yb.unsqueeze(1)).sum(0).cpu()
                    counts[offsets[l] + c0 : offsets[l] + c0 + len(cs)] += hits
    return importance_from_counts(correct, counts)


@dataclass(frozen=True)
class ImportanceResult:
    """Pi per hidden neuron (blocks in order), VAR(Pi), and the hidden block widths."""

    pi: torch.Tensor
    variance: float
    widths: tuple[int, ...]

    def per_layer(self) -> list[torch.Tensor]:
        return list(torch.split(self.pi, list(self.widths)))


@dataclass(frozen=True)
class NeuronImportance:
    """Settings of the Pi / VAR(Pi) metric; ``naive=True`` runs Algorithm 1 literally."""

    batch_neurons: int | None = None
    batch_size: int = 500
    naive: bool = False

    def measure(self, model: BNN, x: torch.Tensor, y: torch.Tensor) -> ImportanceResult:
        if self.naive:
            pi = neuron_importance_naive(model, x, y, self.batch_size)
        else:
            pi = neuron_importance(model, x, y, self.batch_neurons, self.batch_size)
        return ImportanceResult(pi, importance_variance(pi), tuple(model.hidden_widths()))
