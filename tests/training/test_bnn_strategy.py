"""The ``bnn`` strategy: flip training, latent clipping, hinge, resume; its 1-bit memory for evaluation."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import evaluate_pass, evaluate_robustness
from bitrobust.evaluation.sources import RandomChips, TransientReads
from bitrobust.models.checkpoint import load_checkpoint
from bitrobust.models import build_model
from bitrobust.nn.binary import binarize, binary_layers, binary_weight_codes, binary_weight_names, signs_to_codes
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model, restored
from bitrobust.training import (
    DataSection,
    ModelSection,
    OptimSection,
    QuantSection,
    StrategySection,
    TrainConfig,
    Trainer,
)
from bitrobust.training.bnn import BNNStrategy, binary_memory_quant, flip_seed


class Interrupted(Exception):
    pass


def bnn_config(data_dir, params: dict | None = None, *, epochs: int = 3, arch: str = "FC16-FC16-10", **changes) -> TrainConfig:
    base = dict(
        model=ModelSection("bnn", {"arch": arch}),
        data=DataSection(name="fashion_mnist", data_dir=str(data_dir), raw=True, normalize=False, train_subset=192,
                         test_subset=100, batch_size=32, test_batch_size=100),
        quant=None,
        optim=OptimSection(name="adam", lr=1e-2, weight_decay=0.0, schedule="every", every=2, gamma=0.5),
        strategy=StrategySection(name="bnn", params=params or {}),
        epochs=epochs,
        seed=3,
        device="cpu",
    )
    base.update(changes)
    return TrainConfig(**base)


def test_training_sets_flips_clips_and_describes_the_binary_memory(tmp_path, data_dir):
    config = bnn_config(data_dir, {"p": 0.1, "mode": "native"}, epochs=1,
                        optim=OptimSection(name="adam", lr=0.5, weight_decay=0.0))  # huge lr: clipping must act
    trainer = Trainer(config, tmp_path, progress=False)
    assert isinstance(trainer.strategy, BNNStrategy)
    layers = binary_layers(trainer.model)
    assert all(l.flip.p == 0.1 and l.flip.mode == "native" and l.flip_generator is trainer.strategy.generator for _, l in layers)
    metrics = trainer.fit()
    assert metrics["flip_rate"] == 0.1 and 0 <= metrics["test_error"] <= 1
    for _, layer in layers:
        assert float(layer.weight.detach().abs().max()) == 1.0  # clipped to [-1, 1]
    assert any(float(m.weight.detach().abs().max()) > 1 for n, m in trainer.model.named_modules() if n.endswith("bn"))
    model, meta = load_checkpoint(tmp_path)
    assert meta["data"] == {"name": "fashion_mnist", "normalize": False, "raw": True}
    assert meta["quant"] == binary_memory_quant(model)
    assert meta["quant"]["bits"] == 1 and meta["quant"]["scheme"] == "normal"
    assert meta["quant"]["exclude"] == [n for n, _ in model.named_parameters() if ".bn." in n]
    # the checkpoint's quantizer stores exactly the binary weights, one bit each
    state = quantize_model(model, FixedPointQuantizer(1, "normal"), exclude=meta["quant"]["exclude"])
    assert torch.equal(state.flat_codes(), torch.cat(binary_weight_codes(model)))


def test_flips_are_fresh_per_step_and_seeded(tmp_path, data_dir):
    trainer = Trainer(bnn_config(data_dir, {"p": 0.2}), tmp_path, progress=False)
    x, y = next(iter(trainer.train_loader))
    trainer.model.train()

    def loss_at(step):
        result = trainer.strategy.train_step(x, y, step)
        trainer.optimizer.zero_grad(set_to_none=True)
        return result.loss

    assert loss_at(5) == loss_at(5) != loss_at(6)
    assert flip_seed(3, 5) == flip_seed(3, 5) != flip_seed(3, 6) != flip_seed(4, 6)


def test_straight_through_and_native_both_train(tmp_path, data_dir):
    def weights(params, name):
        trainer = Trainer(bnn_config(data_dir, params, epochs=1, max_steps=3), tmp_path / name, progress=False)
        trainer.fit()
        return trainer.model.state_dict()

    st0, nat0 = weights({"p": 0.0, "mode": "straight_through"}, "st0"), weights({"p": 0.0, "mode": "native"}, "nat0")
    assert all(torch.equal(st0[k], nat0[k]) for k in st0)  # without flips the operator is irrelevant
    st_, nat = weights({"p": 0.2, "mode": "straight_through"}, "st"), weights({"p": 0.2, "mode": "native"}, "nat")
    key = "blocks.0.layer.weight"
    assert torch.isfinite(st_[key]).all() and torch.isfinite(nat[key]).all()
    assert not torch.equal(st_[key], nat[key])  # same flips, different gradients


def test_hinge_regularizer_is_added(tmp_path, data_dir):
    trainer = Trainer(bnn_config(data_dir, {"hinge_b": 8, "hinge_lambda": 0.1}, epochs=1, max_steps=2), tmp_path,
                      progress=False)
    metrics = trainer.fit()
    assert metrics["hinge_penalty"] > 0 and metrics["flip_rate"] == 0.0


@pytest.mark.parametrize(
    "params",
    [{"p": 0.1, "mode": "straight_through", "hinge_b": 4, "hinge_lambda": 0.01}, {"p": 0.1, "mode": "native"}],
    ids=["straight_through+hinge", "native"],
)
def test_resumed_run_matches_uninterrupted(tmp_path, data_dir, params):
    config = bnn_config(data_dir, params, epochs=3)
    reference = Trainer(config, tmp_path / "reference", progress=False)
    reference.fit()

    run = tmp_path / "interrupted"
    first = Trainer(config, run, progress=False)
    steps = len(first.train_loader)  # 6
    original = first.strategy.train_step

    def crash(x, y, step):
        if step == steps + 2:  # in the middle of epoch 2
            raise Interrupted
        return original(x, y, step)

    first.strategy.train_step = crash
    with pytest.raises(Interrupted):
        first.fit()
    assert json.loads((run / "trainer_state.json").read_text())["epoch"] == 1

    resumed = Trainer(config, run, progress=False)
    resumed.fit(resume=True)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    for p_ref, p_res in zip(reference.model.parameters(), resumed.model.parameters()):
        assert torch.equal(reference.optimizer.state[p_ref]["exp_avg"], resumed.optimizer.state[p_res]["exp_avg"])

    def rows(d):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (d / "metrics.jsonl").read_text().splitlines()]

    assert rows(run) == rows(tmp_path / "reference")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model": ModelSection("cnn_small", {"channels": [4, 8]})}, "needs a binarized model"),
        ({"quant": QuantSection()}, "set quant: null"),
        ({"strategy": StrategySection("bnn", params={"p": 1.5})}, "flip rate in [0, 1]"),
        ({"strategy": StrategySection("bnn", params={"mode": "sideways"})}, "unknown strategy.params.mode 'sideways'; valid: native"),
        ({"strategy": StrategySection("bnn", params={"rate": 0.1})}, "unknown key strategy.params.rate"),
        ({"strategy": StrategySection("bnn", params={"hinge_b": -1})}, "hinge_b"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, data_dir, changes, message):
    with pytest.raises(BitrobustError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Trainer(bnn_config(data_dir, **changes), tmp_path, progress=False)


def test_raw_needs_normalize_off():
    with pytest.raises(BitrobustError, match="data.normalize: false"):
        DataSection(raw=True)


# -- evaluation uses the same code path as every model --------------------------------------


@contextlib.contextmanager
def _binary_weights(model, codes: torch.Tensor):
    """``model`` with its binary weights set to the 1-bit words ``codes`` (1: +1, 0: -1), restored after."""
    layers = [layer for _, layer in binary_layers(model)]
    words = torch.split(codes, [layer.weight.numel() for layer in layers])
    signs = {name: (w.to(torch.float32) * 2 - 1).view_as(layer.weight)
             for name, w, layer in zip(binary_weight_names(model), words, layers)}
    with restored(model):
        load_tensors(model, signs)
        yield model


def test_eval_of_a_bnn_is_flipping_its_binary_weights(trained_fc, mnist_small):
    model = trained_fc
    _, _, xte, yte = mnist_small
    data = [(xte[i : i + 500].float(), yte[i : i + 500]) for i in range(0, 1000, 500)]
    quant = binary_memory_quant(model)
    quantizer = FixedPointQuantizer(quant["bits"], quant["scheme"])
    clean = evaluate_pass(model, data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rates = [0.0, 0.02, 0.1]
    for source in (RandomChips(2), TransientReads(2, seed=7)):
        result = evaluate_robustness(model, data, quantizer, rates, source, exclude=quant["exclude"])
        assert result.err == clean.error and result.rate(0.0).rerr == (clean.error, clean.error)
        codes = torch.cat(binary_weight_codes(model))
        for trial in range(2):
            for p in rates[1:]:
                flipped = source.errors(trial, p).apply(codes, 1)
                assert int((flipped != codes).sum()) > 0
                with _binary_weights(model, flipped):
                    expected = evaluate_pass(model, data).error
                assert result.rate(p).rerr[trial] == expected, (source.name, trial, p)
        assert result.rate(0.1).mean > result.err
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights restored
    # persistent chips are the default chips: chip c at rate p
    flipped = RandomBitErrors(0.02, chip=1).apply(torch.cat(binary_weight_codes(model)), 1)
    chip1 = evaluate_robustness(model, data, quantizer, [0.02], RandomChips(2), exclude=quant["exclude"]).rate(0.02).rerr[1]
    with _binary_weights(model, flipped):
        assert evaluate_pass(model, data).error == chip1


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.25, 1e-8, -1e-8, 0.999]), min_size=1, max_size=40),
    scale=st.sampled_from([1.0, 1e-3, 0.0]),
)
def test_one_bit_word_stores_the_binarized_weight(values, scale):
    w = torch.tensor(values) * scale  # scale 0: a tensor of zeros (q = 0)
    quantizer = FixedPointQuantizer(1, "normal")
    qt = quantizer.quantize(w)
    assert torch.equal(qt.codes, signs_to_codes(binarize(w)))  # b(0) = -1 is the word 0
    assert torch.equal(binarize(qt.dequantize()), binarize(w))


def test_flipped_one_bit_word_negates_the_binary_weight():
    quantizer = FixedPointQuantizer(1, "normal")
    w = torch.tensor([0.3, -0.2, 0.0, -1.0, 1.0])
    qt = quantizer.quantize(w)
    assert torch.equal(binarize(qt.with_codes(1 - qt.codes).dequantize()), -binarize(w))


def test_bnn_models_are_registered():
    model = build_model("bnn_fc", width=1 / 8, seed=0)
    assert model.arch == "FC256-FC256-10"
    assert build_model("bnn", arch="C8-MP2-C8-MP2-FC16-10").arch == "C8-MP2-C8-MP2-FC16-10"
    assert build_model("bnn", arch="FC8-FC8-10", width=2.0).arch == "FC16-FC16-10"
    with pytest.raises(BitrobustError, match="num_classes=7"):
        build_model("bnn", arch="FC8-FC8-10", num_classes=7)
