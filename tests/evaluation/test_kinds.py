"""The evaluation hooks experiments need: batch statistics at test time (Tab. 10), weight scaling
(Tab. 11) and the weight statistics of Fig. 10."""

from __future__ import annotations

import pytest
import torch

from bitrobust.evaluation import RandomChips, evaluate_robustness
from bitrobust.evaluation.sweep import scale_weights
from bitrobust.evaluation.weights import relative_logit_error, weight_statistics
from bitrobust.models import build_model
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model


def _data(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g)
    return [(x[:32], torch.randint(0, 10, (32,), generator=g)), (x[32:], torch.randint(0, 10, (32,), generator=g))]


def test_batch_statistics_at_test_time_uses_batch_stats_and_restores_running_stats():
    model = build_model("cnn_small", seed=0, channels=[4, 8], norm="rbn").eval()
    with torch.no_grad():  # accumulated statistics far from the batch statistics
        for m in model.modules():
            if hasattr(m, "running_mean"):
                m.running_mean.fill_(3.0)
                m.running_var.fill_(0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = _data()
    q = FixedPointQuantizer(8, "rquant")
    acc = evaluate_robustness(model, data, q, [0.01], RandomChips(2))
    batch = evaluate_robustness(model, data, q, [0.01], RandomChips(2), batch_stats=True)
    assert batch.err != acc.err or batch.confidence != acc.confidence
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.modules())  # eval mode restored, norms included


def test_scaling_conv_and_linear_weights_keeps_predictions():
    model = build_model("cnn_small", seed=0, channels=[4, 8]).eval()
    x = _data()[0][0]
    with torch.no_grad():
        logits = model(x)
    s = scale_weights(model, 0.25)
    largest = max(float(p.detach().abs().max()) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                  for p in m.parameters())
    assert largest == pytest.approx(0.25)
    with torch.no_grad():
        scaled = model(x)
    assert torch.allclose(scaled, s * logits, rtol=1e-3, atol=1e-4)  # GN undoes the scale; logits scale by s
    assert torch.equal(scaled.argmax(1), logits.argmax(1))


def test_weight_statistics():
    model = build_model("cnn_small", seed=0, channels=[4, 8]).eval()
    stats = weight_statistics(model, _data(), w_max=None)
    names = [t["name"] for t in stats["tensors"]]
    assert names == [n for n, _ in model.named_parameters()]
    kinds = {t["name"]: t["kind"] for t in stats["tensors"]}
    assert kinds["conv1.weight"] == "conv" and kinds["classifier.bias"] == "linear" and kinds["norm1.bias"] == "norm"
    w = model.conv1.weight.detach().abs()
    conv1 = next(t for t in stats["tensors"] if t["name"] == "conv1.weight")
    assert conv1["weight_relevance"] == pytest.approx(float(w.sum() / w.max()), rel=1e-5)
    assert sum(conv1["hist"]) == w.numel()
    assert not stats["reference_is_w_max"] and stats["reference"] == pytest.approx(stats["max_abs"])
    assert 0.0 < stats["relu_relevance"] < 1.0  # some but not all ReLU outputs of the last ReLU are > 0
    clipped = weight_statistics(model, _data(), w_max=10.0)
    assert clipped["reference"] == 10.0 and clipped["reference_is_w_max"]


def _relative_error(model, p, chips=3):
    state = quantize_model(model, FixedPointQuantizer(8, "rquant"))
    load_tensors(model, state.dequantize())
    return relative_logit_error(model, state, _data(), RandomChips(chips), p), state


def test_relative_logit_error_is_scale_invariant_grows_with_p_and_restores_the_weights():
    model = build_model("cnn_small", seed=0, channels=[4, 8]).eval()
    low, _ = _relative_error(model, 0.001)
    high, state = _relative_error(model, 0.05)
    assert len(high) == 3 and all(h > 0 for h in high)
    assert sum(low) < sum(high)  # chips at p' < p flip a subset of the bits
    clean = state.dequantize()
    assert all(torch.equal(p, clean[n]) for n, p in model.named_parameters() if n in clean)
    # GN undoes a global scale of the conv weights and the logits scale with it: same relative error
    largest = max(float(p.detach().abs().max()) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                  for p in m.parameters())
    scale_weights(model, largest / 2)  # exact in floating point, so the same codes
    halved, _ = _relative_error(model, 0.05)
    assert halved == pytest.approx(high, rel=1e-3)


class _DictModel(torch.nn.Module):
    """A model taking keyword inputs and returning a dict with ``logits`` (as Hugging Face models do)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, pixel_values):
        return {"logits": self.inner(pixel_values)}


def test_weight_kinds_take_dict_batches_and_dict_outputs():
    """Contract 7: the weights and logits kinds split batches by the task, so dict batches into a model with keyword
    inputs and dict outputs give exactly the numbers of (x, y) batches into the plain model."""
    from bitrobust.evaluation.logits import logit_distributions
    from bitrobust.tasks import Classification

    model = build_model("cnn_small", seed=0, channels=[4, 8]).eval()
    wrapped = _DictModel(model).eval()
    task = Classification(target_key="labels")
    dict_data = [{"pixel_values": x, "labels": y} for x, y in _data()]
    q = FixedPointQuantizer(8, "rquant")
    plain = logit_distributions(model, _data(), q, [0.05], chips=2)
    assert logit_distributions(wrapped, dict_data, q, [0.05], chips=2, task=task) == plain
    state = quantize_model(model, q)
    load_tensors(model, state.dequantize())
    rae = relative_logit_error(model, state, _data(), RandomChips(2), 0.05)
    wrapped_state = quantize_model(wrapped, q)
    assert relative_logit_error(wrapped, wrapped_state, dict_data, RandomChips(2), 0.05, task) == pytest.approx(rae)
    relu = weight_statistics(model, _data(), None)["relu_relevance"]
    assert weight_statistics(wrapped, dict_data, None, task)["relu_relevance"] == relu
