"""Runtime estimates of a plan: training steps and test-set passes times per-model costs.

Each architecture registers its measured (CPU) or guessed (GPU) seconds per training step
and per pass over 10,000 test images with its model (:data:`bitrobust.models.base.MODEL_COSTS`);
each evaluation kind says how many test-set passes it makes. The quick and medium budgets are
estimated on one CPU thread, the full budget on one GPU.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import torch

from bitrobust.data.specs import DATASETS
from bitrobust.errors import BitrobustError
from bitrobust.experiments.plan import Plan, PlannedEval, make_plan
from bitrobust.experiments.spec import Experiment
from bitrobust.formats import get_format
from bitrobust.models import build_model
from bitrobust.models.base import model_cost
from bitrobust.quantization.model import quantizable_tensors

# Floors per step and per 10k-image pass: small models do not get faster than this (CPU: an FC32-FC32 BNN step,
# 10 epochs of 469 steps in 8.5 s in the quick bnn-fig2 runs).
FLOORS = {"cpu": (0.0018, 0.05), "gpu": (0.003, 0.03)}
TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000,
               "bible_asv": 28293}  # text: blocks of 128 bytes
TEST_SIZE = 10000
TWO_PASS = ("randbet", "curricular_randbet", "alternating_randbet", "pattbet")  # clean + perturbed pass (measured 2.0x)


def _costs(config, device: str) -> tuple[float, float] | None:
    """(seconds per step, seconds per 10k-image pass) of a training config's model on ``device``."""
    found = model_cost(config.model.name, config.model.kwargs)
    base = found[0].at(device) if found else None
    if base is None:
        return None
    floor_step, floor_pass = FLOORS[device]
    size = found[1]
    return max(floor_step, base[0] * size), max(floor_pass, base[1] * size)


@functools.lru_cache(maxsize=None)
def _tensor_names(model: str, kwargs: str, dataset: str, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """The quantized tensors of a model as training builds it, built on the meta device (no memory, no data)."""
    with torch.device("meta"):
        built = build_model(model, **{**DATASETS.get(dataset).model_kwargs(), **json.loads(kwargs)})
    return tuple(quantizable_tensors(built, exclude))


def _passes(ev: PlannedEval) -> float:
    """Test-set passes of a planned evaluation; kinds whose count depends on the model's tensors and word width
    (``passes_on``, the vulnerability map) are told them."""
    if not hasattr(ev.kind, "passes_on"):
        return ev.kind.passes(ev.settings)
    cfg, s = ev.run.config, ev.settings
    names = _tensor_names(cfg.model.name, json.dumps(cfg.model.kwargs, sort_keys=True), cfg.data.name,
                          tuple(cfg.quant.exclude))
    fmt = s.format or (None if s.bits else cfg.quant.format)
    return ev.kind.passes_on(s, names, get_format(fmt).bits if fmt else s.bits or cfg.quant.bits)


def estimate_seconds(plan: Plan, device: str) -> float | None:
    """Estimated wall time of the whole plan (training + evaluations) on ``device`` ("cpu"/"gpu")."""
    total = 0.0
    for run in plan.unique_runs():
        cfg = run.config
        costs = _costs(cfg, device)
        if costs is None:
            return None
        step, pass10k = costs
        n_train = cfg.data.train_subset or TRAIN_SIZES.get(cfg.data.name, 50000)
        steps = math.ceil(n_train / cfg.data.batch_size)
        if cfg.max_steps:
            steps = min(steps, cfg.max_steps)
        factor = 2.0 if cfg.strategy.name in TWO_PASS else 1.0
        test = min(cfg.data.test_subset or TEST_SIZE, TEST_SIZE)
        total += cfg.epochs * (steps * step * factor + pass10k * test / TEST_SIZE)
    for ev in plan.unique_evals():
        _, pass10k = _costs(ev.run.config, device)  # type: ignore[misc]  (known: its run was costed above)
        n = ev.settings.test_subset or TEST_SIZE
        total += _passes(ev) * pass10k * n / TEST_SIZE
    return total


BUDGET_DEVICES = {"quick": "cpu", "medium": "cpu", "full": "gpu"}


def estimate_text(exp: Experiment, configs_dir: Path | None) -> dict[str, str]:
    """{"quick": "~25 min CPU", "medium": "-", "full": "~30 h GPU"} ("?" without recipes or costs, "-" for a
    budget the experiment has no runs in)."""
    out = {}
    for budget, device in BUDGET_DEVICES.items():
        if exp.runs and not any(budget in r.budgets for r in exp.runs):  # no runs at all: model-free, seconds
            out[budget] = "-"
            continue
        try:
            if configs_dir is None:
                raise BitrobustError("no recipes")
            seconds = estimate_seconds(make_plan(exp, budget, Path("."), configs_dir), device)
        except BitrobustError:
            seconds = None
        out[budget] = "?" if seconds is None else f"~{rough_duration(seconds)} {device.upper()}"
    return out


def rough_duration(seconds: float) -> str:
    """A duration rounded for humans.

    >>> rough_duration(20), rough_duration(13 * 60), rough_duration(5 * 3600), rough_duration(3 * 86400)
    ('1 min', '15 min', '5 h', '3 d')
    """
    minutes = seconds / 60
    if minutes < 1:
        return "1 min"
    if minutes < 90:
        return f"{max(1, round(minutes / 5) * 5) if minutes > 10 else round(minutes)} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} d"
