"""``bitrobust eval RUN_DIR``: evaluate a saved model -- RErr under bit errors, or any other evaluation kind."""

from __future__ import annotations

import argparse

from bitrobust.cli.common import data_dir_arg, nonnegative_int, output_dir, parse_rates, positive_float, positive_int
from bitrobust.errors import BitrobustError

KINDS = ("random", "transient", "profiled", "linf", "vulnerability", "weights", "weight_errors", "logits", "bnn_metrics",
         "activations")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="robust test error (RErr) of a saved model under bit errors, or another evaluation kind",
        description="Quantize a saved model, inject bit errors into its weight memory and report Err and "
        "RErr (mean/std/min/max over chips) per bit error rate; for a language model (trained on a text) "
        "the next-token error and the perplexity the same way. Writes robustness.json, .csv, .md and "
        ".png plus the resolved eval_config.json to --out (default: the run directory). Other kinds: "
        "profiled chip maps, L-inf weight noise, weight statistics (weights.json), perturbed weights "
        "(weight_errors.json), logit and confidence histograms (logits.json), BNN metrics (metrics.json), "
        "vulnerability maps (vulnerability.json, .csv, .md, .png), bit errors in activation buffers (--kind "
        "activations --activations GLOBS). Protection, targeting and SECDED ECC (--protect-bits ... --ecc-policy) "
        "apply to the weight bit-error kinds (random, transient, profiled, vulnerability, activations).",
    )
    p.add_argument("model", help="run directory or model.safetensors/.json checkpoint")
    p.add_argument("--kind", choices=KINDS, default=None,
                   help="random: persistent chips (default); transient: fresh flips per trial; profiled: a chip map "
                   "(--chip); linf: uniform weight noise, --rates are then noise sizes relative to each tensor's "
                   "range; weights: weight statistics and redundancy (paper 3, Fig. 10); weight_errors: original vs "
                   "perturbed weights of chip --first-chip at --rates (Fig. 4); vulnerability: RErr with errors in one "
                   "tensor x one bit position at one rate (--rates, default 1%%; --chips default 5; budget: "
                   "--tensors, --bit-positions), a table, heatmap and ranking; logits: largest-logit and confidence "
                   "histograms, clean and at --rates (Fig. 6); bnn_metrics: T^b, Pi, "
                   "VAR(Pi) of a BNN (as bitrobust metrics, without plots); activations: bit errors in the buffers "
                   "that hold chosen modules' outputs (--activations)")
    p.add_argument("--errors", help=argparse.SUPPRESS)  # before --kind: random, transient, linf or profiled:FILE
    p.add_argument("--rates", help="comma-separated rates p, as fractions or with %% (default: the eval section of "
                   "the run's recipe, else 0.01%%,0.05%%,0.1%%,0.5%%,1%%,5%%,10%%,15%%; vulnerability and logits: 1%%, "
                   "weight_errors: 2.5%%)")
    p.add_argument("--chips", type=positive_int,
                   help="number of persistent chips / trials (default: the run's recipe, else 50; logits: else 10; "
                   "vulnerability: 5)")
    p.add_argument("--first-chip", type=nonnegative_int,
                   help="number of the first chip (default 0; e.g. 1 to leave out chip 0, the pattern PattBET trains on)")
    p.add_argument("--chip", help="profiled: a chip map file (.npy/.npz) or a row of paper 3's App. C.1 table "
                   "(a synthetic chip with its statistics, e.g. chip1_2.744)")
    p.add_argument("--chip-seed", type=nonnegative_int, help="profiled: seed of a synthetic chip (default 0)")
    p.add_argument("--offsets", type=positive_int, help="profiled: offsets into the chip map (default 10)")
    p.add_argument("--persistent", action="store_const", const=True,
                   help="profiled: only the cells that flip on every read (paper 3, Tab. 16)")
    p.add_argument("--activations", metavar="GLOBS",
                   help="activations: the modules whose outputs are stored in faulty buffers, comma-separated globs "
                   "over the model's module names (e.g. 'features.*' or 'conv1,conv2')")
    p.add_argument("--act-mode", choices=("transient", "persistent"),
                   help="activations: fresh flips at every forward pass (transient, default) or the same faulty "
                   "buffer cells for every example (persistent chips)")
    p.add_argument("--act-format", help="activations: the buffer format, a --format name with one range per "
                   "tensor: int8 (default), int1..int8, normal1..normal8 (fixed point, ranges calibrated on "
                   "training examples), fp32, fp16, bf16, fp8_e4m3 or fp8_e5m2")
    p.add_argument("--act-calibration", type=positive_int, metavar="N",
                   help="activations: calibrate the ranges on the first N training examples (default 1000)")
    p.add_argument("--act-protect", metavar="BITS",
                   help="activations: comma-separated bit positions stored reliably, e.g. msb or 7,6")
    p.add_argument("--act-weights", action="store_const", const=True,
                   help="activations: read the weights through the same chips at the same rate too")
    p.add_argument("--tensors", help="vulnerability: comma-separated tensor-name globs to map (default: all)")
    p.add_argument("--bit-positions", help="vulnerability: comma-separated bit positions to map, 0 = least "
                   "significant (default: all of the format's data words)")
    p.add_argument("--bits", type=int, help="precision m (default: the model's training precision)")
    p.add_argument("--scheme", help="quantization scheme (default: the model's; e.g. normal, rquant)")
    p.add_argument("--format", help="number format the weights are stored in instead of --bits/--scheme, e.g. "
                   "int8_channel, int4_g128, fp16, bf16, fp8_e4m3 (default: the model's; see docs/concepts.md)")
    p.add_argument("--protect-bits", help="bit positions stored in reliable memory (they never flip): msb, sign, "
                   "exponent, mantissa or positions 0..m-1, comma-separated, e.g. msb or sign,exponent (resolved per "
                   "format: msb = bit m-1; sign/exponent/mantissa of float words; metadata words as fp16)")
    p.add_argument("--protect-tensors", help="comma-separated tensor-name globs stored in reliable memory, e.g. 'fc*'")
    p.add_argument("--target-tensors", help="confine the errors to these tensors (comma-separated name globs; "
                   "default: all); the ECC check bits then read error-free")
    p.add_argument("--target-bits", help="confine the errors to these bit positions (same spelling as "
                   "--protect-bits; default: all)")
    p.add_argument("--expose-metadata", action="store_const", const=True,
                   help="let the metadata words (per-channel/group scales and zero points) flip too (default: "
                   "reliable)")
    p.add_argument("--ecc", help="SECDED ECC over k-bit chunks of the data region: secded8, secded16, secded32 or "
                   "secded64 (= (72, 64)); its check bits are stored after the metadata and can flip")
    p.add_argument("--ecc-policy", help="on a detected, uncorrectable codeword: keep (use the bits as read; "
                   "default) or zero (zero its data bits)")
    p.add_argument("--batch-stats", action="store_const", const=True,
                   help="normalize with the statistics of each test batch (paper 3, Tab. 10)")
    p.add_argument("--scale-to", type=positive_float,
                   help="scale conv/linear weights so their largest magnitude is this before quantizing (Tab. 11)")
    p.add_argument("--rerr", choices=("plain", "official"),
                   help="plain (default): the perturbed model's error, as paper 3's text defines RErr; official: an "
                   "example is wrong if the clean or the perturbed model gets it wrong, as paper 3's reference code "
                   "computes its tables (use with --test-first 9000 to compare with them)")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--test-subset", type=positive_int, help="evaluate on a stratified subset of the test set")
    p.add_argument("--test-first", type=positive_int, help="evaluate on the first N test examples")
    p.add_argument("--batch-size", type=positive_int,
                   help="test examples per forward pass (default 1000; bnn_metrics 500). On a CPU 64 is about twice "
                   "as fast; outputs may differ from another batch size's in the last bits (recorded in "
                   "eval_config.json)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="output directory (default: the run directory)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _kind_and_chip(args: argparse.Namespace) -> tuple[str, str | None]:
    """The evaluation kind and chip from --kind/--chip, or from the older --errors spelling."""
    if args.errors is None:
        return args.kind or "random", args.chip
    if args.kind is not None:
        raise BitrobustError("give --kind (or the older --errors), not both")
    kind, _, chip = args.errors.partition(":")
    if kind not in ("random", "transient", "linf", "profiled") or bool(chip) != (kind == "profiled"):
        raise BitrobustError(f"unknown --errors {args.errors!r}; valid: random, transient, linf, profiled:FILE")
    return kind, chip or args.chip


def parse_positions(text: str | None) -> tuple[int, ...] | None:
    """Comma-separated bit positions (None: not given).

    >>> parse_positions("7, 0")
    (7, 0)
    """
    if text is None:
        return None
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise BitrobustError(f"invalid bit positions {text!r} (use e.g. 0,7)") from None


def settings_from_args(args: argparse.Namespace, recipe_eval: dict | None = None):
    """The frozen settings of the chosen evaluation kind from the command line (unset flags: the run's
    recipe or the kind's defaults)."""
    from bitrobust.evaluation import EVAL_KINDS

    kind, chip = _kind_and_chip(args)
    values = {
        "rates": parse_rates(args.rates) if args.rates is not None else None, "chips": args.chips,
        "first_chip": args.first_chip, "scheme": args.scheme, "bits": args.bits, "batch_stats": args.batch_stats,
        "scale_to": args.scale_to, "test_subset": args.test_subset, "chip_seed": args.chip_seed,
        "offsets": args.offsets, "persistent": args.persistent, "rerr": args.rerr, "test_first": args.test_first,
        "format": args.format, "protect_bits": args.protect_bits, "protect_tensors": args.protect_tensors,
        "target_tensors": args.target_tensors, "target_bits": args.target_bits,
        "expose_metadata": args.expose_metadata, "ecc": args.ecc, "ecc_policy": args.ecc_policy,
        "tensors": args.tensors, "positions": parse_positions(args.bit_positions),
        "modules": args.activations, "mode": args.act_mode, "act_format": args.act_format,
        "calibration_examples": args.act_calibration, "with_weight_errors": args.act_weights,
        "protect": tuple(b.strip() for b in args.act_protect.split(",") if b.strip()) if args.act_protect else None,
    }
    if chip is not None:
        from bitrobust.bit_errors.synthetic import PAPER_CHIPS

        values["chip" if chip in PAPER_CHIPS else "chip_file"] = chip
    return EVAL_KINDS.get(kind).settings(values, recipe_eval)


def check_recipe_eval(loaded) -> dict:
    """The ``eval`` section of the run's recipe (defaults of unset flags), checked like a recipe's."""
    from bitrobust.config import from_dict
    from bitrobust.training.config import EvalSection

    from_dict(EvalSection, loaded.recipe_eval, f"{loaded.path}: config.eval")
    return loaded.recipe_eval


def run(args: argparse.Namespace) -> int:
    from bitrobust.device import init_distributed, is_main_process, local_device
    from bitrobust.evaluation import EVAL_KINDS, evaluate, load_run
    from bitrobust.models.checkpoint import checkpoint_paths
    from bitrobust.reports.robustness import write_robustness
    from bitrobust.reports.vulnerability import write_vulnerability

    settings_from_args(args)  # validate the flags before loading anything
    out = output_dir(args.out or checkpoint_paths(args.model)[0].parent)  # default: the run directory
    data_dir_arg(args.data_dir)
    device = local_device(args.device)
    init_distributed(device)  # under torchrun: the chips are split across the ranks
    loaded = load_run(args.model, device)
    settings = settings_from_args(args, check_recipe_eval(loaded))
    kind = EVAL_KINDS.get(settings.kind)
    outcome = evaluate(loaded, settings, out, data_dir=args.data_dir, progress=not args.no_progress,
                       batch_size=args.batch_size)
    if not is_main_process():
        return 0
    paths = [out / "eval_config.json", out / kind.result_file]
    if kind.result_file == "robustness.json":
        result = outcome.native
        paths += write_robustness(result, out, name=loaded.name)
        print(f"Err {100 * result.err:.2f}%")
        for r in result.rates:
            nonfinite = sum(r.nonfinite) / len(r.nonfinite) if any(r.nonfinite) else 0.0
            print(f"p={100 * r.p:g}%: RErr {100 * r.mean:.2f} ± {100 * r.std:.2f}% "
                  f"(min {100 * r.min:.2f}, max {100 * r.max:.2f})"
                  + (f", non-finite outputs {100 * nonfinite:.2f}%" if nonfinite else "")
                  + (f", ECC per chip: {r.summary()['ecc_corrected_mean']:g} corrected, "
                     f"{r.summary()['ecc_detected_mean']:g} detected of {result.ecc_codewords} codewords"
                     if r.ecc_corrected else ""))
    else:
        if kind.result_file == "vulnerability.json":
            paths += write_vulnerability(outcome.native, out)
        print(kind.summary(outcome, settings))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
