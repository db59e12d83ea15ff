"""The figures of docs/concepts.md, drawn from bitrobust's own functions (no stored results, no data set).

- ``concepts_layout_v2.png``: the memory layout v2 of a tiny int8-per-channel model read through SECDED (72, 64)
  ECC -- the data region (every tensor's words), the metadata region (per-channel fp16 steps and minima) and the
  ECC region (8 check bits per 64-bit codeword of the data stream), at the bit addresses
  :class:`bitrobust.bit_errors.protection.ProtectedMemory` gives them (DESIGN contracts 5, 6);
- ``concepts_ecc_outcomes.png``: the share of (72, 64) codewords that the decoder corrects and that it detects as
  uncorrectable, measured on persistent random chips, against the binomial chances of exactly one and of two or
  more flips among 72 bits;
- ``concepts_vulnerability_bf16.png``: the vulnerability map (one tensor x one bit position at p = 1%,
  :func:`bitrobust.evaluation.vulnerability_map`) of a small MLP trained here in a few seconds on synthetic
  Gaussian clusters and stored as bf16.

Run from the repository root: ``PYTHONPATH=src python docs/figures/make_concepts_figures.py [OUT_DIR]``
(default ``docs/figures``); everything is seeded, so the figures are the same on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.bit_errors.protection import ProtectedMemory, Protection
from bitrobust.evaluation.vulnerability import vulnerability_map
from bitrobust.formats import get_format
from bitrobust.quantization import quantize_model, quantize_tensors
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.vulnerability import plot_vulnerability

REGION_COLOURS = {"data": "#4C72B0", "metadata": "#DD8452", "ecc": "#55A868"}


def tiny_model() -> nn.Module:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def layout_figure(path: Path) -> None:
    """Bit address map of layout v2 with ECC: one box per tensor and region, codewords and their check words."""
    state = quantize_model(tiny_model(), get_format("int8_channel"))
    memory = ProtectedMemory(state, Protection(ecc="secded64"))
    code = memory.protection.code
    boxes = []  # (region, label, first bit, bits)
    for seg in memory.segments:
        if seg.region == "ecc":
            boxes += [("ecc", f"c{c}", seg.bit_offset + c * seg.bits, seg.bits) for c in range(seg.num_words)]
            continue
        pos = seg.bit_offset
        for name in seg.names:
            qt = state.tensors[name]
            n = qt.codes.numel() if seg.region == "data" else qt.metadata.numel()
            boxes.append((seg.region, name, pos, n * seg.bits))
            pos += n * seg.bits
    total = memory.segments[-1].stop
    data_bits = memory.segments[0].stop
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.0), dpi=130)
    for region, label, start, bits in boxes:
        ax.add_patch(plt.Rectangle((start, 1.0), bits, 1.0, facecolor=REGION_COLOURS[region], edgecolor="white",
                                   lw=1.2, alpha=0.9))
        if bits >= 30:
            ax.text(start + bits / 2, 1.5, label, ha="center", va="center", fontsize=6.5, color="white",
                    rotation=0 if bits > 90 else 90)
    for c in range(memory.ecc_segment.num_words):  # codeword c: data stream bits c k .. c k + k - 1
        lo, hi = c * code.k, min((c + 1) * code.k, data_bits)
        shade = "0.35" if c % 2 else "0.6"
        ax.add_patch(plt.Rectangle((lo, 0.55), hi - lo, 0.3, facecolor=shade, edgecolor="white"))
        ax.text((lo + hi) / 2, 0.7, f"codeword c{c}", ha="center", va="center", fontsize=6.5, color="white")
        check = memory.ecc_segment.bit_offset + c * code.check_bits  # its check bits: one word in the ECC region
        ax.add_patch(plt.Rectangle((check, 0.55), code.check_bits, 0.3, facecolor=shade, edgecolor="white"))
        ax.text(check + code.check_bits / 2, 0.7, f"c{c}", ha="center", va="center", fontsize=5, color="white",
                rotation=90)
    starts = [0] + [s.stop for s in memory.segments]
    for region, (lo, hi) in zip(("data region", "metadata region", "ECC region"), zip(starts, starts[1:])):
        ax.text((lo + hi) / 2, 2.25, f"{region}\nbits {lo}..{hi - 1}", ha="center", va="bottom", fontsize=7.5)
        ax.axvline(lo, ymin=0.1, ymax=0.9, color="0.3", lw=0.6, ls=":")
    ax.text(data_bits + 10, 0.7, f"<- {code.name}: codeword c holds data bits {code.k}c .. {code.k}c + {code.k - 1} "
            f"(the last zero-padded);\n    its {code.check_bits} check bits are word c of the ECC region ->",
            ha="left", va="center", fontsize=6.5)
    ax.set_xlim(-5, total + 25)
    ax.set_ylim(0.45, 2.9)
    ax.set_yticks([])
    ax.set_xlabel("bit address (bit j of a word at the word's first address + j)")
    ax.set_title("Memory layout v2: nn.Linear(6, 4) -> nn.Linear(4, 2) as int8 per channel with SECDED (72, 64)",
                 fontsize=9)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    save_figure(fig, path)


def ecc_figure(path: Path) -> None:
    """Corrected and detected (72, 64) codewords per codeword, measured on 3 chips, against binomial chances."""
    g = torch.Generator().manual_seed(1)
    state = quantize_tensors({"w": torch.randn(1 << 16, generator=g)}, get_format("int8"))
    memory = ProtectedMemory(state, Protection(ecc="secded64"))
    code = memory.protection.code
    rates = [10 ** (e / 4) for e in range(-16, -3)]  # 1e-4 .. 1e-1 (exclusive), 4 a decade
    measured = {"corrected": [], "detected": []}
    for p in rates:
        counts = [memory.read(RandomBitErrors(p, chip=c))[1] for c in range(3)]
        for key in measured:
            measured[key].append(sum(getattr(x, key) for x in counts) / sum(x.codewords for x in counts))
    n = code.n
    dense = [10 ** (e / 40) for e in range(-160, -39)]
    one = [n * p * (1 - p) ** (n - 1) for p in dense]
    more = [1 - (1 - p) ** n - o for p, o in zip(dense, one)]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 3.6), dpi=130)
    ax.plot([100 * p for p in dense], one, color="C0", label=f"exactly one flip among {n} bits: n p (1-p)^(n-1)")
    ax.plot([100 * p for p in dense], more, color="C3", ls="--", label="two or more flips")
    ax.plot([100 * p for p in rates], measured["corrected"], "o", color="C0", ms=5,
            label="corrected by the decoder (3 chips)")
    ax.plot([100 * p for p in rates], measured["detected"], "s", color="C3", ms=5,
            label="detected, uncorrectable (3 chips)")
    ax.axvline(1.0, color="0.6", lw=0.7, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("bit error rate p in % (log scale)")
    ax.set_ylabel("share of codewords")
    ax.set_title(f"SECDED ({code.n}, {code.k}) on persistent random chips: what a read sees", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, path)


def vulnerability_figure(path: Path):
    """A small MLP trained on 4 Gaussian clusters in 8 dimensions, its bf16 vulnerability map at p = 1%."""
    g = torch.Generator().manual_seed(2)
    centres = 2.0 * torch.randn(4, 8, generator=g)
    y = torch.arange(4000) % 4
    x = centres[y] + torch.randn(4000, 8, generator=g)
    with torch.random.fork_rng():  # the layers' initialization, seeded; the global RNG is left as it was
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        idx = torch.randint(0, 3000, (128,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = [(x[3000:], y[3000:])]
    vmap = vulnerability_map(model, test, get_format("bf16"), 0.01, chips=5)
    plot_vulnerability(vmap, path, title="Vulnerability map of a small MLP stored as bf16: RErr in % with errors in "
                       "one tensor x one bit, p = 1%")
    return vmap


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "concepts_layout_v2.png", out / "concepts_ecc_outcomes.png", out / "concepts_vulnerability_bf16.png"]
    layout_figure(paths[0])
    ecc_figure(paths[1])
    vulnerability_figure(paths[2])
    return paths


if __name__ == "__main__":
    torch.set_num_threads(1)
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(written)
