"""The BNN experiments' plans: bnn-native-vs-st (paper 2's native vs straight-through comparison) in the quick,
full and smoke forms, and the hard-tanh variants of bnn-fig1 and bnn-table3 beside their unchanged identity runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bitrobust.experiments import EXPERIMENTS
from bitrobust.experiments.plan import make_plan
from bitrobust.experiments.recipes import find_configs_dir

RATES = (0, 1, 5, 10, 20, 30)


def plan(name: str, budget: str, smoke: bool = False):
    return make_plan(EXPERIMENTS.get(name), budget, Path("out"), find_configs_dir(), smoke=smoke)


def without_ste(config) -> dict:
    """The config with the straight-through gradient taken out (identity is the model's default)."""
    kwargs = {k: v for k, v in config.model.kwargs.items() if k != "ste"}
    return dataclasses.asdict(dataclasses.replace(config, model=dataclasses.replace(config.model, kwargs=kwargs)))


@pytest.mark.parametrize("budget, seeds, archs, epochs, train_subset", [
    ("quick", 3, {"fc": "FC256-FC256-10", "cnn": "C8-MP2-C8-MP2-FC256-FC256-10"}, {"fc": 3, "cnn": 2},
     {"fc": 30000, "cnn": 15000}),
    ("full", 5, {"fc": "FC2048-FC2048-10", "cnn": "C64-MP2-C64-MP2-FC2048-FC2048-10"}, {"fc": 100, "cnn": 100},
     {"fc": None, "cnn": None}),
])
def test_native_vs_st_plan(budget, seeds, archs, epochs, train_subset):
    p = plan("bnn-native-vs-st", budget)
    runs = p.all_runs()
    # per net, gradient and seed: one run without flips and two operators at each of the five rates
    assert len(runs) == len(p.unique_runs()) == 2 * 2 * seeds * (1 + 2 * 5)
    cells = {}
    for run in runs:
        cfg, tags = run.config, run.spec.tags
        assert cfg.model.kwargs["arch"] == archs[tags["net"]] and cfg.epochs == epochs[tags["net"]]
        assert cfg.data.train_subset == train_subset[tags["net"]] and cfg.data.name == "fashion_mnist"
        assert cfg.model.kwargs.get("ste", "identity") == tags["ste"]
        assert cfg.strategy.params["p"] == pytest.approx(tags["ber"] / 100)
        assert cfg.strategy.params.get("mode") == tags["op"]  # None without flips
        assert cfg.seed == run.seed_index
        cells.setdefault((tags["net"], tags["ste"], tags["op"], tags["ber"]), []).append(cfg.seed)
    ops = {"straight_through", "native"}
    assert {(op, ber) for _, _, op, ber in cells} == {(None, 0)} | {(op, b) for op in ops for b in RATES[1:]}
    assert all(sorted(s) == list(range(seeds)) for s in cells.values())
    # the two gradients train the same nets on the same data: the configs differ only in the gradient
    by_key = {r.key: r for r in runs}
    for key, run in by_key.items():
        if "_ht_" in key:
            twin = by_key[key.replace("_ht_", "_id_")].config
            assert without_ste(run.config) == without_ste(twin) and run.config != twin
    # every model is read with the same transient reads (paired): one evaluation setting for all
    settings = {e.settings for e in p.all_evals()}
    assert len(p.all_evals()) == len(runs) and len(settings) == 1
    [s] = settings
    assert s.kind == "transient" and s.first_chip == 0
    if budget == "quick":
        assert (s.rates, s.chips, s.test_subset) == ((0.01, 0.05, 0.1, 0.2, 0.3), 5, 2000)
    else:
        assert len(s.rates) == 10 and s.chips == 10 and s.test_subset is None


def test_native_vs_st_smoke_pairs_both_operators_and_gradients():
    p = plan("bnn-native-vs-st", "quick", smoke=True)
    tags = [(r.spec.tags["ste"], r.spec.tags["op"], r.spec.tags["ber"]) for r in p.all_runs()]
    # the smoke form keeps two of the seeds, so the pairing over seeds runs too
    assert sorted(tags, key=str) == sorted(2 * [(ste, op, ber) for ste in ("identity", "htanh")
                                                for op, ber in ((None, 0), ("straight_through", 5), ("native", 5))], key=str)
    assert sorted(r.seed_index for r in p.all_runs()) == [0] * 6 + [1] * 6
    assert all(r.config.max_steps == 2 for r in p.all_runs())


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_hard_tanh_runs_are_the_identity_runs_with_another_gradient(budget):
    for name, twin_of in (("bnn-fig1", lambda k: k.replace("_ht", "", 1)),
                          ("bnn-table3", lambda k: k.replace("_ht", "", 1))):
        p = plan(name, budget)
        by_key = {r.key: r for r in p.all_runs()}
        htanh = [k for k, r in by_key.items() if r.config.model.kwargs.get("ste") == "htanh"]
        assert htanh and all("_ht" in k for k in htanh)
        for key in htanh:
            twin = by_key[twin_of(key)]
            assert "ste" not in twin.config.model.kwargs
            assert without_ste(by_key[key].config) == without_ste(twin.config)
        sections = {s.key: s for s in p.experiment.sections}
        for key, section in sections.items():
            if key.endswith("_htanh"):
                identity = sections[key.removesuffix("_htanh")]
                assert [twin_of(r.run) for r in section.rows] == [r.run for r in identity.rows]
    quick = plan("bnn-table3", "quick")
    widths = {(r.spec.tags["net"], r.spec.tags["neurons"]) for r in quick.all_runs() if r.spec.tags.get("ste") == "htanh"}
    assert widths == {("fc", "16,16"), ("fc", "64,64"), ("cnn", "16,16,32")}
