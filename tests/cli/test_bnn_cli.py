"""A BNN end to end through the command line: train (flip training), eval, metrics."""

from __future__ import annotations

import json

import pytest
import torch

from bitrobust.cli import main
from bitrobust.data import Loader, load_dataset
from bitrobust.models.checkpoint import load_checkpoint, save_checkpoint
from bitrobust.metrics.importance import neuron_importance
from bitrobust.metrics.tolerance import tolerance
from bitrobust.models import build_model

PNG = b"\x89PNG\r\n\x1a\n"

def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_metrics(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "metrics" in capsys.readouterr().out


@pytest.mark.parametrize("errors", ["random", "transient"])
def test_eval_a_trained_bnn(tmp_path, bnn_run, data_dir, capsys, errors):
    out_dir = tmp_path / errors
    code, out, err = run_cli(capsys, "eval", bnn_run, "--errors", errors, "--rates", "0,1%,20%", "--chips", "2",
                             "--test-subset", "100", "--data-dir", data_dir, "--out", out_dir, "--no-progress")
    assert code == 0, err
    result = json.loads((out_dir / "robustness.json").read_text())
    assert result["bits"] == 1 and result["scheme"]["symmetric"] and result["source"] == errors
    # Err is the BNN's own clean error on raw pixels (the training input convention)
    model, _ = load_checkpoint(bnn_run)
    test = load_dataset("fashion_mnist", "test", data_dir=data_dir).subset(100)
    x, y = test.x.float(), test.y
    with torch.no_grad():
        clean = int((model.eval()(x).argmax(1) != y).sum()) / len(y)
    assert result["err"] == pytest.approx(clean, abs=1e-12)
    assert result["rates"][0]["rerr_mean"] == result["err"]
    assert result["rates"][2]["rerr_mean"] > result["err"]
    assert (out_dir / "robustness.png").read_bytes()[:8] == PNG
    assert json.loads((out_dir / "eval_config.json").read_text())["bits_used"] == 1


def test_metrics_of_a_trained_bnn(tmp_path, bnn_run, data_dir, capsys):
    out_dir = tmp_path / "metrics"
    code, out, err = run_cli(capsys, "metrics", bnn_run, "--test-subset", "100", "--bs", "2,8,32",
                             "--data-dir", data_dir, "--out", out_dir, "--batch-size", "64")
    assert code == 0, err
    assert "T-bar" in out and "VAR(Pi)" in out
    result = json.loads((out_dir / "metrics.json").read_text())
    assert result["bs"] == [2, 8, 32] and len(result["T"]) == 3 and result["n_examples"] == 100
    assert result["T"] == sorted(result["T"], reverse=True) and result["T_bar"] == pytest.approx(sum(result["T"]) / 3)
    assert [layer["neurons"] for layer in result["layers"]] == [4, 16]
    assert [layer["name"] for layer in result["layers"]] == ["C4-MP2", "FC16"]
    # the same numbers as the library functions on the raw test pixels
    model, _ = load_checkpoint(bnn_run)
    test = load_dataset("fashion_mnist", "test", data_dir=data_dir).subset(100)
    x = next(iter(Loader(test, batch_size=100, raw=True)))[0]
    assert result["T"] == pytest.approx(list(tolerance(model, x, (2, 8, 32))), rel=1e-12)
    pi = neuron_importance(model, x, test.y)
    assert [v for layer in result["layers"] for v in layer["pi"]] == pi.tolist()
    assert result["var_pi"] == pytest.approx(float(pi.var(unbiased=False)))
    for name in ("tolerance.png", "importance.png"):
        assert (out_dir / name).read_bytes()[:8] == PNG


def test_metrics_default_out_is_the_run_directory(bnn_run, data_dir, capsys):
    code, _, err = run_cli(capsys, "metrics", bnn_run, "--test-subset", "50", "--data-dir", data_dir)
    assert code == 0, err
    assert (bnn_run / "metrics.json").exists() and (bnn_run / "importance.png").exists()


@pytest.mark.parametrize("bs, message", [("2,x", "invalid tolerance level"), ("-1", "b must be a finite number >= 0")])
def test_metrics_bad_levels(tmp_path, bnn_run, capsys, bs, message):
    code, _, err = run_cli(capsys, "metrics", bnn_run, "--bs", bs, "--out", tmp_path / "m")
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_metrics_rejects_non_bnn_and_scaled_inputs(tmp_path, tiny_run, data_dir, capsys):
    code, _, err = run_cli(capsys, "metrics", tiny_run, "--data-dir", data_dir, "--out", tmp_path / "m")
    assert code == 2 and "needs a binarized network" in err and "'cnn_small' is not one" in err
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()
    ckpt = tmp_path / "scaled" / "model.safetensors"
    save_checkpoint(ckpt, build_model("bnn", arch="FC8-FC8-10"), {
        "model": {"name": "bnn", "kwargs": {"arch": "FC8-FC8-10"}},
        "data": {"name": "fashion_mnist", "normalize": True},
    })
    code, _, err = run_cli(capsys, "metrics", ckpt, "--data-dir", data_dir, "--out", tmp_path / "m")
    assert code == 2 and "data.raw: true" in err and err.count("\n") == 1
