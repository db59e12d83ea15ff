"""Language models under bit errors (issue 12, contract 7): perplexity vs bit error rate per weight format.

``lm-formats`` trains one small causal transformer (``gpt_tiny``, recipes ``lm/``) on the
byte-level ASV Bible text with 8-bit RQUANT quantization-aware training and evaluates the
same weights stored in several formats: next-token error and perplexity under persistent
random chips (contract 2) per rate p. Rows: the trained int8 per-tensor format, and post-training
conversions of the same weights to int4 per tensor and to the deployment formats of contract 5
(int8 per channel, int4 per group of 128, bf16, fp8 e4m3 and e5m2; metadata words protected, the default).
The main formats (int8 per tensor and per channel, int4 per group, bf16, fp8 e4m3) are evaluated again with
SECDED (72, 64) ECC over the data region (contract 6), on the same chips, and compared pairwise with their reads
without ECC.
"""

from __future__ import annotations

from bitrobust.experiments.spec import EvalSpec, Experiment, RunSpec, Section, rows

GPT = RunSpec("gpt_tiny", "lm/gpt_tiny.{budget}.yaml", "gpt_tiny")
RATES = {"quick": (0.0001, 0.0005, 0.001, 0.005, 0.01), "full": (0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01)}
_TEST = {"quick": 500, "full": None}  # blocks of 128 bytes of the test split (1,550 in all)
# contract 5 formats (post-training, from the int8-trained weights): eval key = format name, row label
_FORMAT_ROWS = (("int8_channel", "int8 per channel (post-training)"),
                ("int4_g128", "int4 per group of 128 (post-training)"),
                ("bf16", "bf16 (post-training)"),
                ("fp8_e4m3", "fp8 e4m3 (post-training)"),
                ("fp8_e5m2", "fp8 e5m2 (post-training)"))
ECC = "secded64"  # the (72, 64) code
# the main formats, read again through ECC: eval key, format (None: the trained int8 per tensor), plain row label
_ECC_ROWS = (("int8", None, "int8 per tensor (RQUANT, trained)"),
             ("int8_channel", "int8_channel", "int8 per channel (post-training)"),
             ("int4_g128", "int4_g128", "int4 per group of 128 (post-training)"),
             ("bf16", "bf16", "bf16 (post-training)"),
             ("fp8_e4m3", "fp8_e4m3", "fp8 e4m3 (post-training)"))

FORMATS = Experiment(
    name="lm-formats",
    paper="beyond the papers",
    reproduces="LM formats",
    title="Perplexity of a byte-level language model under bit errors, per weight format",
    description="gpt_tiny trained on the ASV Bible text (bytes) with 8-bit RQUANT; its weights stored per tensor "
    "in 8 bit (as trained) and 4 bit, per channel (int8), per group of 128 (int4), as bf16 and as fp8 e4m3/e5m2 "
    "(post-training conversions), next-token error and perplexity under persistent random chips, the main formats "
    "also with SECDED (72, 64) ECC.",
    runs=(GPT,),
    evals=(
        EvalSpec("int8", "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST),
        EvalSpec("int4", "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST, bits=4),
        *(EvalSpec(name, "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST, format=name)
          for name, _ in _FORMAT_ROWS),
        *(EvalSpec(f"{key}_ecc", "random", rates=RATES, chips={"quick": 5, "full": 20}, test_subset=_TEST,
                   format=fmt, ecc=ECC) for key, fmt, _ in _ECC_ROWS),
    ),
    sections=(
        Section("formats", "gpt_tiny on the ASV Bible: perplexity vs p per weight format", "int8",
                rows=(*rows("gpt_tiny@int8 per tensor (RQUANT, trained)"),
                      *rows("gpt_tiny@int4 per tensor (RQUANT, post-training)", eval="int4"),
                      *(row for name, label in _FORMAT_ROWS for row in rows(f"gpt_tiny@{label}", eval=name)))),
        Section("ecc", "gpt_tiny: with SECDED (72, 64) ECC vs without, per weight format (same chips)", "int8_ecc",
                rows=tuple(row for key, _, label in _ECC_ROWS
                           for row in (*rows(f"gpt_tiny@{label}", eval=key),
                                       *rows(f"gpt_tiny@{label} + ECC (72, 64)", eval=f"{key}_ecc"))),
                pairs=tuple((f"{label} + ECC (72, 64)", label) for _, _, label in _ECC_ROWS),
                note="ECC: an extended Hamming code over each 64-bit chunk of the data region's bit stream, its 8 "
                "check bits per codeword stored (and flipping) in the ECC region; policy keep."),
    ),
    notes=("The int4 and contract-5 format rows convert the int8-trained weights after training (no QAT in the "
           "format); metadata words (per-channel/group fp16 ranges) are read error-free (contract 6's default).",
           "The ECC section reads int8 per tensor and per channel, int4 per group of 128, bf16 and fp8 e4m3 through "
           "SECDED (72, 64) ECC (policy keep) on the same chips as the rows without it; the ECC's storage overhead "
           "(72/64) is charged by `bitrobust energy` from the results."),
)

EXPERIMENTS = (FORMATS,)
