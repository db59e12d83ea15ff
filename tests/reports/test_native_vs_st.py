"""The native vs straight-through section (paper 2, Sec. IV-B, V): the paired native - ST table against hand
computations, on the stored results of a smoke reproduce (one seed: reads are the units) and on a hand-made
three-seed example (seeds are the units)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from bitrobust.errors import BitrobustError
from bitrobust.reports.experiment_input import Evaluation, RunEntry, SectionInput
from bitrobust.reports.native_vs_st import native_vs_st_section

GOLDEN = Path(__file__).parent / "golden" / "experiments"
T975 = {1: 12.706204736174707, 2: 4.302652729749464}  # Student-t 0.975 quantiles (tables), df = 1, 2


def stored_section() -> SectionInput:
    data = json.loads((GOLDEN / "bnn-native-vs-st" / "input.json").read_text())
    section, cnn = data["sections"]
    assert section["key"] == "fc" and not cnn["entries"]  # the smoke form trains FC nets only
    entries = tuple(RunEntry(e["label"], Path(e["run_dir"]), tuple(Evaluation(json.loads((GOLDEN / v["result"]).read_text()))
                                                                   for v in e["evaluations"]), (), e["key"], e["tags"])
                    for e in section["entries"])
    return SectionInput(section["key"], section["title"], section["kind"], entries)


def by_key(rows: list[dict]) -> dict:
    return {(r["ste"], round(100 * r["train_ber"]), r["eval_ber"]): r for r in rows}


def test_stored_smoke_results_by_hand(tmp_path):
    section = stored_section()
    results = {(e.tags["ste"], e.tags["op"], e.tags["ber"]): e.evaluations[0].result for e in section.entries}
    _, data = native_vs_st_section(section, tmp_path, "Sec. IV-B")
    rows = by_key(data["paired"])
    assert data["stes"] == ["identity", "htanh"] and data["train_bers"] == [0.05]
    assert len(rows) == 2 * 3  # per gradient: clean, p = 1 %, p = 30 %
    for ste in ("identity", "htanh"):
        st, native = results[(ste, "straight_through", 5)], results[(ste, "native", 5)]
        clean = rows[(ste, 5, 0.0)]  # one seed, one clean pass: a difference without an interval
        assert clean["native_minus_st"] == pytest.approx(st["err"] - native["err"])
        assert clean["acc_native"] == pytest.approx(1 - native["err"]) and clean["low"] is None
        for rate_st, rate_native in zip(st["rates"], native["rates"]):
            diffs = [a - b for a, b in zip(rate_st["rerr"], rate_native["rerr"])]  # per read, same reads both sides
            mean = sum(diffs) / len(diffs)
            half = T975[len(diffs) - 1] * math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) / math.sqrt(len(diffs))
            row = rows[(ste, 5, rate_st["p"])]
            assert row["native_minus_st"] == pytest.approx(mean)
            assert (row["low"], row["high"]) == (pytest.approx(mean - half, abs=1e-9), pytest.approx(mean + half, abs=1e-9))
            assert row["acc_st"] == pytest.approx(1 - sum(rate_st["rerr"]) / len(diffs))
            assert (row["seeds"], row["reads"], row["unit"], row["n"]) == (1, len(diffs), "read", st["n_examples"])
    table = (tmp_path / "table.md").read_text()
    assert "| 5 % |" in table and "| 0 % (no flips" in table


def _result(err: float, rerr: tuple[float, ...], n: int = 1000) -> dict:
    return {"err": err, "confidence": 0.9, "n_examples": n, "source": "transient", "trials": len(rerr), "bits": 1,
            "scheme": {}, "rates": [{"p": 0.1, "rerr": list(rerr), "confidence": [0.8] * len(rerr)}]}


# Three seeds at training BER 10 %: RErr per read at p = 10 % and the clean Err, per operator.
ST_RERR = [(0.30, 0.32, 0.34), (0.20, 0.22, 0.24), (0.25, 0.25, 0.25)]
NATIVE_RERR = [(0.40, 0.41, 0.42), (0.28, 0.30, 0.32), (0.32, 0.32, 0.32)]
ST_ERR, NATIVE_ERR = (0.15, 0.16, 0.17), (0.15, 0.18, 0.17)


def three_seeds(shuffle: int | None = None) -> SectionInput:
    entries = [RunEntry("p0", Path("runs/p0"), (Evaluation(_result(0.14, (0.3, 0.3, 0.3))),),
                        tags={"ste": "identity", "op": None, "ber": 0, "seed": s}) for s in range(3)]
    for op, errs, rerrs in (("straight_through", ST_ERR, ST_RERR), ("native", NATIVE_ERR, NATIVE_RERR)):
        entries += [RunEntry(f"{op} {s}", Path(f"runs/{op}{s}"), (Evaluation(_result(errs[s], rerrs[s])),),
                             tags={"ste": "identity", "op": op, "ber": 10, "seed": s}) for s in range(3)]
    if shuffle is not None:
        random.Random(shuffle).shuffle(entries)
    return SectionInput("fc", "FC", "bnn_native_vs_st", tuple(entries))


def test_three_seeds_by_hand(tmp_path):
    lines, data = native_vs_st_section(three_seeds(), tmp_path, "Sec. IV-B")
    rows = by_key(data["paired"])
    # p = 10 %: per-seed mean of RErr_ST - RErr_native = acc_native - acc_ST: -0.09, -0.08, -0.07
    row = rows[("identity", 10, 0.1)]
    half = T975[2] * 0.01 / math.sqrt(3)  # sample sd of (-0.09, -0.08, -0.07) is 0.01
    assert row["native_minus_st"] == pytest.approx(-0.08)
    assert (row["low"], row["high"]) == (pytest.approx(-0.08 - half), pytest.approx(-0.08 + half))
    assert row["verdict"] == "ST higher" and (row["seeds"], row["reads"], row["unit"]) == (3, 3, "seed")
    assert row["acc_st"] == pytest.approx(1 - sum(map(sum, ST_RERR)) / 9)
    # clean: 0, -0.02, 0 -> mean -0.02/3, sample sd 0.02/sqrt(3), not resolved
    clean = rows[("identity", 10, 0.0)]
    half = T975[2] * (0.02 / math.sqrt(3)) / math.sqrt(3)
    assert clean["native_minus_st"] == pytest.approx(-0.02 / 3)
    assert (clean["low"], clean["high"]) == (pytest.approx(-0.02 / 3 - half), pytest.approx(-0.02 / 3 + half))
    assert clean["verdict"] == "not resolved"
    assert f"| 10 % | -0.7 [{100 * (-0.02 / 3 - half):+.1f}, {100 * (-0.02 / 3 + half):+.1f}] | -8.0 [-10.5, -5.5] ST |" \
        in "\n".join(lines)
    clean_row = next(l for l in lines if l.startswith("| 10 % | 84.0 ± 0.8 | 83.3 ± 1.2 |"))
    assert clean_row.endswith("| 3 |")  # the clean table: mean ± std over seeds, and the seeds
    assert (tmp_path / "native_vs_st.png").read_bytes()[:4] == b"\x89PNG"


def test_pairs_by_seed_not_by_order(tmp_path):
    _, ordered = native_vs_st_section(three_seeds(), tmp_path / "a", "Sec. IV-B")
    _, shuffled = native_vs_st_section(three_seeds(shuffle=1), tmp_path / "b", "Sec. IV-B")
    assert by_key(ordered["paired"]) == by_key(shuffled["paired"])


def test_only_seeds_both_operators_have_are_paired(tmp_path):
    section = three_seeds()
    section = SectionInput(section.key, section.title, section.kind,
                           tuple(e for e in section.entries if not (e.tags["op"] == "native" and e.tags["seed"] == 2)))
    _, data = native_vs_st_section(section, tmp_path, "Sec. IV-B")
    row = by_key(data["paired"])[("identity", 10, 0.1)]
    assert row["seeds"] == 2 and row["native_minus_st"] == pytest.approx(-0.085)


def test_a_section_without_both_operators_is_an_error(tmp_path):
    section = three_seeds()
    st_only = SectionInput("fc", "FC", "bnn_native_vs_st", tuple(e for e in section.entries if e.tags["op"] != "native"))
    with pytest.raises(BitrobustError, match="both a native and a straight-through run"):
        native_vs_st_section(st_only, tmp_path, "Sec. IV-B")
    twice = SectionInput("fc", "FC", "bnn_native_vs_st", section.entries + section.entries[-1:])
    with pytest.raises(BitrobustError, match="seed 2"):
        native_vs_st_section(twice, tmp_path, "Sec. IV-B")
