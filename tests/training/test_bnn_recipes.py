"""Every recipe in bnn/ loads, names a valid BNN and strategy, and matches its generator."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

from bitrobust.config import from_dict, load_yaml
from bitrobust.models import build_model
from bitrobust.training import TrainConfig
from bitrobust.training.bnn import BNNParams

ROOT = Path(__file__).resolve().parents[2]
BNN_CONFIGS = ROOT / "src" / "bitrobust" / "recipes" / "bnn"
PATHS = sorted(BNN_CONFIGS.rglob("*.yaml"))


@functools.lru_cache(maxsize=None)
def arch_of(arch: str) -> str:
    return build_model("bnn", arch=arch, num_classes=10).arch


def test_recipes_are_generated_and_up_to_date():
    spec = importlib.util.spec_from_file_location("make_recipes", ROOT / "scripts" / "make_bnn_recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.recipes()
    assert sorted(expected) == sorted(str(p.relative_to(BNN_CONFIGS)) for p in PATHS)
    for rel, text in expected.items():
        assert (BNN_CONFIGS / rel).read_text() == text, f"{rel} is stale: run python scripts/make_bnn_recipes.py"
    names = set(expected)
    for net in ("fc", "cnn"):
        for budget in ("quick", "full"):
            assert f"fashion_{net}_p0.{budget}.yaml" in names
            for p in (1, 5, 10, 20, 30):
                assert {f"fashion_{net}_st_p{p}.{budget}.yaml", f"fashion_{net}_native_p{p}.{budget}.yaml"} <= names
    assert len([n for n in names if n.startswith("table3/fc")]) == 5 * 6
    assert len([n for n in names if n.startswith("table3/cnn")]) == 4 * 6


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(BNN_CONFIGS)))
def test_every_bnn_recipe_loads(path):
    config = from_dict(TrainConfig, load_yaml(path))
    params = from_dict(BNNParams, config.strategy.params, "strategy.params")
    assert config.strategy.name == "bnn" and config.quant is None
    assert config.data.name == "fashion_mnist" and config.data.raw and not config.data.normalize
    assert config.optim.name == "adam" and config.optim.lr == 1e-3 and config.optim.weight_decay == 0.0
    assert config.optim.lr_at(25, 100) == 5e-4 and config.optim.lr_at(24, 100) == 1e-3  # halved every 25 epochs
    assert config.data.batch_size == 128
    arch = arch_of(config.model.kwargs["arch"])
    budget = path.name.split(".")[-2]
    if budget == "full":
        assert config.epochs == 100 and arch in ("FC2048-FC2048-10", "C64-MP2-C64-MP2-FC2048-10")
    else:
        assert budget == "quick" and config.epochs <= 10
    if path.parent.name == "table3":
        assert 0 <= params.p <= 0.3 and params.mode == "straight_through"
    elif "hinge" in path.name:
        assert params.hinge_b == 32 and params.hinge_lambda == 1e-3
    else:
        assert params.p in (0.0, 0.01, 0.05, 0.1, 0.2, 0.3)
        assert params.mode == ("native" if "_native_" in path.name else "straight_through")
