"""``bitrobust energy RUN_DIR... --max-increase 1%``: energy saved by running each model at low voltage."""

from __future__ import annotations

import argparse
import math

from bitrobust.cli.common import output_dir
from bitrobust.errors import BitrobustError


def parse_fraction(text: str) -> float:
    """"1%" -> 0.01, "0.01" -> 0.01; a finite number >= 0."""
    item = text.strip()
    try:
        value = float(item[:-1]) / 100 if item.endswith("%") else float(item)
    except ValueError:
        raise BitrobustError(f"invalid --max-increase {text!r} (use e.g. 1% or 0.01)") from None
    if not 0 <= value < math.inf:
        raise BitrobustError(f"--max-increase must be a finite number >= 0, got {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "energy",
        help="highest tolerated bit error rate per model and the SRAM energy it saves",
        description="For each run directory (evaluated with `bitrobust eval`), find the highest evaluated bit "
        "error rate p at which RErr stays within the reference Err + --max-increase, and map p to normalized "
        "supply voltage and SRAM access energy with an energy model (default: built from paper 3's "
        "statements, see docs/energy.md). Writes energy.md, energy.json and energy.png to --out.",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (or robustness.json files)")
    p.add_argument("--out", help="output directory (required unless --show-model)")
    p.add_argument("--max-increase", default="1%",
                   help="allowed RErr increase over the reference Err, in percentage points (1%%) or as a fraction (0.01); default 1%%")
    p.add_argument("--reference", metavar="RUN_DIR",
                   help="take the reference Err from this run (e.g. a normally trained 8-bit model, as in the paper); "
                   "default: each model's own clean Err")
    p.add_argument("--energy-model", metavar="CSV",
                   help="CSV with columns voltage,bit_error_rate,energy (one row with bit_error_rate 0 = V_min)")
    p.add_argument("--criterion", choices=("mean", "bound"), default="mean",
                   help="compare the mean RErr (default) or its Prop. 1 upper bound (App. C.2) with the limit")
    p.add_argument("--delta", type=float, default=0.01, help="Prop. 1 bound at confidence 1 - delta (default 0.01)")
    p.add_argument("--ecc", metavar="CODE",
                   help="the SECDED ECC whose storage overhead n/k multiplies every access energy (e.g. 72/64 = 1.125). "
                   "Default: each run's own, read from its robustness.json (evaluated with `bitrobust eval --ecc`; "
                   "none for runs without ECC); secded8, secded16, secded32 or secded64 (the (72, 64) code) charges "
                   "that code to every run; none charges no ECC")
    p.add_argument("--storage", choices=("auto", "bits", "access"), default="auto",
                   help="charge each run's stored bits per weight b = (data + metadata bits) / weights, relative to "
                   "8-bit words: energy x (D n/k + M) / (8 W) (e.g. int4_g128: b = 4.25, x 0.53; bf16: x 2). auto "
                   "(default): for runs evaluated in a number format (--format), paper 3's energy per access for "
                   "--bits/--scheme runs; bits: for every run (m-bit runs: x m/8); access: for none")
    p.add_argument("--names", choices=("config", "dir"), default="config",
                   help="model names from the training config (default) or the directory names")
    p.add_argument("--show-model", action="store_true", help="print the energy model as CSV and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.metrics.bounds import excess_term
    from bitrobust.reports.energy import EnergyModel, EnergySettings, energy_savings, write_energy

    model = EnergyModel.from_csv(args.energy_model) if args.energy_model else EnergyModel.default()
    if args.show_model:
        print(model.to_csv(), end="")
        return 0
    if not args.runs:
        raise BitrobustError("no run directories given (or pass --show-model)")
    if not args.out:
        raise BitrobustError("--out is required")
    settings = EnergySettings(parse_fraction(args.max_increase), args.criterion, args.delta, args.ecc, args.storage)
    out = output_dir(args.out)
    excess_term(1, 1, args.delta)  # validates delta
    from bitrobust.reports.runs import load_run, load_runs

    runs = load_runs(args.runs, name_from=args.names)
    reference = load_run(args.reference, args.names) if args.reference else None
    ref_name = None if reference is None else f"{reference.name} ({reference.path.name}, Err {100 * reference.result.err:.2f}%)"
    results = energy_savings(runs, model, settings, reference)
    paths = write_energy(results, model, settings, out, ref_name)
    for r in results:
        if r.p is None:
            print(f"{r.name}: Err {100 * r.err:.2f}% is above the limit {100 * r.limit:.2f}%")
        else:
            more = "at least " if r.clamped else ""
            what = "RErr" if settings.criterion == "mean" else "RErr bound"
            stored = "" if r.bits_per_weight is None else f" ({r.bits_per_weight:.4g} bits per weight)"
            stored += "" if r.ecc is None else f" (ECC {r.ecc} charged)"
            print(f"{r.name}: p={100 * r.p:g}% ({what} {100 * r.rerr:.2f}% <= {100 * r.limit:.2f}%): "
                  f"V/V_min {r.voltage:.3f}, energy {r.energy:.3f}{stored}, {more}{100 * r.savings:.1f}% saved")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
