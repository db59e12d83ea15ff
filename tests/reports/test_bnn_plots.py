"""BNN metric plots: T^b over b and Pi per neuron per layer, for one or several models."""

import torch

from bitrobust.reports.bnn import plot_importance, plot_tolerance

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_are_written(tmp_path):
    bs = (2, 4, 8, 16, 32, 64)
    plot_tolerance({"no flips": (bs, (0.9, 0.8, 0.6, 0.4, 0.2, 0.1)), "flip 5%": (bs, (1.0, 0.9, 0.8, 0.6, 0.3, 0.1))},
                   tmp_path / "t.png")
    plot_tolerance({"b = 0 included": ((0, 2), (1.0, 0.5))}, tmp_path / "t0.png")
    g = torch.Generator().manual_seed(0)
    plot_importance({"regular": [torch.randn(8, generator=g), torch.randn(700, generator=g)],
                     "BET": [[0.1, -0.2, 0.0], torch.randn(16, generator=g)]},
                    tmp_path / "i.png", ["layer 1: C8-MP2", "layer 2: FC700"])
    plot_importance({"one": [torch.zeros(3)]}, tmp_path / "i1.png")
    for name in ("t.png", "t0.png", "i.png", "i1.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically
