"""`bitrobust energy` per number format: stored bits per weight (data + metadata, layout v2) and ECC n/k."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.formats import get_format
from bitrobust.io import write_json
from bitrobust.models import build_model
from bitrobust.models.checkpoint import save_checkpoint
from bitrobust.quantization import quantize_model, quantize_tensors
from bitrobust.reports.energy import EnergyModel, EnergySettings, Storage, energy_savings, run_storage
from bitrobust.reports.runs import Run, load_runs

GOLDEN = Path(__file__).parent / "golden" / "run_dirs"
E = EnergyModel.default()


def result(fmt: str | None, bits: int, err: float = 0.05, rerr: float = 0.055, p: float = 0.01) -> RobustnessResult:
    return RobustnessResult(err, 0.9, 1000, "random", 2, bits, {}, (RateResult(p, (rerr, rerr), (0.9, 0.9)),),
                            format=fmt)


def run(fmt: str | None, bits: int, path: Path | None = None) -> Run:
    return Run(fmt or f"int{bits}", path or Path(fmt or "plain"), result(fmt, bits))


def test_int4_g128_stores_four_and_a_quarter_bits_per_weight():
    """Rows of 256 = two full groups of 128: b = 4 + 2 * 16 / 128 = 4.25 by hand; factor 4.25 / 8."""
    state = quantize_tensors({"w": torch.randn(3, 256), "v": torch.randn(2, 128)}, get_format("int4_g128"))
    stored = Storage.of(state)
    assert stored.bits_per_weight == 4 + 32 / 128
    assert stored.factor() == pytest.approx(4.25 / 8)
    assert stored.factor(72 / 64) == pytest.approx((4 * 72 / 64 + 32 / 128) / 8)  # ECC on the data bits only


def test_short_groups_and_channels_by_hand():
    state = quantize_tensors({"w": torch.randn(2, 130), "b": torch.randn(2)}, get_format("int8_channel"))
    # w: 260 words, one (step, min) per row = 2 x 2 words; b (1-d): one row per element, 2 x 2 words
    assert Storage.of(state) == Storage(262, 262 * 8, (4 + 4) * 16)


@pytest.mark.parametrize("fmt, factor", [("bf16", 2.0), ("fp16", 2.0), ("fp32", 4.0), ("fp8_e4m3", 1.0),
                                         ("fp8_e5m2", 1.0)])
def test_float_formats_are_charged_their_width(fmt, factor):
    (r,) = energy_savings([run(fmt, get_format(fmt).bits)], E, EnergySettings(0.01))
    assert r.p == 0.01 and r.bits_per_weight == get_format(fmt).bits
    assert r.energy == pytest.approx(E.energy_at(0.01) * factor)
    (ecc,) = energy_savings([run(fmt, get_format(fmt).bits)], E, EnergySettings(0.01, ecc="secded64"))
    assert ecc.energy == pytest.approx(E.energy_at(0.01) * factor * 72 / 64)


@pytest.mark.parametrize("mode, factor", [("auto", 1.0), ("bits", 0.5), ("access", 1.0)])
def test_contract1_runs_keep_per_access_energy_unless_asked(mode, factor):
    (r,) = energy_savings([run(None, 4)], E, EnergySettings(0.01, storage=mode))
    assert r.energy == pytest.approx(E.energy_at(0.01) * factor)
    assert (r.bits_per_weight is None) == (mode != "bits")
    (bf16,) = energy_savings([run("bf16", 16)], E, EnergySettings(0.01, storage=mode))
    assert bf16.energy == pytest.approx(E.energy_at(0.01) * (1.0 if mode == "access" else 2.0))


def test_grouped_format_counts_the_checkpoints_metadata(tmp_path):
    model = build_model("cnn_small")
    save_checkpoint(tmp_path, model, {"model": {"name": "cnn_small", "kwargs": {}}, "data": {"name": "mnist"},
                                      "quant": {"format": "int4_g128", "bits": 4, "exclude": []}})
    write_json(tmp_path / "robustness.json", result("int4_g128", 4).to_dict())
    (loaded,) = load_runs([tmp_path], name_from="dir")
    # by hand from the parameters: 4 bits a weight, (step, min) fp16 words per group of 128 of each row
    weights = meta = 0
    for p in model.parameters():
        rows = p.shape[0] if p.dim() else 1
        cols = p.numel() // rows
        weights += p.numel()
        meta += rows * math.ceil(cols / 128) * 2 * 16
    stored = run_storage(loaded)
    assert stored == Storage(weights, 4 * weights, meta)
    (r,) = energy_savings([loaded], E, EnergySettings(0.01, ecc="secded64"))
    assert r.energy == pytest.approx(E.energy_at(0.01) * (4 * weights * 72 / 64 + meta) / (8 * weights))
    assert stored == Storage.of(quantize_model(model, get_format("int4_g128")))
    # an evaluation directory below the run finds the run's checkpoint
    evals = tmp_path / "evals" / "random-1"
    evals.mkdir(parents=True)
    write_json(evals / "robustness.json", result("int4_g128", 4).to_dict())
    assert run_storage(load_runs([evals], name_from="dir")[0]) == stored


def test_grouped_format_without_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(BitrobustError, match="needs the run's checkpoint"):
        energy_savings([run("int4_g128", 4, tmp_path)], E, EnergySettings(0.01))


def test_unknown_storage_mode():
    with pytest.raises(BitrobustError, match="valid: auto, bits, access"):
        EnergySettings(storage="words")


def test_cli_storage_bits(tmp_path, capsys):
    runs = [GOLDEN / d for d in ("normal_8bit", "randbet_m4")]
    argv = ["energy", *map(str, runs), "--max-increase", "2.5%", "--reference", str(runs[0])]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--storage", "bits", "--out", str(tmp_path / "b")]) == 0
    plain, charged = (json.loads((tmp_path / d / "energy.json").read_text()) for d in "ab")
    assert charged["settings"]["storage"] == "bits"
    for a, b, m in zip(plain["models"], charged["models"], (8, 4)):
        assert b["bits_per_weight"] == m and a["bits_per_weight"] is None
        assert b["energy"] == (None if a["energy"] is None else pytest.approx(a["energy"] * m / 8))
    assert "bits per weight" in (tmp_path / "b" / "energy.md").read_text()
    assert "bits per weight" not in (tmp_path / "a" / "energy.md").read_text()
    with pytest.raises(SystemExit) as info:  # argparse: usage and exit 2
        main([*argv, "--storage", "words", "--out", str(tmp_path / "c")])
    assert info.value.code == 2
