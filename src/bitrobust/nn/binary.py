"""Binary layers: +-1 weights and activations with straight-through gradients.

Following Hubara et al. as summarized in paper 2 (Sec. II-B), latent float weights in
[-1, 1] are binarized in the forward pass with b(x) = +1 if x > 0 else -1, and the
backward pass treats b as the identity (paper 2, Eq. 1) or, optionally, as hard-tanh
(gradient 1{|x| <= 1}). After every optimizer step the latent weights are clipped to
[-1, 1] (:func:`clip_latent_weights`). Batch norm follows every layer; its eval-mode
arithmetic is fixed elementwise (:class:`FoldableBatchNorm1d`) so that BN + sign folds
into an integer threshold that agrees bit-exactly with the float simulation
(:mod:`bitrobust.nn.integer`).

The first layer does not binarize its input: it receives integer-valued pixels
x in {0, ..., Z} (e.g. uint8 MNIST as floats 0..255, Z = 255), so its pre-activation
sum_j x_j B(W)_j is an exact integer in float32 (|h| <= fan_in * Z < 2^24) and integer
inference can reproduce it. Binarized activations are produced by :class:`SignActivation`
after the batch norm, and the next binary layer consumes them unchanged.

Model-level helpers act on every binary layer of any model: :func:`binary_layers`,
:func:`set_flip` / :func:`clear_flip` (flip training, :mod:`bitrobust.nn.flip`),
:func:`clip_latent_weights`, and the binary weight memory (:func:`binary_weight_names`,
:func:`binary_weight_codes`: one bit per weight, 1 for +1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.nn.flip import FlipSettings, flip_weights
from bitrobust.registry import Registry

STE_MODES: Registry[bool] = Registry("straight-through estimator")
STE_MODES.add("identity", False)  # paper 2, Eq. 1: grad_X = grad_Y
STE_MODES.add("htanh", True)  # hard-tanh variant: grad_X = grad_Y * 1{|X| <= 1}


def binarize(x: torch.Tensor) -> torch.Tensor:
    """b(x) = +1 if x > 0 else -1, elementwise (no gradient). Note b(0) = -1.

    >>> binarize(torch.tensor([-2.0, 0.0, 0.3])).tolist()
    [-1.0, -1.0, 1.0]
    """
    return torch.where(x > 0, 1.0, -1.0).to(x.dtype)


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, htanh: bool) -> torch.Tensor:  # type: ignore[override]
        if htanh:
            ctx.save_for_backward(x)
        ctx.htanh = htanh
        return binarize(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        if ctx.htanh:
            (x,) = ctx.saved_tensors
            grad = grad * (x.abs() <= 1).to(grad.dtype)
        return grad, None  # straight through: pretend b is the identity (paper 2, Eq. 1)


def sign_ste(x: torch.Tensor, ste: str = "identity") -> torch.Tensor:
    """B(x) in the forward pass; straight-through gradient ``ste`` (identity or htanh) backward.

    >>> x = torch.tensor([-2.0, 0.5], requires_grad=True)
    >>> sign_ste(x, "htanh").sum().backward()
    >>> x.grad.tolist()
    [0.0, 1.0]
    """
    return _SignSTE.apply(x, STE_MODES.get(ste))


class BinaryLayer(nn.Module):
    """Base of binary layers: binarized weights B(W), optional flips.

    ``flip`` (a :class:`~bitrobust.nn.flip.FlipSettings`) and ``flip_generator`` are set
    by :func:`set_flip`; neither is part of the ``state_dict``. :meth:`linear` is the
    layer's linear map with any given weight (float arithmetic), so that integer-valued
    +-1 weights held elsewhere compute exactly what the layer computes.
    """

    weight: nn.Parameter

    def _init_binary(self, ste: str, first: bool) -> None:
        STE_MODES.get(ste)  # validates the name
        self.ste = ste
        self.first = first  # first layer: integer inputs 0..Z, not binarized
        self.flip: FlipSettings | None = None
        self.flip_generator: torch.Generator | None = None

    def effective_binary_weight(self) -> torch.Tensor:
        """The +-1 weights the layer computes with: B(W) (straight-through), then E_p if flipping."""
        wb = sign_ste(self.weight, self.ste)
        if self.flip is not None and self.flip.active(self.training):
            wb = flip_weights(wb, self.flip, self.flip_generator)
        return wb

    def linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's linear map of ``x`` with ``weight`` in place of its own (no bias)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x, self.effective_binary_weight())

    def reset_parameters(self) -> None:
        """Uniform init from the constructor's generator (global RNG without one, never reseeded)."""
        _uniform_init(self.weight, self.__dict__.get("_init_generator"))

    def _binary_extra_repr(self) -> str:
        extra = f", ste={self.ste}, first={self.first}"
        if self.flip is not None:
            extra += f", flip={self.flip}"
        return extra


def _uniform_init(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """Latent weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's default bound for Linear/Conv)."""
    bound = 1.0 / max(1, weight[0].numel()) ** 0.5
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


class BinaryLinear(BinaryLayer, nn.Linear):
    """Fully connected layer h = B(W) x (no bias; the following batch norm shifts).

    >>> layer = BinaryLinear(3, 2, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(layer(torch.ones(1, 3)), torch.ones(1, 3) @ binarize(layer.weight).t())
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        ste: str = "identity",
        first: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        object.__setattr__(self, "_init_generator", generator)  # read by reset_parameters
        nn.Linear.__init__(self, in_features, out_features, bias=False)
        self._init_binary(ste, first)
        self.__dict__.pop("_init_generator")

    def linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.linear(x, weight)

    def extra_repr(self) -> str:
        return nn.Linear.extra_repr(self) + self._binary_extra_repr()


class BinaryConv2d(BinaryLayer, nn.Conv2d):
    """2-d convolution h = B(W) * x with zero padding (padded inputs contribute 0), no bias.

    >>> BinaryConv2d(1, 4)(torch.ones(2, 1, 5, 5)).shape
    torch.Size([2, 4, 5, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        *,
        ste: str = "identity",
        first: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        object.__setattr__(self, "_init_generator", generator)  # read by reset_parameters
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self._init_binary(ste, first)
        self.__dict__.pop("_init_generator")

    def linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, weight, None)

    def extra_repr(self) -> str:
        return nn.Conv2d.extra_repr(self) + self._binary_extra_repr()


class _FoldableBatchNorm:
    """Batch norm whose eval mode computes y = (h - mean) * scale + beta, scale = gamma / sqrt(var + eps).

    Training mode is the ordinary batch norm (batch statistics, running averages). In
    eval mode the three elementwise operations are separate, correctly rounded tensor
    operations, so y depends only on h and the channel, not on the tensor's shape or
    on a kernel's vectorization; :func:`bitrobust.nn.integer.fold_batchnorm` evaluates
    this very function to find each neuron's integer threshold.
    """

    def eval_scale(self) -> torch.Tensor:
        """scale = gamma / sqrt(var + eps) per channel (gamma = 1 without affine)."""
        inv = torch.rsqrt(self.running_var + self.eps)  # type: ignore[attr-defined]
        return inv if self.weight is None else self.weight * inv  # type: ignore[attr-defined]

    def eval_affine(self, h: torch.Tensor) -> torch.Tensor:
        """y = (h - running_mean) * scale + beta with channels on dim 1."""
        shape = (1, -1) + (1,) * (h.dim() - 2)
        y = (h - self.running_mean.view(shape)) * self.eval_scale().view(shape)  # type: ignore[attr-defined]
        if self.bias is not None:  # type: ignore[attr-defined]
            y = y + self.bias.view(shape)  # type: ignore[attr-defined]
        return y

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.training or self.running_mean is None:  # type: ignore[attr-defined]
            return super().forward(h)  # type: ignore[misc]
        return self.eval_affine(h)


class FoldableBatchNorm1d(_FoldableBatchNorm, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` with the fixed eval arithmetic of :class:`_FoldableBatchNorm`."""


class FoldableBatchNorm2d(_FoldableBatchNorm, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` with the fixed eval arithmetic of :class:`_FoldableBatchNorm`."""


FOLDABLE_BATCHNORMS = (FoldableBatchNorm1d, FoldableBatchNorm2d)


class SignActivation(nn.Module):
    """Binary activation B(y) (b(0) = -1) with a straight-through gradient.

    >>> SignActivation()(torch.tensor([0.0, 2.0])).tolist()
    [-1.0, 1.0]
    """

    def __init__(self, ste: str = "identity") -> None:
        super().__init__()
        STE_MODES.get(ste)
        self.ste = ste

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return sign_ste(y, self.ste)

    def extra_repr(self) -> str:
        return f"ste={self.ste}"


# ----------------------------------------------------------------------------- model level


def binary_layers(model: nn.Module) -> list[tuple[str, BinaryLayer]]:
    """(name, layer) of every binary layer, in ``named_modules()`` = weight memory order.

    >>> [name for name, _ in binary_layers(nn.Sequential(BinaryLinear(4, 3), nn.ReLU(), BinaryLinear(3, 2)))]
    ['0', '2']
    """
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BinaryLayer)]


def _require_binary_layers(model: nn.Module) -> list[tuple[str, BinaryLayer]]:
    layers = binary_layers(model)
    if not layers:
        raise BitrobustError(f"{type(model).__name__} has no binary layers")
    return layers


def set_flip(
    model: nn.Module,
    p: float | FlipSettings | None,
    mode: str = "straight_through",
    generator: torch.Generator | None = None,
    training_only: bool = True,
) -> None:
    """Enable flip training at rate ``p`` on every binary layer (``p=None`` or 0 clears it).

    All layers share ``generator`` (a fresh mask per layer per forward pass); without
    one the global torch RNG is used (never reseeded).

    >>> layer = BinaryLinear(4, 3)
    >>> set_flip(layer, 0.1, "native")
    >>> layer.flip
    FlipSettings(p=0.1, mode='native', training_only=True)
    """
    settings = p if isinstance(p, FlipSettings) else (
        None if p is None else FlipSettings(float(p), mode, training_only)
    )
    if settings is not None and settings.p == 0.0:
        settings = None
    for _, layer in _require_binary_layers(model):
        layer.flip = settings
        layer.flip_generator = generator if settings is not None else None


def clear_flip(model: nn.Module) -> None:
    """Disable flips on every binary layer."""
    set_flip(model, None)


@torch.no_grad()
def clip_latent_weights(model: nn.Module, bound: float = 1.0) -> None:
    """Clip the latent float weights of every binary layer to [-bound, bound] (after each step).

    >>> layer = BinaryLinear(2, 1)
    >>> _ = layer.weight.data.copy_(torch.tensor([[3.0, -0.5]]))
    >>> clip_latent_weights(layer)
    >>> layer.weight.tolist()
    [[1.0, -0.5]]
    """
    if not bound > 0:
        raise BitrobustError(f"clip bound must be > 0, got {bound}")
    for _, layer in binary_layers(model):
        layer.weight.clamp_(-bound, bound)


def binary_weight_names(model: nn.Module) -> list[str]:
    """Parameter names (``named_parameters()``) of the binarized weights, in memory order.

    >>> binary_weight_names(nn.Sequential(BinaryLinear(4, 3), FoldableBatchNorm1d(3)))
    ['0.weight']
    """
    return [f"{name}.weight" if name else "weight" for name, _ in _require_binary_layers(model)]


@torch.no_grad()
def binary_weight_codes(model: nn.Module) -> list[torch.Tensor]:
    """Per binary layer, its binarized weights B(W) as flat uint8 codes: 1 for +1, 0 for -1.

    Codes are row-major over the weight tensor (``weight.reshape(-1)``) and the list is
    in ``named_parameters()`` order, so concatenating them gives the memory image of
    the binary weights (1 bit per word); flips are not included.

    >>> layer = BinaryLinear(2, 2)
    >>> _ = layer.weight.data.copy_(torch.tensor([[0.5, -0.2], [0.0, 1.0]]))
    >>> binary_weight_codes(layer)[0].tolist()  # b(0) = -1 is the word 0
    [1, 0, 0, 1]
    """
    return [signs_to_codes(binarize(layer.weight)) for _, layer in _require_binary_layers(model)]


def signs_to_codes(signs: torch.Tensor) -> torch.Tensor:
    """Flat uint8 codes of +-1 values: +1 -> 1, -1 -> 0.

    >>> signs_to_codes(torch.tensor([[1.0, -1.0], [-1.0, 1.0]])).tolist()
    [1, 0, 0, 1]
    """
    return (signs.reshape(-1) > 0).to(torch.uint8)
