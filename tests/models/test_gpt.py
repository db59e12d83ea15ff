"""gpt_tiny: a registered causal transformer whose logit at position t sees only tokens 0..t."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bitrobust.errors import BitrobustError
from bitrobust.models import MODELS, build_model, check_model, count_weights
from bitrobust.models.base import model_cost


def _tiny(**kw):
    return build_model("gpt_tiny", **{"num_classes": 256, "context": 16, "d_model": 32, "layers": 2, "heads": 4, "seed": 0, **kw}).eval()


def test_registered_with_cost():
    assert "gpt_tiny" in MODELS.names()
    cost, size = model_cost("gpt_tiny", {"layers": 6})
    assert cost.cpu is not None and size == 2.0


def test_causal_and_shaped():
    model = _tiny()
    x = torch.randint(0, 256, (2, 10), generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.shape == (2, 10, 256)
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 256
    out2 = model(changed)
    assert torch.allclose(out[:, :6], out2[:, :6], atol=1e-6) and not torch.allclose(out[:, 6:], out2[:, 6:])


def test_attention_matches_an_explicit_causal_softmax():
    model = _tiny(layers=1)
    attn = model.blocks[0].attn
    x = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(1))
    q, k, v = attn.qkv(x).view(1, 5, 3, 4, 8).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / 8 ** 0.5
    scores = scores.masked_fill(torch.triu(torch.ones(5, 5, dtype=torch.bool), 1), float("-inf"))
    y = (F.softmax(scores, -1) @ v).transpose(1, 2).reshape(1, 5, 32)
    assert torch.allclose(attn(x), attn.proj(y), atol=1e-5)


def test_seeded_and_checked():
    a, b = _tiny(), _tiny()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert check_model("gpt_tiny", num_classes=256, d_model=32, heads=4, layers=1, context=8) == count_weights(_tiny(layers=1, context=8))
    with pytest.raises(BitrobustError, match="cannot be built"):
        check_model("gpt_tiny", d_model=30, heads=4)
    with pytest.raises(BitrobustError, match="context"):
        _tiny()(torch.zeros(1, 17, dtype=torch.long))
