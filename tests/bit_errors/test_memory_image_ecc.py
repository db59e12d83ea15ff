"""Memory images with the ECC region (contracts 5, 6): check bits at the addresses layout v2 gives, flipped images
decode exactly as the protected memory's reads, manifests that say what the region is."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from bitrobust.bit_errors.bitstream import words_to_bits
from bitrobust.bit_errors.ecc import secded_code
from bitrobust.bit_errors.memory_image import (
    build_manifest,
    export_memory_image,
    image_bytes,
    import_memory_image,
    read_manifest,
    read_memory_image,
    validate_manifest,
)
from bitrobust.bit_errors.protection import ProtectedMemory, Protection
from bitrobust.bit_errors.random_chips import RandomBitErrors
from bitrobust.errors import BitrobustError
from bitrobust.formats import get_format
from bitrobust.quantization import quantize_model

torch.set_num_threads(1)

FORMATS = ["int8", "int4_g128", "bf16", "fp8_e4m3"]


def model(seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Flatten(), nn.Linear(150, 7))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def state_of(fmt: str):
    return quantize_model(model(), get_format(fmt))


def bits_of(image: bytes) -> torch.Tensor:
    return torch.tensor([(b >> j) & 1 for b in image for j in range(8)], dtype=torch.bool)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", ["secded8", "secded64"])
def test_ecc_region_follows_the_metadata_and_holds_the_check_bits(tmp_path, fmt, code):
    state = state_of(fmt)
    memory = ProtectedMemory(state, Protection(ecc=code))
    bin_path, _ = export_memory_image(memory, tmp_path / "m")
    manifest = read_manifest(tmp_path / "m")
    secded = secded_code(code)
    data_bits = sum(qt.codes.numel() * qt.bits for qt in state.tensors.values())
    meta_bits = state.flat_metadata().numel() * 16
    codewords = -(-data_bits // secded.k)
    assert manifest["version"] == 2 and [r["name"] for r in manifest["regions"]] == ["data", "metadata", "ecc"]
    assert manifest["regions"][2] == {"name": "ecc", "bit_offset": data_bits + meta_bits,
                                      "num_bits": codewords * secded.check_bits}
    assert manifest["ecc"] == {"code": code, "k": secded.k, "n": secded.n, "check_bits": secded.check_bits,
                               "codewords": codewords, "data_bits": get_format(fmt).bits, "policy": "keep"}
    image = bin_path.read_bytes()
    assert len(image) == manifest["num_bytes"] == -(-(data_bits + meta_bits + codewords * secded.check_bits) // 8)
    # the image without ECC is the prefix; the ECC region is the code's check bits of the data stream, in order
    plain = image_bytes(state)
    bits = bits_of(image)
    assert torch.equal(bits[: data_bits + meta_bits], bits_of(plain.numpy().tobytes())[: data_bits + meta_bits])
    checks = secded.encode(words_to_bits(state.flat_codes(), get_format(fmt).bits))
    assert torch.equal(bits[data_bits + meta_bits: data_bits + meta_bits + checks.numel()], checks.reshape(-1))
    assert not bits[data_bits + meta_bits + checks.numel():].any()  # zero padding
    back, counts = read_memory_image(tmp_path / "m", verify_checksum=True)
    assert torch.equal(back.flat_codes(), state.flat_codes()) and torch.equal(back.flat_metadata(), state.flat_metadata())
    assert (counts.codewords, counts.corrected, counts.detected) == (codewords, 0, 0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("policy", ["keep", "zero"])
def test_a_flipped_image_imports_as_the_protected_memory_reads(tmp_path, fmt, policy):
    """Flip every bit a of the image with u_c(a) < p (data, metadata and check bits): importing decodes exactly
    to ProtectedMemory.read of the same chip (metadata exposed, as the image's metadata flips too)."""
    state = state_of(fmt)
    memory = ProtectedMemory(state, Protection(ecc="secded16", ecc_policy=policy, expose_metadata=True))
    bin_path, _ = export_memory_image(memory, tmp_path / "m")
    chip = RandomBitErrors(0.01, chip=3)
    n_bits = read_manifest(tmp_path / "m")["num_bits"]
    flips = (chip.uniform(torch.arange(n_bits)) < 0.01).tolist()
    image = bytearray(bin_path.read_bytes())
    for a, f in enumerate(flips):
        if f:
            image[a // 8] ^= 1 << (a % 8)
    bin_path.write_bytes(bytes(image))
    back, counts = read_memory_image(tmp_path / "m")
    want, want_counts = memory.read(chip)
    assert counts == want_counts and counts.corrected > 0
    assert torch.equal(back.flat_codes(), want.flat_codes())
    assert torch.equal(back.flat_metadata(), want.flat_metadata())
    assert torch.equal(import_memory_image(tmp_path / "m").flat_codes(), want.flat_codes())


def test_without_ecc_a_protected_memory_exports_as_its_state(tmp_path):
    state = state_of("int8")
    export_memory_image(state, tmp_path / "a")
    export_memory_image(ProtectedMemory(state, Protection(protect_bits="msb")), tmp_path / "b")
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert read_manifest(tmp_path / "a")["version"] == 1  # contract 1's image stays version 1


@pytest.mark.parametrize("change, message", [
    (lambda m: m["ecc"].update(codewords=m["ecc"]["codewords"] + 1), "codewords"),
    (lambda m: m["ecc"].update(policy="fix"), "unknown policy"),
    (lambda m: m["ecc"].update(code="hamming"), "valid: secded16"),
    (lambda m: m["ecc"].update(n=73), "has k = 64, n = 72"),
    (lambda m: m["ecc"].update(data_bits=4), "data_bits"),
    (lambda m: m.pop("ecc"), "regions must be [data, metadata]"),
    (lambda m: m["regions"][2].update(bit_offset=m["regions"][2]["bit_offset"] + 1), "ECC from the end"),
])
def test_bad_ecc_manifests_are_one_line(change, message):
    manifest = json.loads(json.dumps(build_manifest(ProtectedMemory(state_of("bf16"), Protection(ecc="secded64")))))
    validate_manifest(copy.deepcopy(manifest))
    change(manifest)
    with pytest.raises(BitrobustError, match=message.replace("[", r"\[")):
        validate_manifest(manifest)
