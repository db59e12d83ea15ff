"""Binarized networks built from the papers' notation, e.g. ``C64-MP2-C64-MP2-FC2048-10``.

Paper 1 (Sec. II-B, Table II) writes a BNN as a chain of ``C<k>`` (3x3 binary
convolution with k filters), ``MP<k>`` (k x k max pool after the preceding
convolution), ``FC<k>`` (binary fully connected layer with k neurons) and, last, the
number of classes (the output layer). Every layer is followed by batch norm, the
output layer too (paper 2, Sec. II-B); hidden layers then binarize with sign. A block
is ``layer -> [max pool] -> batch norm -> sign``, so max pooling acts on the integer
pre-activations, as in the T metric of paper 1 (Sec. III).

Grammar (case-insensitive, spaces ignored, ``-``, ``->`` or the arrow as separators, an
optional leading ``In``)::

    arch  := [In] layer {- layer} - classes
    layer := C<int> [- MP<int>] | FC<int>        (no C after an FC)

Table II: ``FC2048-FC2048-10``, ``C64-MP2-C64-MP2-FC2048-10``,
``C128-C128-MP2-C256-C256-MP2-C256-C256-MP2-FC2048-10``. Table III scales the widths:
``FC8-FC8-10`` ... ``FC128-FC128-10`` and ``C8-MP2-C8-MP2-FC16-10`` ...
``C64-MP2-C64-MP2-FC128-10`` (see :func:`table3_arch`). The papers do not state the
convolution padding; we use 3x3 kernels with zero padding 1 (``same`` size), so
``C64-MP2-C64-MP2`` maps 28x28 to 64x7x7.

Registered models (:func:`bitrobust.models.build_model`): ``bnn_fc``, ``bnn_cnn`` and
``bnn_cifar`` (Table II, ``width`` scales the hidden widths) and ``bnn`` with any
``arch`` string, e.g. ``build_model("bnn", arch="FC8-FC8-10")``.

Inputs: the first layer is not binarized and expects integer-valued inputs in
{0, ..., Z} (``input_max`` = Z = 255: uint8 pixels, or floats 0..255); uint8 tensors are
cast to float. Other real inputs work for training and float inference, but integer
inference and the T metric reject them (see :mod:`bitrobust.nn.integer`). The integer
form of a BNN is :mod:`bitrobust.models.bnn_integer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost
from bitrobust.nn.binary import (
    BinaryConv2d,
    BinaryLayer,
    BinaryLinear,
    FoldableBatchNorm1d,
    FoldableBatchNorm2d,
    SignActivation,
    set_flip,
)
from bitrobust.nn.flip import FlipSettings
from bitrobust.nn.integer import Threshold, fold_batchnorm, int_conv2d, int_linear, int_max_pool

GRAMMAR = (
    "arch := [In-] layer{-layer}-classes; layer := C<k>[-MP<k>] | FC<k>; "
    "e.g. FC2048-FC2048-10, C64-MP2-C64-MP2-FC2048-10"
)

#: Table II of paper 1 as named architectures.
BNN_ARCHS: dict[str, str] = {
    "bnn_fc": "FC2048-FC2048-10",
    "bnn_cnn": "C64-MP2-C64-MP2-FC2048-10",
    "bnn_cifar": "C128-C128-MP2-C256-C256-MP2-C256-C256-MP2-FC2048-10",
}


@dataclass(frozen=True)
class LayerSpec:
    """One binary layer: ``kind`` ``conv``/``fc``/``out``, its width, max-pool size after it (1 = none)."""

    kind: str
    width: int
    pool: int = 1

    def notation(self) -> str:
        if self.kind == "out":
            return str(self.width)
        name = ("C" if self.kind == "conv" else "FC") + str(self.width)
        return name + (f"-MP{self.pool}" if self.pool > 1 else "")


_TOKEN = re.compile(r"^(?:(C|FC|MP)(\d+)|(\d+))$")


def _bad(arch: str, why: str) -> BitrobustError:
    return BitrobustError(f"bad BNN architecture {arch!r}: {why}; grammar: {GRAMMAR}")


def parse_arch(arch: str) -> tuple[LayerSpec, ...]:
    """Parse paper notation into layer specs; a bad string raises BitrobustError with the grammar."""
    if not isinstance(arch, str):
        raise _bad(str(arch), "not a string")
    text = arch.replace("\u2192", "-").replace("->", "-")
    text = re.sub(r"\s+", "", text).upper()
    tokens = text.split("-") if text else []
    if tokens and tokens[0] == "IN":
        tokens = tokens[1:]
    if not tokens:
        raise _bad(arch, "empty")
    specs: list[LayerSpec] = []
    for pos, token in enumerate(tokens):
        m = _TOKEN.match(token)
        if m is None:
            raise _bad(arch, f"unknown token {token!r}")
        kind, num = m.group(1), int(m.group(2) or m.group(3))
        if num < 1:
            raise _bad(arch, f"{token!r} needs a positive number")
        last = pos == len(tokens) - 1
        if kind is None:
            if not last:
                raise _bad(arch, f"a plain number ({token}) is only allowed last, as the number of classes")
            specs.append(LayerSpec("out", num))
        elif last:
            raise _bad(arch, "must end with the number of classes")
        elif kind == "MP":
            if num < 2:
                raise _bad(arch, f"{token}: the pool size must be >= 2")
            if not specs or specs[-1].kind != "conv" or specs[-1].pool > 1:
                raise _bad(arch, f"{token} must directly follow a convolution C<k>")
            specs[-1] = LayerSpec("conv", specs[-1].width, num)
        elif kind == "C":
            if any(s.kind == "fc" for s in specs):
                raise _bad(arch, "a convolution cannot follow a fully connected layer")
            specs.append(LayerSpec("conv", num))
        else:
            specs.append(LayerSpec("fc", num))
    return tuple(specs)


def format_arch(specs: Sequence[LayerSpec]) -> str:
    """Paper notation of ``specs`` (inverse of :func:`parse_arch`)."""
    return "-".join(s.notation() for s in specs)


def table3_arch(kind: str, width: int, num_classes: int = 10) -> str:
    """The small Fashion nets of paper 1, Table III: ``fc`` (width, width) or ``cnn`` (w, w, 2w)."""
    if kind == "fc":
        return f"FC{width}-FC{width}-{num_classes}"
    if kind == "cnn":
        return f"C{width}-MP2-C{width}-MP2-FC{2 * width}-{num_classes}"
    raise BitrobustError(f"unknown Table III kind {kind!r}; valid: cnn, fc")


class BNNBlock(nn.Module):
    """layer -> [max pool] -> batch norm -> [sign]; ``act`` is None for the output block.

    The block's steps are the one implementation of a BNN block, shared by the float
    forward pass, integer inference (:class:`~bitrobust.models.bnn_integer.IntegerBNN`),
    T^b and Pi: :meth:`linear_part` z = B(W) o a, :meth:`pool` h = maxpool(z) (the
    pre-activation), then either the float batch norm and sign (:meth:`forward`) or
    the folded integer threshold of :meth:`threshold` (``threshold.apply(h)``). Given
    a ``weight`` (+-1 values), :meth:`linear_part` computes in the input's arithmetic:
    float (exact for integer values below 2^24) or int64.

    >>> block = build_bnn("FC4-2", in_shape=(1, 1, 3), seed=0).blocks[0]
    >>> a = torch.tensor([[[[1, 0, 2]]]])
    >>> w = (block.layer.weight > 0).to(torch.int64) * 2 - 1  # B(W), b(0) = -1
    >>> torch.equal(block.preactivation(a, w), block.preactivation(a.float()).to(torch.int64))
    True
    """

    def __init__(
        self,
        layer: BinaryLayer,
        bn: nn.Module,
        act: SignActivation | None,
        pool: int = 1,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        self.flatten = flatten
        self.layer = layer
        self.pool_size = int(pool)
        self.bn = bn
        self.act = act

    @property
    def is_conv(self) -> bool:
        return isinstance(self.layer, BinaryConv2d)

    @property
    def fan_in(self) -> int:
        """Number of inputs of one neuron (C k k for a conv)."""
        return int(self.layer.weight[0].numel())

    def preactivation_bound(self, input_max: int) -> int:
        """Largest |h|: fan_in inputs of magnitude <= Z (``input_max``) in the first layer, 1 after."""
        return self.fan_in * (int(input_max) if self.layer.first else 1)

    def linear_part(self, a: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """z = B(W) o a before pooling; with ``weight``: that weight, in a's arithmetic (float or int64)."""
        if self.flatten:
            a = torch.flatten(a, 1)
        if weight is None:
            return self.layer(a)  # straight-through B(W), flips when enabled
        if a.is_floating_point():
            return self.layer.linear(a, weight)
        return int_conv2d(a, weight, int(self.layer.padding[0])) if self.is_conv else int_linear(a, weight)

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """h = max pool of z where the block pools (floor mode), else z itself."""
        if self.pool_size == 1:
            return z
        return F.max_pool2d(z, self.pool_size) if z.is_floating_point() else int_max_pool(z, self.pool_size)

    def preactivation(self, a: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """h: the layer's integer-valued output, after the max pool if the block pools."""
        return self.pool(self.linear_part(a, weight))

    @torch.no_grad()
    def threshold(self, input_max: int) -> Threshold:
        """BN + sign of this hidden block folded into an integer threshold (eval-mode statistics)."""
        return fold_batchnorm(self.bn, self.preactivation_bound(input_max))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.preactivation(x))
        return self.act(y) if self.act is not None else y

    def extra_repr(self) -> str:
        return f"pool={self.pool_size}, flatten={self.flatten}"


@dataclass
class BNNTrace:
    """A forward pass with the hidden blocks' float pre-activations h (after pooling)."""

    logits: torch.Tensor
    preacts: list[torch.Tensor]


class BNN(nn.Module):
    """A binarized network: a chain of :class:`BNNBlock`, the last one the output layer.

    >>> model = build_bnn("C4-MP2-FC8-10", seed=0).eval()
    >>> model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape, model.hidden_widths()
    (torch.Size([2, 10]), [4, 8])
    """

    def __init__(
        self,
        specs: Sequence[LayerSpec],
        in_shape: Sequence[int] = (1, 28, 28),
        *,
        ste: str = "identity",
        input_max: int = 255,
        kernel_size: int = 3,
        padding: int = 1,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        in_shape = tuple(int(s) for s in in_shape)
        if len(in_shape) != 3 or min(in_shape) < 1:
            raise BitrobustError(f"in_shape must be (channels, height, width), got {in_shape}")
        if int(input_max) < 1:
            raise BitrobustError(f"input_max (Z) must be >= 1, got {input_max}")
        self.specs = tuple(specs)
        if not self.specs or self.specs[-1].kind != "out":
            raise BitrobustError("a BNN needs an output layer last")
        self.in_shape = in_shape
        self.input_max = int(input_max)
        self.arch = format_arch(self.specs)
        blocks = []
        c, h, w = in_shape
        spatial = True
        for i, spec in enumerate(self.specs):
            first, last = i == 0, spec.kind == "out"
            if spec.kind == "conv":
                layer: BinaryLayer = BinaryConv2d(
                    c, spec.width, kernel_size, padding, ste=ste, first=first, generator=generator
                )
                h, w = h + 2 * padding - kernel_size + 1, w + 2 * padding - kernel_size + 1
                h, w = h // spec.pool, w // spec.pool
                if h < 1 or w < 1:
                    raise BitrobustError(f"BNN {self.arch!r}: input {in_shape} shrinks to nothing at layer {i + 1}")
                c = spec.width
                bn: nn.Module = FoldableBatchNorm2d(c, eps=bn_eps, momentum=bn_momentum)
                blocks.append(BNNBlock(layer, bn, SignActivation(ste), spec.pool))
            else:
                fan_in = c * h * w if spatial else c
                layer = BinaryLinear(fan_in, spec.width, ste=ste, first=first, generator=generator)
                bn = FoldableBatchNorm1d(spec.width, eps=bn_eps, momentum=bn_momentum)
                act = None if last else SignActivation(ste)
                blocks.append(BNNBlock(layer, bn, act, flatten=spatial))
                c, spatial = spec.width, False
        self.blocks = nn.ModuleList(blocks)

    @property
    def num_classes(self) -> int:
        return self.specs[-1].width

    def check_input_shape(self, x: torch.Tensor) -> None:
        """BitrobustError unless ``x`` is (N, *in_shape), or (N, prod(in_shape)) for an FC first layer."""
        flat_ok = self.specs[0].kind != "conv" and x.dim() == 2 and x.shape[1] == _prod(self.in_shape)
        if tuple(x.shape[1:]) != self.in_shape and not flat_ok:
            dims = ", ".join(map(str, self.in_shape))
            raise BitrobustError(f"BNN {self.arch!r} expects inputs of shape (N, {dims}), got {tuple(x.shape)}")

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Cast integer inputs (uint8 pixels 0..Z) to the weights' float dtype; check the shape."""
        self.check_input_shape(x)
        if not x.is_floating_point():
            x = x.to(self.blocks[0].layer.weight.dtype)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prepare_input(x)
        for block in self.blocks:
            x = block(x)
        return x

    def trace(self, x: torch.Tensor) -> BNNTrace:
        """Forward pass that also returns the hidden pre-activations (for the hinge regularizer)."""
        x = self.prepare_input(x)
        preacts = []
        for block in self.blocks:
            h = block.preactivation(x)
            y = block.bn(h)
            if block.act is None:
                return BNNTrace(y, preacts)
            preacts.append(h)
            x = block.act(y)
        raise AssertionError("unreachable: the last block is the output block")

    @property
    def hidden_blocks(self) -> list[BNNBlock]:
        """All blocks but the output block."""
        return list(self.blocks)[:-1]

    def hidden_widths(self) -> list[int]:
        """Neurons (channels for a conv) per hidden block."""
        return [int(b.layer.weight.shape[0]) for b in self.hidden_blocks]

    def num_hidden_neurons(self) -> int:
        """Neurons of all layers but the output layer (those of T^b and VAR(Pi))."""
        return sum(self.hidden_widths())

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, in_shape={self.in_shape}, input_max={self.input_max}"


def _prod(shape: Sequence[int]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def build_bnn(
    arch: str,
    in_shape: Sequence[int] = (1, 28, 28),
    num_classes: int | None = None,
    flip: FlipSettings | float | None = None,
    *,
    ste: str = "identity",
    input_max: int = 255,
    kernel_size: int = 3,
    padding: int = 1,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> BNN:
    """Build a :class:`BNN` from paper notation, e.g. ``build_bnn("FC2048-FC2048-10")``.

    ``num_classes`` (optional) must match the string's last number. ``flip`` enables
    flip training (a rate means ``straight_through``). ``seed`` or ``generator`` makes
    the initialization deterministic without touching the global RNG (else torch's
    default init). ``input_max`` is Z, the largest first-layer input.
    """
    specs = parse_arch(arch)
    if num_classes is not None and specs[-1].width != num_classes:
        raise BitrobustError(f"BNN {arch!r} has {specs[-1].width} outputs but num_classes={num_classes}")
    if seed is not None:
        if generator is not None:
            raise BitrobustError("give seed or generator, not both")
        generator = torch.Generator().manual_seed(int(seed))
    model = BNN(specs, in_shape, ste=ste, input_max=input_max, kernel_size=kernel_size, padding=padding, generator=generator)
    if flip is not None:
        set_flip(model, flip)
    return model


def _scale_arch(arch: str, width: float, num_classes: int) -> str:
    specs = parse_arch(arch)
    scaled = [
        s if s.kind == "out" else LayerSpec(s.kind, max(1, int(round(s.width * width))), s.pool) for s in specs
    ]
    scaled[-1] = LayerSpec("out", num_classes)
    return format_arch(scaled)


def _factory(name: str, arch: str, default_shape: tuple[int, int, int]) -> Callable[..., BNN]:
    def factory(
        *,
        num_classes: int = 10,
        in_channels: int = default_shape[0],
        input_size: int = default_shape[1],
        width: float = 1.0,
        generator: torch.Generator | None = None,
        flip: FlipSettings | float | None = None,
        ste: str = "identity",
        input_max: int = 255,
    ) -> BNN:
        return build_bnn(
            _scale_arch(arch, width, num_classes),
            (in_channels, input_size, input_size),
            flip=flip,
            ste=ste,
            input_max=input_max,
            generator=generator,
        )

    factory.__name__ = name
    factory.__doc__ = f"BNN ``{arch}`` (paper 1, Table II); ``width`` scales the hidden widths."
    return factory


#: Factories in the convention of :func:`bitrobust.models.build_model` (keyword-only
#: ``num_classes``, ``in_channels``, ``width``, ``generator``), ready for ``MODELS.add``.
BNN_FACTORIES: dict[str, Callable[..., BNN]] = {
    "bnn_fc": _factory("bnn_fc", BNN_ARCHS["bnn_fc"], (1, 28, 28)),
    "bnn_cnn": _factory("bnn_cnn", BNN_ARCHS["bnn_cnn"], (1, 28, 28)),
    "bnn_cifar": _factory("bnn_cifar", BNN_ARCHS["bnn_cifar"], (3, 32, 32)),
}


def bnn_from_arch(
    *,
    arch: str,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    width: float = 1.0,
    generator: torch.Generator | None = None,
    flip: FlipSettings | float | None = None,
    ste: str = "identity",
    input_max: int = 255,
    kernel_size: int = 3,
    padding: int = 1,
) -> BNN:
    """Any BNN in paper notation, ``build_model("bnn", arch="FC8-FC8-10")`` (Table III nets).

    ``num_classes`` must match the last number of ``arch``; ``width`` (default 1)
    scales the hidden widths. Inputs are ``in_channels`` x ``input_size`` x ``input_size``.
    """
    if width != 1.0:
        arch = _scale_arch(arch, width, num_classes)
    return build_bnn(
        arch,
        (in_channels, input_size, input_size),
        num_classes,
        flip,
        ste=ste,
        input_max=input_max,
        kernel_size=kernel_size,
        padding=padding,
        generator=generator,
    )


# Register in the model registry, so build_model("bnn_fc"), recipes and checkpoints rebuild BNNs.
for _name, _factory_fn in BNN_FACTORIES.items():
    MODELS.add(_name, _factory_fn)
MODELS.add("bnn", bnn_from_arch)


def _bnn_cost(kwargs) -> tuple[ModelCost, float]:
    """Cost of ``bnn`` by its first layer: measured for FC256-FC256-10 (scales ~ width) and
    C16-MP2-C16-MP2-FC512-10 (scales ~ conv width; 0.027 s per step read off the quick bnn-fig2 runs: 3 epochs in
    38 s) on Fashion-MNIST, one CPU thread of the project's 2-core machine; GPU: rough guesses (not measured)."""
    first = str(kwargs.get("arch", "")).split("-")[0]
    width = int("".join(ch for ch in first if ch.isdigit()) or 1)
    if first.startswith("C"):
        return ModelCost(cpu=(0.027, 3.0), gpu=(0.006, 0.15)), width / 16
    return ModelCost(cpu=(0.023, 0.31), gpu=(0.004, 0.05)), width / 256


MODEL_COSTS.add("bnn", _bnn_cost)
