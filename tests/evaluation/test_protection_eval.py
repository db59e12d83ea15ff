"""Protection, targeting and ECC through evaluate_robustness, inject and ``bitrobust eval`` (contract 6)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bitrobust import Protection, evaluate_robustness, inject
from bitrobust.bit_errors import ProtectedMemory, RandomBitErrors
from bitrobust.cli import main
from bitrobust.evaluation import EVAL_KINDS, RobustnessResult
from bitrobust.formats import get_format
from bitrobust.quantization import FixedPointQuantizer, quantize_model
from bitrobust.training.config import EvalSection
from bitrobust.config import from_dict, to_dict


def _model_and_data():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    for p in model.parameters():
        nn.init.normal_(p, generator=gen)
    x = torch.randn(200, 8, generator=gen)
    return model, [(x, model(x).argmax(1).detach())]


def test_everything_protected_reads_clean_and_ecc_counts_match_the_memory():
    model, data = _model_and_data()
    q = FixedPointQuantizer(8)
    shielded = evaluate_robustness(model, data, q, [0.05], chips=3, protection=Protection(protect_tensors="*"))
    assert shielded.rate(0.05).rerr == (shielded.err,) * 3
    plain = evaluate_robustness(model, data, q, [0.05], chips=3)
    assert min(plain.rate(0.05).rerr) > plain.err  # the same chips do hurt unprotected weights

    prot = Protection(ecc="secded64", ecc_policy="zero")
    result = evaluate_robustness(model, data, q, [0.001, 0.01], chips=3, protection=prot)
    memory = ProtectedMemory(quantize_model(model, q), prot)
    for p in (0.001, 0.01):
        counts = [memory.read(RandomBitErrors(p, chip=c))[1] for c in range(3)]
        assert result.rate(p).ecc_corrected == tuple(c.corrected for c in counts)
        assert result.rate(p).ecc_detected == tuple(c.detected for c in counts)
    assert sum(result.rate(0.01).ecc_corrected) > 0
    d = result.to_dict()
    assert d["protection"] == {"ecc": "secded64", "ecc_policy": "zero"}
    assert d["ecc_codewords"] == memory.ecc_segment.num_words and "ecc_detected" in d["rates"][0]
    assert RobustnessResult.from_dict(d) == result
    # without protection the result file is what it always was: no new keys
    assert not {"protection", "ecc_codewords"} & set(plain.to_dict())
    assert not any(k.startswith("ecc") for k in plain.to_dict()["rates"][0])


def test_inject_with_protection_and_targeting_matches_the_protected_read():
    model, _ = _model_and_data()
    fmt = get_format("bf16")
    errors = RandomBitErrors(0.05, chip=1)
    clean = {n: p.detach().clone() for n, p in model.named_parameters()}
    with inject(model, fmt, errors, protection=Protection(target_tensors="2.*", target_bits="sign")) as faulty:
        params = dict(faulty.named_parameters())
        assert torch.equal(params["0.weight"], clean["0.weight"].bfloat16().float())
        changed = params["2.weight"] != clean["2.weight"].bfloat16().float()
        assert bool(changed.any())
        assert torch.equal(params["2.weight"][changed], -clean["2.weight"].bfloat16().float()[changed])  # sign flips


def test_settings_hashes_unchanged_and_recipe_defaults():
    kind = EVAL_KINDS.get("random")
    plain = kind.settings({"rates": (0.01,), "chips": 2})
    assert not any(k in plain.to_dict() for k in ("protect_bits", "ecc", "expose_metadata"))
    assert to_dict(EvalSection()) == {"rates": [0.001, 0.005, 0.01, 0.05, 0.1], "chips": 10}
    recipe = to_dict(from_dict(EvalSection, {"ecc": "secded64", "protect_bits": 7, "protect_tensors": "fc*,conv*"}))
    assert recipe["protect_bits"] == 7 and recipe["protect_tensors"] == ["fc*,conv*"]
    s = kind.settings({"rates": (0.01,), "target_bits": "sign"}, recipe)
    assert s.protection() == Protection(protect_bits="7", protect_tensors=("fc*", "conv*"), target_bits="sign",
                                        ecc="secded64")
    assert s.to_dict()["protect_tensors"] == ["fc*", "conv*"]
    with pytest.raises(Exception, match="not to linf noise"):
        EVAL_KINDS.get("linf").settings({"rates": (0.01,), "ecc": "secded8"})
    assert EVAL_KINDS.get("linf").settings({"rates": (0.01,)}, recipe).protection().is_default
    with pytest.raises(Exception, match="no setting 'ecc'"):
        EVAL_KINDS.get("weights").settings({"ecc": "secded8"})


def test_eval_cli_protection_flags_end_to_end(tmp_path, tiny_run, data_dir, capsys):
    out_dir = tmp_path / "eval"
    code = main(["eval", str(tiny_run), "--rates", "1%", "--chips", "2", "--test-subset", "100",
                 "--data-dir", str(data_dir), "--out", str(out_dir), "--no-progress",
                 "--protect-bits", "msb", "--protect-tensors", "conv1.*", "--target-tensors", "classifier.*,conv*",
                 "--target-bits", "0,7,6", "--expose-metadata", "--ecc", "secded64", "--ecc-policy", "zero"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ECC per chip:" in out
    result = json.loads((out_dir / "robustness.json").read_text())
    assert result["protection"] == {"protect_bits": "msb", "protect_tensors": ["conv1.*"],
                                    "target_tensors": ["classifier.*", "conv*"], "target_bits": "0,7,6",
                                    "expose_metadata": True, "ecc": "secded64", "ecc_policy": "zero"}
    assert len(result["rates"][0]["ecc_corrected"]) == 2
    config = json.loads((out_dir / "eval_config.json").read_text())
    assert config["ecc"] == "secded64" and config["target_bits"] == "0,7,6"


@pytest.mark.parametrize("args, message", [
    (["--ecc", "hamming"], "unknown ECC code 'hamming'; valid: secded16, secded32, secded64, secded8"),
    (["--ecc-policy", "zero"], "an ECC policy needs an ECC code"),
    (["--protect-bits", "top"], "unknown bit field 'top'; valid: msb, sign, exponent, mantissa"),
    (["--protect-bits", "exponent"], "no exponent field"),
    (["--target-tensors", "fc*"], "'fc*' matches no stored tensor"),
])
def test_eval_cli_bad_protection_is_one_line_and_writes_nothing(tmp_path, tiny_run, data_dir, capsys, args, message):
    out_dir = tmp_path / "eval"
    code = main(["eval", str(tiny_run), "--rates", "1%", "--chips", "1", "--test-subset", "50",
                 "--data-dir", str(data_dir), "--out", str(out_dir), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (out_dir / "robustness.json").exists()


def test_robustness_csv_has_ecc_columns_only_with_ecc():
    from bitrobust.reports.robustness import robustness_csv

    model, data = _model_and_data()
    q = FixedPointQuantizer(8)
    with_ecc = evaluate_robustness(model, data, q, [0.01], chips=2, protection=Protection(ecc="secded8"))
    lines = robustness_csv(with_ecc).splitlines()
    assert lines[0] == "p,trial,rerr,confidence,ecc_corrected,ecc_detected"
    assert lines[2].endswith(f",{with_ecc.rate(0.01).ecc_corrected[0]},{with_ecc.rate(0.01).ecc_detected[0]}")
    assert robustness_csv(evaluate_robustness(model, data, q, [0.01], chips=2)).splitlines()[0] == \
        "p,trial,rerr,confidence"
