"""A Hugging Face causal LM (outputs with ``.logits``) under bit errors: a tiny GPT-2 built locally from a
config (no download). Skips without the optional ``transformers`` (pip install 'bitrobust[hf]')."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bitrobust.evaluation import evaluate_robustness
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model, restored
from bitrobust.tasks import CausalLM

transformers = pytest.importorskip("transformers")


def test_tiny_gpt2_perplexity_under_bit_errors():
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    with torch.random.fork_rng():  # transformers initializes from the global RNG: seed it without leaking
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(config).eval()
    g = torch.Generator().manual_seed(1)
    ids = [torch.randint(0, 64, (3, 12), generator=g) for _ in range(2)]
    batches = [{"input_ids": x, "labels": x} for x in ids]  # Hugging Face's convention: labels = inputs
    task = CausalLM(shift=True)
    quantizer = FixedPointQuantizer(8)
    with restored(model), torch.no_grad():
        load_tensors(model, quantize_model(model, quantizer).dequantize())
        nll = sum(float(model(input_ids=x, labels=x).loss) * x[:, 1:].numel() for x in ids)  # HF's own mean loss
        ppl = math.exp(nll / sum(x[:, 1:].numel() for x in ids))
        logits = model(input_ids=ids[0]).logits
        assert float(F.cross_entropy(logits[:, :-1].reshape(-1, 64), ids[0][:, 1:].reshape(-1))) == pytest.approx(
            float(model(input_ids=ids[0], labels=ids[0]).loss), rel=1e-5)
    result = evaluate_robustness(model, batches, quantizer, rates=[0.0, 0.01], chips=2, task=task)
    assert result.perplexity == pytest.approx(ppl, rel=1e-5)
    assert result.rate(0.0).perplexity == pytest.approx((ppl, ppl), rel=1e-5)
    assert len(result.rate(0.01).perplexity) == 2 and result.n_examples == sum(x[:, 1:].numel() for x in ids)
