"""Energy model (bit error rate <-> voltage <-> energy), CSV validation and `bitrobust energy` on golden runs."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.reports.energy import EnergyModel, EnergySettings, energy_savings, tolerated_rate
from bitrobust.reports.runs import Run, load_run, load_runs

GOLDEN = Path(__file__).parent / "golden"
RUNS = [GOLDEN / "run_dirs" / d for d in ("normal_8bit", "clipping_0.15", "randbet_0.05_p1", "randbet_m4")]
S8, S7 = math.sqrt(0.8), math.sqrt(0.7)


# -- the default model: paper 3's statements --------------------------------------------------


def test_default_model_rows():
    m = EnergyModel.default()
    assert m.energy_at(0.0) == 1.0 and m.voltage_at(0.0) == 1.0  # V_min, normalization point
    assert m.energy_at(0.001) == pytest.approx(0.8) and m.voltage_at(0.001) == pytest.approx(S8)  # ~20%
    assert m.energy_at(0.01) == pytest.approx(0.7) and m.voltage_at(0.01) == pytest.approx(S7)  # p = 1% -> ~30%
    for pt in m.points:  # E ~ V^2
        assert pt.energy == pytest.approx(pt.voltage**2)


def test_log_linear_interpolation_by_hand():
    m = EnergyModel.default()
    t = math.log10(5)  # p = 0.5% sits log10(0.005 / 0.001) = 0.69897 of the way from 0.1% to 1%
    assert m.energy_at(0.005) == pytest.approx(0.8 - 0.1 * t)  # 0.730103
    assert m.energy_at(0.005) == pytest.approx(0.730103, abs=1e-6)
    assert m.voltage_at(0.005) == pytest.approx(S8 + t * (S7 - S8))
    # halfway in voltage between the rows is the geometric mean of the rates
    assert m.rate_at_voltage((S8 + S7) / 2) == pytest.approx(math.sqrt(0.001 * 0.01))
    assert m.rate_at_energy(0.75) == pytest.approx(math.sqrt(0.001 * 0.01))


def test_linear_in_p_between_vmin_and_first_faulty_row():
    m = EnergyModel.default()
    assert m.energy_at(0.0005) == pytest.approx(0.9)
    assert m.voltage_at(0.0005) == pytest.approx((1 + S8) / 2)
    assert m.rate_at_voltage(1.0) == 0.0
    assert m.rate_at_energy(0.9) == pytest.approx(0.0005)


@settings(max_examples=50, deadline=None)
@given(p=st.floats(0.0, 0.01))
def test_inverse_mappings_round_trip(p):
    m = EnergyModel.default()
    assert m.rate_at_voltage(m.voltage_at(p)) == pytest.approx(p, rel=1e-9, abs=1e-15)
    assert m.rate_at_energy(m.energy_at(p)) == pytest.approx(p, rel=1e-9, abs=1e-15)


def test_no_extrapolation():
    m = EnergyModel.default()
    with pytest.raises(BitrobustError, match="outside"):
        m.energy_at(0.02)
    with pytest.raises(BitrobustError, match="outside"):
        m.rate_at_voltage(0.8)
    point, clamped = m.operating_point(0.2)
    assert clamped and point.energy == pytest.approx(0.7) and point.bit_error_rate == 0.01
    point, clamped = m.operating_point(0.01)
    assert not clamped


# -- user CSV -------------------------------------------------------------------------------


def test_csv_in_physical_units_is_normalized(tmp_path):
    f = tmp_path / "chip.csv"
    f.write_text("# measured chip\nenergy,voltage,bit_error_rate,note\n10,0.70,0,Vmin\n8,0.63,0.1%,x\n6.4,0.56,0.05,y\n")
    m = EnergyModel.from_csv(f)
    assert [(round(pt.voltage, 6), pt.bit_error_rate, round(pt.energy, 6)) for pt in m.points] == [
        (1.0, 0.0, 1.0), (0.9, 0.001, 0.8), (0.8, 0.05, 0.64)]
    again = EnergyModel.from_csv(_write(tmp_path, "again.csv", m.to_csv()))
    flat = [(pt.voltage, pt.bit_error_rate, pt.energy) for pt in again.points]
    assert flat == [pytest.approx((pt.voltage, pt.bit_error_rate, pt.energy), rel=1e-6) for pt in m.points]


def _write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("voltage,energy\n1,1\n", "missing column(s) bit_error_rate"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,abc,0.8\n", "line 3: invalid bit_error_rate 'abc'"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01\n", "line 3: expected 3 values"),
        ("voltage,bit_error_rate,energy\n1,0,1\n", "at least 2"),
        ("voltage,bit_error_rate,energy\n1,0.001,1\n0.9,0.01,0.8\n", "exactly one row with bit_error_rate 0"),
        ("voltage,bit_error_rate,energy\n1,0,1\n1.1,0,1.2\n0.9,0.01,0.8\n", "exactly one row"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01,0.8\n0.95,0.02,0.7\n", "not monotone"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01,0.8\n0.8,0.01,0.7\n", "not monotone"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01,1.2\n", "not monotone"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,1.5,0.8\n", "bit_error_rate must be in [0, 1]"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01,-0.8\n", "energy must be a positive number"),
        ("voltage,bit_error_rate,energy\n1,0,1\n0.9,0.01,nan\n", "energy must be a positive number"),
    ],
)
def test_csv_validation_errors_are_one_line(tmp_path, text, message):
    with pytest.raises(BitrobustError) as info:
        EnergyModel.from_csv(_write(tmp_path, "m.csv", text))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_csv(tmp_path):
    with pytest.raises(BitrobustError, match="not found"):
        EnergyModel.from_csv(tmp_path / "nope.csv")


# -- tolerated rate and savings -------------------------------------------------------------


def _run(err, rates, name="m", trials=2, source="random"):
    res = RobustnessResult(err, 0.9, 10000, source, trials, 8, {}, tuple(RateResult(p, (e,) * trials, (0.9,) * trials) for p, e in rates))
    return Run(name, Path(name), res)


def test_tolerated_rate_needs_every_lower_rate_within_the_limit():
    run = _run(0.05, [(0.001, 0.055), (0.005, 0.07), (0.01, 0.058)])  # RErr not monotone in p
    assert tolerated_rate(run, 0.06) == (0.001, 0.055)
    assert tolerated_rate(run, 0.04) == (None, None)  # clean Err already above
    assert tolerated_rate(run, 0.05) == (0.0, 0.05)  # only the clean weights qualify


def test_bound_criterion_uses_prop1():
    run = load_run(RUNS[1])
    # bounds: 4.66 / 5.31 / 7.81 % + 56.28 % = 60.94 / 61.59 / 64.09 %
    p, value = tolerated_rate(run, 0.62, EnergySettings(0.6, "bound"))
    assert p == 0.001 and value == pytest.approx(0.0531 + 0.5628234, abs=1e-6)
    with pytest.raises(BitrobustError, match="does not apply"):
        tolerated_rate(_run(0.05, [(0.01, 0.06)], source="profiled"), 1.0, EnergySettings(criterion="bound"))


def test_paper_claims_on_tab18_numbers():
    """Abstract: +1% vs a normally trained 8-bit DNN -> 20%; ~30% at p = 1% for +2.5% (8-bit RANDBET here)."""
    runs = load_runs(RUNS)
    normal = runs[0]
    one = {r.name: r for r in energy_savings(runs, EnergyModel.default(), EnergySettings(0.01), normal)}
    assert one["CLIPPING_0.15"].p == 0.001 and one["CLIPPING_0.15"].savings == pytest.approx(0.2)
    assert one["randbet_m4"].p is None and one["randbet_m4"].savings is None
    two = {r.name: r for r in energy_savings(runs, EnergyModel.default(), EnergySettings(0.025), normal)}
    assert two["RANDBET_0.05 p=1%"].p == 0.01 and two["RANDBET_0.05 p=1%"].savings == pytest.approx(0.3)
    assert two["randbet_m4"].p == 0.005 and two["randbet_m4"].energy == pytest.approx(0.730103, abs=1e-6)
    own = {r.name: r for r in energy_savings(runs, EnergyModel.default(), EnergySettings(0.01))}
    assert own["RANDBET_0.05 p=1%"].p == 0.005  # 6.18 <= 5.24 + 1, 6.73 is not


def test_clamped_beyond_the_table():
    run = _run(0.01, [(0.01, 0.011), (0.05, 0.012)])
    (r,) = energy_savings([run], EnergyModel.default(), EnergySettings(0.01))
    assert r.p == 0.05 and r.clamped and r.energy == pytest.approx(0.7)


def test_settings_validation():
    with pytest.raises(BitrobustError, match="criterion"):
        EnergySettings(criterion="median")
    with pytest.raises(BitrobustError, match="max increase"):
        EnergySettings(max_increase=-0.01)


@pytest.mark.parametrize("k, n", [(8, 13), (16, 22), (32, 39), (64, 72)])
def test_ecc_storage_overhead_scales_energy_by_n_over_k(k, n):
    runs = load_runs(RUNS)
    plain = energy_savings(runs, EnergyModel.default(), EnergySettings(0.025), runs[0])
    ecc = energy_savings(runs, EnergyModel.default(), EnergySettings(0.025, ecc=f"secded{k}"), runs[0])
    assert EnergySettings(ecc=f"secded{k}").storage_overhead == n / k
    for a, b in zip(plain, ecc):
        assert (a.name, a.p, a.voltage, a.rerr) == (b.name, b.p, b.voltage, b.rerr)  # the operating point stays
        if a.p is None:
            assert b.energy is None
        else:
            assert b.energy == a.energy * n / k and b.savings == pytest.approx(1 - (1 - a.savings) * n / k)
    # by hand: RANDBET_0.05 p=1% tolerates p = 1% (energy 0.7); with (72, 64) it costs 0.7 * 1.125 = 0.7875
    if k == 64:
        r = {x.name: x for x in ecc}["RANDBET_0.05 p=1%"]
        assert r.energy == pytest.approx(0.7875) and r.savings == pytest.approx(0.2125)
    with pytest.raises(BitrobustError, match="valid: secded16, secded32, secded64, secded8"):
        EnergySettings(ecc="(72,64)")


def test_cli_ecc(tmp_path, capsys):
    base, ecc = tmp_path / "plain", tmp_path / "ecc"
    argv = ["energy", *map(str, RUNS), "--reference", str(RUNS[0]), "--max-increase", "1%"]
    assert main([*argv, "--out", str(base)]) == 0
    assert main([*argv, "--ecc", "secded64", "--out", str(ecc)]) == 0
    plain, charged = (json.loads((d / "energy.json").read_text()) for d in (base, ecc))
    assert charged["settings"]["ecc"] == "secded64" and charged["settings"]["storage_overhead"] == 1.125
    assert plain["settings"]["ecc"] is None and plain["settings"]["storage_overhead"] == 1.0
    for a, b in zip(plain["models"], charged["models"]):
        assert b["energy"] == (None if a["energy"] is None else a["energy"] * 72 / 64)
    assert "(72, 64)" in (ecc / "energy.md").read_text() and "ECC" not in (base / "energy.md").read_text()


# -- CLI ------------------------------------------------------------------------------------


def test_cli_golden(tmp_path, capsys):
    out = tmp_path / "energy"
    argv = ["energy", *map(str, RUNS), "--reference", str(RUNS[0]), "--max-increase", "1%", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "energy.md").read_text() == (GOLDEN / "energy_vs_normal_1pct.md").read_text()
    data = json.loads((out / "energy.json").read_text())
    assert data["settings"]["max_increase"] == 0.01
    savings = {m["name"]: m["savings"] for m in data["models"]}
    assert savings["CLIPPING_0.15"] == pytest.approx(0.2) and savings["randbet_m4"] is None
    assert (out / "energy.png").read_bytes().startswith(b"\x89PNG")
    assert "CLIPPING_0.15: p=0.1%" in capsys.readouterr().out


def test_cli_custom_model_show_and_errors(tmp_path, capsys):
    assert main(["energy", "--show-model"]) == 0
    shown = capsys.readouterr().out
    assert "voltage,bit_error_rate,energy" in shown and "0.83666,0.01,0.7" in shown
    model = _write(tmp_path, "m.csv", "voltage,bit_error_rate,energy\n1,0,1\n0.5,0.1,0.25\n")
    out = tmp_path / "o"
    assert main(["energy", str(RUNS[2]), "--energy-model", str(model), "--max-increase", "0.02", "--out", str(out)]) == 0
    (m,) = json.loads((out / "energy.json").read_text())["models"]
    # own Err 5.24 + 2 = 7.24: holds to p = 1%; log-linear from (1, 0) ... first segment is linear in p:
    # t = 0.01 / 0.1 = 0.1, energy 1 - 0.1 * 0.75 = 0.925
    assert m["p"] == 0.01 and m["energy"] == pytest.approx(0.925)
    capsys.readouterr()
    bad = _write(tmp_path, "bad.csv", "voltage,energy\n1,1\n")
    assert main(["energy", str(RUNS[2]), "--energy-model", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) bit_error_rate" in err and err.count("\n") == 1
    assert main(["energy", str(RUNS[2]), "--max-increase", "lots", "--out", str(out)]) == 2
    assert main(["energy", str(RUNS[2])]) == 2  # no --out


def test_linf_results_have_no_energy():
    with pytest.raises(BitrobustError, match="L-inf"):
        tolerated_rate(_run(0.05, [(0.01, 0.06)], source="linf"), 1.0)
