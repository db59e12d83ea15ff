"""The ``bnn_metrics`` evaluation kind: bit error tolerance metrics of a binarized network.

Computes the neuron-level tolerance tuple T = (T^b for b in ``bs``) and its mean T-bar
(paper 1, Sec. III), and the neuron importance Pi of every hidden neuron with VAR(Pi)
(Sec. IV), on the test set in the model's training input convention (integer pixels
0..255, which the first layer's T divides by Z). Paper 1: Buschjäger, Chen, Chen, Günzel,
Morik, Novkin, Pfahler, Yayla, "Bit Error Tolerance Metrics for Binarized Neural Networks";
paper 2: Buschjäger et al., "Towards Explainable Bit Error Tolerance of Resistive RAM-Based
Binarized Neural Networks" (full citations in the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import EvalKind, Outcome, on_test_set, register_kind
from bitrobust.evaluation.run import LoadedRun
from bitrobust.metrics.importance import NeuronImportance
from bitrobust.metrics.tolerance import ToleranceMetric
from bitrobust.models.bnn import BNN

DEFAULT_BS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
BATCH = 500


@dataclass(frozen=True)
class BnnMetricsSettings:
    """Tolerance levels ``bs`` (b >= 0) on ``test_subset`` test images (None: all)."""

    bs: tuple[float, ...] = DEFAULT_BS
    test_subset: int | None = None
    kind: str = "bnn_metrics"

    def __post_init__(self) -> None:
        if not self.bs:
            raise BitrobustError("no tolerance levels b given")
        for b in self.bs:
            if not 0 <= b < float("inf"):
                raise BitrobustError(f"tolerance level b must be a finite number >= 0, got {b}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "test_subset": self.test_subset, "bs": [float(b) for b in self.bs]}


@register_kind
class BnnMetricsKind(EvalKind):
    name = "bnn_metrics"
    result_file = "metrics.json"
    default_batch = BATCH

    settings_type = BnnMetricsSettings

    def resolve(self, given: dict, recipe_eval: Mapping[str, Any]) -> dict:
        if "bs" in given:
            given["bs"] = tuple(float(b) for b in given["bs"])
        return given

    def run(self, run: LoadedRun, s: BnnMetricsSettings, data_dir: str | os.PathLike | None = None,
            progress: bool = False, batch_size: int | None = None) -> Outcome:
        model = run.model
        if not isinstance(model, BNN):
            raise BitrobustError(f"T^b and Pi: bnn_metrics needs a binarized network (bnn, bnn_fc, ...); {run.name!r} is not one")
        if model.num_hidden_neurons() == 0:
            raise BitrobustError(f"BNN {model.arch!r} has no hidden layer: T^b and Pi are defined on hidden neurons")
        if not (run.meta.get("data") or {}).get("raw", False):
            raise BitrobustError(
                "T^b and Pi need the integer pixel inputs 0..255 BNNs are trained on, but this model was trained "
                "on scaled inputs (data.raw: false); retrain with data.raw: true, data.normalize: false")
        batch = self.batch_size(batch_size)
        model.eval()
        xs, ys = zip(*run.test_data(data_dir, s.test_subset, batch))
        x, y = torch.cat(xs), torch.cat(ys)
        with torch.no_grad():
            correct = sum(int((model(x[i: i + batch]).argmax(1) == y[i: i + batch]).sum())
                          for i in range(0, len(x), batch))
        tol = ToleranceMetric(s.bs, batch).measure(model, x)
        imp = NeuronImportance(batch_size=batch).measure(model, x, y)
        layers = [
            {"layer": i + 1, "name": spec.notation(), "neurons": len(pi), "pi": pi.tolist(),
             "mean_pi": float(pi.mean()), "var_pi": float(pi.to(torch.float64).var(unbiased=False))}
            for i, (spec, pi) in enumerate(zip(model.specs[:-1], imp.per_layer()))
        ]
        result = {
            "name": run.name, "arch": model.arch, "dataset": run.dataset,
            "n_examples": len(y), "test_error": 1 - correct / len(y), "bs": list(s.bs), "T": list(tol.values),
            "T_bar": tol.mean, "var_pi": imp.variance, "layers": layers,
        }
        return Outcome(result, native=(tol, imp))

    def describe(self, s: BnnMetricsSettings) -> str:
        return f"T^b, Pi, VAR(Pi){on_test_set(s.test_subset)}"

    def summary(self, outcome: Outcome, s: BnnMetricsSettings) -> str:
        r = outcome.result
        return f"Err {100 * r['test_error']:.2f}%, T-bar {r['T_bar']:.4f}, VAR(Pi) {r['var_pi']:.4g}"

    def passes(self, s: BnnMetricsSettings) -> float:
        return 4
