"""``bitrobust metrics RUN_DIR``: bit error tolerance metrics of a saved BNN (papers 1 and 2).

Computes the neuron-level tolerance tuple T = (T^b for b in --bs) and its mean T-bar
(paper 1, Sec. III), and the neuron importance Pi of every hidden neuron with VAR(Pi)
(Sec. IV), on the test set in the model's training input convention (raw pixels).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bitrobust.cli.common import positive_int
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
    import torch

    from bitrobust.data import Loader, load_dataset
    from bitrobust.io import write_json
    from bitrobust.models.checkpoint import checkpoint_paths, load_checkpoint
    from bitrobust.metrics.importance import NeuronImportance
    from bitrobust.metrics.tolerance import ToleranceMetric
    from bitrobust.models.bnn import BNN
    from bitrobust.reports.bnn import plot_importance, plot_tolerance
    from bitrobust.device import resolve_device

    bs = parse_bs(args.bs)
    device = resolve_device(args.device)
    model, meta = load_checkpoint(args.model, device)
    name = meta["model"]["name"]
    if not isinstance(model, BNN):
        raise BitrobustError(f"bitrobust metrics needs a binarized network (bnn, bnn_fc, ...); {name!r} is not one")
    if model.num_hidden_neurons() == 0:
        raise BitrobustError(f"BNN {model.arch!r} has no hidden layer: T^b and Pi are defined on hidden neurons")
    data_meta = meta.get("data", {})
    if not data_meta.get("raw", False):
        raise BitrobustError(
            "T^b and Pi need the integer pixel inputs 0..255 BNNs are trained on, but this model was trained "
            "on scaled inputs (data.raw: false); retrain with data.raw: true, data.normalize: false"
        )
    model.eval()
    test = load_dataset(data_meta.get("name", "mnist"), "test", data_dir=args.data_dir)
    if args.test_subset:
        test = test.subset(args.test_subset)
    loader = Loader(test, batch_size=args.batch_size, device=device, raw=True)
    xs, ys = zip(*loader)
    x, y = torch.cat(xs), torch.cat(ys)

    start = time.perf_counter()
    with torch.no_grad():
        correct = sum(int((model(x[i : i + args.batch_size]).argmax(1) == y[i : i + args.batch_size]).sum())
                      for i in range(0, len(x), args.batch_size))
    tol = ToleranceMetric(bs, args.batch_size).measure(model, x)
    imp = NeuronImportance(batch_size=args.batch_size).measure(model, x, y)
    seconds = time.perf_counter() - start

    layer_names = [f"layer {i + 1}: {spec.notation()}" for i, spec in enumerate(model.specs[:-1])]
    per_layer = imp.per_layer()
    result = {
        "model": str(args.model),
        "name": name,
        "arch": model.arch,
        "dataset": data_meta.get("name"),
        "test_subset": args.test_subset,
        "n_examples": len(y),
        "test_error": 1 - correct / len(y),
        "bs": list(bs),
        "T": list(tol.values),
        "T_bar": tol.mean,
        "var_pi": imp.variance,
        "layers": [
            {"layer": i + 1, "name": spec.notation(), "neurons": len(pi), "pi": pi.tolist(), "mean_pi": float(pi.mean()),
             "var_pi": float(pi.to(torch.float64).var(unbiased=False))}
            for i, (spec, pi) in enumerate(zip(model.specs[:-1], per_layer))
        ],
        "seconds": seconds,
    }
    out = Path(args.out) if args.out else checkpoint_paths(args.model)[0].parent
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "tolerance.png", out / "importance.png"]
    write_json(paths[0], result)
    label = f"{name} {model.arch}" if name != "bnn" else model.arch
    plot_tolerance({label: (bs, tol.values)}, paths[1], title=f"Neuron-level bit error tolerance $T^b$ ({data_meta.get('name')} test set)")
    plot_importance({label: per_layer}, paths[2], layer_names)
    print(f"Err {100 * result['test_error']:.2f}% on {len(y)} test examples")
    print("T = (" + ", ".join(f"T^{b:g}={v:.4f}" for b, v in zip(bs, tol.values)) + f"), T-bar {tol.mean:.4f}")
    print(f"VAR(Pi) {imp.variance:.4g} over {len(imp.pi)} hidden neurons ({', '.join(layer_names)})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
