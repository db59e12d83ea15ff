"""A small causal transformer language model (GPT style) for byte-level text on a CPU.

Not from the papers: it brings a language model into the quantize -> inject -> train ->
evaluate loop (contract 7). ``gpt_tiny`` embeds byte tokens and learned positions, runs
``layers`` pre-norm blocks -- causal multi-head self-attention through
``torch.nn.functional.scaled_dot_product_attention`` and a 4x GELU MLP, each with a residual
connection -- and a final LayerNorm and an untied linear head to ``num_classes`` (the
vocabulary, 256 bytes) logits per position, ``[N, T, V]``. Every parameter (embeddings, norms,
attention, MLP, head) is stored in the quantized weight memory.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost, scaled


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + causal mask) V per head, then an output projection."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)) (pre-norm residual block)."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Token ids ``[N, T]`` (T <= ``context``) -> logits ``[N, T, vocab]``.

    >>> model = TinyGPT(vocab=256, context=16, d_model=32, layers=1, heads=2)
    >>> model(torch.zeros(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 256])
    """

    def __init__(self, vocab: int, context: int, d_model: int, layers: int, heads: int) -> None:
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.Sequential(*(Block(d_model, heads) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[-1]
        if t > self.context:
            raise BitrobustError(f"a sequence of {t} tokens is longer than the model's context of {self.context}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        return self.head(self.ln_f(self.blocks(x)))


def _init(model: TinyGPT, layers: int, generator: torch.Generator | None) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights, zero biases, residual projections scaled by 1/sqrt(2 layers)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0 if name.endswith("weight") else 0.0)  # LayerNorm: scale 1, shift 0
            elif name.endswith("bias"):
                p.zero_()
            else:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("attn.proj.weight", "mlp.2.weight")) else 0.02
                p.normal_(0.0, std, generator=generator)


@MODELS.register("gpt_tiny")
def gpt_tiny(
    *,
    num_classes: int = 256,
    context: int = 256,
    d_model: int = 128,
    layers: int = 3,
    heads: int = 4,
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> TinyGPT:
    """A ``layers``-block causal transformer of width ``d_model`` (times ``width``, a multiple of ``heads``)
    over ``num_classes`` tokens with a context of ``context`` positions (see the module docstring)."""
    d = heads * scaled(d_model // heads, width)
    if d_model % heads:
        raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
    model = TinyGPT(num_classes, context, d, layers, heads)
    _init(model, layers, generator)
    return model


# CPU: measured on the project's shared 2-core machine, one thread, CPU seconds (d=128, 3 blocks: a training step
# of 32 x 128 bytes; a pass over 10,000 blocks of 128 bytes); GPU: rough guesses (not measured).
MODEL_COSTS.add("gpt_tiny", lambda kwargs: (ModelCost(cpu=(0.28, 40.0), gpu=(0.005, 0.3)),
                                            float(kwargs.get("width", 1.0)) ** 2 * int(kwargs.get("layers", 3)) / 3))
