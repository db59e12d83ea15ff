"""The formats and lm-formats experiments' plans (issues 11, 12): every format also with SECDED (72, 64) ECC and
with protected bits on the same chips, vulnerability maps, and the trained models unchanged."""

from __future__ import annotations

import pytest

from bitrobust.experiments import EXPERIMENTS, all_experiments
from bitrobust.experiments.formats import FLOATS
from bitrobust.experiments.plan import make_plan
from bitrobust.experiments.recipes import find_configs_dir

PAIRED = ("rates", "chips", "first_chip", "test_subset", "format", "bits", "scheme")


def same_chips(a, b) -> bool:
    """Two evaluations that pair chip by chip (contract 8): the same rates, chips and test examples."""
    return all(getattr(a, k) == getattr(b, k) for k in PAIRED)


@pytest.mark.parametrize("budget, smoke", [("quick", False), ("full", False), ("quick", True)])
def test_formats_evaluates_every_format_with_ecc_and_protected_bits(tmp_path, budget, smoke):
    plan = make_plan(EXPERIMENTS.get("formats"), budget, tmp_path, find_configs_dir(), smoke=smoke)
    assert set(plan.runs) == ({"int8", "int4_g128", "bf16"} if smoke else
                              {"int8", "int8_channel", "int4_g128", "fp16", "bf16", "fp8_e4m3"})
    for key in plan.runs:
        (plain,) = plan.evals[(key, "random")]
        (ecc,) = plan.evals[(key, "ecc")]
        protected_key = "protected_sign_exponent" if key in FLOATS else "protected_msb"
        (protected,) = plan.evals[(key, protected_key)]
        assert plain.settings.protection().is_default
        assert ecc.settings.ecc == "secded64" and ecc.settings.ecc_policy == "keep"
        assert protected.settings.protect_bits == ("sign,exponent" if key in FLOATS else "msb")
        assert same_chips(plain.settings, ecc.settings) and same_chips(plain.settings, protected.settings)
        assert len({plain.out_dir, ecc.out_dir, protected.out_dir}) == 3
        assert (key, "protected_msb" if key in FLOATS else "protected_sign_exponent") not in plan.evals
    for key in ("int8", "bf16"):
        (vmap,) = plan.evals[(key, "vulnerability")]
        assert vmap.settings.rates == (0.01,) and vmap.settings.tensors == ()
        assert vmap.settings.positions == ((0,) if smoke else ())  # all bit positions but in a smoke run
        assert vmap.settings.chips == (2 if smoke else 3)
    assert {k for k in plan.evals if k[1] == "vulnerability"} == {("int8", "vulnerability"), ("bf16", "vulnerability")}


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_formats_int8_model_is_paper3s_rquant(tmp_path, budget):
    """The int8 per-tensor model is the RQUANT run of paper 3's experiments (one directory, one config hash):
    the evaluations added here never change what is trained."""
    configs = find_configs_dir()
    formats = make_plan(EXPERIMENTS.get("formats"), budget, tmp_path, configs)
    rquant = {r.run_dir.name.rsplit("-", 1)[-1] for exp in all_experiments() if exp.name.startswith("p3-")
              for r in make_plan(exp, budget, tmp_path, configs).all_runs()
              if r.spec.recipe == "paper3/rquant.{budget}.yaml" and not r.overrides}
    assert formats.runs["int8"][0].digest in rquant


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_lm_formats_reads_the_main_formats_through_ecc(tmp_path, budget):
    plan = make_plan(EXPERIMENTS.get("lm-formats"), budget, tmp_path, find_configs_dir())
    for key, fmt in (("int8", None), ("int8_channel", "int8_channel"), ("int4_g128", "int4_g128"), ("bf16", "bf16"),
                     ("fp8_e4m3", "fp8_e4m3")):
        (plain,) = plan.evals[("gpt_tiny", key)]
        (ecc,) = plan.evals[("gpt_tiny", f"{key}_ecc")]
        assert ecc.settings.ecc == "secded64" and plain.settings.ecc is None and ecc.settings.format == fmt
        assert same_chips(plain.settings, ecc.settings)
    section = next(s for s in plan.experiment.sections if s.key == "ecc")
    assert len(section.pairs) == 5 and all(a == f"{b} + ECC (72, 64)" for a, b in section.pairs)
