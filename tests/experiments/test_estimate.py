"""Runtime estimates: a vulnerability map's passes counted on the model's own tensors and word width."""

from __future__ import annotations

from bitrobust.experiments import EXPERIMENTS
from bitrobust.experiments.estimate import _passes
from bitrobust.experiments.plan import make_plan
from bitrobust.experiments.recipes import find_configs_dir
from bitrobust.models import build_model
from bitrobust.quantization.model import quantizable_tensors


def test_vulnerability_passes_count_the_models_tensors_and_bits(tmp_path):
    plan = make_plan(EXPERIMENTS.get("formats"), "quick", tmp_path, find_configs_dir())
    maps = {ev.run.key: ev for ev in plan.unique_evals() if ev.kind.name == "vulnerability"}
    assert set(maps) == {"int8", "bf16"}
    tensors = len(quantizable_tensors(build_model("cnn_small")))  # MNIST: 1 channel in, 10 classes out
    for key, bits in (("int8", 8), ("bf16", 16)):  # every bit position of the format's words
        assert _passes(maps[key]) == 1 + maps[key].settings.chips * tensors * bits
    other = next(ev for ev in plan.unique_evals() if ev.kind.name == "random")
    assert _passes(other) == other.kind.passes(other.settings)  # the other kinds: their own count
