import json

import numpy as np
import pytest

from bitrobust.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("data", "eval", "train", "quickstart"):
        assert cmd in out


def test_eval_writes_results(tmp_path, tiny_run, data_dir, capsys):
    out_dir = tmp_path / "eval"
    code, out, _ = run_cli(
        capsys, "eval", str(tiny_run), "--rates", "0,0.1%,1%", "--chips", "3", "--test-subset", "100",
        "--data-dir", str(data_dir), "--out", str(out_dir), "--no-progress",
    )
    assert code == 0, out
    assert "RErr" in out
    result = json.loads((out_dir / "robustness.json").read_text())
    assert [r["p"] for r in result["rates"]] == [0.0, 0.001, 0.01]
    assert result["rates"][0]["rerr_mean"] == result["err"] and result["n_examples"] == 100
    assert result["trials"] == 3 and len(result["rates"][1]["rerr"]) == 3
    assert (out_dir / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "RErr p=1%" in (out_dir / "robustness.md").read_text()
    assert (out_dir / "robustness.csv").read_text().startswith("p,trial,rerr,confidence")
    config = json.loads((out_dir / "eval_config.json").read_text())
    assert config["bits_used"] == 8 and config["batch_size"] == 1000  # the default, recorded
    code, out, _ = run_cli(capsys, "eval", str(tiny_run), "--rates", "1%", "--chips", "2", "--test-subset", "100",
                           "--batch-size", "16", "--data-dir", str(data_dir), "--out", str(tmp_path / "b16"),
                           "--no-progress")
    assert code == 0, out
    assert json.loads((tmp_path / "b16" / "eval_config.json").read_text())["batch_size"] == 16
    assert json.loads((tmp_path / "b16" / "robustness.json").read_text())["n_examples"] == 100


def test_eval_transient_and_profiled(tmp_path, tiny_run, data_dir, capsys):
    code, out, _ = run_cli(capsys, "eval", str(tiny_run), "--errors", "transient", "--rates", "0.01", "--chips", "2",
                           "--test-subset", "50", "--data-dir", str(data_dir), "--out", str(tmp_path / "t"), "--no-progress")
    assert code == 0
    chip = tmp_path / "chip.npz"
    np.savez(chip, flip_0to1=np.zeros((64, 32), np.float32), flip_1to0=np.full((64, 32), 0.5, np.float32))
    code, out, _ = run_cli(capsys, "eval", str(tiny_run), f"--errors=profiled:{chip}", "--offsets", "2",
                           "--test-subset", "50", "--data-dir", str(data_dir), "--out", str(tmp_path / "p"), "--no-progress")
    assert code == 0
    assert json.loads((tmp_path / "p" / "robustness.json").read_text())["source"] == "profiled"
    code, out, _ = run_cli(capsys, "eval", str(tiny_run), "--errors", "linf", "--rates", "0.01,0.1", "--chips", "2",
                           "--test-subset", "50", "--data-dir", str(data_dir), "--out", str(tmp_path / "l"), "--no-progress")
    assert code == 0
    assert json.loads((tmp_path / "l" / "robustness.json").read_text())["source"] == "linf"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rates", "0.5,1.5"], "p must be in [0, 1]"),
        (["--rates", "abc"], "invalid bit error rate"),
        (["--bits", "9"], "bits must be an integer in 1..8"),
        (["--scheme", "fancy"], "unknown quantization scheme 'fancy'; valid: asymmetric"),
        (["--errors", "cosmic"], "unknown --errors"),
        (["--errors", "profiled:/nonexistent.npz"], "nonexistent"),
    ],
)
def test_eval_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny_run, data_dir, capsys, args, message):
    out_dir = tmp_path / "eval"
    code, out, err = run_cli(capsys, "eval", str(tiny_run), "--data-dir", str(data_dir), "--out", str(out_dir), *args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out_dir.exists()


def test_eval_wrong_chip_map_and_bad_checkpoints(tmp_path, tiny_run, data_dir, capsys):
    chip = tmp_path / "chip.npz"
    np.savez(chip, flip_0to1=np.zeros((4, 4), np.float32), flip_1to0=np.zeros((4, 5), np.float32))
    code, _, err = run_cli(capsys, "eval", str(tiny_run), f"--errors=profiled:{chip}", "--data-dir", str(data_dir))
    assert code == 2 and "shape" in err
    (tmp_path / "model.json").write_text('{"format": "something-else"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    code, _, err = run_cli(capsys, "eval", str(tmp_path), "--data-dir", str(data_dir))
    assert code == 2 and "not a bitrobust checkpoint" in err
    code, _, err = run_cli(capsys, "eval", str(tmp_path / "nothing"), "--data-dir", str(data_dir))
    assert code == 2 and "not found" in err


def test_train_cli_bad_recipe(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: resnet999}\n")
    code, _, err = run_cli(capsys, "train", str(recipe), "--out", str(tmp_path / "run"))
    assert code == 2 and "unknown model 'resnet999'; valid:" in err
    recipe.write_text("optim: {lrr: 1}\n")
    code, _, err = run_cli(capsys, "train", str(recipe), "--out", str(tmp_path / "run"))
    assert code == 2 and "unknown key config.optim.lrr" in err
    code, _, err = run_cli(capsys, "train", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "run"))
    assert code == 2 and "recipe not found" in err
    recipe.write_text("data: {name: imagenet}\n")
    code, _, err = run_cli(capsys, "train", str(recipe), "--out", str(tmp_path / "run"))
    assert code == 2 and "unknown dataset 'imagenet'" in err
    assert not (tmp_path / "run").exists()
