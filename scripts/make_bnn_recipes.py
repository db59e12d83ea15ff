"""Write the BNN recipes of this directory (papers 1 and 2); run from anywhere.

    python scripts/make_bnn_recipes.py          # (re)write every recipe
    python scripts/make_bnn_recipes.py --check  # exit 1 if a file differs from what it would write

The recipes are generated so that the many combinations (architecture x flip rate x
flip operator x budget, Table III widths x training BERs) stay consistent; edit this
file, not the YAML files, and rerun it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src" / "bitrobust" / "recipes" / "bnn"

RATES = (0, 1, 5, 10, 20, 30)  # flip rates p in %: Fig. 1 (papers 1 and 2: 0..20), bnn-native-vs-st (also 30)
MODES = {"st": "straight_through", "native": "native"}
TABLE3_RATES = (0, 1, 5, 10, 20, 30)  # training BERs of Table III
TABLE3_WIDTHS = {"fc": (8, 16, 32, 64, 128), "cnn": (8, 16, 32, 64)}
EVAL_RATES = "[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]"

# arch at full size (paper 1, Table II) and the quick budget's narrower arch, epochs, subset
NETS = {
    "fc": {
        "full": "FC2048-FC2048-10",
        "quick": "FC256-FC256-10",
        "quick_epochs": 5,
        "what": "fully connected BNN (FCBNN)",
    },
    "cnn": {
        "full": "C64-MP2-C64-MP2-FC2048-10",
        "quick": "C16-MP2-C16-MP2-FC512-10",
        "quick_epochs": 3,
        "what": "convolutional BNN (CBNN)",
    },
}


def _pct(p: int) -> str:
    return f"{p / 100:g}"


def _body(arch: str, params: list[str], epochs: int, chips: int) -> str:
    params_block = "  params:\n" + "\n".join(f"    {line}" for line in params)
    return f"""model:
  name: bnn
  kwargs:
    arch: {arch}
data:
  name: fashion_mnist
  raw: true  # integer pixels 0..255: first-layer inputs in {{0..Z}}, Z = 255 (paper 1, Sec. III)
  normalize: false
  augment: false
  batch_size: 128
quant: null  # the layers binarize; the checkpoint describes the 1-bit weight memory for `bitrobust eval`
optim:
  name: adam
  lr: 0.001
  weight_decay: 0.0
  schedule: every  # lr halved every 25 epochs (papers 1 and 2, Sec. V-A)
  every: 25
  gamma: 0.5
strategy:
  name: bnn
{params_block}
eval:
  rates: {EVAL_RATES}  # bit error rates of the accuracy-over-BER plots
  chips: {chips}
epochs: {epochs}
seed: 0
"""


def _flip_params(p: int, mode: str | None) -> list[str]:
    if p == 0:
        return ["p: 0.0  # no flips (the papers' \"no flips\" / \"regular\" BNN)"]
    return [f"p: {_pct(p)}  # flip rate {p} % at every forward pass", f"mode: {mode}"]


def fig1_recipes() -> dict[str, str]:
    out = {}
    for net, spec in NETS.items():
        for p in RATES:
            for key, mode in ({"": None} if p == 0 else {k: m for k, m in MODES.items()}).items():
                stem = f"fashion_{net}_p0" if p == 0 else f"fashion_{net}_{key}_p{p}"
                what = "no flip training" if p == 0 else f"flip training p = {p} % ({mode})"
                for budget in ("quick", "full"):
                    arch = spec[budget]
                    epochs = spec["quick_epochs"] if budget == "quick" else 100
                    if budget == "quick":
                        note = (f"Budget: quick -- {arch} (narrower than the paper's {spec['full']}), {epochs} epochs,\n"
                                f"# minutes on a CPU; the paper's setting is {stem}.full.yaml.")
                    else:
                        note = f"Budget: full -- the paper's {arch}, 100 epochs (Adam, lr 1e-3 halved every 25 epochs, batch 128)."
                    used_in = ("Papers 1 and 2, Fig. 1 (accuracy over BER; T^b over b)" if p <= 20 else
                               "Paper 2, native vs straight-through flip training (bnn-native-vs-st)")
                    head = (
                        f"# Fashion-MNIST {spec['what']}, {what}.\n"
                        f"# {used_in}.\n"
                        f"# {note}\n"
                        f"# Run: bitrobust train bnn/{stem}.{budget} --out runs/{stem}.{budget}\n"
                        f"#      bitrobust eval runs/{stem}.{budget} --errors transient --rates 0.01,0.05,0.1,0.2,0.3\n"
                        f"#      bitrobust metrics runs/{stem}.{budget}\n\n"
                    )
                    chips = 10 if budget == "quick" else 50
                    out[f"{stem}.{budget}.yaml"] = head + _body(arch, _flip_params(p, mode), epochs, chips)
    return out


def hinge_recipes() -> dict[str, str]:
    out = {}
    stem = "fashion_fc_hinge_b32_l1e-3"
    for budget in ("quick", "full"):
        arch = NETS["fc"][budget]
        epochs = NETS["fc"]["quick_epochs"] if budget == "quick" else 100
        head = (
            "# Fashion-MNIST FCBNN with the direct T-regularizer lambda * mean max(0, b - T), b = 32, lambda = 1e-3,\n"
            "# no flips (paper 2, Sec. IV-A, Fig. 2; the paper tries b in {32, 64, 128}, lambda in {1e-4, 1e-3, 1e-2}:\n"
            "# --set strategy.params.hinge_b=64 --set strategy.params.hinge_lambda=0.01).\n"
            f"# Budget: {budget} -- {arch}, {epochs} epochs.\n"
            f"# Run: bitrobust train bnn/{stem}.{budget} --out runs/{stem}.{budget}\n\n"
        )
        params = ["p: 0.0", "hinge_b: 32.0  # tolerance level b of the hinge", "hinge_lambda: 0.001  # weight lambda"]
        out[f"{stem}.{budget}.yaml"] = head + _body(arch, params, epochs, 10 if budget == "quick" else 50)
    return out


def table3_arch(net: str, width: int) -> str:
    return f"FC{width}-FC{width}-10" if net == "fc" else f"C{width}-MP2-C{width}-MP2-FC{2 * width}-10"


def table3_recipes() -> dict[str, str]:
    out = {}
    for net, widths in TABLE3_WIDTHS.items():
        epochs = 10 if net == "fc" else 3
        for width in widths:
            for p in TABLE3_RATES:
                stem = f"{net}{width}_p{p}"
                arch = table3_arch(net, width)
                head = (
                    f"# Table III{'a' if net == 'fc' else 'b'} of paper 1: Fashion-MNIST {arch}, training BER {p} % "
                    "(straight_through flips).\n"
                    f"# Budget: quick -- {epochs} epochs (the paper trains until convergence: --set epochs=100); the paper\n"
                    "# averages 10 repetitions: --set seed=1 ... --set seed=9. Then `bitrobust metrics RUN` gives VAR(Pi), T-bar.\n"
                    f"# Run: bitrobust train bnn/table3/{stem}.quick --out runs/table3/{stem}\n\n"
                )
                params = _flip_params(p, "straight_through")
                out[f"table3/{stem}.quick.yaml"] = head + _body(arch, params, epochs, 10)
    return out


def recipes() -> dict[str, str]:
    """Relative path -> file text of every recipe."""
    return {**fig1_recipes(), **hinge_recipes(), **table3_recipes()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for rel, text in recipes().items():
        path = HERE / rel
        if path.exists() and path.read_text() == text:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    orphans = sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.yaml") if str(p.relative_to(HERE)) not in recipes())
    if check and (stale or orphans):
        print("out of date: " + ", ".join(stale + [f"{o} (not generated)" for o in orphans]), file=sys.stderr)
        return 1
    print(("would write " if check else "wrote ") + f"{len(stale)} of {len(recipes())} recipes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
