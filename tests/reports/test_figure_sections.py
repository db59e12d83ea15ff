"""Report sections of paper 3's figures (Fig. 1, 3/8, 4, 6, Tab. 7), each written from small stored inputs.

Checks the data files the figures are drawn from (not pixels): the energy curve lies on the
model, the chip-map CSV lists exactly the faulty cells, synthetic chips keep the subset
property (faults at the higher voltage faulty, with the same kind, at the lower one), the
Fig. 4 / Fig. 6 tables and CSVs carry the stored numbers, and Tab. 7 averages repeats per cell.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from bitrobust.bit_errors.synthetic import paper_chip
from bitrobust.reports.chip_maps import chip_map_data, write_chip_maps
from bitrobust.reports.clean_err import clean_err_section
from bitrobust.reports.energy import EnergyModel, OperatingPoint, energy_curve, write_energy_model
from bitrobust.reports.experiment_input import Evaluation, RunEntry, SectionInput
from bitrobust.reports.logits import logits_section
from bitrobust.reports.weight_errors import weight_errors_section

PNG = b"\x89PNG\r\n\x1a\n"


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_energy_model_section_writes_the_curve_of_the_model(tmp_path):
    model = EnergyModel((OperatingPoint(1.0, 0.0, 1.0), OperatingPoint(0.9, 0.001, 0.8), OperatingPoint(0.8, 0.02, 0.6)))
    data = {"energy_model": model.to_dict(), "curve": energy_curve(model, 11), "assumptions": ["E ~ V^2"]}
    lines = write_energy_model(data, tmp_path, "Fig. 1")
    rows = _csv(tmp_path / "energy_model.csv")
    assert len(rows) == 11 and float(rows[0]["voltage"]) == 1.0 and float(rows[-1]["bit_error_rate"]) == pytest.approx(0.02)
    for r in rows:  # every plotted point lies on the model
        assert model.voltage_at(float(r["bit_error_rate"])) == pytest.approx(float(r["voltage"]), abs=1e-9)
        assert model.energy_at(float(r["bit_error_rate"])) == pytest.approx(float(r["energy"]))
    assert [float(r["energy"]) for r in rows] == sorted((float(r["energy"]) for r in rows), reverse=True)
    assert "- E ~ V^2" in (tmp_path / "energy_model.md").read_text() and "- E ~ V^2" in lines
    assert (tmp_path / "energy_model.png").read_bytes()[:8] == PNG


def test_chip_map_csv_lists_exactly_the_faulty_cells(tmp_path):
    maps = [{"name": n, "p_table": p, "p": p, "p_0t1": p / 2, "p_1t0": p / 2, "p_sa": p / 4, "faulty": p, "flip_rate": p / 2,
             "flip_0to1": f01, "flip_1to0": f10}
            for n, p, f01, f10 in (("hi", 0.01, [[0, 1, 0], [0, 0, 0]], [[0, 0, 0], [0.5, 0, 0]]),
                                   ("lo", 0.03, [[0, 1, 0], [0, 0, 0.5]], [[1, 0, 0], [0.5, 0, 0]]))]
    data = {"seed": 0, "segment": [2, 3], "chips": [{"label": "chip 1", "layout": "uniform", "maps": maps, "subset": [
        {"higher_voltage": "hi", "lower_voltage": "lo", "faulty_higher": 2, "faulty_lower": 4, "contained": 1.0,
         "same_kind": 1.0}]}]}
    write_chip_maps(data, tmp_path, "Fig. 3")
    cells = {(r["map"], int(r["row"]), int(r["col"])): (float(r["flip_0to1"]), float(r["flip_1to0"]))
             for r in _csv(tmp_path / "chip_maps.csv")}
    assert cells == {("hi", 0, 1): (1.0, 0.0), ("hi", 1, 0): (0.0, 0.5), ("lo", 0, 0): (0.0, 1.0),
                     ("lo", 0, 1): (1.0, 0.0), ("lo", 1, 0): (0.0, 0.5), ("lo", 1, 2): (0.5, 0.0)}
    assert json.loads((tmp_path / "chip_maps.json").read_text()) == data
    assert "| chip 1 | hi | lo | 2 | 4 | 100.0 | 100.0 |" in (tmp_path / "chip_maps.md").read_text()
    assert all((tmp_path / f).read_bytes()[:8] == PNG for f in ("voltages.png", "kinds.png"))


@pytest.mark.parametrize("seed", [0, 7])
def test_chip_maps_show_the_subset_property(seed):
    """Lower-voltage faults contain the higher-voltage ones, with the same direction and persistence, over the
    whole chip (brute force on the maps) and in the drawn segment."""
    data = chip_map_data({"chip 1": ("chip1_2.744", "chip1_0.866")}, seed=seed, segment=(64, 128))
    chip = data["chips"][0]
    assert [m["name"] for m in chip["maps"]] == ["chip1_0.866", "chip1_2.744"]  # higher voltage first
    hi, lo = (paper_chip(n, seed) for n in ("chip1_0.866", "chip1_2.744"))
    faulty_hi = (hi.flip_0to1 > 0) | (hi.flip_1to0 > 0)
    assert int(faulty_hi.sum()) == chip["subset"][0]["faulty_higher"] > 0
    assert bool(((lo.flip_0to1 > 0) | (lo.flip_1to0 > 0))[faulty_hi].all())
    assert lo.flip_0to1[faulty_hi].equal(hi.flip_0to1[faulty_hi]) and lo.flip_1to0[faulty_hi].equal(hi.flip_1to0[faulty_hi])
    assert chip["subset"][0]["contained"] == 1.0 and chip["subset"][0]["same_kind"] == 1.0
    seg_hi, seg_lo = (torch.tensor(m["flip_0to1"]) + torch.tensor(m["flip_1to0"]) for m in chip["maps"])
    assert seg_hi.shape == (64, 128) and bool((seg_lo[seg_hi > 0] == seg_hi[seg_hi > 0]).all())
    assert int((seg_lo > 0).sum()) > int((seg_hi > 0).sum())


def _entry(label, result, **tags):
    return RunEntry(label, Path("runs") / label, (Evaluation(result),), tags=tags)


def test_weight_errors_section_writes_the_sample_and_the_stored_errors(tmp_path):
    result = {"bits": 8, "scheme": {"range": "per_tensor", "symmetric": False, "signed": False, "rounding": "round"},
              "chip": 0, "n_weights": 10, "max_abs": 0.5, "tensors": ["a", "b"], "index": [1, 4, 7], "tensor": [0, 0, 1],
              "original": [0.1, -0.2, 0.31], "quantized": [0.1, -0.2, 0.3],
              "rates": [{"p": 0.025, "perturbed": [0.1, 0.3, 0.3], "changed": 0.1, "mean_abs_error": 0.05,
                         "max_abs_error": 0.5, "mean_abs_error_changed": 0.5, "mean_relative_error": 0.1}]}
    lines, data = weight_errors_section(SectionInput("w", "Fig. 4", "weight_errors", (_entry("RQUANT", result),)),
                                        tmp_path, "Fig. 4")
    rows = _csv(tmp_path / "weight_errors.csv")
    assert [(r["tensor"], float(r["quantized"]), float(r["perturbed"])) for r in rows] == [
        ("a", 0.1, 0.1), ("a", -0.2, 0.3), ("b", 0.3, 0.3)]
    assert data["rows"][0]["max_abs_error"] == 0.5 and "perturbed" not in data["rows"][0]
    assert any("| RQUANT | 8 | per_tensor, asymmetric, unsigned, round | 2.5 | 10.00 |" in line for line in lines)
    assert (tmp_path / "weight_errors.png").read_bytes()[:8] == PNG


def test_weight_errors_section_of_a_float_format_leaves_non_finite_words_out_of_the_plot(tmp_path):
    result = {"bits": 16, "format": "bf16", "chip": 0, "n_weights": 10, "max_abs": 0.5, "tensors": ["a"],
              "index": [1, 4], "tensor": [0, 0], "original": [0.1, -0.2], "quantized": [0.1, -0.2],
              "rates": [{"p": 0.1, "perturbed": [None, -0.2], "changed": 0.1, "nonfinite": 1, "mean_abs_error": 0.0,
                         "max_abs_error": 0.0, "mean_abs_error_changed": 0.0, "mean_relative_error": 0.0}]}
    lines, data = weight_errors_section(SectionInput("w", "Fig. 4", "weight_errors", (_entry("bf16", result),)),
                                        tmp_path, "Fig. 4")
    assert any("| bf16 | 16 | format bf16 | 10 | 10.00 |" in line for line in lines)
    assert data["rows"][0]["format"] == "bf16" and data["rows"][0]["nonfinite"] == 1
    assert [r["perturbed"] for r in _csv(tmp_path / "weight_errors.csv")] == ["", "-0.2"]
    assert (tmp_path / "weight_errors.png").read_bytes()[:8] == PNG


def test_logits_section_tabulates_means_and_writes_the_histograms(tmp_path):
    def hist(counts, lo, hi, mean, nonfinite=0):
        edges = [lo + (hi - lo) * i / len(counts) for i in range(len(counts) + 1)]
        return {"edges": edges, "counts": counts, "nonfinite": nonfinite, "mean": mean}

    result = {"n_examples": 4, "chips": 2, "first_chip": 0, "bits": 8,
              "clean": {"max_logit": hist([1, 3], 0, 10, 6.0), "confidence": hist([0, 4], 0, 1, 0.9)},
              "rates": [{"p": 0.01, "max_logit": hist([5, 2], 0, 10, 4.0, 1), "confidence": hist([6, 1], 0, 1, 0.4, 1)}]}
    lines, data = logits_section(SectionInput("l", "Fig. 6", "logits", (_entry("CLIPPING_0.1", result),)), tmp_path,
                                 "Fig. 6")
    assert "| CLIPPING_0.1 | 6 | 90.0 | 4 | 40.0 | 12.50 |" in lines  # 1 of 8 perturbed outputs non-finite
    rows = _csv(tmp_path / "logits.csv")
    assert len(rows) == 8 and sum(int(r["count"]) for r in rows if r["p"] == "0.01") == 14
    assert data["rows"][0]["rates"] == [{"p": 0.01, "max_logit": 4.0, "confidence": 0.4}]
    assert (tmp_path / "logits.png").read_bytes()[:8] == PNG


def test_clean_err_section_averages_repeats_and_marks_clipping(tmp_path):
    entries = (_entry("GN RQUANT (m=8)", {"err": 0.01}, m=8, norm="GN"),
               _entry("GN RQUANT (m=8) seed 1", {"err": 0.03}, m=8, norm="GN"),
               _entry("BN RQUANT (m=8)", {"err": 0.05}, m=8, norm="BN"),
               _entry("GN CLIPPING_0.1 (m=4)", {"err": 0.04}, m=4, norm="GN", clipping=True))
    lines, data = clean_err_section(SectionInput("t7", "Tab. 7", "clean_err", entries), tmp_path, "Tab. 7")
    assert "| 8 | 2.00 (n=2) | 5.00 |" in lines and "| 4* | 4.00 | - |" in lines
    assert [(r["m"], r["norm"], r["err"]) for r in data["rows"]] == [(8, "GN", 0.02), (8, "BN", 0.05), (4, "GN", 0.04)]
    assert len(_csv(tmp_path / "clean_err.csv")) == 3 and (tmp_path / "clean_err.png").read_bytes()[:8] == PNG
