"""inject / faulty_copy: the faulty weights are the evaluation's, and the model always comes back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitrobust import FixedPointQuantizer, RandomBitErrors, evaluate_robustness, faulty_copy, inject
from bitrobust.evaluation import evaluate_pass
from bitrobust.quantization import quantize_model


def _model_and_data():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).eval()
    x = torch.randn(64, 8, generator=g)
    return model, [(x[:32], torch.randint(0, 3, (32,), generator=g)), (x[32:], torch.randint(0, 3, (32,), generator=g))]


def test_inject_loads_exactly_the_words_read_through_the_chip_and_restores():
    model, data = _model_and_data()
    q, errors = FixedPointQuantizer(4), RandomBitErrors(0.05, chip=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    expected = quantize_model(model, q).with_errors(errors).dequantize()
    with inject(model, q, errors) as faulty:
        assert faulty is model
        for name, p in model.named_parameters():
            assert torch.equal(p, expected[name])
        rerr = evaluate_pass(model, data).error
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the same number as chip 2 of a robustness sweep from chip 2 on
    from bitrobust.evaluation import RandomChips

    assert evaluate_robustness(model, data, q, [0.05], RandomChips(1, first=2)).rate(0.05).rerr == (rerr,)


def test_inject_restores_the_model_when_the_block_raises():
    model, _ = _model_and_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    with pytest.raises(RuntimeError):
        with inject(model, FixedPointQuantizer(8), RandomBitErrors(0.5, chip=0)):
            model.eval()
            raise RuntimeError("boom")
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_faulty_copy_leaves_the_model_alone():
    model, _ = _model_and_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q, errors = FixedPointQuantizer(8), RandomBitErrors(0.1, chip=1)
    copy = faulty_copy(model, q, errors)
    assert copy is not model and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with inject(model, q, errors):
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), copy.parameters()))
    clean = faulty_copy(model, q, None)  # no errors: the quantized weights
    expected = quantize_model(model, q).dequantize()
    assert all(torch.equal(p, expected[n]) for n, p in clean.named_parameters())
