"""activation_faults: buffer words read back with transient or persistent flips (contract 7), against the
definitions: bit patterns via torch's own casts, contract 1's codes, contract 2's u(a) < p per address."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust import FixedPointQuantizer, RandomBitErrors, inject
from bitrobust.bit_errors import chip_seed
from bitrobust.errors import BitrobustError
from bitrobust.formats import get_format
from bitrobust.injection import FloatWords, activation_faults, calibrate_activations, match_modules
from bitrobust.injection.activations import ACTIVATION_CHIP_SALT, transient_addresses
from bitrobust.injection.buffer_words import FixedPointWords, codec_for
from bitrobust.quantization import dequantize_codes, quantize_codes


def _bits32(t: torch.Tensor) -> torch.Tensor:
    """The fp32 bit pattern of each value as int64 in [0, 2^32)."""
    return t.detach().contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def _flipped(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Bool [..., 32]: which bits of each fp32 word differ (bit 0 = least significant)."""
    diff = _bits32(before) ^ _bits32(after)
    return ((diff[..., None] >> torch.arange(32)) & 1).bool()


def _identity_model() -> nn.Module:
    return nn.Sequential(nn.Identity(), nn.Identity())


def _x(n=64, d=200, seed=0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _within_binomial(count: int, n: int, p: float, z: float = 5.0) -> bool:
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return abs(count - mean) <= z * sd


# -- transient ------------------------------------------------------------------------------------


def test_transient_flips_are_fresh_at_every_forward_with_rate_p():
    model, x, p = _identity_model(), _x(), 0.01
    with activation_faults(model, "0", p, format="fp32", seed=3):
        first, second = _flipped(x, model(x)), _flipped(x, model(x))
    n = x.numel() * 32
    for flips in (first, second):
        assert _within_binomial(int(flips.sum()), n, p)
    assert not torch.equal(first, second)  # a fresh read each forward
    overlap = int((first & second).sum())  # independent reads overlap in about n p^2 bits
    assert overlap <= n * p * p + 5 * math.sqrt(n * p * p) + 1


def test_transient_rate_is_per_bit_in_every_position_and_reproducible_from_the_seed():
    model, x, p = _identity_model(), _x(256, 250), 0.05
    with activation_faults(model, "0", p, format="fp32", seed=7):
        flips = _flipped(x, model(x))
    with activation_faults(model, "0", p, format="fp32", seed=7):
        again = _flipped(x, model(x))
    assert torch.equal(flips, again)
    per_position = flips.reshape(-1, 32).sum(0)
    for j in range(32):
        assert _within_binomial(int(per_position[j]), x.numel(), p), j


def test_transient_addresses_are_distinct_sorted_and_binomial():
    g = torch.Generator().manual_seed(1)
    for n, p in ((10_000, 0.3), (1_000_000, 0.001), (50, 0.99)):
        a = transient_addresses(n, p, g)
        assert bool((a.diff() > 0).all()) and int(a.min()) >= 0 and int(a.max()) < n
        assert _within_binomial(len(a), n, p)
    assert len(transient_addresses(100, 0.0, g)) == 0 and len(transient_addresses(100, 1.0, g)) == 100


def test_int8_transient_flips_act_on_contract_1_words():
    """Every faulty value is a decoded word of the module's range; the words differ in about p of the bits."""
    model, x, p = _identity_model(), _x(128, 300), 0.02
    calib = calibrate_activations(model, [(x, None)], "0")
    q = FixedPointQuantizer(8)
    codec = FixedPointWords(q, calib.range_of("0"))
    table = dequantize_codes(torch.arange(256, dtype=torch.uint8), 8, q.scheme, calib.range_of("0"))
    assert bool((table.diff() > 0).all())  # distinct values: a value names its word
    with activation_faults(model, "0", p, format="int8", calibration=calib):
        out = model(x)
    words = torch.searchsorted(table, out.reshape(-1))
    assert torch.equal(table[words], out.reshape(-1))
    clean = quantize_codes(x, 8, q.scheme, codec.qrange).reshape(-1).to(torch.int64)
    diff = clean ^ words
    flips = int(((diff[:, None] >> torch.arange(8)) & 1).sum())
    assert _within_binomial(flips, x.numel() * 8, p)


# -- persistent ----------------------------------------------------------------------------------


def _expected_persistent_flips(p: float, chip: int, offset: int, numel: int, bits: int = 32) -> torch.Tensor:
    """Contract 2's definition on the buffer: bit a = (offset + e) m + j is faulty iff u_c(a) < p."""
    a = torch.arange(offset * bits, (offset + numel) * bits)
    u = RandomBitErrors(0.0, seed=chip_seed(chip, ACTIVATION_CHIP_SALT)).uniform(a)
    return (u < p).view(numel, bits)


def test_persistent_flips_the_same_cells_for_every_example_and_batch_as_the_chip_defines():
    model, p, chip = _identity_model(), 0.03, 4
    calib = calibrate_activations(model, [(_x(4, 200), None)], "0,1")
    batches = [_x(16, 200, seed=s) for s in (1, 2)]
    with activation_faults(model, ["0", "1"], p, "persistent", chip=chip, format="fp32", calibration=calib) as f:
        first_out = [model[0](b) for b in batches]  # module "0" alone
    expected0 = _expected_persistent_flips(p, chip, 0, 200)
    for b, out in zip(batches, first_out):
        flips = _flipped(b, out)
        for row in flips:
            assert torch.equal(row, expected0)
    # module "1" comes after module "0" in the buffer: its words start at 200
    with activation_faults(model, ["0", "1"], p, "persistent", chip=chip, format="fp32", calibration=calib):
        mid = model[0](batches[0])
        out = model[1](mid)
    expected1 = _expected_persistent_flips(p, chip, 200, 200)
    assert all(torch.equal(row, expected1) for row in _flipped(mid, out))
    assert f.offsets == {"0": 0, "1": 200}
    assert _within_binomial(int(expected0.sum()) + int(expected1.sum()), 400 * 32, p)


def test_persistent_chips_are_nested_across_rates_and_differ_from_the_weight_chip():
    model, x = _identity_model(), _x(2, 500)
    calib = calibrate_activations(model, [(x, None)], "0")
    flips = {}
    for p in (0.01, 0.05):
        with activation_faults(model, "0", p, "persistent", chip=1, format="fp32", calibration=calib):
            flips[p] = _flipped(x, model(x))[0]
    assert bool((flips[0.01] & ~flips[0.05]).sum() == 0) and int(flips[0.05].sum()) > int(flips[0.01].sum())
    weight_chip = RandomBitErrors(0.05, chip=1).flip_addresses(0, 500 * 32)
    weight_flips = torch.zeros(500 * 32, dtype=torch.bool)
    weight_flips[weight_chip] = True
    assert not torch.equal(weight_flips.view(500, 32), flips[0.05])  # a separate memory


def test_persistent_needs_the_calibrated_shape():
    model, x = _identity_model(), _x(2, 50)
    with pytest.raises(BitrobustError, match="calibration="):
        activation_faults(model, "0", 0.01, "persistent", format="fp32").__enter__()
    calib = calibrate_activations(model, [(x, None)], "0")
    with activation_faults(model, "0", 0.01, "persistent", format="fp32", calibration=calib):
        with pytest.raises(BitrobustError, match="recalibrate"):
            model(_x(2, 60))


# -- calibration, formats -----------------------------------------------------------------------


def test_calibration_ranges_are_min_and_max_over_all_calibration_batches():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    batches = [(_x(8, 6, seed=s), None) for s in range(3)]
    calib = calibrate_activations(model, batches, "*", batches=2)
    with torch.no_grad():
        outs = [model[0](b[0]) for b in batches[:2]]
    lo, hi = float(torch.cat(outs).min()), float(torch.cat(outs).max())
    assert calib.modules == ("0", "1", "2") and calib.range_of("0") == (lo, hi) and calib.examples == 16
    assert calib.shape_of("2") == (3,) and calib.range_of("1")[0] == 0.0
    # each fixed-point format applies contract 1's rule: [min, max] asymmetric, [-max|x|, max|x|] symmetric
    assert codec_for(FixedPointQuantizer(8, "rquant"), (lo, hi)).qrange == (lo, hi)
    q = max(abs(lo), abs(hi))
    assert codec_for(FixedPointQuantizer(8, "normal"), (lo, hi)).qrange == (-q, q)


def test_fixed_point_and_float_words_match_contract_1_and_torch_casts():
    x = torch.cat([_x(1, 500).reshape(-1) * 3, torch.tensor([0.0, -0.0, 1e-40, 7e4, -7e4])])
    for scheme in ("rquant", "normal"):
        q = FixedPointQuantizer(6, scheme)
        codec = FixedPointWords(q, q.range_of(x[:400]))
        codes = codec.encode(x)
        assert torch.equal(codes, quantize_codes(x, 6, q.scheme, codec.qrange))
        assert torch.equal(codec.decode(codes), dequantize_codes(codes, 6, q.scheme, codec.qrange))
    for name, dtype, view in (("fp16", torch.float16, torch.int16), ("bf16", torch.bfloat16, torch.int16),
                              ("fp32", torch.float32, torch.int32)):
        codec = FloatWords(get_format(name))
        codes = codec.encode(x)
        bits = codec.bits
        big = torch.finfo(dtype).max  # contract 5: the cast saturates (fp16: +-7e4 -> +-65504, not inf)
        cast = x.clamp(-big, big).to(dtype)
        assert torch.equal(codes, cast.view(view).to(torch.int64) & ((1 << bits) - 1))
        assert int(codes.min()) >= 0 and int(codes.max()) < 2**bits
        assert torch.equal(codec.decode(codes).view(view), cast.view(view))
        assert torch.equal(codec.decode(codes)[x.abs() <= big], x[x.abs() <= big].to(dtype))  # in range: the cast


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**16 - 1), min_size=1, max_size=50))
def test_float_words_decode_any_word_to_its_bit_pattern(words):
    codes = torch.tensor(words, dtype=torch.int32)
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        codec = FloatWords(get_format(name))
        decoded = codec.decode(codes)  # reinterpreted, no arithmetic: NaN payloads and infinities stay
        assert decoded.dtype == dtype and torch.equal(decoded.view(torch.int16).to(torch.int32) & 0xFFFF, codes)
        # re-encoding gives every finite word back; infinities saturate (contract 5), NaN stays NaN
        again, finite = codec.encode(decoded).to(torch.int32), torch.isfinite(decoded)
        assert torch.equal(again[finite], codes[finite])
        big = torch.tensor(torch.finfo(dtype).max, dtype=dtype).view(torch.int16).item()
        inf = torch.isinf(decoded)
        assert torch.equal(again[inf], torch.where(decoded[inf] > 0, big, big | 0x8000))
        assert bool(torch.isnan(codec.decode(again)[torch.isnan(decoded)]).all())


# -- protection, identity, restoring -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["transient", "persistent"])
def test_protected_bits_never_flip_and_only_target_bits_do(mode):
    model, x, p = _identity_model(), _x(64, 100), 0.2
    calib = calibrate_activations(model, [(x, None)], "0")
    with activation_faults(model, "0", p, mode, format="fp32", calibration=calib, protect=["msb", 30]):
        flips = _flipped(x, model(x)).reshape(-1, 32)
    assert int(flips[:, 30:].sum()) == 0 and int(flips[:, :30].sum()) > 0
    with activation_faults(model, "0", p, mode, format="fp32", calibration=calib, target_bits=[0, 5], protect=[5]):
        flips = _flipped(x, model(x)).reshape(-1, 32)
    assert int(flips[:, 1:].sum()) == 0
    cells = flips[:100] if mode == "persistent" else flips  # persistent: one example's cells, repeated
    assert _within_binomial(int(cells[:, 0].sum()), len(cells), p)
    with pytest.raises(BitrobustError, match="bit position"):
        activation_faults(model, "0", p, mode, format="fp32", calibration=calib, protect=[32]).__enter__()


def test_p_zero_is_the_format_round_trip_and_fp32_is_the_identity():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 4)).eval()
    x = _x(32, 10)
    clean = model(x)
    with activation_faults(model, "0,2", 0.0, format="fp32"):
        assert torch.equal(model(x), clean)
    calib = calibrate_activations(model, [(x, None)], "0")
    codec = FixedPointWords(FixedPointQuantizer(8), calib.range_of("0"))
    with activation_faults(model, "0", 0.0, format="int8", calibration=calib):
        got = model(x)
    with torch.no_grad():
        h = dequantize_codes(quantize_codes(model[0](x), 8, codec.quantizer.scheme, codec.qrange), 8,
                             codec.quantizer.scheme, codec.qrange)
        assert torch.equal(got, model[2](model[1](h)))


def test_weights_untouched_and_hooks_removed_also_when_the_block_raises():
    model = nn.Sequential(nn.Linear(10, 20), nn.BatchNorm1d(20), nn.ReLU(), nn.Linear(20, 4)).eval()
    x = _x(32, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clean = model(x)
    calib = calibrate_activations(model, [(x, None)], "*")
    with pytest.raises(RuntimeError, match="boom"):
        with activation_faults(model, "*", 0.1, format="int8", calibration=calib):
            assert not torch.equal(model(x), clean)
            assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
            raise RuntimeError("boom")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks for m in model.modules())
    assert torch.equal(model(x), clean) and not model.training


def test_combines_with_weight_errors_in_one_with_statement():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 4)).eval()
    x = _x(64, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q, errors = FixedPointQuantizer(8), RandomBitErrors(0.05, chip=0)
    calib = calibrate_activations(model, [(x, None)], "0")
    with inject(model, q, errors):
        weights_only = model(x)
    with activation_faults(model, "0", 0.05, "persistent", format="int8", calibration=calib):
        acts_only = model(x)
    with inject(model, q, errors), activation_faults(model, "0", 0.05, "persistent", format="int8",
                                                     calibration=calib):
        both = model(x)
        with torch.no_grad():  # the same as the faulty weights feeding the faulty buffer by hand
            assert torch.equal(both, model[2](model[1](model[0](x))))
    assert not torch.equal(both, weights_only) and not torch.equal(both, acts_only)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_gradients_pass_straight_through_and_the_forward_values_are_the_faulty_read():
    model = nn.Sequential(nn.Linear(10, 20))
    x = _x(16, 10)
    model(x).sum().backward()
    clean_grad = model[0].weight.grad.clone()
    model.zero_grad()
    with activation_faults(model, "0", 0.05, format="bf16", seed=0):
        out = model(x)
        out.sum().backward()
    with torch.no_grad(), activation_faults(model, "0", 0.05, format="bf16", seed=0):
        assert torch.equal(_bits32(out), _bits32(model(x)))  # bit for bit: a flip may give NaN
    assert out.requires_grad and torch.equal(model[0].weight.grad, clean_grad)  # d sum / d W does not see the faults


def test_bad_input_is_one_clear_error():
    model = _identity_model()
    with pytest.raises(BitrobustError, match="matches no module"):
        match_modules(model, "features.*")
    with pytest.raises(BitrobustError, match="calibrated range"):
        activation_faults(model, "0", 0.01, format="int8").__enter__()
    with pytest.raises(BitrobustError, match="unknown activation format"):
        activation_faults(model, "0", 0.01, format="int9").__enter__()
    with pytest.raises(BitrobustError, match="mode"):
        activation_faults(model, "0", 0.01, "sometimes", format="fp32").__enter__()
    with pytest.raises(BitrobustError, match=r"\[0, 1\]"):
        activation_faults(model, "0", 1.5, format="fp32").__enter__()
    lstm = nn.Sequential(nn.LSTM(3, 4))
    with activation_faults(lstm, "0", 0.01, format="fp32"):
        with pytest.raises(BitrobustError, match="not a floating-point tensor"):
            lstm(torch.zeros(2, 1, 3))
    assert match_modules(_identity_model(), "*") == ["0", "1"]  # the root module is never matched


def test_the_howto_examples_run_as_written(capsys):
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "howto-activations.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for code in blocks:  # the training block goes on with the model of the first one
        exec(compile(code, str(page), "exec"), namespace)
    assert len(capsys.readouterr().out.split()) == 2 and namespace["robust"].global_step == 4
