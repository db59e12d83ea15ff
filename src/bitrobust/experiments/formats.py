"""Deployment formats under bit errors (issue 11, DESIGN contracts 5 and 6): ``bitrobust reproduce formats``.

The same architecture and recipe as paper 3's RQUANT (``paper3/rquant.{budget}``: ``cnn_small`` on MNIST in the
quick budget, SimpleNet on CIFAR-10 in the full one) trained with quantization-aware training in each number
format -- RQUANT int8 per tensor (the paper's), int8 per channel, int4 per group of 128, fp16, bf16 and fp8 e4m3
(recipe override ``quant.format``) -- and evaluated in its own format on the same persistent random chips
(contract 2): RErr vs p per format, and the lowest energy within a 1% error budget per format, charged the bits
each format stores per weight (data and metadata words, :mod:`bitrobust.reports.energy`).
"""

from __future__ import annotations

from bitrobust.experiments.spec import EvalSpec, Experiment, RunSpec, Section, rows

# run key (= format name, "int8" the paper's RQUANT per tensor), label, overrides of the RQUANT recipe
_FORMATS = (
    ("int8", "int8 per tensor (RQUANT)", ()),
    ("int8_channel", "int8 per channel", ("quant.format=int8_channel",)),
    ("int4_g128", "int4 per group of 128", ("quant.format=int4_g128",)),
    ("fp16", "fp16", ("quant.format=fp16",)),
    ("bf16", "bf16", ("quant.format=bf16",)),
    ("fp8_e4m3", "fp8 e4m3", ("quant.format=fp8_e4m3",)),
)
RUNS = tuple(RunSpec(key, "paper3/rquant.{budget}.yaml", label, overrides) for key, label, overrides in _FORMATS)
RATES = {"quick": (0.0001, 0.001, 0.005, 0.01, 0.05),
         "full": (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.015, 0.02, 0.025)}
MAX_INCREASE = 0.01  # the error budget: one percentage point over the int8 per-tensor model's clean Err

FORMATS = Experiment(
    name="formats",
    paper="beyond the papers",
    reproduces="deployment formats",
    title="RErr and energy per number format: int8 per tensor/channel, int4 per group, fp16, bf16, fp8",
    description="The RQUANT recipe (quick: cnn_small on MNIST; full: SimpleNet on CIFAR-10) trained with "
    "quantization-aware training in each format and evaluated in it on the same persistent random chips; the "
    "lowest SRAM energy within a 1% error budget per format, charged the bits each format stores per weight.",
    runs=RUNS,
    evals=(EvalSpec("random", "random", rates=RATES, chips={"quick": 10, "full": 50}),),
    sections=(
        Section("rerr", "RErr vs p per format (QAT in the format, same chips)", "random",
                rows=rows(*(r.key for r in RUNS))),
        Section("energy", "Lowest energy within a 1% error budget per format", "random", kind="energy",
                rows=rows(*(r.key for r in RUNS)),
                note="Limit: the int8 per-tensor (RQUANT) model's clean Err + 1 percentage point, at every evaluated "
                "rate up to p. Energy relative to 8-bit words at V_min: the energy model's value times the stored "
                "bits per weight (data + metadata) / 8.",
                params={"max_increase": MAX_INCREASE, "reference": "int8"}),
    ),
    notes=("Metadata words (per-channel/group fp16 ranges) are read error-free (contract 6's default) but charged "
           "as stored bits in the energy section.",
           "Sections with SECDED (72, 64) ECC and protected bits (MSB; sign + exponent) per format, and the "
           "vulnerability map of one model, are to be added once protection, ECC and the vulnerability kind are in "
           "the evaluation's read path.",),
    smoke_runs=("int8", "int4_g128", "bf16"),
)

EXPERIMENTS = (FORMATS,)
