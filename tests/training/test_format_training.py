"""Training with number formats (contract 5): QAT, clipping and RandBET with int4_g128 and bf16."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.config import from_dict, to_dict
from bitrobust.errors import BitrobustError
from bitrobust.formats import get_format
from bitrobust.quantization import quantize_model
from bitrobust.training import STRATEGIES, QuantSection, StepContext, StrategySection, TrainConfig

FORMATS = ("int4_g128", "bf16")


def run_steps(name, fmt, params=None, clip=None, steps=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 200), nn.ReLU(), nn.Linear(200, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    ctx = StepContext(model, optimizer, loss_fn=partial(F.cross_entropy), quant=QuantSection(format=fmt),
                      total_steps=steps)
    strategy = STRATEGIES.get(name)(StrategySection(name=name, clip_w_max=clip, params=params or {}))
    strategy.setup(ctx)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        strategy.train_step(x, y, step)
        ctx.update()
        strategy.after_step()
    return model, ctx, strategy, before


@pytest.mark.parametrize("fmt", FORMATS)
def test_qat_forward_uses_the_format(fmt):
    model, ctx, strategy, before = run_steps("normal", fmt)
    assert ctx.quantizer.bits == get_format(fmt).bits
    weights = strategy.quantized_weights()
    state = quantize_model(model, get_format(fmt))
    for name, w in weights.items():
        torch.testing.assert_close(w, state.tensors[name].dequantize())  # w + (Q^-1(Q(w)) - w).detach()
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before))


@pytest.mark.parametrize("fmt", FORMATS)
def test_clipping_with_formats(fmt):
    model, *_ = run_steps("normal", fmt, clip=0.05)
    assert all(float(p.detach().abs().max()) <= float(torch.tensor(0.05)) for p in model.parameters())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["randbet", "alternating_randbet", "pattbet"])
def test_randbet_family_trains_with_formats(fmt, name):
    params = {"p": 0.05} if name != "pattbet" else {"p": 0.05, "chip": 1}
    model, ctx, strategy, before = run_steps(name, fmt, params=params)
    metrics = strategy.metrics()
    assert metrics["perturbed_fraction"] == 1.0
    assert all(torch.isfinite(p).all() for p in model.parameters())  # non-finite perturbed passes are skipped
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    if fmt == "bf16":  # at 5%, sign/exponent flips make inf/NaN outputs: those passes give no gradient
        assert 0.0 < metrics.get("perturbed_nonfinite", 0.0) <= 1.0


def test_quant_format_leaves_config_dicts_and_hashes_alone():
    plain = to_dict(TrainConfig())
    assert "format" not in plain["quant"]
    assert to_dict(from_dict(TrainConfig, {"quant": {"format": "bf16"}}))["quant"]["format"] == "bf16"
    with pytest.raises(BitrobustError, match="unknown number format 'bf61'"):
        QuantSection(format="bf61")
    with pytest.raises(BitrobustError, match="no overrides"):
        QuantSection(format="bf16", overrides={"rounding": "trunc"})


def test_checkpoint_quant_records_the_format():
    _, _, strategy, _ = run_steps("normal", "int4_g128", steps=1)
    assert strategy.checkpoint_quant() == {"bits": 4, "scheme": "rquant", "overrides": {}, "exclude": [],
                                           "format": "int4_g128"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_robust_training_takes_a_format_name(fmt):
    """``RobustTraining(..., quant="bf16")`` trains through the format, as ``QuantSection(format=...)`` does."""
    from bitrobust import RobustTraining

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 200), nn.ReLU(), nn.Linear(200, 3))
    robust = RobustTraining(model, torch.optim.SGD(model.parameters(), lr=0.05), "normal", quant=fmt)
    assert robust.context.quant == QuantSection(format=fmt) and robust.context.quantizer.bits == get_format(fmt).bits
    robust.step(torch.randn(8, 6), torch.randint(0, 3, (8,)))
    with pytest.raises(BitrobustError, match="int4_g128"):
        RobustTraining(model, torch.optim.SGD(model.parameters(), lr=0.05), "normal", quant="int4_g12")
