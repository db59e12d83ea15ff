"""Memory images: bit packing, export/import roundtrip, layout consistency, corrupt files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust.bit_errors.memory_image import (
    export_memory_image,
    import_memory_image,
    pack_bits,
    read_manifest,
    unpack_bits,
)
from bitrobust.bit_errors.profiled import ProfiledBitErrors
from bitrobust.bit_errors.random_chips import RandomBitErrors, flip_bits
from bitrobust.bit_errors.synthetic import column_aligned_chip
from bitrobust.errors import BitrobustError
from bitrobust.quantization import SCHEMES, FixedPointQuantizer, quantize_model

torch.set_num_threads(1)


def words(bits: int, max_size: int = 64):
    return st.lists(st.integers(0, 2**bits - 1), min_size=0, max_size=max_size)


def flip_image(image: torch.Tensor, addresses) -> torch.Tensor:
    """Flip bit a % 8 of byte a // 8 for each address: what faulty memory does to the image."""
    out = image.clone()
    for a in addresses:
        out[a // 8] ^= 1 << (a % 8)
    return out


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)  # test-local model init only
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 5), nn.BatchNorm1d(5))


# ----------------------------------------------------------------------------- packing


def test_pack_hand_checked():
    # 3-bit words 5, 2, 7 -> bit stream a0.. = 1,0,1, 0,1,0, 1,1,1 -> bytes 0b11010101, 0b00000001
    assert pack_bits(torch.tensor([5, 2, 7]), 3).tolist() == [213, 1]
    assert pack_bits(torch.tensor([1, 0, 1, 1, 0, 0, 0, 0, 1]), 1).tolist() == [0b1101, 1]
    codes = torch.tensor([0, 255, 17], dtype=torch.uint8)
    assert torch.equal(pack_bits(codes, 8), codes)


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 8), data=st.data())
def test_pack_unpack_roundtrip(bits, data):
    codes = torch.tensor(data.draw(words(bits)), dtype=torch.uint8)
    image = pack_bits(codes, bits)
    assert image.dtype == torch.uint8 and image.numel() == (codes.numel() * bits + 7) // 8
    assert torch.equal(unpack_bits(image, bits, codes.numel()), codes)
    assert torch.equal(unpack_bits(image.numpy().tobytes(), bits, codes.numel()), codes)
    # padding bits are zero
    used = codes.numel() * bits
    if used % 8:
        assert int(image[-1]) >> (used % 8) == 0


def test_pack_and_unpack_validate():
    with pytest.raises(BitrobustError, match="words in"):
        pack_bits(torch.tensor([8]), 3)
    with pytest.raises(BitrobustError, match="integer"):
        pack_bits(torch.tensor([1.0]), 3)
    with pytest.raises(BitrobustError, match="needs 2 bytes"):
        unpack_bits(bytes(1), 3, 3)
    with pytest.raises(BitrobustError):
        pack_bits(torch.tensor([1]), 0)


# ----------------------------------------------------------------------------- layout consistency


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 8), data=st.data())
def test_flipping_image_bit_a_equals_flipping_address_a(bits, data):
    codes = torch.tensor(data.draw(words(bits, 40).filter(len)), dtype=torch.uint8)
    n_bits = codes.numel() * bits
    addrs = data.draw(st.lists(st.integers(0, n_bits - 1), unique=True, max_size=20))
    image = flip_image(pack_bits(codes, bits), addrs)
    want = flip_bits(codes, bits, torch.tensor(addrs, dtype=torch.int64))
    assert torch.equal(unpack_bits(image, bits, codes.numel()), want)


@pytest.mark.parametrize("bits", [1, 3, 4, 8])
def test_error_models_act_on_image_addresses(bits):
    g = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, 2**bits, (3000,), dtype=torch.uint8, generator=g)
    image = pack_bits(codes, bits)
    chip = RandomBitErrors(0.02, chip=4)
    addrs = chip.flip_addresses(0, codes.numel() * bits).tolist()
    assert torch.equal(unpack_bits(flip_image(image, addrs), bits, codes.numel()), chip.apply(codes, bits))
    prof = ProfiledBitErrors(column_aligned_chip(32, 16, 0.05, 0.01, 0.01, seed=1), offset=37, seed=3)
    addrs = prof.flip_addresses(codes, bits).tolist()
    assert torch.equal(unpack_bits(flip_image(image, addrs), bits, codes.numel()), prof.apply(codes, bits))


# ----------------------------------------------------------------------------- export / import


@settings(max_examples=30, deadline=None)
@given(scheme=st.sampled_from(SCHEMES.names()), bits=st.integers(1, 8), buffers=st.booleans())
def test_export_import_roundtrip_all_schemes(tmp_path_factory, scheme, bits, buffers):
    model = small_model()
    state = quantize_model(model, FixedPointQuantizer(bits, scheme), include_buffers=buffers)
    prefix = tmp_path_factory.mktemp("img") / "model"
    bin_path, json_path = export_memory_image(state, prefix)
    assert bin_path.stat().st_size == (state.num_words * bits + 7) // 8
    on_disk = torch.frombuffer(bytearray(bin_path.read_bytes()), dtype=torch.uint8)
    assert torch.equal(on_disk, pack_bits(state.flat_codes(), bits))
    back = import_memory_image(prefix, verify_checksum=True)
    assert back.bits == bits and list(back.tensors) == list(state.tensors)
    assert back.word_offsets == state.word_offsets
    for name, qt in state.tensors.items():
        got = back.tensors[name]
        assert torch.equal(got.codes, qt.codes) and got.codes.dtype == torch.uint8
        assert got.qrange == qt.qrange and got.scheme == qt.scheme and got.dtype == qt.dtype
        assert torch.equal(got.dequantize(), qt.dequantize())
    manifest = json.loads(json_path.read_text())
    assert manifest["scheme"] == {"range": qt.scheme.range, "symmetric": qt.scheme.symmetric,
                                  "signed": qt.scheme.signed, "rounding": qt.scheme.rounding}
    assert [t["name"] for t in manifest["tensors"]] == list(state.tensors)


def test_import_of_a_faulty_image_reads_the_flipped_words(tmp_path):
    state = quantize_model(small_model(), FixedPointQuantizer(4, "rquant"))
    export_memory_image(state, tmp_path / "m")
    image = torch.frombuffer(bytearray((tmp_path / "m.bin").read_bytes()), dtype=torch.uint8)
    chip = RandomBitErrors(0.05, chip=1)
    addrs = chip.flip_addresses(0, state.num_words * 4).tolist()
    (tmp_path / "m.bin").write_bytes(flip_image(image, addrs).numpy().tobytes())
    back = import_memory_image(tmp_path / "m")
    assert torch.equal(back.flat_codes(), chip.apply(state.flat_codes(), 4))
    with pytest.raises(BitrobustError, match="sha256"):
        import_memory_image(tmp_path / "m", verify_checksum=True)


def _exported(tmp_path):
    state = quantize_model(small_model(), FixedPointQuantizer(3, "normal"))
    export_memory_image(state, tmp_path / "m")
    return json.loads((tmp_path / "m.json").read_text())


def _corrupt_cases():
    def set_(key, value):
        return lambda m: m.__setitem__(key, value)

    def tensor(k, key, value):
        return lambda m: m["tensors"][k].__setitem__(key, value)

    return {
        "version": (set_("version", 3), "unsupported version"),
        "v1_fields_as_version_2": (set_("version", 2), "version 2 manifests have exactly the fields"),
        "format": (set_("format", "other"), "not a bitrobust"),
        "bits": (set_("bits", 9), "bits"),
        "bits_bool": (set_("bits", True), "bits"),
        "scheme_field": (lambda m: m["scheme"].__setitem__("stochastic", True), "scheme fields"),
        "scheme_value": (lambda m: m["scheme"].__setitem__("rounding", "floor"), "rounding"),
        "scheme_type": (lambda m: m["scheme"].__setitem__("signed", "yes"), "signed"),
        "num_bytes": (set_("num_bytes", 1), "num_bytes"),
        "num_words": (set_("num_words", 5), "num_bytes|num_words"),
        "offset": (tensor(1, "word_offset", 0), "word_offset"),
        "shape": (tensor(0, "shape", [2, 2]), "num_words"),
        "dtype": (tensor(0, "dtype", "int8"), "dtype"),
        "range": (tensor(0, "q_min", "x"), "q_min"),
        "dup_name": (lambda m: m["tensors"][1].__setitem__("name", m["tensors"][0]["name"]), "unique"),
        "extra_key": (tensor(0, "extra", 1), "fields"),
        "not_object": (lambda m: m.clear(), "not a bitrobust"),
        "offset_float": (tensor(0, "word_offset", 0.0), "word_offset"),
        "offset_text": (tensor(0, "word_offset", "0"), "word_offset"),
        "num_words_float": (set_("num_words", 19.0), "num_words"),
        "shape_text": (tensor(0, "shape", "2x2"), "shape"),
        "tensors_not_list": (set_("tensors", {}), "tensors"),
    }


@pytest.mark.parametrize("case", sorted(_corrupt_cases()))
def test_corrupt_manifest_is_refused(tmp_path, case):
    manifest = _exported(tmp_path)
    edit, match = _corrupt_cases()[case]
    edit(manifest)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(BitrobustError, match=match) as info:
        import_memory_image(tmp_path / "m")
    assert "\n" not in str(info.value)


def test_bad_files_are_refused(tmp_path):
    _exported(tmp_path)
    data = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "m.bin").write_bytes(data[:-1])
    with pytest.raises(BitrobustError, match="truncated"):
        import_memory_image(tmp_path / "m")
    (tmp_path / "m.bin").write_bytes(data + b"\0")
    with pytest.raises(BitrobustError, match="bytes"):
        import_memory_image(tmp_path / "m")
    (tmp_path / "m.bin").unlink()
    with pytest.raises(BitrobustError, match="not found"):
        import_memory_image(tmp_path / "m")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(BitrobustError, match="not valid JSON"):
        read_manifest(tmp_path / "m")
    with pytest.raises(BitrobustError, match="not found"):
        import_memory_image(tmp_path / "absent")


def test_huge_manifest_is_refused_before_reading(tmp_path, monkeypatch):
    """A manifest claiming 10^12 words (consistent in itself) over a small image: refused by the size check,
    the image is never read."""
    manifest = _exported(tmp_path)
    n = 10**12
    manifest["tensors"] = [{**manifest["tensors"][0], "shape": [n], "word_offset": 0, "num_words": n}]
    manifest.update(num_words=n, num_bytes=(n * manifest["bits"] + 7) // 8)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the image was read"))
    with pytest.raises(BitrobustError, match="truncated"):
        import_memory_image(tmp_path / "m")


@pytest.mark.parametrize("fail_at", ["write_bin", "write_json", "replace_bin", "replace_json"])
def test_failed_export_leaves_nothing(tmp_path, monkeypatch, fail_at):
    state = quantize_model(small_model(), FixedPointQuantizer(8, "rquant"))
    real_write, real_replace = Path.write_bytes, os.replace

    def write(self, data):
        if fail_at == "write_bin" and ".m.bin." in self.name or fail_at == "write_json" and ".m.json." in self.name:
            raise OSError("disk full")
        return real_write(self, data)

    def replace(src, dst):
        if fail_at == f"replace_{Path(dst).suffix[1:]}":
            raise OSError("device gone")
        return real_replace(src, dst)

    monkeypatch.setattr(Path, "write_bytes", write)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        export_memory_image(state, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_non_finite_ranges(tmp_path):
    state = quantize_model(small_model(), FixedPointQuantizer(8, "rquant"))
    name = next(iter(state.tensors))
    state.tensors[name] = state.tensors[name].__class__(
        state.tensors[name].codes, 8, state.tensors[name].scheme, (float("nan"), 1.0)
    )
    with pytest.raises(BitrobustError, match="cannot export"):
        export_memory_image(state, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_empty_state_roundtrip(tmp_path):
    state = quantize_model(nn.ReLU(), FixedPointQuantizer(5, "rquant"))
    export_memory_image(state, tmp_path / "e")
    back = import_memory_image(tmp_path / "e")
    assert back.num_words == 0 and back.bits == 5
