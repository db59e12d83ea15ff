"""Store the inputs of the experiment report goldens from a smoke reproduce (run once; the files are checked in).

    for n in p3-table2 p3-table5 p3-fig10 bnn-hinge bnn-fig2 bnn-table3 bnn-native-vs-st; do
        BITROBUST_DATA=... python -m bitrobust reproduce $n --smoke --out /tmp/rep-smoke; done
    python tests/reports/golden/experiments/make_fixtures.py /tmp/rep-smoke
    BITROBUST_UPDATE_GOLDEN=1 pytest tests/reports/test_experiment_report.py   # writes <name>/expected/

For each experiment, ``<name>/input.json`` is its report input as
``bitrobust.experiments.report_input.report_input`` builds it from the plan, with each
evaluation's result JSON replaced by the path of a copy under ``results/`` (mirroring
``runs/<run>/evals/<evaluation>/``); paths under the output directory become relative
(``runs/...``), the recipe directory becomes ``configs``, the version 0.1.0.
"""

import dataclasses
import json
import sys
from pathlib import Path

import bitrobust.experiments.report_input as adapter
from bitrobust.experiments import EXPERIMENTS
from bitrobust.experiments.plan import make_plan
from bitrobust.experiments.recipes import find_configs_dir

HERE = Path(__file__).parent
NAMES = ("p3-table2", "p3-table5", "p3-fig10", "bnn-hinge", "bnn-fig2", "bnn-table3", "bnn-native-vs-st")


def relative(obj, out: Path):
    """Strings under ``out`` made relative to it, in any JSON value."""
    if isinstance(obj, dict):
        return {k: relative(v, out) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relative(v, out) for v in obj]
    if isinstance(obj, str) and obj.startswith(f"{out}/"):
        return obj[len(f"{out}/"):]
    return obj


def main(out: Path) -> None:
    out = out.resolve()
    adapter.read_json = lambda path, what: {"file": str(Path(path).relative_to(out / "runs"))}  # record, don't load
    for name in NAMES:
        plan = make_plan(EXPERIMENTS.get(name), "quick", out, find_configs_dir(), smoke=True)
        data = json.loads(json.dumps(dataclasses.asdict(adapter.report_input(plan)), default=str))
        for section in data["sections"]:
            for entry in section["entries"]:
                for ev in entry["evaluations"] + entry["extra"]:
                    rel = ev.pop("result")["file"]
                    target = HERE / "results" / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    stored = relative(json.loads((out / "runs" / rel).read_text()), out)
                    target.write_text(json.dumps(stored) + "\n")
                    ev["result"] = f"results/{rel}"
        data.update(configs_dir="configs", version="0.1.0")
        (HERE / name).mkdir(exist_ok=True)
        (HERE / name / "input.json").write_text(json.dumps(relative(data, out), indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
