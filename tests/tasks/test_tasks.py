"""Tasks (contract 7): batches as pairs or dicts, outputs as tensors or with logits, token-level
scores with ignored targets, non-finite outputs, user callables; any re-iterable of batches."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bitrobust import CustomTask, FixedPointQuantizer, evaluate_robustness
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import evaluate_pass
from bitrobust.tasks import Classification


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(0, 4, (n,), generator=g)


def _model():
    with torch.random.fork_rng():  # a fixed model; the global RNG is left as it was
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4)).eval()


class DictModel(nn.Module):
    """A Hugging Face style model: keyword inputs, an output object with ``logits``."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None):
        assert attention_mask is not None
        return SimpleNamespace(logits=self.inner(input_ids))


def test_dict_batches_and_logits_objects_give_the_same_numbers_as_pairs():
    x, y = _data()
    model = _model()
    pairs = [(x[:24], y[:24]), (x[24:], y[24:])]
    dicts = [{"input_ids": a, "attention_mask": torch.ones(len(a)), "labels": b} for a, b in pairs]
    q = FixedPointQuantizer(4)
    ref = evaluate_robustness(model, pairs, q, [0.01, 0.1], 3)
    got = evaluate_robustness(DictModel(model), dicts, q, [0.01, 0.1], 3)
    assert got.err == ref.err and [r.rerr for r in got.rates] == [r.rerr for r in ref.rates]
    keyed = [{"x": a, "y": b} for a, b in pairs]
    assert evaluate_pass(model, keyed, Classification(target_key="y", input_key="x")) == evaluate_pass(model, pairs)


def test_a_torch_dataloader_is_a_re_iterable_of_batches_but_a_generator_is_not():
    x, y = _data()
    model = _model()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    q = FixedPointQuantizer(8)
    assert evaluate_robustness(model, loader, q, [0.05], 2).rate(0.05).rerr == \
        evaluate_robustness(model, list(loader), q, [0.05], 2).rate(0.05).rerr
    with pytest.raises(BitrobustError, match="re-iterable"):
        evaluate_robustness(model, ((a, b) for a, b in loader), q, [0.05], 2)


def test_token_level_scores_ignore_minus_100():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [5.0, 0.0]],
                           [[0.0, 1.0], [1.0, 0.0], [0.0, 3.0]]])  # [N=2, T=3, V=2]
    targets = torch.tensor([[0, 0, -100], [1, -100, 0]])
    score = Classification().score(logits, targets)
    p2, p1 = math.exp(2) / (1 + math.exp(2)), math.exp(1) / (1 + math.exp(1))
    assert (score.count, score.wrong) == (4, 2)  # right: (0,0), (1,0); wrong: (0,1), (1,2)
    assert score.confidence == pytest.approx(2 * p2 + p1 + math.exp(3) / (1 + math.exp(3)))


def test_non_finite_logits_count_as_wrong_with_zero_confidence():
    logits = torch.tensor([[5.0, 0.0], [float("nan"), 0.0], [float("inf"), 0.0]])
    score = Classification().score(logits, torch.tensor([0, 0, 0]))
    assert (score.count, score.wrong) == (3, 2)
    assert score.confidence == pytest.approx(math.exp(5) / (1 + math.exp(5)))


def test_mismatched_shapes_and_bad_batches_are_clear_errors():
    with pytest.raises(BitrobustError, match="do not match the targets"):
        Classification().score(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(BitrobustError, match="target key 'labels'"):
        Classification().split({"x": torch.zeros(1)})
    with pytest.raises(BitrobustError, match="pair or a dict"):
        Classification().split((torch.zeros(1),))


def test_a_custom_task_scores_with_the_users_function():
    x, y = _data()
    model = _model()
    top2 = CustomTask(lambda out, t: ((out.topk(2, dim=1).indices == t[:, None]).any(dim=1), None))
    top1 = evaluate_pass(model, [(x, y)])
    loose = evaluate_pass(model, [(x, y)], top2)
    assert loose.error <= top1.error and loose.confidence == 0


def test_rates_are_found_with_a_tolerance():
    x, y = _data()
    result = evaluate_robustness(_model(), [(x, y)], FixedPointQuantizer(8), [0.3], 1)
    assert result.rate(0.1 + 0.2) is result.rates[0]
    with pytest.raises(KeyError, match="no result at p = 0.31"):
        result.rate(0.31)
