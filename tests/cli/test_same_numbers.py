"""``bitrobust eval``, ``bitrobust metrics`` and ``bitrobust reproduce`` give the same numbers.

For every evaluation kind, the command line and an experiment's planned evaluation resolve
the same settings for the same run and write the same result file (up to the path of the
run, which each records as given).
"""

from __future__ import annotations

import json

import pytest

from bitrobust.cli import main
from bitrobust.config import from_dict, load_yaml, to_dict
from bitrobust.experiments import EvalSpec, RunSpec
from bitrobust.experiments.plan import PlannedEval, PlannedRun, eval_settings
from bitrobust.experiments.schedule import run_evaluation
from bitrobust.training import TrainConfig

# kind -> (command line flags, the same evaluation as an experiment's EvalSpec)
CASES = {
    "random": (["--rates", "0.01,5%", "--chips", "2", "--first-chip", "1"],
               {"rates": (0.01, 0.05), "chips": 2, "first_chip": 1}),
    "transient": (["--rates", "0.01", "--chips", "2"], {"rates": (0.01,), "chips": 2}),
    "linf": (["--rates", "0.01,0.1", "--chips", "2"], {"rates": (0.01, 0.1), "chips": 2}),
    "profiled": (["--chip", "chip1_2.744", "--offsets", "2", "--persistent"],
                 {"paper_chips": ("chip1_2.744",), "offsets": 2, "persistent": True}),
    "weights": ([], {}),
}


def _planned(run_dir) -> PlannedRun:
    config = from_dict(TrainConfig, load_yaml(run_dir / "config.yaml"))
    spec = RunSpec("r", "unused.yaml", "run")
    return PlannedRun(spec, "r", "run", None, run_dir / "config.yaml", (), config, to_dict(config), run_dir)


def _without_run(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("run", "label")}


def _agree(tmp_path, run_dir, data_dir, kind, flags, spec_values, command=("eval",), result_file=None):
    cli_out, plan_out = tmp_path / "cli", tmp_path / "plan"
    argv = [*command, str(run_dir), *flags, "--test-subset", "100", "--data-dir", str(data_dir), "--out", str(cli_out)]
    assert main(argv) == 0
    spec = EvalSpec("e", kind, test_subset=100, **spec_values)
    planned = _planned(run_dir)
    [settings] = eval_settings(spec, planned, "quick", smoke=False)
    ev = PlannedEval(planned, spec, settings, plan_out)
    run_evaluation(ev, data_dir=data_dir, progress=False)
    cli_config = json.loads((cli_out / "eval_config.json").read_text())
    plan_config = json.loads((plan_out / "eval_config.json").read_text())
    assert _without_run(cli_config) == _without_run(plan_config)
    assert all(cli_config[k] == v for k, v in settings.to_dict().items())
    name = result_file or ev.kind.result_file
    cli_result = json.loads((cli_out / name).read_text())
    plan_result = json.loads((plan_out / name).read_text())
    assert _without_run(cli_result) == _without_run(plan_result)
    return cli_result


@pytest.mark.parametrize("kind", sorted(CASES))
def test_eval_and_reproduce_agree(tmp_path, tiny_run, data_dir, kind):
    flags, spec_values = CASES[kind]
    result = _agree(tmp_path, tiny_run, data_dir, kind, ["--kind", kind, *flags], spec_values)
    if kind != "weights":
        assert result["n_examples"] == 100 and result["rates"]


@pytest.mark.parametrize("command", [("metrics",), ("eval", "--kind", "bnn_metrics")])
def test_metrics_and_reproduce_agree(tmp_path, bnn_run, data_dir, command):
    result = _agree(tmp_path, bnn_run, data_dir, "bnn_metrics", ["--bs", "2,8"] if command == ("metrics",) else [],
                    {"bs": (2, 8)} if command == ("metrics",) else {}, command=command)
    assert result["n_examples"] == 100 and len(result["T"]) == len(result["bs"])


def test_a_run_without_a_dataset_is_an_error(tmp_path, tiny_run, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    meta = json.loads((run / "model.json").read_text())
    del meta["data"]["name"]
    (run / "model.json").write_text(json.dumps(meta))
    assert main(["eval", str(run), "--chips", "1", "--rates", "0.01"]) == 2
    assert "names no dataset" in capsys.readouterr().err


def test_eval_defaults_to_the_recipes_eval_section(tmp_path, tiny_run, data_dir):
    config = load_yaml(tiny_run / "config.yaml")
    out = tmp_path / "out"
    assert main(["eval", str(tiny_run), "--test-subset", "20", "--data-dir", str(data_dir), "--out", str(out),
                 "--no-progress"]) == 0
    settings = json.loads((out / "eval_config.json").read_text())
    assert settings["rates"] == config["eval"]["rates"] and settings["chips"] == config["eval"]["chips"]


def test_the_command_line_offers_every_evaluation_kind():
    from bitrobust.cli.eval import KINDS  # listed by hand so that `eval --help` needs no torch
    from bitrobust.evaluation import EVAL_KINDS

    assert sorted(KINDS) == EVAL_KINDS.names()
