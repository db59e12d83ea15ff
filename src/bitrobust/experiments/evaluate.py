"""Evaluate one trained run as an experiment asks: robustness sweeps, BNN metrics, weight statistics.

The robustness kinds quantize the checkpoint the way it was trained (its ``quant``
metadata, as ``bitrobust eval`` does) unless the evaluation names another scheme or
precision, then call :func:`~bitrobust.evaluation.evaluate_robustness` with persistent
random chips, transient reads or a synthetic profiled chip (paper 3, App. C.1; optionally
only its persistent errors, Tab. 16), or
:func:`~bitrobust.evaluation.evaluate_linf_noise`. ``bnn_metrics`` computes T^b, T-bar,
Pi and VAR(Pi) as ``bitrobust metrics`` does (papers 1, 2). ``weights`` computes the
statistics of paper 3's Fig. 10 (App. G.3) on the clean quantized weights:

- histograms of every tensor's weights relative to w_max (the clipping bound), or to the
  largest weight magnitude of the model without clipping;
- weight relevance sum_i |w_i| / max_i |w_i| per tensor (and over the whole model): how
  many weights are relevant considering their magnitude;
- ReLU relevance: the fraction of non-zero activations after the model's last ``nn.ReLU``
  module over the test set (activation redundancy); None if the model has none;
- relative absolute error at p = 1 %: the paper names it without a formula ("computed
  considering random bit errors with probability p = 1 %", "decreases for CLIPPING, meaning
  that random bit errors have less impact"); we read it as the error of the logits z,
  relative to their size, averaged over persistent chips c::

      RAE = mean_c  sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1

  (z: clean quantized model, z_c: chip c's bit errors injected). Like the decision, it is
  invariant to rescaling the weights of a normalized network, which the absolute weight
  error (Fig. 4) is not.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.experiments.runner import PlannedEval
from bitrobust.io import write_json

HIST_BINS = 41


def _test_loader(meta: dict, data_dir, test_subset: int | None, device, batch_size: int = 1000):
    from bitrobust.data import Loader, load_dataset

    data_meta = meta.get("data", {})
    test = load_dataset(data_meta.get("name", "mnist"), "test", data_dir=data_dir, progress=False)
    if test_subset:
        test = test.subset(test_subset)
    return Loader(test, batch_size=batch_size, device=device, normalize=data_meta.get("normalize", True),
                  raw=data_meta.get("raw", False))


def _quantizer(meta: dict, settings: dict):
    from bitrobust.quantization import FixedPointQuantizer

    quant = meta.get("quant") or {}
    bits = settings.get("bits") or quant.get("bits")
    if bits is None:
        raise BitrobustError("the model was trained without quantization and the evaluation sets no precision")
    scheme = settings.get("scheme") or quant.get("scheme", "rquant")
    overrides = (quant.get("overrides") or {}) if scheme == quant.get("scheme") else {}
    return FixedPointQuantizer(bits, scheme, **overrides), tuple(quant.get("exclude", ()))


@torch.no_grad()
def scale_weights(model: nn.Module, target: float) -> float:
    """Scale every conv/linear weight and bias by s so that their largest magnitude is ``target``; returns s.

    A conv followed by group/batch norm computes the same normalized output for s*W, s*b,
    and scaling the last linear layer only scales the logits, so for such models the
    predictions are unchanged (paper 3, Tab. 11: RQUANT -> CLIPPING_0.25).
    """
    params = [p for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters(recurse=False)]
    if not params:
        raise BitrobustError("the model has no conv or linear layers to scale")
    largest = max(float(p.abs().max()) for p in params)
    if largest == 0:
        raise BitrobustError("all conv/linear weights are zero; cannot scale them")
    s = float(target) / largest
    for p in params:
        p.mul_(s)
    return s


def _robustness(ev: PlannedEval, data_dir, progress: bool) -> str:
    from bitrobust.evaluation import ProfiledOffsets, RandomChips, TransientReads, evaluate_linf_noise, evaluate_robustness
    from bitrobust.models.checkpoint import load_checkpoint
    from bitrobust.device import resolve_device

    s = ev.settings
    device = resolve_device("auto")
    model, meta = load_checkpoint(ev.run.run_dir, device)
    quantizer, exclude = _quantizer(meta, s)
    loader = _test_loader(meta, data_dir, s.get("test_subset"), device)
    info: dict = {}
    if s.get("scale_to") is not None:
        info["err_before_scaling"] = evaluate_robustness(model, loader, quantizer, [], RandomChips(1), exclude=exclude).err
        info["scale_factor"] = scale_weights(model, s["scale_to"])
    kind = s["kind"]
    if kind == "linf":
        result = evaluate_linf_noise(model, loader, quantizer, s["rates"], s["chips"], exclude=exclude)
    else:
        rates = s.get("rates", [])
        if kind == "random":
            source = RandomChips(s["chips"], first=s["first_chip"])
        elif kind == "transient":
            source = TransientReads(s["chips"], seed=s["first_chip"])
        else:  # profiled: a synthetic chip with the statistics of a row of App. C.1's table
            from bitrobust.bit_errors.profiled import chip_offsets
            from bitrobust.bit_errors.synthetic import paper_chip

            chip = paper_chip(s["chip"], seed=s["chip_seed"])
            if s.get("persistent"):  # only the cells that flip on every read (Tab. 16)
                chip = chip.persistent()
            source = ProfiledOffsets(chip, tuple(chip_offsets(chip, s["offsets"])))
            rates = [source.rate]
            info["chip"] = {"name": s["chip"], "label": chip.name, **_chip_stats(chip)}
        result = evaluate_robustness(model, loader, quantizer, rates, source, exclude=exclude, progress=progress,
                                     batch_stats=bool(s.get("batch_stats")))
    ev.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(ev.out_dir / "eval_config.json", {"run": str(ev.run.run_dir), "label": ev.run.label, **s, **info,
                                                  "scheme_used": result.scheme, "bits_used": result.bits})
    write_json(ev.result_file, result.to_dict())
    parts = [f"Err {100 * result.err:.2f}%"] + [
        f"{'eps' if kind == 'linf' else 'p'}={100 * r.p:.3g}%: {100 * r.mean:.2f}%" for r in result.rates if r.p > 0
    ]
    return ", ".join(parts)


def _chip_stats(chip) -> dict:
    st = chip.stats()
    out = {}
    for key in ("p", "p_0t1", "p_1t0", "p_sa"):
        if hasattr(st, key):
            out[key] = float(getattr(st, key))
    return out


def _bnn_metrics(ev: PlannedEval, data_dir) -> str:
    from bitrobust.models.checkpoint import load_checkpoint
    from bitrobust.metrics.importance import NeuronImportance
    from bitrobust.metrics.tolerance import ToleranceMetric
    from bitrobust.models.bnn import BNN
    from bitrobust.device import resolve_device

    s = ev.settings
    device = resolve_device("auto")
    model, meta = load_checkpoint(ev.run.run_dir, device)
    if not isinstance(model, BNN):
        raise BitrobustError(f"run {ev.run.key}: T^b and Pi need a binarized network, not {meta['model']['name']!r}")
    if not meta.get("data", {}).get("raw", False):
        raise BitrobustError(f"run {ev.run.key}: T^b and Pi need raw pixel inputs (data.raw: true)")
    model.eval()
    batch = 500
    loader = _test_loader(meta, data_dir, s.get("test_subset"), device, batch)
    xs, ys = zip(*loader)
    x, y = torch.cat(xs), torch.cat(ys)
    with torch.no_grad():
        correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    bs = tuple(s["bs"])
    tol = ToleranceMetric(bs, batch).measure(model, x)
    imp = NeuronImportance(batch_size=batch).measure(model, x, y)
    layers = [
        {"layer": i + 1, "name": spec.notation(), "neurons": len(pi), "pi": pi.tolist(),
         "var_pi": float(pi.to(torch.float64).var(unbiased=False))}
        for i, (spec, pi) in enumerate(zip(model.specs[:-1], imp.per_layer()))
    ]
    result = {
        "run": str(ev.run.run_dir), "arch": model.arch, "n_examples": len(y), "test_error": 1 - correct / len(y),
        "bs": list(bs), "T": list(tol.values), "T_bar": tol.mean, "var_pi": imp.variance, "layers": layers,
    }
    ev.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(ev.out_dir / "eval_config.json", {"run": str(ev.run.run_dir), "label": ev.run.label, **s})
    write_json(ev.result_file, result)
    return f"Err {100 * result['test_error']:.2f}%, T-bar {tol.mean:.4f}, VAR(Pi) {imp.variance:.4g}"


@torch.no_grad()
def weight_statistics(model: nn.Module, loader, w_max: float | None) -> dict:
    """Histograms, weight relevance and ReLU relevance (module docstring) of ``model`` as it is."""
    kinds = {}
    for mname, module in model.named_modules():
        kind = ("conv" if isinstance(module, nn.Conv2d) else "linear" if isinstance(module, nn.Linear)
                else "norm" if "norm" in type(module).__name__.lower() else None)
        if kind:
            for pname, _ in module.named_parameters(recurse=False):
                kinds[f"{mname}.{pname}" if mname else pname] = kind
    params = [(n, p.detach().float().flatten().cpu()) for n, p in model.named_parameters()]
    largest = max(float(w.abs().max()) for _, w in params)
    ref = float(w_max) if w_max else largest
    tensors = []
    for name, w in params:
        amax = float(w.abs().max())
        relevance = float(w.abs().sum()) / amax if amax > 0 else 0.0
        hist = torch.histc((w / ref).clamp(-1, 1), bins=HIST_BINS, min=-1, max=1) if ref > 0 else torch.zeros(HIST_BINS)
        tensors.append({
            "name": name, "kind": kinds.get(name, "other"), "shape": list(w.shape), "numel": w.numel(), "max_abs": amax,
            "weight_relevance": relevance, "weight_relevance_fraction": relevance / w.numel(),
            "hist": [int(c) for c in hist.tolist()],
        })
    total = sum(float(w.abs().sum()) for _, w in params)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    relu = None
    if relus:
        counts = {"nonzero": 0, "total": 0}

        def hook(_module, _inputs, output):
            counts["nonzero"] += int((output != 0).sum())
            counts["total"] += output.numel()

        handle = relus[-1].register_forward_hook(hook)
        was_training = model.training
        model.eval()
        try:
            for x, _ in loader:
                model(x)
        finally:
            handle.remove()
            model.train(was_training)
        relu = counts["nonzero"] / max(counts["total"], 1)
    n = sum(w.numel() for _, w in params)
    return {
        "reference": ref, "reference_is_w_max": bool(w_max), "max_abs": largest, "hist_bins": HIST_BINS,
        "hist_range": [-1.0, 1.0], "weight_relevance": total / largest if largest > 0 else 0.0,
        "weight_relevance_fraction": (total / largest / n) if largest > 0 else 0.0, "relu_relevance": relu,
        "tensors": tensors,
    }


@torch.no_grad()
def relative_logit_error(model: nn.Module, state, data, source, p: float) -> list[float]:
    """Per trial c of ``source``: sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1 (module docstring),
    with ``state`` the model's quantized weights; the clean ones are loaded again afterwards."""
    from bitrobust.quantization import load_tensors

    was_training = model.training
    model.eval()
    xs = [x for x, _ in data]
    clean = [model(x).float() for x in xs]
    norm = sum(float(z.abs().sum()) for z in clean)
    if norm == 0:
        raise BitrobustError("the relative logit error is undefined: the clean logits are all zero")
    out = []
    try:
        for c in range(source.trials):
            load_tensors(model, state.with_errors(source.errors(c, p)).dequantize())
            diff = sum(float((model(x).float() - z).abs().sum()) for x, z in zip(xs, clean))
            out.append(diff / norm)
    finally:
        load_tensors(model, state.dequantize())
        model.train(was_training)
    return out


def _weights(ev: PlannedEval, data_dir) -> str:
    from bitrobust.evaluation import RandomChips
    from bitrobust.models.checkpoint import load_checkpoint
    from bitrobust.quantization import load_tensors, quantize_model
    from bitrobust.device import resolve_device

    s = ev.settings
    device = resolve_device("auto")
    model, meta = load_checkpoint(ev.run.run_dir, device)
    quantizer, exclude = _quantizer(meta, s)
    state = quantize_model(model, quantizer, exclude=exclude)
    load_tensors(model, state.dequantize())  # the weights in memory
    w_max = ((meta.get("config") or {}).get("strategy") or {}).get("clip_w_max")
    loader = _test_loader(meta, data_dir, s.get("test_subset"), device)
    result = {"run": str(ev.run.run_dir), **weight_statistics(model, loader, w_max)}
    rae = relative_logit_error(model, state, loader, RandomChips(s["rae_chips"]), s["rae_p"])
    result.update(relative_error=sum(rae) / len(rae), relative_error_per_chip=rae, relative_error_p=s["rae_p"])
    ev.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(ev.out_dir / "eval_config.json", {"run": str(ev.run.run_dir), "label": ev.run.label, **s})
    write_json(ev.result_file, result)
    relu = "n/a" if result["relu_relevance"] is None else f"{100 * result['relu_relevance']:.1f}%"
    return (f"weight relevance {result['weight_relevance_fraction']:.3f} of the weights, ReLU relevance {relu}, "
            f"relative logit error {100 * result['relative_error']:.1f}% at p={100 * s['rae_p']:g}%")


def evaluate(ev: PlannedEval, data_dir: str | os.PathLike | Path | None = None, progress: bool = True) -> str:
    """Run evaluation ``ev`` and write its result file; returns a one-line summary."""
    kind = ev.settings["kind"]
    if kind == "bnn_metrics":
        return _bnn_metrics(ev, data_dir)
    if kind == "weights":
        return _weights(ev, data_dir)
    return _robustness(ev, data_dir, progress)
