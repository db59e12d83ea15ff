"""``bitrobust metrics RUN_DIR``: bit error tolerance metrics of a saved BNN (papers 1 and 2).

Computes the neuron-level tolerance tuple T = (T^b for b in --bs) and its mean T-bar
(paper 1, Sec. III), and the neuron importance Pi of every hidden neuron with VAR(Pi)
(Sec. IV), on the test set in the model's training input convention (raw pixels).
"""

from __future__ import annotations

import argparse
import time

from bitrobust.cli.common import data_dir_arg, output_dir, positive_int
from bitrobust.errors import BitrobustError


def parse_bs(text: str) -> tuple[float, ...]:
    """Comma-separated tolerance levels b >= 0, e.g. "2,4,8,16,32,64"."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            b = float(item)
        except ValueError:
            raise BitrobustError(f"invalid tolerance level b {item!r} (use e.g. --bs 2,4,8,16,32,64)") from None
        if not b >= 0 or b == float("inf"):
            raise BitrobustError(f"tolerance level b must be a finite number >= 0, got {item}")
        out.append(b)
    if not out:
        raise BitrobustError("no tolerance levels b given")
    return tuple(out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "metrics",
        help="bit error tolerance metrics of a saved BNN: T^b, T-bar, neuron importance Pi, VAR(Pi)",
        description="For a saved binarized network, compute the neuron-level bit error tolerance T^b "
        "for each b, its mean T-bar, the neuron importance Pi of every hidden neuron and VAR(Pi) on the "
        "test set (papers 1 and 2). Writes metrics.json, tolerance.png (T^b over b) and importance.png "
        "(Pi per neuron per layer) to --out (default: the run directory).",
    )
    p.add_argument("model", help="run directory or model.safetensors/.json checkpoint of a BNN")
    p.add_argument("--bs", default="2,4,8,16,32,64", help="tolerance levels b (default 2,4,8,16,32,64)")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--test-subset", type=positive_int, help="use a stratified subset of the test set")
    p.add_argument("--batch-size", type=positive_int, default=500, help="inputs per batch (default 500)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="output directory (default: the run directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.device import is_main_process, local_device
    from bitrobust.evaluation import EVAL_KINDS, evaluate, load_run
    from bitrobust.models.checkpoint import checkpoint_paths
    from bitrobust.reports.bnn import plot_importance, plot_tolerance

    settings = EVAL_KINDS.get("bnn_metrics").settings({"bs": parse_bs(args.bs), "test_subset": args.test_subset})
    out = output_dir(args.out or checkpoint_paths(args.model)[0].parent)  # default: the run directory
    data_dir_arg(args.data_dir)
    loaded = load_run(args.model, local_device(args.device))
    start = time.perf_counter()
    outcome = evaluate(loaded, settings, out, data_dir=args.data_dir, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    if not is_main_process():
        return 0
    result, (tol, imp) = outcome.result, outcome.native
    model = loaded.model
    layer_names = [f"layer {i + 1}: {spec.notation()}" for i, spec in enumerate(model.specs[:-1])]
    paths = [out / "eval_config.json", out / "metrics.json", out / "tolerance.png", out / "importance.png"]
    label = f"{loaded.name} {model.arch}" if loaded.name != "bnn" else model.arch
    plot_tolerance({label: (settings.bs, tol.values)}, paths[2],
                   title=f"Neuron-level bit error tolerance $T^b$ ({loaded.dataset} test set)")
    plot_importance({label: imp.per_layer()}, paths[3], layer_names)
    print(f"Err {100 * result['test_error']:.2f}% on {result['n_examples']} test examples ({seconds:.1f} s)")
    print("T = (" + ", ".join(f"T^{b:g}={v:.4f}" for b, v in zip(settings.bs, tol.values)) + f"), T-bar {tol.mean:.4f}")
    print(f"VAR(Pi) {imp.variance:.4g} over {len(imp.pi)} hidden neurons ({', '.join(layer_names)})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
