"""Write the hand-made run directories under run_dirs/ (run once; the files are checked in).

Numbers are paper 3's CIFAR-10 results (Tab. 18 means; stds from Tab. 9 where given,
otherwise made up). Each rate's per-chip RErr list is l/2 chips at mean - std and l/2
at mean + std, so the stored mean and (population) std are exactly the table's values;
the same for confidences with a spread of 0.01.

    python tests/reports/golden/make_runs.py
"""

import json
from pathlib import Path

from bitrobust.evaluation.robustness import RobustnessResult

HERE = Path(__file__).parent / "run_dirs"
SCHEME_NORMAL = {"range": "per_tensor", "symmetric": True, "signed": True, "rounding": "trunc"}
SCHEME_RQUANT = {"range": "per_tensor", "symmetric": False, "signed": False, "rounding": "round"}

# name: (bits, scheme, l, Err %, clean conf %, {p %: (RErr mean %, std %, conf %)})
RUNS = {
    "normal_8bit": (8, SCHEME_NORMAL, 50, 4.36, 97.0,
                    {0.01: (4.82, 0.07, 96.5), 0.1: (6.37, 0.32, 95.0), 0.5: (24.76, 4.71, 80.0), 1: (72.65, 6.35, 40.0)}),
    "clipping_0.15": (8, SCHEME_RQUANT, 50, 4.42, 96.0,
                      {0.01: (4.66, 0.05, 95.8), 0.1: (5.31, 0.12, 95.2), 0.5: (7.81, 0.60, 92.0), 1: (13.08, 2.21, 86.0)}),
    "randbet_0.05_p1": (8, SCHEME_RQUANT, 50, 5.24, 94.0,
                        {0.01: (5.36, 0.03, 93.9), 0.1: (5.60, 0.07, 93.6), 0.5: (6.18, 0.13, 92.8), 1: (6.73, 0.15, 92.0)}),
    "randbet_m4": (4, SCHEME_RQUANT, 4, 5.51, 93.0,
                   {0.1: (5.87, 0.08, 92.6), 0.5: (6.38, 0.20, 91.9), 1: (6.98, 0.30, 91.0)}),
}


def chips(mean: float, spread: float, l: int) -> list[float]:
    return [round((mean - spread) / 100, 10)] * (l // 2) + [round((mean + spread) / 100, 10)] * (l // 2)


for name, (bits, scheme, l, err, conf, rates) in RUNS.items():
    out = HERE / name
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "err": round(err / 100, 10), "confidence": round(conf / 100, 10), "n_examples": 10000, "source": "random", "trials": l,
        "bits": bits, "scheme": scheme,
        "rates": [{"p": p / 100, "rerr": chips(m, s, l), "confidence": chips(c, 1.0, l)} for p, (m, s, c) in rates.items()],
    }
    # the layout `bitrobust eval` writes (RobustnessResult.to_dict), one rate per line
    full = RobustnessResult.from_dict(result).to_dict()
    head = json.dumps({k: v for k, v in full.items() if k != "rates"}, indent=1)[:-2]
    body = ",\n".join("  " + json.dumps(r) for r in full["rates"])
    (out / "robustness.json").write_text(f'{head},\n "rates": [\n{body}\n ]\n}}\n')
