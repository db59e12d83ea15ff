"""The evaluation kinds behind paper 3's Fig. 4 (``weight_errors``) and Fig. 6 (``logits``).

Fig. 4's perturbed weights must be exactly the stored words with chip c's flips, decoded: checked
against each tensor quantized on its own, flipped with ``RandomBitErrors`` at its word offset and
dequantized. Fig. 6's histograms must count every example once per pass, and the clean largest
logits must be those of the quantized model computed directly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import EVAL_KINDS
from bitrobust.evaluation.logits import histogram, logit_distributions
from bitrobust.evaluation.weight_errors import WeightErrorsSettings, weight_errors
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model


@pytest.mark.parametrize("scheme", ["rquant", "normal"])
@pytest.mark.parametrize("bits", [8, 4])
def test_perturbed_weights_are_the_dequantized_flipped_codes(scheme, bits):
    g = torch.Generator().manual_seed(1)
    weights = {"a.weight": torch.randn(40, 30, generator=g) * 0.1, "a.bias": torch.randn(30, generator=g),
               "b.weight": torch.randn(500, generator=g) * 3}
    quantizer = FixedPointQuantizer(bits, scheme)
    p, chip = 0.025, 3
    result = weight_errors(weights, quantizer, [p, 0.1], chip=chip, sample=700, sample_seed=5)
    expected_all, clean_all, offset = [], [], 0
    for name, w in weights.items():  # each tensor on its own, at its place in the linear layout
        qt = quantizer.quantize(w)
        flipped = RandomBitErrors(p, chip=chip).apply(qt.codes.reshape(-1), bits, word_offset=offset)
        expected_all.append(quantizer.dequantize(qt.with_codes(flipped.view(qt.codes.shape))).reshape(-1))
        clean_all.append(quantizer.dequantize(qt).reshape(-1))
        offset += w.numel()
    expected, clean = torch.cat(expected_all), torch.cat(clean_all)
    index = torch.tensor(result["index"])
    assert result["n_weights"] == offset and len(set(result["index"])) == 700
    got = torch.tensor(result["rates"][0]["perturbed"])
    assert torch.allclose(got, expected[index], rtol=1e-5, atol=1e-7)
    assert torch.allclose(torch.tensor(result["quantized"]), clean[index], rtol=1e-5, atol=1e-7)
    names = list(weights)
    sizes = torch.tensor([w.numel() for w in weights.values()]).cumsum(0)
    assert [names[t] for t in result["tensor"]] == [names[int(torch.searchsorted(sizes, i, right=True))]
                                                    for i in result["index"]]
    changed = expected != clean
    assert result["rates"][0]["changed"] == pytest.approx(float(changed.float().mean()))
    assert result["rates"][0]["max_abs_error"] == pytest.approx(float((expected - clean).abs().max()), rel=1e-6)
    assert result["rates"][1]["changed"] > result["rates"][0]["changed"]  # p = 10 % flips more


def test_weight_errors_settings_are_checked():
    with pytest.raises(BitrobustError, match="sample"):
        WeightErrorsSettings(sample=0)
    with pytest.raises(BitrobustError, match="no bit error rates"):
        WeightErrorsSettings(rates=())
    settings = EVAL_KINDS.get("weight_errors").settings({"rates": [0.01], "test_subset": 100})
    assert settings.to_dict()["rates"] == [0.01] and "test_subset" not in settings.to_dict()


@pytest.mark.parametrize("name", ["bf16", "int8_channel"])
def test_weight_errors_in_a_number_format_are_the_formats_own_flips(name):
    """--format: the perturbed words are the format's own (contract 5 layout) with chip c's flips, decoded; bf16
    exponent flips that decode to inf/NaN are counted as changed, left out of the errors and kept as None."""
    from bitrobust.evaluation.sources import RandomChips
    from bitrobust.formats import get_format
    from bitrobust.quantization.model import quantize_tensors

    g = torch.Generator().manual_seed(4)
    weights = {"a.weight": torch.randn(64, 32, generator=g), "a.bias": torch.randn(64, generator=g)}
    fmt = get_format(name)
    p = 0.2
    result = weight_errors(weights, fmt, [p], chip=1, sample=3000)
    state = quantize_tensors(weights, fmt)
    clean = torch.cat([t.dequantize().reshape(-1) for t in state.dequantize().values()])
    flipped = torch.cat([t.reshape(-1) for t in state.with_errors(RandomChips(2).errors(1, p)).dequantize().values()])
    finite = torch.isfinite(flipped)
    assert result["format"] == name and "scheme" not in result and result["bits"] == fmt.bits
    rate = result["rates"][0]
    assert rate["nonfinite"] == int((~finite).sum())
    assert rate["changed"] == pytest.approx(float((~finite | (flipped != clean)).float().mean()))
    assert rate["max_abs_error"] == pytest.approx(float((flipped - clean)[finite].abs().max()), rel=1e-6)
    index = torch.tensor(result["index"])
    got = rate["perturbed"]
    assert [v is None for v in got] == (~finite[index]).tolist()
    kept = [i for i, v in enumerate(got) if v is not None]
    assert torch.allclose(torch.tensor([got[i] for i in kept]), flipped[index][kept], rtol=1e-5, atol=1e-7)
    if name == "bf16":
        assert rate["nonfinite"] > 0  # at p = 20 % some exponents are all ones


def test_weight_errors_settings_take_a_format_or_bits_not_both():
    kind = EVAL_KINDS.get("weight_errors")
    assert kind.settings({"format": "fp8_e4m3"}).to_dict()["format"] == "fp8_e4m3"
    assert "format" not in kind.settings({}).to_dict()  # unset: the directory hash of earlier evaluations
    with pytest.raises(BitrobustError, match="not both"):
        kind.settings({"format": "bf16", "scheme": "normal"})


def test_logit_histograms_count_every_example_and_match_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(2)
    data = [(torch.randn(30, 6, generator=g), torch.zeros(30)), (torch.randn(20, 6, generator=g), torch.zeros(20))]
    quantizer = FixedPointQuantizer(8)
    result = logit_distributions(model, data, quantizer, [0.01, 0.2], chips=3, bins=7)
    assert all(v.equal(model.state_dict()[k]) for k, v in before.items())  # given back unchanged
    assert result["n_examples"] == 50
    assert sum(result["clean"]["confidence"]["counts"]) == 50
    for rate in result["rates"]:
        for key in ("max_logit", "confidence"):
            h = rate[key]
            assert sum(h["counts"]) + h["nonfinite"] == 150 and len(h["edges"]) == 8
    with torch.no_grad():  # the clean pass by hand
        state = quantize_model(model, quantizer)
        reference = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
        load_tensors(reference, state.dequantize())
        z = torch.cat([reference(x) for x, _ in data])
    assert result["clean"]["max_logit"]["mean"] == pytest.approx(float(z.max(1).values.mean()), rel=1e-5)
    assert result["clean"]["confidence"]["mean"] == pytest.approx(float(torch.softmax(z, 1).max(1).values.mean()),
                                                                  rel=1e-5)
    assert result["clean"]["max_logit"]["edges"] == result["rates"][1]["max_logit"]["edges"]  # one shared axis
    assert result["rates"][0]["max_logit"]["edges"][0] <= float(z.max(1).values.min())


def test_histogram_counts_finite_values_and_the_rest_apart():
    h = histogram(torch.tensor([0.1, 0.2, 0.9, float("inf"), float("nan")]), 0.0, 1.0, 4)
    assert h["counts"] == [2, 0, 0, 1] and h["nonfinite"] == 2
    assert h["mean"] == pytest.approx(0.4)


def test_logits_in_a_number_format_match_the_formats_own_flips_and_count_non_finite_outputs():
    """--format bf16: the clean pass is the bf16-rounded model; at p = 30 % some exponents flip to inf/NaN, and
    every example is still counted (finite in the bins, the rest apart); the result names the format."""
    from bitrobust.evaluation.sources import RandomChips
    from bitrobust.formats import get_format

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    data = [(torch.randn(40, 6, generator=torch.Generator().manual_seed(3)), torch.zeros(40))]
    bf16 = get_format("bf16")
    result = logit_distributions(model, data, bf16, [0.3], chips=2, bins=5)
    assert (result["format"], result["bits"]) == ("bf16", 16)
    with torch.no_grad():
        rounded = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
        load_tensors(rounded, {k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
        z = rounded(data[0][0])
        state = quantize_model(model, bf16)
        load_tensors(rounded, state.with_errors(RandomChips(2).errors(0, 0.3)).dequantize())
        chip0 = rounded(data[0][0]).max(1).values
    assert result["clean"]["max_logit"]["mean"] == pytest.approx(float(z.max(1).values.mean()), rel=1e-5)
    h = result["rates"][0]["max_logit"]
    assert sum(h["counts"]) + h["nonfinite"] == 80
    assert h["nonfinite"] >= int((~torch.isfinite(chip0)).sum()) > 0  # chip 0: some exponents flipped to inf/NaN
    assert "format" not in logit_distributions(model, data, FixedPointQuantizer(8), [0.01], chips=1)


def test_logits_settings_take_a_format_or_bits_not_both():
    kind = EVAL_KINDS.get("logits")
    assert kind.settings({"format": "bf16"}).to_dict()["format"] == "bf16"
    assert "format" not in kind.settings({}).to_dict()  # unset: the directory hash of earlier evaluations
    with pytest.raises(BitrobustError, match="not both"):
        kind.settings({"format": "bf16", "bits": 8})
    with pytest.raises(BitrobustError, match="unknown"):
        kind.settings({"format": "bf17"})
