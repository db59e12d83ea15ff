"""The ``activations`` evaluation kind: the same numbers as activation_faults by hand, through the API and the CLI."""

from __future__ import annotations

import json

import pytest

from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import EVAL_KINDS, evaluate, evaluate_pass, load_run
from bitrobust.injection import activation_faults, calibrate_activations, inject
from bitrobust.bit_errors import RandomBitErrors


def _settings(**values):
    base = {"modules": "conv*", "rates": (0.02, 0.1), "chips": 2, "test_subset": 100, "calibration_examples": 200}
    return EVAL_KINDS.get("activations").settings({**base, **values})


@pytest.mark.parametrize("mode, fmt, weights", [("transient", "int8", False), ("persistent", "bf16", True)])
def test_activation_sweep_is_activation_faults_per_chip(tiny_run, data_dir, tmp_path, mode, fmt, weights):
    s = _settings(mode=mode, act_format=fmt, with_weight_errors=weights, first_chip=3)
    outcome = evaluate(tiny_run, s, tmp_path, data_dir=data_dir, device="cpu", batch_size=50)
    result = json.loads((tmp_path / "robustness.json").read_text())
    config = json.loads((tmp_path / "eval_config.json").read_text())
    assert result["source"] == "activations" and [len(r["rerr"]) for r in result["rates"]] == [2, 2]
    assert config["modules"] == "conv*" and set(config["activation_ranges"]["modules"]) == {"conv1", "conv2"}
    # by hand: quantized weights (chip t of the weights too, if asked), the calibrated buffers, chip first + t
    run = load_run(tiny_run, "cpu")
    quantizer, _ = run.quantizer()
    test = run.test_data(data_dir, 100, 50)
    with inject(run.model, quantizer, None):
        calibration = calibrate_activations(run.model, run.train_data(data_dir, 200, 50), "conv*")
        with activation_faults(run.model, "conv*", 0.0, mode, format=fmt, calibration=calibration):
            assert evaluate_pass(run.model.eval(), test).error == outcome.native.err
    for i, p in enumerate(s.rates):
        for t in range(2):
            errors = RandomBitErrors(p if weights else 0.0, chip=3 + t)
            with inject(run.model, quantizer, errors), activation_faults(
                    run.model, "conv*", p, mode, chip=3 + t, format=fmt, calibration=calibration):
                assert evaluate_pass(run.model, test).error == result["rates"][i]["rerr"][t]


def test_activation_sweep_records_protection_and_first_chip(tiny_run, data_dir, tmp_path):
    s = _settings(rates=(0.05,), chips=1, first_chip=2, with_weight_errors=True, ecc="secded64")
    result = evaluate(tiny_run, s, tmp_path, data_dir=data_dir, device="cpu", batch_size=50).native
    assert result.first_chip == 2 and result.protection == {"ecc": "secded64"} and result.ecc_codewords
    assert len(result.rate(0.05).ecc_corrected) == 1


def test_activation_settings_are_checked_before_any_work(tiny_run):
    with pytest.raises(BitrobustError, match="modules"):
        EVAL_KINDS.get("activations").settings({"rates": (0.01,)})
    with pytest.raises(BitrobustError, match="unknown activation format 'int9'"):
        _settings(act_format="int9")
    with pytest.raises(BitrobustError, match="bit position"):
        _settings(act_format="int4", protect=("7",))
    with pytest.raises(BitrobustError, match="no setting 'modules'"):
        EVAL_KINDS.get("random").settings({"modules": "conv1"})
    kind, run = EVAL_KINDS.get("activations"), load_run(tiny_run, "cpu")
    with pytest.raises(BitrobustError, match="'features.\\*' matches no module"):
        kind.run(run, _settings(modules="features.*"), data_dir="/nonexistent")  # before reading any data
    assert "activations (persistent, fp16 buffers of conv1) p=1%" in kind.describe(
        _settings(modules="conv1", mode="persistent", act_format="fp16", rates=(0.01,)))


def test_cli_eval_kind_activations(tiny_run, data_dir, tmp_path, capsys):
    out = tmp_path / "e"
    code = main(["eval", str(tiny_run), "--kind", "activations", "--activations", "conv1,conv2", "--act-mode",
                 "persistent", "--act-format", "int4", "--act-protect", "msb", "--act-calibration", "100",
                 "--rates", "1%", "--chips", "2", "--test-subset", "100", "--data-dir", str(data_dir),
                 "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    config = json.loads((out / "eval_config.json").read_text())
    assert config["kind"] == "activations" and config["protect"] == ["msb"] and config["act_format"] == "int4"
    assert (out / "robustness.md").exists() and "p=1%: RErr" in capsys.readouterr().out
