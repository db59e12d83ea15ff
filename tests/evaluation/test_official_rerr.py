"""The reference code's RErr (an example is wrong if the clean OR the perturbed model is wrong), next to
paper 3's textual definition (the perturbed model's error)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bitrobust import FixedPointQuantizer, RandomBitErrors, evaluate_robustness, inject
from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import RandomChips, RobustnessResult


def _setup():
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng():  # the same model whatever ran before (the global RNG is left as it was)
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    x = torch.randn(120, 10, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:30] = (y[:30] + 1) % 5  # the clean model is wrong on the first 30
    return model, [(x[:60], y[:60]), (x[60:], y[60:])], x, y


def test_official_rerr_counts_clean_or_perturbed_errors():
    model, data, x, y = _setup()
    q, rates = FixedPointQuantizer(4), [0.0, 0.02, 0.1]
    plain = evaluate_robustness(model, data, q, rates, RandomChips(3))
    official = evaluate_robustness(model, data, q, rates, RandomChips(3), rerr="official")
    with inject(model, q, None) as clean:
        clean_right = clean(x).argmax(1) == y
    for p in (0.02, 0.1):
        expected = []
        for chip in range(3):
            with inject(model, q, RandomBitErrors(p, chip=chip)) as faulty:
                right = faulty(x).argmax(1) == y
            expected.append(float((~(clean_right & right)).sum()) / len(y))
        assert official.rate(p).rerr == pytest.approx(tuple(expected), abs=1e-12)
        assert all(o >= pl for o, pl in zip(official.rate(p).rerr, plain.rate(p).rerr))
    assert official.rate(0.0).rerr == (official.err,) * 3 and official.err == plain.err > 0
    assert "rerr_definition" not in plain.to_dict()
    again = RobustnessResult.from_dict(official.to_dict())
    assert again.rerr_definition == "official" and again.rates == official.rates
    with pytest.raises(BitrobustError, match="unknown RErr definition"):
        evaluate_robustness(model, data, q, [0.1], 1, rerr="both")


def test_the_command_line_evaluates_the_first_test_examples_the_official_way(tmp_path, tiny_run, data_dir):
    out = tmp_path / "out"
    assert main(["eval", str(tiny_run), "--rerr", "official", "--test-first", "90", "--rates", "0.05", "--chips", "2",
                 "--data-dir", str(data_dir), "--out", str(out), "--no-progress"]) == 0
    config = json.loads((out / "eval_config.json").read_text())
    result = json.loads((out / "robustness.json").read_text())
    assert (config["rerr"], config["test_first"], result["n_examples"]) == ("official", 90, 90)
    assert result["rerr_definition"] == "official"
    assert main(["eval", str(tiny_run), "--kind", "linf", "--rerr", "official", "--out", str(tmp_path / "x")]) == 2
