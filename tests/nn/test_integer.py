"""Integer arithmetic of BNN layers: folded BN thresholds agree bit-exactly with the float BN + sign."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bitrobust.nn.binary import FoldableBatchNorm1d, binarize
from bitrobust.nn.integer import fold_batchnorm, int_conv2d, int_max_pool


_gammas = st.one_of(
    st.just(0.0),
    st.just(-0.0),
    st.floats(-1e-30, 1e-30),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([1.0, -1.0, 1e-8, -1e-8, 1e6]),
)


@settings(max_examples=150, deadline=None)
@given(
    bound=st.integers(1, 2000),
    gamma=_gammas,
    beta=st.one_of(st.just(0.0), st.floats(-100, 100)),
    mean=st.one_of(st.integers(-2100, 2100).map(float), st.floats(-2100, 2100)),
    var=st.floats(1e-6, 1e7),
    eps=st.sampled_from([1e-5, 1e-3, 0.0]),
)
def test_fold_matches_float_batchnorm_sign_everywhere(bound, gamma, beta, mean, var, eps):
    """For every integer h in range: output of the threshold == b(BN(h)), ties and gamma <= 0 included."""
    assume(var + eps > 0)
    bn = FoldableBatchNorm1d(3, eps=eps)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([gamma, -gamma, 1.0]))
        bn.bias.copy_(torch.tensor([beta, beta, 0.0]))
        bn.running_mean.copy_(torch.tensor([mean, mean, round(mean)]))  # channel 2: tau exactly an integer
        bn.running_var.fill_(var)
    bn.eval()
    th = fold_batchnorm(bn, bound)
    h = torch.arange(-bound - 3, bound + 4).unsqueeze(1).expand(-1, 3).contiguous()
    expected = binarize(bn(h.float())).to(torch.int64)
    inside = h.abs() <= bound
    assert torch.equal(th.apply(h)[inside], expected[inside])
    assert torch.equal(th.direction == -1, bn.eval_scale() < 0)  # gamma < 0: comparison flips
    constant = bn.eval_scale() == 0
    assert bool((th.s[constant].abs() == 2**62).all())  # gamma == 0: threshold out of reach


def test_unreachable_thresholds_keep_the_bn_threshold():
    bn = FoldableBatchNorm1d(4).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([5000.5, -5000.5, 5000.5, 0.0]))
        bn.weight.copy_(torch.tensor([1.0, 1.0, -1.0, 0.0]))
        bn.bias.zero_()
    th = fold_batchnorm(bn, 100)
    # +1 iff h > 5000.5 (s = 5000); h > -5000.5 (s = -5001); h < 5000.5 (h <= 5000); constant -1
    assert th.s.tolist() == [5000, -5001, 5000, 2**62]
    assert th.direction.tolist() == [1, 1, -1, 1]


def test_int_conv_matches_float_conv():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-255, 256, (3, 4, 9, 7), generator=g)
    w = torch.randint(0, 2, (5, 4, 3, 3), generator=g) * 2 - 1
    for padding in (0, 1):
        ref = F.conv2d(x.double(), w.double(), padding=padding).to(torch.int64)
        assert torch.equal(int_conv2d(x, w, padding), ref)


def test_int_max_pool_matches_float_max_pool():
    x = torch.randint(-300, 300, (2, 3, 7, 9), generator=torch.Generator().manual_seed(0))
    for k in (2, 3):
        assert torch.equal(int_max_pool(x, k), F.max_pool2d(x.double(), k).to(torch.int64))
