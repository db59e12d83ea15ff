"""Deployment formats under bit errors (issue 11, DESIGN contracts 5 and 6): ``bitrobust reproduce formats``.

The same architecture and recipe as paper 3's RQUANT (``paper3/rquant.{budget}``: ``cnn_small`` on MNIST in the
quick budget, SimpleNet on CIFAR-10 in the full one) trained with quantization-aware training in each number
format -- RQUANT int8 per tensor (the paper's), int8 per channel, int4 per group of 128, fp16, bf16 and fp8 e4m3
(recipe override ``quant.format``) -- and evaluated in its own format on the same persistent random chips
(contract 2): RErr vs p per format; each format again with SECDED (72, 64) ECC over its data region and with
its most significant bits in reliable memory (the MSB of integer words, the sign and exponent of float words;
contract 6), compared pairwise with the unprotected reads; the vulnerability map (one tensor x one bit position
at p = 1%) of the int8 and the bf16 model; and the lowest energy within a 1% error budget per format, charged
the bits each format stores per weight (data and metadata words, :mod:`bitrobust.reports.energy`), for the
ECC rows the code's n/k, and the reliable bits (metadata words, protected bits) at the energy of V_min.
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
LABELS = {key: label for key, label, _ in _FORMATS}
FLOATS = ("fp16", "bf16", "fp8_e4m3")
RATES = {"quick": (0.0001, 0.001, 0.005, 0.01, 0.05),
         "full": (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.015, 0.02, 0.025)}
CHIPS = {"quick": 10, "full": 50}
MAX_INCREASE = 0.01  # the error budget: one percentage point over the int8 per-tensor model's clean Err
ECC = "secded64"  # the (72, 64) code
# protected bits per kind of word: the MSB of integer words, the sign and exponent of float words (contract 6)
PROTECTED = {"protected_msb": ("msb", "MSB protected"), "protected_sign_exponent": ("sign,exponent",
                                                                                   "sign + exponent protected")}
VULNERABILITY_RUNS = ("int8", "bf16")


def _protected_eval(key: str) -> str:
    return "protected_sign_exponent" if key in FLOATS else "protected_msb"


def _ecc_label(key: str) -> str:
    return f"{LABELS[key]} + ECC (72, 64)"


def _protected_label(key: str) -> str:
    return f"{LABELS[key]}, {PROTECTED[_protected_eval(key)][1]}"


EVALS = (
    EvalSpec("random", "random", rates=RATES, chips=CHIPS),
    EvalSpec("ecc", "random", rates=RATES, chips=CHIPS, ecc=ECC),
    *(EvalSpec(key, "random", rates=RATES, chips=CHIPS, protect_bits=bits) for key, (bits, _) in PROTECTED.items()),
    EvalSpec("vulnerability", "vulnerability", rates=(0.01,), chips=3, test_subset={"quick": 1000, "full": 2000}),
)

FORMATS = Experiment(
    name="formats",
    paper="beyond the papers",
    reproduces="deployment formats",
    title="RErr and energy per number format: int8 per tensor/channel, int4 per group, fp16, bf16, fp8; "
    "with SECDED ECC and protected bits",
    description="The RQUANT recipe (quick: cnn_small on MNIST; full: SimpleNet on CIFAR-10) trained with "
    "quantization-aware training in each format and evaluated in it on the same persistent random chips, without "
    "protection, with SECDED (72, 64) ECC and with the MSB (integers) or sign and exponent (floats) in reliable "
    "memory; the vulnerability map of the int8 and bf16 models; the lowest SRAM energy within a 1% error budget "
    "per format, charged the bits each format stores per weight and the ECC's n/k, with the reliable bits (metadata, "
    "protected bits) at V_min.",
    runs=RUNS,
    evals=EVALS,
    sections=(
        Section("rerr", "RErr vs p per format (QAT in the format, same chips)", "random",
                rows=rows(*(r.key for r in RUNS))),
        Section("ecc", "With SECDED (72, 64) ECC vs without, per format (same chips)", "ecc",
                rows=tuple(row for r in RUNS for row in (*rows(f"{r.key}@{r.label}", eval="random"),
                                                          *rows(f"{r.key}@{_ecc_label(r.key)}", eval="ecc"))),
                pairs=tuple((_ecc_label(r.key), r.label) for r in RUNS),
                note="ECC: an extended Hamming code over each 64-bit chunk of the data region's bit stream, its 8 "
                "check bits per codeword stored (and flipping) in the ECC region after the metadata; policy keep "
                "(a detected, uncorrectable codeword is used as read). Metadata words are reliable (the default)."),
        Section("protected", "With the most significant bits in reliable memory vs without, per format (same chips)",
                "protected_msb",
                rows=tuple(row for r in RUNS for row in (
                    *rows(f"{r.key}@{r.label}", eval="random"),
                    *rows(f"{r.key}@{_protected_label(r.key)}", eval=_protected_eval(r.key)))),
                pairs=tuple((_protected_label(r.key), r.label) for r in RUNS),
                note="Protected: the MSB of integer words (bit m-1; RQUANT's unsigned words have no sign), the sign "
                "and exponent of float words (bf16: 9 of 16 bits, fp16: 6, fp8 e4m3: 5), read error-free; the other "
                "bits see the same chips."),
        Section("vulnerability", "Vulnerability maps: RErr with errors in one tensor x one bit position, p = 1%",
                "vulnerability", kind="vulnerability", rows=rows(*VULNERABILITY_RUNS),
                note="Each cell confines the errors to one bit position of one tensor's words (everything else reads "
                "error-free), on the same chips for every cell; 3 chips, a stratified subset of the test set."),
        Section("energy", "Lowest energy within a 1% error budget per format: plain, with ECC, with protected bits",
                "random", kind="energy",
                rows=tuple(row for r in RUNS for row in (
                    *rows(f"{r.key}@{r.label}"), *rows(f"{r.key}@{_ecc_label(r.key)}", eval="ecc"),
                    *rows(f"{r.key}@{_protected_label(r.key)}", eval=_protected_eval(r.key)))),
                note="Limit: the int8 per-tensor (RQUANT) model's clean Err + 1 percentage point, at every evaluated "
                "rate up to p. Energy relative to 8-bit words at V_min: the stored bits per weight (data x n/k with "
                "ECC, + metadata) / 8 times (1 - f) E(p) + f, with E(p) the energy model's value and f the share of "
                "the stored bits in reliable memory at V_min (metadata words, protected bits); the ECC rows' code "
                "and the protected bits are read from their results.",
                params={"max_increase": MAX_INCREASE, "reference": "int8"}),
    ),
    notes=("Metadata words (per-channel/group fp16 ranges) and protected bits are read error-free (contract 6): "
           "they sit in reliable memory kept at V_min, and the energy section charges them the energy of V_min "
           "while the other bits run at the voltage of p.",
           "The vulnerability maps use 3 chips and a stratified subset of the test set (quick 1,000 examples, full "
           "2,000), all tensors x all bit positions of the format's words at p = 1%."),
    smoke_runs=("int8", "int4_g128", "bf16"),
)

EXPERIMENTS = (FORMATS,)
