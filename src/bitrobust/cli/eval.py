"""``bitrobust eval RUN_DIR``: robust test error of a saved model under bit errors."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitrobust.cli.common import DEFAULT_RATES, parse_rates, positive_int
from bitrobust.errors import BitrobustError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="robust test error (RErr) of a saved model under bit errors",
        description="Quantize a saved model, inject bit errors into its weight memory and report Err and "
        "RErr (mean/std/min/max over chips) per bit error rate. Writes robustness.json, .csv, .md and "
        ".png plus the resolved eval_config.json to --out (default: the run directory).",
    )
    p.add_argument("model", help="run directory or model.safetensors/.json checkpoint")
    p.add_argument("--rates", default=DEFAULT_RATES, help=f"comma-separated rates p, as fractions or with %% (default {DEFAULT_RATES})")
    p.add_argument("--chips", type=positive_int, default=50, help="number of persistent chips / trials (default 50)")
    p.add_argument("--first-chip", type=int, default=0,
                   help="number of the first chip (default 0; e.g. 1 to leave out chip 0, the pattern PattBET trains on)")
    p.add_argument("--errors", default="random",
                   help="random (persistent chips), transient (fresh flips per trial), profiled:FILE (.npy/.npz "
                   "chip map) or linf (uniform weight noise; --rates are then noise sizes relative to each tensor's range)")
    p.add_argument("--offsets", type=positive_int, default=10, help="offsets into a profiled chip map (default 10)")
    p.add_argument("--bits", type=int, help="precision m (default: the model's training precision)")
    p.add_argument("--scheme", help="quantization scheme (default: the model's; e.g. normal, rquant)")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--test-subset", type=positive_int, help="evaluate on a stratified subset of the test set")
    p.add_argument("--batch-size", type=positive_int, default=1000)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="output directory (default: the run directory)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def error_source(spec: str, chips: int, offsets: int, first_chip: int = 0):
    from bitrobust.evaluation.sources import RandomChips, TransientReads

    if spec == "linf":
        return None
    if spec == "random":
        return RandomChips(chips, first=first_chip)
    if spec == "transient":
        return TransientReads(chips, seed=first_chip)
    if spec.startswith("profiled:"):
        from bitrobust.evaluation.sources import ProfiledOffsets

        return ProfiledOffsets.from_file(spec.split(":", 1)[1], offsets)
    raise BitrobustError(f"unknown --errors {spec!r}; valid: random, transient, profiled:FILE")


def run(args: argparse.Namespace) -> int:
    from bitrobust.data import Loader, load_dataset
    from bitrobust.evaluation.robustness import evaluate_robustness
    from bitrobust.io import write_json
    from bitrobust.models.checkpoint import checkpoint_paths, load_checkpoint
    from bitrobust.quantization import FixedPointQuantizer
    from bitrobust.reports.robustness import write_robustness
    from bitrobust.device import resolve_device

    rates = parse_rates(args.rates)
    source = error_source(args.errors, args.chips, args.offsets, args.first_chip)
    if source is not None and hasattr(source, "rate"):  # a profiled chip map has its own rate
        rates = [source.rate]
    device = resolve_device(args.device)
    model, meta = load_checkpoint(args.model, device)
    quant = meta.get("quant") or {}
    bits = args.bits if args.bits is not None else quant.get("bits")
    if bits is None:
        raise BitrobustError("the model was trained without quantization: pass --bits")
    quantizer = FixedPointQuantizer(bits, args.scheme or quant.get("scheme", "rquant"), **(quant.get("overrides") or {}))
    data_meta = meta.get("data", {})
    test = load_dataset(data_meta.get("name", "mnist"), "test", data_dir=args.data_dir)
    if args.test_subset:
        test = test.subset(args.test_subset)
    loader = Loader(  # the input convention of training (normalized, [0, 1] or raw pixels 0..255)
        test, batch_size=args.batch_size, device=device,
        normalize=data_meta.get("normalize", True), raw=data_meta.get("raw", False),
    )
    exclude = quant.get("exclude", ())
    if source is None:
        from bitrobust.evaluation.linf import evaluate_linf_noise

        result = evaluate_linf_noise(model, loader, quantizer, rates, args.chips, exclude=exclude)
    else:
        result = evaluate_robustness(model, loader, quantizer, rates, source, exclude=exclude, progress=not args.no_progress)
    out = Path(args.out) if args.out else checkpoint_paths(args.model)[0].parent
    write_json(out / "eval_config.json", {
        "model": str(args.model), "rates": rates, "errors": args.errors, "trials": args.chips if source is None else source.trials,
        "first_chip": args.first_chip,
        "bits": bits, "scheme": quantizer.scheme.__dict__, "dataset": data_meta.get("name"), "test_subset": args.test_subset,
    })
    paths = write_robustness(result, out, name=meta["model"]["name"])
    print(f"Err {100 * result.err:.2f}%")
    for r in result.rates:
        print(f"p={100 * r.p:g}%: RErr {100 * r.mean:.2f} ± {100 * r.std:.2f}% (min {100 * r.min:.2f}, max {100 * r.max:.2f})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
