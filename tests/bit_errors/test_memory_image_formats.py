"""Memory images of every number format (contract 5, layout v2): bit-exact round trips, addresses, flips."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust.bit_errors.memory_image import (
    VERSION,
    VERSION_V2,
    export_memory_image,
    image_bytes,
    import_memory_image,
    pack_bits,
    read_manifest,
)
from bitrobust.bit_errors.random_chips import RandomBitErrors
from bitrobust.errors import BitrobustError
from bitrobust.formats import FORMATS, fixed, get_format
from bitrobust.quantization import FixedPointQuantizer, QuantizedState, quantize_model, quantize_tensors
from bitrobust.quantization.fixed_point import METADATA_BITS

torch.set_num_threads(1)

PER_TENSOR = [n for n in FORMATS.names() if n.startswith(("int", "normal")) and "_" not in n]
OTHER = [n for n in FORMATS.names() if n not in PER_TENSOR]


def model(seed: int = 0) -> nn.Module:
    """Shapes that cut groups short (a row of 150 = 128 + 22) and leave odd bit counts before the metadata."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Flatten(), nn.Linear(150, 7), nn.BatchNorm1d(7))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def image_bit(image: bytes, a: int) -> int:
    return image[a // 8] >> (a % 8) & 1


def brute_force_image(segments: list[tuple[torch.Tensor, int]]) -> bytes:
    """Bit j of word i of the words laid out one after the other, bit a in byte a // 8 at a % 8, in plain Python."""
    bits = [(int(w) >> j) & 1 for words, m in segments for w in words.reshape(-1).tolist() for j in range(m)]
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bits[8 * k + b] << b for b in range(8)) for k in range(len(bits) // 8))


def assert_same_state(got: QuantizedState, want: QuantizedState) -> None:
    assert list(got.tensors) == list(want.tensors) and got.bits == want.bits
    for name, qt in want.tensors.items():
        back = got.tensors[name]
        assert type(back) is type(qt)
        assert back.codes.dtype == qt.codes.dtype and torch.equal(back.codes, qt.codes), name
        assert back.metadata.dtype == qt.metadata.dtype and torch.equal(back.metadata, qt.metadata), name
        a, b = back.dequantize(), qt.dequantize()
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", FORMATS.names())
def test_round_trip_every_format(tmp_path, name):
    state = quantize_model(model(), get_format(name))
    bin_path, json_path = export_memory_image(state, tmp_path / "m")
    back = import_memory_image(tmp_path / "m", verify_checksum=True)
    assert_same_state(back, state)
    manifest = read_manifest(tmp_path / "m")
    assert manifest["version"] == (VERSION if name in PER_TENSOR else VERSION_V2)
    if name in OTHER:
        assert {t["format"] for t in manifest["tensors"]} == {name}
    data = bin_path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    want = brute_force_image([(qt.codes, qt.bits) for qt in state.tensors.values()]
                             + [(qt.metadata, METADATA_BITS) for qt in state.tensors.values()])
    assert data == want


@pytest.mark.parametrize("name", PER_TENSOR)
def test_per_tensor_images_are_contract_2s_bytes(tmp_path, name):
    """Old images unchanged: the bytes are pack_bits of the flat words and, independently, bit a = i m + j."""
    state = quantize_model(model(1), get_format(name))
    bin_path, json_path = export_memory_image(state, tmp_path / "m")
    data = bin_path.read_bytes()
    assert data == pack_bits(state.flat_codes(), state.bits).numpy().tobytes()
    m = state.bits
    assert data == brute_force_image([(state.flat_codes(), m)])
    assert len(data) == math.ceil(state.num_words * m / 8)
    manifest = json.loads(json_path.read_text())
    assert set(manifest) == {"format", "version", "layout", "bits", "scheme", "num_words", "num_bytes", "sha256",
                             "tensors"}


@pytest.mark.parametrize("name", ["int4_g128", "int8_channel", "bf16", "fp8_e5m2", "fp32"])
def test_addresses_are_layout_v2(tmp_path, name):
    """Each tensor's data and metadata bit offsets: the sum of the widths of all words before it (by hand),
    the same as the state's segments; and every word's bits sit at those addresses of the image."""
    state = quantize_model(model(2), get_format(name))
    export_memory_image(state, tmp_path / "m")
    manifest = read_manifest(tmp_path / "m")
    image = (tmp_path / "m.bin").read_bytes()
    data_bits = sum(qt.codes.numel() * qt.bits for qt in state.tensors.values())
    meta_bits = sum(qt.metadata.numel() * 16 for qt in state.tensors.values())
    assert manifest["regions"] == [{"name": "data", "bit_offset": 0, "num_bits": data_bits},
                                   {"name": "metadata", "bit_offset": data_bits, "num_bits": meta_bits}]
    assert len(image) == (data_bits + meta_bits + 7) // 8
    data_pos, meta_pos = 0, data_bits
    for entry, (tensor_name, qt) in zip(manifest["tensors"], state.tensors.items()):
        assert (entry["name"], entry["bit_offset"], entry["metadata_bit_offset"]) == (tensor_name, data_pos, meta_pos)
        assert entry["bits"] == qt.bits and entry["shape"] == list(qt.codes.shape)
        for words, start, m in ((qt.codes, data_pos, qt.bits), (qt.metadata, meta_pos, 16)):
            for i, w in enumerate(words.reshape(-1).tolist()[:40]):
                assert [image_bit(image, start + i * m + j) for j in range(m)] == [(w >> j) & 1 for j in range(m)]
        data_pos += qt.codes.numel() * qt.bits
        meta_pos += qt.metadata.numel() * 16
    firsts = {seg.names[0]: seg.bit_offset for seg in state.segments}
    for entry in manifest["tensors"]:  # where a segment starts, it starts at the tensor's address
        if entry["name"] in firsts and firsts[entry["name"]] < data_bits:
            assert firsts[entry["name"]] == entry["bit_offset"]
    meta_segments = [seg for seg in state.segments if seg.region == "metadata"]
    if meta_segments:
        assert meta_segments[0].bit_offset == data_bits and meta_segments[-1].stop == data_bits + meta_bits


@pytest.mark.parametrize("name", ["int4_g128", "int8_channel", "bf16", "fp8_e4m3", "int4"])
def test_flipped_image_imports_as_with_errors(tmp_path, name):
    """Flipping image bit a for every address a chip flips = reading the state through that chip (data and
    metadata regions), also when a flip makes inf/NaN."""
    state = quantize_model(model(3), get_format(name))
    export_memory_image(state, tmp_path / "m")
    image = bytearray((tmp_path / "m.bin").read_bytes())
    total = sum(seg.stop - seg.bit_offset for seg in state.segments)
    chip = RandomBitErrors(0.02, chip=5)
    for a in chip.flip_addresses(0, total).tolist():
        image[a // 8] ^= 1 << (a % 8)
    (tmp_path / "m.bin").write_bytes(bytes(image))
    back = import_memory_image(tmp_path / "m")
    assert_same_state(back, state.with_errors(chip, regions=("data", "metadata")))
    with pytest.raises(BitrobustError, match="sha256"):
        import_memory_image(tmp_path / "m", verify_checksum=True)


@settings(max_examples=25, deadline=None)
@given(bits=st.integers(2, 8), scheme=st.sampled_from(["rquant", "normal", "asymmetric"]),
       group=st.one_of(st.none(), st.integers(1, 40)), rows=st.integers(1, 4), cols=st.integers(0, 50))
def test_unregistered_group_formats_round_trip(tmp_path_factory, bits, scheme, group, rows, cols):
    fmt = fixed(bits, scheme, "channel" if group is None else group)
    g = torch.Generator().manual_seed(bits * 100 + cols)
    state = quantize_tensors({"w": torch.randn(rows, cols, generator=g), "b": torch.randn(rows, generator=g)}, fmt)
    prefix = tmp_path_factory.mktemp("img") / "m"
    export_memory_image(state, prefix)
    assert_same_state(import_memory_image(prefix, verify_checksum=True), state)


def test_mixed_formats_in_one_image(tmp_path):
    """Tensors of several formats and widths (e.g. a float bias beside int4 groups) share one image."""
    g = torch.Generator().manual_seed(0)
    tensors = {"w": torch.randn(3, 130, generator=g), "b": torch.randn(3, generator=g), "s": torch.randn(5, generator=g)}
    parts = {"w": get_format("int4_g128"), "b": get_format("bf16"), "s": FixedPointQuantizer(3, "normal")}
    state = QuantizedState({k: parts[k].quantize(t) for k, t in tensors.items()}, 4)
    export_memory_image(state, tmp_path / "m")
    assert_same_state(import_memory_image(tmp_path / "m", verify_checksum=True), state)
    formats = [t["format"] for t in read_manifest(tmp_path / "m")["tensors"]]
    assert formats == ["int4_g128", "bf16", "normal3"]


def test_manifest_has_no_absolute_paths(tmp_path):
    state = quantize_model(model(), get_format("int4_g128"))
    _, json_path = export_memory_image(state, tmp_path / "deep" / "m")
    text = json_path.read_text()
    assert str(tmp_path) not in text and "/deep" not in text

    def strings(x):
        if isinstance(x, dict):
            return [s for v in x.values() for s in strings(v)]
        if isinstance(x, list):
            return [s for v in x for s in strings(v)]
        return [x] if isinstance(x, str) else []

    assert not [s for s in strings(json.loads(text)) if s.startswith("/")]


def _v2_cases():
    def tensor(k, key, value):
        return lambda m: m["tensors"][k].__setitem__(key, value)

    def encoding(k, key, value):
        return lambda m: m["tensors"][k]["encoding"].__setitem__(key, value)

    return {
        "bit_offset": (tensor(1, "bit_offset", 0), "bit_offset"),
        "metadata_offset": (tensor(1, "metadata_bit_offset", 3), "metadata_bit_offset"),
        "metadata_shape": (tensor(0, "metadata_shape", [2, 5, 2]), "metadata_shape"),
        "format": (tensor(0, "format", "bf16"), "does not match its encoding"),
        "kind": (encoding(0, "kind", "posit"), "encoding must be one of"),
        "group": (encoding(0, "group", 0), "group"),
        "bits": (tensor(0, "bits", 9), "bits"),
        "regions": (lambda m: m["regions"].reverse(), "regions"),
        "num_bits": (lambda m: m.__setitem__("num_bits", 1), "num_bits"),
        "metadata_bits": (lambda m: m.__setitem__("metadata_bits", 8), "metadata_bits"),
        "missing_head": (lambda m: m.pop("regions"), "exactly the fields"),
        "extra_tensor_key": (tensor(0, "scale", 1), "exactly the fields"),
    }


@pytest.mark.parametrize("case", sorted(_v2_cases()))
def test_corrupt_v2_manifest_is_refused(tmp_path, case):
    state = quantize_model(model(), get_format("int4_g128"))
    export_memory_image(state, tmp_path / "m")
    manifest = json.loads((tmp_path / "m.json").read_text())
    edit, match = _v2_cases()[case]
    edit(manifest)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(BitrobustError, match=match) as info:
        import_memory_image(tmp_path / "m")
    assert "\n" not in str(info.value)


def test_float_word_width_is_checked(tmp_path):
    state = quantize_model(model(), get_format("fp16"))
    export_memory_image(state, tmp_path / "m")
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["tensors"][0]["encoding"]["word"] = "bfloat16"  # same width: a valid, different encoding
    manifest["tensors"][0]["format"] = "bf16"
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    back = import_memory_image(tmp_path / "m")
    name = next(iter(state.tensors))
    assert torch.equal(back.tensors[name].codes, state.tensors[name].codes)  # the same words, read as bf16
    manifest["tensors"][0]["encoding"]["word"] = "float8_e4m3fn"
    manifest["tensors"][0]["format"] = None
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(BitrobustError, match="float8_e4m3fn words have 8 bits, not 16"):
        import_memory_image(tmp_path / "m")


def test_image_bytes_of_a_per_tensor_state_is_pack_bits():
    state = quantize_model(model(), FixedPointQuantizer(3, "rquant"))
    assert torch.equal(image_bytes(state), pack_bits(state.flat_codes(), 3))
