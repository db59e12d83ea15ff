import pytest
import torch
from torch import nn

from bitrobust.bit_errors import ProfiledChip, RandomBitErrors
from bitrobust.evaluation.robustness import evaluate_pass, evaluate_robustness
from bitrobust.evaluation.sources import ProfiledOffsets, RandomChips, TransientReads
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model


class Unseen(nn.Module):
    """Layers the toolkit has no special case for: depthwise Conv1d, LayerNorm, Embedding, int buffers."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.depthwise = nn.Conv1d(6, 6, 3, padding=1, groups=6)
        self.pointwise = nn.Conv1d(6, 8, 1)
        self.norm = nn.LayerNorm(8)
        self.emb = nn.Embedding(5, 8)
        self.head = nn.Linear(8, 3)
        self.register_buffer("token", torch.tensor([2]))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        h = self.pointwise(torch.relu(self.depthwise(x))).mean(-1)
        return self.head(torch.relu(self.norm(h) + self.emb(self.token)))


def toy_data(n=300, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, 10, generator=g)
    y = (x[:, 0].sum(-1) > 0).long() + (x[:, 1].sum(-1) > 2).long()
    return [(x[i : i + 100], y[i : i + 100]) for i in range(0, n, 100)]


def test_unseen_model_evaluates_and_p0_equals_err():
    model, data = Unseen(), toy_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = evaluate_robustness(model, data, FixedPointQuantizer(8), [0.0, 0.01, 0.3], chips=4)
    assert res.rate(0.0).rerr == (res.err,) * 4
    assert res.rate(0.3).mean > res.err  # 30% of the bits flipped ruins the model
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # weights restored
    assert res.n_examples == 300 and res.trials == 4 and res.bits == 8


def test_err_is_the_error_of_the_quantized_model():
    model, data = Unseen(), toy_data()
    q = FixedPointQuantizer(2, "normal")
    res = evaluate_robustness(model, data, q, [], chips=1)
    load_tensors(model, quantize_model(model, q).dequantize())
    assert res.err == evaluate_pass(model.eval(), data).error


def test_rerr_of_a_chip_is_computed_with_that_chips_errors():
    model, data = Unseen(), toy_data()
    q = FixedPointQuantizer(4, "rquant")
    res = evaluate_robustness(model, data, q, [0.05], chips=3)
    state = quantize_model(model, q)
    for chip in range(3):
        noisy = RandomBitErrors(0.05, chip=chip).apply(state.flat_codes(), 4)
        manual = Unseen()
        load_tensors(manual, state.with_flat_codes(noisy).dequantize())
        assert res.rate(0.05).rerr[chip] == evaluate_pass(manual.eval(), data).error


def test_same_chips_same_results_and_sources_differ():
    data = toy_data()
    q = FixedPointQuantizer(8)
    a = evaluate_robustness(Unseen(), data, q, [0.05], chips=5)
    b = evaluate_robustness(Unseen(), data, q, [0.05], chips=RandomChips(5))
    assert a == b
    t = evaluate_robustness(Unseen(), data, q, [0.05], chips=TransientReads(5))
    assert t.source == "transient" and t.rate(0.05).confidence != a.rate(0.05).confidence


def test_profiled_chip_that_inverts_every_bit():
    model, data = Unseen(), toy_data()
    q = FixedPointQuantizer(8)
    always = torch.ones(16, 8)
    source = ProfiledOffsets(ProfiledChip(always, always), offsets=(0, 5))
    res = evaluate_robustness(model, data, q, [source.rate], source)
    state = quantize_model(model, q)
    manual = Unseen()
    load_tensors(manual, state.with_flat_codes(state.flat_codes() ^ 255).dequantize())
    assert res.rate(source.rate).rerr == (evaluate_pass(manual.eval(), data).error,) * 2


def test_result_serializes():
    res = evaluate_robustness(Unseen(), toy_data(), FixedPointQuantizer(8), [0.01], chips=2)
    from bitrobust.evaluation.robustness import RobustnessResult

    assert RobustnessResult.from_dict(res.to_dict()) == res
    summary = res.to_dict()["rates"][0]
    assert summary["rerr_min"] <= summary["rerr_mean"] <= summary["rerr_max"]


def test_bad_rate_is_rejected():
    from bitrobust.errors import BitrobustError

    with pytest.raises(BitrobustError):
        evaluate_robustness(Unseen(), toy_data(), FixedPointQuantizer(8), [1.2], chips=1)


def test_linf_noise_bounds_and_monotone_damage():
    from bitrobust.evaluation.linf import evaluate_linf_noise, linf_noise

    w = {"a": torch.zeros(1000)}
    noisy = linf_noise(w, {"a": 2.0}, 0.1, torch.Generator().manual_seed(0))["a"]
    assert noisy.abs().max() <= 0.2 and noisy.abs().max() > 0.19
    model, data = Unseen(), toy_data()
    res = evaluate_linf_noise(model, data, FixedPointQuantizer(8), [0.0, 0.01, 2.0], trials=3)
    assert res.rate(0.0).rerr == (res.err,) * 3
    assert res.rate(2.0).mean > res.err
    assert res.source == "linf"
