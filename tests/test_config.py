import pytest

from bitrobust.config import apply_overrides, from_dict, to_dict
from bitrobust.errors import BitrobustError
from bitrobust.training.config import OptimSection, TrainConfig


def test_from_dict_and_overrides():
    data = apply_overrides({"epochs": 3, "optim": {"lr": 0.1}}, ["optim.lr=0.01", "quant.bits=4", "eval.rates=[0.01, 0.1]"])
    cfg = from_dict(TrainConfig, data)
    assert cfg.epochs == 3 and cfg.optim.lr == 0.01 and cfg.quant.bits == 4
    assert cfg.eval.rates == (0.01, 0.1)
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


def test_unknown_keys_and_bad_values():
    with pytest.raises(BitrobustError, match="unknown key config.optim.lrr; valid: name, lr"):
        from_dict(TrainConfig, {"optim": {"lrr": 1}})
    with pytest.raises(BitrobustError, match="config.epochs must be int"):
        from_dict(TrainConfig, {"epochs": "many"})
    with pytest.raises(BitrobustError, match="key=value"):
        apply_overrides({}, ["epochs"])
    with pytest.raises(BitrobustError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)


def test_step_schedule_follows_the_paper():
    o = OptimSection()
    assert [round(o.lr_at(e, 100), 8) for e in (0, 39, 40, 59, 60, 80, 99)] == [0.05, 0.05, 0.005, 0.005, 0.0005, 5e-05, 5e-05]
    assert o.lr_at(0, 1) == 0.05
    assert OptimSection(schedule="every", every=25, gamma=0.5, lr=1e-3).lr_at(50, 100) == 2.5e-4
