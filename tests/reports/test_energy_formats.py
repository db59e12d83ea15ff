"""`bitrobust energy` per number format: stored bits per weight (data + metadata, layout v2), ECC n/k, and
reliable bits (protected, or metadata) charged at V_min."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from bitrobust.bit_errors.ecc import secded_code
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
    assert Storage.of(state) == Storage(262, 262 * 8, (4 + 4) * 16, reliable_bits=(4 + 4) * 16)  # metadata reliable


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
    assert stored == Storage(weights, 4 * weights, meta, reliable_bits=meta)  # metadata: reliable by default
    (r,) = energy_savings([loaded], E, EnergySettings(0.01, ecc="secded64"))
    # data and check bits at the voltage of p, metadata at V_min (energy 1 per bit)
    assert r.energy == pytest.approx((E.energy_at(0.01) * 4 * weights * 72 / 64 + meta) / (8 * weights))
    assert r.reliable_fraction == pytest.approx(meta / (4 * weights * 72 / 64 + meta))
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


# -- ECC read from the results ---------------------------------------------------------------


def with_ecc(res: RobustnessResult, code: str) -> RobustnessResult:
    return dataclasses.replace(res, protection={"ecc": code}, ecc_codewords=10)


@pytest.mark.parametrize("code", ["secded8", "secded16", "secded32", "secded64"])
def test_a_results_ecc_is_charged_and_an_override_wins(code):
    """A result evaluated with ECC (protection.ecc in robustness.json) is charged its n/k; --ecc CODE overrides it
    for every run, --ecc none charges nothing."""
    secded = secded_code(code)
    plain, coded = run("bf16", 16), Run("bf16 + ECC", Path("ecc"), with_ecc(result("bf16", 16), code))
    a, b = energy_savings([plain, coded], E, EnergySettings(0.01))
    assert (a.ecc, b.ecc) == (None, code) and a.p == b.p == 0.01
    assert a.energy == pytest.approx(E.energy_at(0.01) * 2.0)
    assert b.energy == pytest.approx(E.energy_at(0.01) * 16 * secded.n / secded.k / 8)
    forced = energy_savings([plain, coded], E, EnergySettings(0.01, ecc="secded32"))
    assert [r.ecc for r in forced] == ["secded32"] * 2
    assert all(r.energy == pytest.approx(E.energy_at(0.01) * 2.0 * 39 / 32) for r in forced)
    none = energy_savings([plain, coded], E, EnergySettings(0.01, ecc="none"))
    assert [r.ecc for r in none] == [None, None] and none[1].energy == pytest.approx(a.energy)
    # contract 1's per-tensor runs: per-access energy times n/k
    (c1,) = energy_savings([Run("int8", Path("c1"), with_ecc(result(None, 8), code))], E, EnergySettings(0.01))
    assert c1.energy == pytest.approx(E.energy_at(0.01) * secded.n / secded.k) and c1.bits_per_weight is None


def test_cli_reads_the_ecc_from_result_files(tmp_path, capsys):
    for name, res in (("plain", result("fp8_e4m3", 8)), ("ecc", with_ecc(result("fp8_e4m3", 8), "secded64"))):
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "robustness.json", res.to_dict())
    argv = ["energy", str(tmp_path / "plain"), str(tmp_path / "ecc"), "--names", "dir", "--max-increase", "1%"]
    assert main([*argv, "--out", str(tmp_path / "auto")]) == 0
    assert "(ECC secded64 charged)" in capsys.readouterr().out
    assert main([*argv, "--ecc", "none", "--out", str(tmp_path / "none")]) == 0
    auto, none = (json.loads((tmp_path / d / "energy.json").read_text()) for d in ("auto", "none"))
    assert [m["ecc"] for m in auto["models"]] == [None, "secded64"] and auto["settings"]["ecc"] is None
    assert [m["ecc"] for m in none["models"]] == [None, None] and none["settings"]["ecc"] == "none"
    assert auto["models"][1]["energy"] == pytest.approx(auto["models"][0]["energy"] * 72 / 64)
    assert none["models"][1]["energy"] == pytest.approx(auto["models"][0]["energy"])
    text = (tmp_path / "auto" / "energy.md").read_text()
    assert "| ECC |" in text and "secded64 (72, 64)" in text
    assert "ECC" not in (tmp_path / "none" / "energy.md").read_text()


# -- reliable bits (contract 6) at V_min -------------------------------------------------------


def _checkpoint(path: Path, quant: dict) -> nn.Module:
    model = build_model("cnn_small")
    save_checkpoint(path, model, {"model": {"name": "cnn_small", "kwargs": {}}, "data": {"name": "mnist"},
                                  "quant": {"exclude": [], **quant}})
    return model


@pytest.mark.parametrize("fmt, bits, protect, reliable_per_word", [
    (None, 8, "msb", 1), ("bf16", 16, "sign,exponent", 9), ("fp8_e4m3", 8, "sign,exponent", 5)])
def test_protected_bits_stay_at_v_min(tmp_path, fmt, bits, protect, reliable_per_word):
    """An evaluation with protected bits (protection.protect_bits in robustness.json): f = protected bits per word /
    m of the stored bits are charged at V_min, so the energy is factor ((1 - f) E(p) + f), by hand."""
    model = _checkpoint(tmp_path, {"format": fmt, "bits": bits} if fmt else {"bits": bits, "scheme": "rquant"})
    res = dataclasses.replace(result(fmt, bits), protection={"protect_bits": protect})
    write_json(tmp_path / "robustness.json", res.to_dict())
    (loaded,) = load_runs([tmp_path], name_from="dir")
    weights = sum(p.numel() for p in model.parameters())
    assert run_storage(loaded) == Storage(weights, bits * weights, 0, reliable_bits=reliable_per_word * weights)
    f = reliable_per_word / bits
    (r,) = energy_savings([loaded], E, EnergySettings(0.01))
    factor = 1.0 if fmt is None else bits / 8  # contract 1: per access; formats: their stored bits
    assert r.reliable_fraction == pytest.approx(f)
    assert r.energy == pytest.approx(factor * ((1 - f) * E.energy_at(0.01) + f))
    (plain,) = energy_savings([run(fmt, bits)], E, EnergySettings(0.01))
    assert plain.reliable_fraction == 0 and r.savings < plain.savings
    # with ECC the check bits flip: f shrinks to R / (D n/k)
    (coded,) = energy_savings([loaded], E, EnergySettings(0.01, ecc="secded64"))
    assert coded.reliable_fraction == pytest.approx(f * 64 / 72)


def test_protected_tensors_count_their_words(tmp_path):
    model = _checkpoint(tmp_path, {"bits": 8, "scheme": "rquant"})
    res = dataclasses.replace(result(None, 8), protection={"protect_tensors": "classifier.*"})
    write_json(tmp_path / "robustness.json", res.to_dict())
    (loaded,) = load_runs([tmp_path], name_from="dir")
    protected = sum(p.numel() for n, p in model.named_parameters() if n.startswith("classifier."))
    assert 0 < protected < sum(p.numel() for p in model.parameters())
    assert run_storage(loaded).reliable_bits == 8 * protected


def test_protected_bits_without_checkpoint_is_one_clear_error(tmp_path):
    res = dataclasses.replace(result(None, 8), protection={"protect_bits": "msb"})
    with pytest.raises(BitrobustError, match="protected bits needs the run's checkpoint"):
        energy_savings([Run("int8", tmp_path, res)], E, EnergySettings(0.01))


def test_the_report_names_the_reliable_share():
    from bitrobust.reports.energy import energy_markdown

    rows = energy_savings([run(None, 8)], E, EnergySettings(0.01), storage=lambda r: Storage(1, 8, 0, 1))
    text = energy_markdown(rows, E, EnergySettings(0.01))
    assert "| reliable bits in % | Err in % |" in text and "| 12.50 |" in text
    assert "reliable bits in %" not in energy_markdown(energy_savings([run(None, 8)], E, EnergySettings(0.01)), E,
                                                       EnergySettings(0.01))
