"""RandBET and variants (paper 3, Alg. 1, Eq. 2, App. G.4, Tab. 3): gradients by hand,
loss threshold, seeding, clipping, alternating projection, params validation, recipes."""

from __future__ import annotations

import copy
import math
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.config import from_dict, load_yaml
from bitrobust.errors import BitrobustError
from bitrobust.quantization import FixedPointQuantizer, quantize_model
from bitrobust.training import STRATEGIES, QuantSection, StepContext, StrategySection, TrainConfig
from bitrobust.training.error_sources import randbet_seed
from bitrobust.training.randbet import AlternatingRandBET, CurricularRandBET, PattBET, RandBET
from bitrobust.training.strategies import validate_strategy

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "bitrobust" / "recipes"
RANDBET_FAMILY = ("randbet", "curricular_randbet", "alternating_randbet", "pattbet")


class Harness(SimpleNamespace):
    """A strategy on a StepContext around any model, as the Trainer builds it; ``step`` mirrors ``Trainer.fit``."""

    def __init__(self, model, name="randbet", params=None, clip=None, bits=8, scheme="rquant", seed=0,
                 lr=0.1, steps_per_epoch=10, epochs=1, label_smoothing=0.0):
        section = StrategySection(name=name, clip_w_max=clip, label_smoothing=label_smoothing, params=params or {})
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        ctx = StepContext(
            model, optimizer, loss_fn=partial(F.cross_entropy, label_smoothing=label_smoothing),
            quant=QuantSection(bits=bits, scheme=scheme), seed=seed, total_steps=steps_per_epoch * epochs,
        )
        strategy = STRATEGIES.get(name)(section)
        strategy.setup(ctx)
        super().__init__(ctx=ctx, model=model, quantizer=ctx.quantizer, optimizer=optimizer, strategy=strategy)

    def step(self, x, y, step):
        self.optimizer.zero_grad(set_to_none=True)
        result = self.strategy.train_step(x, y, step)
        self.ctx.update()
        self.strategy.after_step()
        return result


def tiny(seed=0, d_in=6, classes=3):
    torch.manual_seed(seed)
    return nn.Linear(d_in, classes)


def batch(n=16, d_in=6, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g), torch.randint(0, classes, (n,), generator=g)


def hand_grads(model, quantizer, x, y, errors=None, label_smoothing=0.0):
    """d L(f(x; w'), y) / d w' at w' = Q^-1(Q(w)) or Q^-1(BErr(Q(w))), for nn.Linear, by hand."""
    state = quantize_model(model, quantizer)
    if errors is not None:
        state = state.with_flat_codes(errors.apply(state.flat_codes(), state.bits))
    w = {k: v.clone().requires_grad_() for k, v in state.dequantize().items()}
    loss = F.cross_entropy(F.linear(x, w["weight"], w["bias"]), y, label_smoothing=label_smoothing)
    gw, gb = torch.autograd.grad(loss, [w["weight"], w["bias"]])
    return {"weight": gw, "bias": gb}, float(loss.detach()), w


# -- Alg. 1 gradient ---------------------------------------------------------------------------


@pytest.mark.parametrize("combine", ["average", "sum"])
def test_gradient_is_combination_of_clean_and_perturbed(combine):
    model = tiny()
    h = Harness(model, params={"p": 0.1, "loss_threshold": None, "combine": combine})
    x, y = batch()
    step = 7
    errors = RandomBitErrors(0.1, seed=randbet_seed(0, step))
    g_clean, _, w_clean = hand_grads(model, h.quantizer, x, y)
    g_pert, _, w_pert = hand_grads(model, h.quantizer, x, y, errors)
    assert not torch.equal(w_clean["weight"], w_pert["weight"])  # the errors did hit the weights
    h.strategy.train_step(x, y, step)
    for name, p in model.named_parameters():
        expected = g_clean[name] + g_pert[name]
        if combine == "average":
            expected = expected / 2
        torch.testing.assert_close(p.grad, expected, rtol=1e-6, atol=1e-7)


def test_perturbed_gradient_clamp_and_norm():
    model = tiny()
    x, y = batch()
    q = FixedPointQuantizer(8, "rquant")
    errors = RandomBitErrors(0.1, seed=randbet_seed(0, 3))
    g_clean, _, _ = hand_grads(model, q, x, y)
    g_pert, _, _ = hand_grads(model, q, x, y, errors)

    h = Harness(model, params={"p": 0.1, "loss_threshold": None, "perturbed_grad_max_value": 0.01, "combine": "sum"})
    h.strategy.train_step(x, y, 3)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, g_clean[name] + g_pert[name].clamp(-0.01, 0.01))

    h = Harness(model, params={"p": 0.1, "loss_threshold": None, "perturbed_grad_max_norm": 0.05, "combine": "sum"})
    h.strategy.train_step(x, y, 3)
    norm = math.sqrt(sum(float(g.pow(2).sum()) for g in g_pert.values()))
    assert norm > 0.05
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, g_clean[name] + g_pert[name] * (0.05 / (norm + 1e-6)))


def test_label_smoothing_in_both_passes():
    model = tiny()
    x, y = batch()
    h = Harness(model, params={"p": 0.1, "loss_threshold": None}, label_smoothing=0.1)
    errors = RandomBitErrors(0.1, seed=randbet_seed(0, 0))
    g_clean, loss, _ = hand_grads(model, h.quantizer, x, y, label_smoothing=0.1)
    g_pert, _, _ = hand_grads(model, h.quantizer, x, y, errors, label_smoothing=0.1)
    result = h.strategy.train_step(x, y, 0)
    assert result.loss == pytest.approx(loss)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, (g_clean[name] + g_pert[name]) / 2)


# -- loss threshold ----------------------------------------------------------------------------


def test_errors_start_only_below_loss_threshold():
    model = tiny()
    x, y = batch()
    g_clean, loss, _ = hand_grads(model, FixedPointQuantizer(), x, y)
    above = Harness(model, params={"p": 0.1, "loss_threshold": loss * 0.9})  # loss above threshold
    above.strategy.train_step(x, y, 0)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, g_clean[name])
    assert above.strategy.metrics()["perturbed_fraction"] == 0.0

    below = Harness(model, params={"p": 0.1, "loss_threshold": loss * 1.1})
    below.strategy.train_step(x, y, 0)
    assert not torch.allclose(model.weight.grad, g_clean["weight"])
    m = below.strategy.metrics()
    assert m["perturbed_fraction"] == 1.0 and m["perturbed_loss"] is not None


def test_threshold_decided_per_batch_during_training():
    """Over a run the first steps are clean, later ones perturbed once the loss has dropped."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = batch(64)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # learnable labels
    h = Harness(model, params={"p": 0.01, "loss_threshold": 0.9}, lr=0.5)
    flags = []
    for step in range(40):
        loss = h.step(x, y, step).loss
        flags.append((loss, h.strategy.metrics()["perturbed_fraction"] == 1.0))
    assert all(perturbed == (loss < 0.9) for loss, perturbed in flags)
    assert not flags[0][1] and any(p for _, p in flags)


# -- seeding -----------------------------------------------------------------------------------


def test_errors_seeded_by_seed_and_step():
    model = tiny()
    a = Harness(model, params={"p": 0.05}).strategy
    b = Harness(copy.deepcopy(model), params={"p": 0.05}).strategy
    assert a.errors_at(5).seed == b.errors_at(5).seed == randbet_seed(0, 5)
    assert a.errors_at(5).seed != a.errors_at(6).seed
    c = Harness(model, params={"p": 0.05}, seed=1).strategy
    assert c.errors_at(5).seed != a.errors_at(5).seed
    codes = torch.zeros(1000, dtype=torch.uint8)
    assert torch.equal(a.errors_at(5).apply(codes, 8), b.errors_at(5).apply(codes, 8))
    assert not torch.equal(a.errors_at(5).apply(codes, 8), a.errors_at(6).apply(codes, 8))


def test_pattbet_same_errors_every_step():
    s = Harness(tiny(), "pattbet", {"p": 0.05, "chip": 3}).strategy
    assert isinstance(s, PattBET)
    codes = torch.zeros(2000, dtype=torch.uint8)
    first = s.errors_at(0).apply(codes, 8)
    assert torch.equal(first, s.errors_at(123).apply(codes, 8))
    assert torch.equal(first, RandomBitErrors(0.05, chip=3).apply(codes, 8))  # the evaluation's chip 3
    other = Harness(tiny(), "pattbet", {"p": 0.05, "seed": 99}).strategy
    assert not torch.equal(first, other.errors_at(0).apply(codes, 8))


def test_pattbet_on_a_profiled_chip_uses_its_persistent_errors_at_offset_0():
    from bitrobust.bit_errors.profiled import ProfiledBitErrors
    from bitrobust.bit_errors.synthetic import paper_chip

    s = Harness(tiny(), "pattbet", {"profiled": "chip1_0.866"}).strategy
    persistent = paper_chip("chip1_0.866").persistent()
    assert s.rate_at(0) == pytest.approx(persistent.stats().p) and 0.003 < s.rate_at(0) < 0.005  # p_sa = 0.393 %
    codes = torch.randint(0, 256, (40000,), dtype=torch.uint8)  # more bits than the chip: wraps around
    first = s.errors_at(0).apply(codes, 8)
    assert torch.equal(first, s.errors_at(77).apply(codes, 8))  # the same pattern every step
    assert torch.equal(first, ProfiledBitErrors(persistent, offset=0).apply(codes, 8))
    assert not torch.equal(first, ProfiledBitErrors(paper_chip("chip1_0.866"), offset=0).apply(codes, 8))
    with pytest.raises(BitrobustError, match="unknown strategy.params.profiled chip 'chip9'"):
        validate_strategy(StrategySection(name="pattbet", params={"profiled": "chip9"}))


def test_curricular_rate_ramps_from_p_over_20_to_p_in_first_half():
    s = Harness(tiny(), "curricular_randbet", {"p": 0.02}, steps_per_epoch=50, epochs=4).strategy
    assert isinstance(s, CurricularRandBET) and s.total_steps == 200
    rates = [s.rate_at(t) for t in range(200)]
    assert rates[0] == pytest.approx(0.001)
    assert all(a <= b for a, b in zip(rates, rates[1:]))
    assert rates[99] == pytest.approx(0.02) and rates[199] == pytest.approx(0.02)
    assert rates[94] < 0.02  # still ramping shortly before the half
    assert len(set(rates)) == 20
    assert s.errors_at(0).p == pytest.approx(0.001)


# -- clipping and the alternating projection ---------------------------------------------------


@pytest.mark.parametrize("name", ["normal", *RANDBET_FAMILY])
def test_clipping_holds_after_every_step(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    params = {} if name == "normal" else {"p": 0.05, "loss_threshold": None}
    h = Harness(model, name, params, clip=0.05, lr=1.0)
    x, y = batch(32)
    for step in range(6):
        h.step(x, y, step)
        w_max = float(torch.tensor(0.05))  # 0.05 in float32
        assert max(float(p.detach().abs().max()) for p in model.parameters()) <= w_max


def test_alternating_matches_two_projected_updates_by_hand():
    model = tiny(3)
    x, y = batch(seed=4)
    lr, step = 0.5, 2
    ref = copy.deepcopy(model)
    h = Harness(model, "alternating_randbet", {"p": 0.1, "loss_threshold": None}, lr=lr)
    assert isinstance(h.strategy, AlternatingRandBET)
    h.step(x, y, step)

    q = h.quantizer
    g, _, _ = hand_grads(ref, q, x, y)  # 1st update: clean gradient
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p -= lr * g[name]
    ranges = {name: (float(p.detach().min()), float(p.detach().max())) for name, p in ref.named_parameters()}
    gp, _, _ = hand_grads(ref, q, x, y, RandomBitErrors(0.1, seed=randbet_seed(0, step)))
    widened = False
    with torch.no_grad():
        for name, p in ref.named_parameters():  # 2nd update: perturbed gradient / 2, projected
            p -= lr * gp[name] / 2
            widened |= bool((p < ranges[name][0]).any() or (p > ranges[name][1]).any())
            p.clamp_(*ranges[name])
    assert widened  # the projection mattered in this example
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, getattr(ref, name), rtol=1e-5, atol=1e-6)
    assert h.strategy.projection_ranges is None


def test_alternating_symmetric_ranges_are_plus_minus_max_abs():
    model = tiny(5)
    h = Harness(model, "alternating_randbet", {"p": 0.2, "loss_threshold": None}, scheme="normal", lr=2.0)
    x, y = batch(seed=6)
    for step in range(3):
        h.optimizer.zero_grad(set_to_none=True)
        h.strategy.train_step(x, y, step)
        ranges = dict(h.strategy.projection_ranges)
        h.optimizer.step()
        h.strategy.after_step()
        for name, p in model.named_parameters():
            lo, hi = ranges[name]
            assert lo == -hi  # symmetric scheme: [-q, q]
            assert float(p.detach().abs().max()) <= hi + 1e-7


def test_perturbed_pass_leaves_batchnorm_statistics_to_clean_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    twin = copy.deepcopy(model)
    x, y = batch(32)
    Harness(model, "randbet", {"p": 0.2, "loss_threshold": None}).strategy.train_step(x, y, 0)
    Harness(twin, "normal").strategy.train_step(x, y, 0)
    for (k, a), (_, b) in zip(model.named_buffers(), twin.named_buffers()):
        assert torch.equal(a, b), k


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "strategy.params.p"),
        ({"p": 1.5}, "in [0, 1]"),
        ({"p": -0.1}, "in [0, 1]"),
        ({"p": "high"}, "must be float"),
        ({"p": 0.01, "combine": "mean"}, "valid: average, sum"),
        ({"p": 0.01, "loss_threshold": -1}, "loss_threshold"),
        ({"p": 0.01, "perturbed_grad_max_norm": 0}, "perturbed_grad_max_norm"),
        ({"p": 0.01, "perturbed_grad_max_value": float("nan")}, "perturbed_grad_max_value"),
        ({"p": 0.01, "rate": 0.1}, "unknown key strategy.params.rate; valid: p, loss_threshold"),
    ],
)
def test_bad_params_give_one_line_errors(params, message):
    with pytest.raises(BitrobustError) as info:
        Harness(tiny(), "randbet", params)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_variant_params_validated():
    with pytest.raises(BitrobustError, match="ramp_fraction"):
        validate_strategy(StrategySection(name="curricular_randbet", params={"p": 0.01, "ramp_fraction": 2}))
    with pytest.raises(BitrobustError, match="unknown key strategy.params.ramp_steps"):
        validate_strategy(StrategySection(name="randbet", params={"p": 0.01, "ramp_steps": 3}))
    with pytest.raises(BitrobustError, match="chip"):
        validate_strategy(StrategySection(name="pattbet", params={"p": 0.01, "chip": -1}))
    assert validate_strategy(StrategySection(name="pattbet", params={"p": 0.01, "chip": 2})).chip == 2
    assert validate_strategy(StrategySection(name="normal")) is None


def test_needs_quantizer():
    model = tiny()
    ctx = StepContext(model, torch.optim.SGD(model.parameters(), lr=0.1), quant=None)
    with pytest.raises(BitrobustError, match="quant section"):
        RandBET(StrategySection(name="randbet", params={"p": 0.01})).setup(ctx)


# -- recipes -----------------------------------------------------------------------------------


def recipe_paths():
    return sorted(CONFIGS.rglob("*.yaml"))


def test_paper3_recipes_exist():
    names = {p.name for p in (CONFIGS / "paper3").glob("*.yaml")}
    for stem in ("normal", "rquant", "clipping_0.1", "clipping_0.1_ls", "randbet_0.1_p1", "pattbet_0.15_p2.5",
                 "curricular_randbet_0.1_p1", "alternating_randbet_0.1_p1", "mnist_randbet_0.05_p10"):
        assert {f"{stem}.quick.yaml", f"{stem}.full.yaml"} <= names, stem


@pytest.mark.parametrize("path", recipe_paths(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_recipe_loads(path):
    config = from_dict(TrainConfig, load_yaml(path))
    assert config.strategy.name in STRATEGIES
    validate_strategy(config.strategy)
    if path.parent.name == "paper3":
        budget = path.name.split(".")[-2]
        assert budget in ("quick", "medium", "full")
        if budget in ("quick", "medium"):
            assert config.data.name == "mnist"
        if budget == "medium":  # the paper's MNIST model on all of MNIST (Tab. 21)
            assert (config.model.name, config.data.train_subset, config.epochs) == ("simplenet_mnist", None, 5)
        if config.strategy.name in RANDBET_FAMILY:
            assert config.strategy.params["loss_threshold"] == (3.5 if config.data.name == "cifar100" else 1.75)
        if "_ls" in path.name:
            assert config.strategy.label_smoothing > 0


def test_randbet_reads_the_perturbed_weights_through_its_protection():
    """strategy.params.protection: protected bits never flip in training either, the rest as without it."""
    from bitrobust.bit_errors import Protection, read_protected

    model = tiny()
    plain = Harness(model, params={"p": 0.2}).strategy
    shielded = Harness(copy.deepcopy(model), params={"p": 0.2, "protection": {"protect_bits": "msb",
                                                                               "protect_tensors": "bias"}}).strategy
    state = plain.quantized_state()
    errors = plain.errors_at(3)
    got = shielded.perturbed_weights(state, errors)
    expected = read_protected(state, errors, Protection(protect_bits="msb", protect_tensors="bias"))[0].dequantize()
    assert all(torch.equal(got[k].detach(), expected[k]) for k in expected)
    assert torch.equal(got["bias"].detach(), state.dequantize()["bias"])
    assert not torch.equal(got["weight"].detach(), plain.perturbed_weights(state, errors)["weight"].detach())
    with pytest.raises(BitrobustError, match="unknown strategy.params.protection key 'bits'; valid: protect_bits"):
        Harness(tiny(), params={"p": 0.1, "protection": {"bits": "msb"}})
