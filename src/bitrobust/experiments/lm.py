"""Language models under bit errors (issue 12, contract 7): perplexity vs bit error rate per weight format.

``lm-formats`` trains one small causal transformer (``gpt_tiny``, recipes ``lm/``) on the
byte-level ASV Bible text with 8-bit RQUANT quantization-aware training and evaluates the
same weights stored in several formats: next-token error and perplexity under persistent
random chips (contract 2) per rate p. Rows today: the trained int8 per-tensor format and
int4 per tensor (post-training). The deployment formats of contract 5 (int8 per channel,
int4 per group, bf16, fp8; with and without ECC, contract 6) become rows of the same section
once they exist.
"""

from __future__ import annotations

from bitrobust.experiments.spec import EvalSpec, Experiment, RunSpec, Section, rows

GPT = RunSpec("gpt_tiny", "lm/gpt_tiny.{budget}.yaml", "gpt_tiny")
RATES = {"quick": (0.0001, 0.0005, 0.001, 0.005, 0.01), "full": (0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01)}
_TEST = {"quick": 500, "full": None}  # blocks of 128 bytes of the test split (1,550 in all)

FORMATS = Experiment(
    name="lm-formats",
    paper="beyond the papers",
    reproduces="LM formats",
    title="Perplexity of a byte-level language model under bit errors, per weight format",
    description="gpt_tiny trained on the ASV Bible text (bytes) with 8-bit RQUANT; its weights stored per tensor "
    "in 8 bit (as trained) and 4 bit (post-training quantization), next-token error and perplexity under "
    "persistent random chips.",
    runs=(GPT,),
    evals=(
        EvalSpec("int8", "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST),
        EvalSpec("int4", "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST, bits=4),
    ),
    sections=(
        Section("formats", "gpt_tiny on the ASV Bible: perplexity vs p per weight format", "int8",
                rows=(*rows("gpt_tiny@int8 per tensor (RQUANT, trained)"),
                      *rows("gpt_tiny@int4 per tensor (RQUANT, post-training)", eval="int4"))),
    ),
    notes=("Formats of contract 5 (int8 per channel, int4 per group g=128, bf16, fp8 e4m3/e5m2) and SECDED ECC "
           "(contract 6) are not rows yet.",),
)

EXPERIMENTS = (FORMATS,)
