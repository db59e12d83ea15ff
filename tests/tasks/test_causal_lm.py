"""The causal LM task: next-token error and perplexity, -100 ignored, tensor/dict/object outputs, and the
robustness evaluation reporting perplexity per (chip, p) with the same statistics as the error."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.evaluation import evaluate_pass, evaluate_robustness
from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.models import build_model
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model, restored
from bitrobust.tasks import TASKS, CausalLM, token_cross_entropy
from bitrobust.training.strategies import tally


@dataclass
class LMOutput:  # what a Hugging Face CausalLM returns, reduced to what matters
    logits: torch.Tensor
    loss: torch.Tensor | None = None


class ObjectLM(nn.Module):
    """A tiny model returning an object with .logits (the Hugging Face convention)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor) -> LMOutput:
        return LMOutput(self.inner(input_ids))


class DictLM(nn.Module):
    """A tiny model returning a dict with 'logits'."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor) -> dict:
        return {"logits": self.inner(input_ids)}


class Constant(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x) -> torch.Tensor:
        return self.logits


def _model(seed: int = 0) -> nn.Module:
    return build_model("gpt_tiny", num_classes=32, context=16, d_model=16, layers=1, heads=2, seed=seed).eval()


def _batches(seed: int = 0, n: int = 3, ignore_some: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randint(0, 32, (4, 12), generator=g)
        y = torch.randint(0, 32, (4, 12), generator=g)
        if ignore_some:
            y[torch.rand(y.shape, generator=g) < 0.3] = -100
        out.append((x, y))
    return out


def _reference(model: nn.Module, batches) -> tuple[float, float]:
    """(perplexity, next-token error) with plain torch: summed cross-entropy over the non-ignored targets."""
    nll, wrong, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100,
                                         reduction="sum"))
            keep = y != -100
            wrong += int(((logits.argmax(-1) != y) & keep).sum())
            count += int(keep.sum())
    return math.exp(nll / count), wrong / count


def test_registered():
    assert TASKS.get("causal_lm") is CausalLM


def test_clean_perplexity_equals_torch_cross_entropy():
    model, batches = _model(), _batches()
    ppl, err = _reference(model, batches)
    result = evaluate_pass(model, batches, CausalLM())
    assert result.perplexity == pytest.approx(ppl, rel=1e-6)
    assert result.error == pytest.approx(err, abs=0)
    assert result.n == sum(int((y != -100).sum()) for _, y in batches)


def test_perplexity_at_p0_is_the_quantized_models_clean_perplexity():
    model, batches = _model(), _batches()
    quantizer = FixedPointQuantizer(8)
    with restored(model):  # the clean quantized model, computed independently
        load_tensors(model, quantize_model(model, quantizer).dequantize())
        ppl, err = _reference(model, batches)
    result = evaluate_robustness(model, batches, quantizer, rates=[0.0, 0.01], chips=3, task=CausalLM())
    assert result.perplexity == pytest.approx(ppl, rel=1e-6) and result.err == pytest.approx(err, abs=0)
    at0 = result.rate(0.0)
    assert at0.perplexity == pytest.approx((ppl,) * 3, rel=1e-6)
    # statistics over chips: the same as for the error
    r = result.rate(0.01)
    s = r.summary()
    assert len(r.perplexity) == 3 and s["perplexity_mean"] == pytest.approx(sum(r.perplexity) / 3)
    assert s["perplexity_min"] == min(r.perplexity) and s["perplexity_max"] == max(r.perplexity)
    assert s["perplexity_std"] == pytest.approx(statistics.pstdev(r.perplexity), rel=1e-9)
    # each chip's perplexity is that chip's own pass, computed independently
    from bitrobust.evaluation import RandomChips

    state = quantize_model(model, quantizer)
    with restored(model):
        load_tensors(model, state.with_errors(RandomChips(3).errors(1, 0.01)).dequantize())
        ppl1, _ = _reference(model, batches)
    assert r.perplexity[1] == pytest.approx(ppl1, rel=1e-6)
    assert RobustnessResult.from_dict(result.to_dict()) == result  # the JSON round trip keeps them


def test_ignored_targets_are_not_scored():
    logits = torch.log_softmax(torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(1)), -1)
    y = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(2))
    masked = y.clone()
    masked[:, 3:] = -100
    full, part = CausalLM().score(logits, y), CausalLM().score(logits, masked)
    assert part.count == 6 and full.count == 10
    by_hand = -float(logits[:, :3].gather(-1, y[:, :3, None]).sum())
    assert part.nll == pytest.approx(by_hand, rel=1e-6)
    # changing the logits at ignored positions changes nothing
    other = logits.clone()
    other[:, 3:] = 100.0
    assert CausalLM().score(other, masked).nll == pytest.approx(part.nll, rel=1e-6)


def test_tensor_dict_and_object_outputs_score_alike():
    inner = _model()
    batches = _batches(ignore_some=False)
    plain = evaluate_pass(inner, batches, CausalLM())
    obj = evaluate_pass(ObjectLM(inner), [({"input_ids": x}, y) for x, y in batches], CausalLM())
    as_dict = evaluate_pass(DictLM(inner), [{"input_ids": x, "labels": y} for x, y in batches], CausalLM())
    assert obj.perplexity == plain.perplexity == as_dict.perplexity and obj.error == plain.error == as_dict.error


def test_object_output_under_bit_errors():
    inner = _model()
    batches = [({"input_ids": x}, y) for x, y in _batches()]
    a = evaluate_robustness(ObjectLM(inner), batches, FixedPointQuantizer(8), rates=[0.05], chips=2, task=CausalLM())
    b = evaluate_robustness(inner, [(x["input_ids"], y) for x, y in batches], FixedPointQuantizer(8), rates=[0.05],
                            chips=2, task=CausalLM())
    assert a.perplexity == b.perplexity and a.rate(0.05).perplexity == b.rate(0.05).perplexity


def test_shift_scores_hugging_face_labels():
    logits = torch.randn(2, 6, 9, generator=torch.Generator().manual_seed(3))
    ids = torch.randint(0, 9, (2, 6), generator=torch.Generator().manual_seed(4))
    shifted = CausalLM(shift=True).score(logits, ids)
    aligned = CausalLM().score(logits[:, :-1], ids[:, 1:])
    assert (shifted.count, shifted.wrong, shifted.nll) == (aligned.count, aligned.wrong, aligned.nll)


def test_non_finite_logits_are_wrong_with_infinite_nll():
    logits = torch.zeros(1, 2, 3)
    logits[0, 1, 0] = float("nan")
    score = CausalLM().score(logits, torch.tensor([[0, 0]]))
    assert score.wrong == 1 and score.nll == math.inf
    assert evaluate_pass(Constant(logits), [(torch.zeros(1), torch.tensor([[0, 0]]))], CausalLM()).perplexity == math.inf


def test_bad_shapes_and_targets_are_one_line_errors():
    with pytest.raises(BitrobustError, match=r"\[N, T, V\]"):
        CausalLM().score(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(BitrobustError, match="do not match"):
        CausalLM().score(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(BitrobustError, match="vocabulary"):
        CausalLM().score(torch.zeros(1, 2, 4), torch.tensor([[1, 4]]))


def test_training_loss_and_tally_ignore_targets():
    logits = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([[1, 2, -100, 0], [-100, -100, 3, 4]])
    keep = y != -100
    expected = F.cross_entropy(logits[keep], y[keep])
    assert float(token_cross_entropy(logits, y)) == pytest.approx(float(expected), rel=1e-6)
    right, n = tally(logits, y)
    assert n == 5 and right == int((logits[keep].argmax(-1) == y[keep]).sum())
