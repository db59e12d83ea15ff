"""Experiments of the BNN papers: paper 1 (bit error tolerance metrics T^b, Pi, VAR(Pi)) and
paper 2 (flip training and the direct hinge regularizer), all on Fashion-MNIST.

Fig. 1 of both papers: accuracy over the bit error rate (transient errors, fresh at
every read, the papers' error model) next to the T^b curves of the same models.
Paper 1 Fig. 2: neuron importance Pi per hidden neuron, regular vs. flip-trained.
Paper 1 Table III: VAR(Pi) and T-bar over widths x training BERs, averaged over
repetitions (10 in the paper; the full budget trains seeds 0..9). Paper 2 Fig. 2: the
direct hinge regularizer raises T^b but not the accuracy under bit errors.
Recipes: ``bnn/`` of the shipped recipes (quick: narrower nets, a few epochs; full: the papers' nets,
100 epochs; Table III recipes exist only as quick budgets, the full budget trains them
for 100 epochs).
"""

from __future__ import annotations

from bitrobust.experiments.spec import EvalSpec, Experiment, RunSpec, Section, rows

P1 = "paper 1"
P2 = "paper 2"
FLIP_RATES = (0, 1, 5, 10, 20)


def _flip_run(net: str, p: int) -> RunSpec:
    if p == 0:
        return RunSpec(f"{net}_p0", f"bnn/fashion_{net}_p0.{{budget}}.yaml", "No flips")
    return RunSpec(f"{net}_st_p{p}", f"bnn/fashion_{net}_st_p{p}.{{budget}}.yaml", f"Flip, p={p}%")


_BER_EVAL = EvalSpec("ber", "transient", chips={"quick": 5, "full": 10})
_TB_EVAL = EvalSpec("tb", "bnn_metrics")
# VAR(Pi) on the whole test set in both budgets: Pi[n] is an accuracy change of a few examples,
# so on a 2,000-image subset the sampling noise (~1e-5) swamps VAR(Pi) of nets with >= 64 neurons
_PI_EVAL = EvalSpec("tb", "bnn_metrics", test_subset=None)

FIG1 = Experiment(
    name="bnn-fig1",
    paper=f"{P1}, {P2}",
    reproduces="Fig. 1",
    title="Accuracy over bit error rate and T^b curves of flip-trained BNNs",
    description="FCBNN and CBNN trained without and with flips (p = 1, 5, 10, 20 %, straight-through flip "
    "operator); top: accuracy under transient bit errors in the binary weights, bottom: T^b over "
    "b = 2..64 on the test set.",
    runs=tuple(_flip_run(net, p) for net in ("fc", "cnn") for p in FLIP_RATES),
    evals=(_BER_EVAL, _TB_EVAL),
    sections=(
        Section("fcbnn", "FCBNN (Fashion-MNIST)", "ber", rows=rows(*(_flip_run("fc", p).key for p in FLIP_RATES)),
                kind="bnn_curves", extra_eval="tb"),
        Section("cbnn", "CBNN (Fashion-MNIST)", "ber", rows=rows(*(_flip_run("cnn", p).key for p in FLIP_RATES)),
                kind="bnn_curves", extra_eval="tb"),
    ),
    smoke_runs=("fc_p0", "fc_st_p5", "cnn_p0"),
)

# -- paper 1, Table III and Fig. 2 ----------------------------------------------------------------------
T3_RATES = (0, 1, 5, 10, 20, 30)
T3_WIDTHS = {"fc": (8, 16, 32, 64, 128), "cnn": (8, 16, 32, 64)}


def _t3_run(net: str, width: int, p: int) -> RunSpec:
    arch = f"{width},{width}" if net == "fc" else f"{width},{width},{2 * width}"
    return RunSpec(
        f"{net}{width}_p{p}", f"bnn/table3/{net}{width}_p{p}.quick.yaml", f"{arch} BER {p}%",
        full=("epochs=100",), repeats={"quick": 3 if width == T3_WIDTHS[net][-1] else 1, "full": 10},
        tags={"net": net, "neurons": arch, "ber": p},
    )


TABLE3 = Experiment(
    name="bnn-table3",
    paper=P1,
    reproduces="Table III",
    title="VAR(Pi) and T-bar for BNN widths x training bit error rates",
    description="FCw-FCw-10 (w = 8..128) and Cw-MP2-Cw-MP2-FC2w-10 (w = 8..64) trained with BER 0..30 %; per cell "
    "the mean over repetitions of VAR(Pi) (max, min) and of T-bar (min, max).",
    runs=tuple(_t3_run(net, w, p) for net, widths in T3_WIDTHS.items() for w in widths for p in T3_RATES),
    evals=(_PI_EVAL,),
    sections=(
        Section("fc", "Fully connected BNNs, Fashion-MNIST (Table IIIa)", "tb", kind="bnn_table",
                rows=rows(*(f"fc{w}_p{p}" for w in T3_WIDTHS["fc"] for p in T3_RATES))),
        Section("cnn", "Convolutional BNNs, Fashion-MNIST (Table IIIb)", "tb", kind="bnn_table",
                rows=rows(*(f"cnn{w}_p{p}" for w in T3_WIDTHS["cnn"] for p in T3_RATES))),
    ),
    notes=("The paper trains until convergence and averages ten repetitions; the quick budget trains each "
           "cell for the recipe's epochs (FC 10, CNN 3), once, and with seeds 0..2 for the widest nets (FC 128, "
           "CNN 64: the rise of VAR(Pi) with BER is checked there), the full budget 100 epochs x seeds 0..9.",),
    smoke_runs=("fc8_p0", "fc8_p5", "cnn8_p0"),
)

FIG2 = Experiment(
    name="bnn-fig2",
    paper=P1,
    reproduces="Fig. 2",
    title="Neuron importance Pi per hidden neuron: regular vs. flip-trained (5 %) BNNs",
    description="Pi[n] of every hidden neuron for small FCBNN and CBNN from Table III, trained without flips "
    "('regular') and with 5 % BER ('BET').",
    runs=tuple(
        RunSpec(f"{net}{w}_p{p}", f"bnn/table3/{net}{w}_p{p}.quick.yaml", f"{'BET' if p else 'regular'} ({net}{w})",
                full=("epochs=100",))
        for net, w in (("fc", 32), ("cnn", 16)) for p in (0, 5)
    ),
    evals=(_PI_EVAL,),
    sections=(
        Section("fc", "FCBNN 32,32 (Fig. 2 left)", "tb", kind="bnn_importance", rows=rows("fc32_p0", "fc32_p5")),
        Section("cnn", "CBNN 16,16,32 (Fig. 2 right)", "tb", kind="bnn_importance", rows=rows("cnn16_p0", "cnn16_p5")),
    ),
    repeats={"quick": 3},  # the FC net's difference was within one seed's noise (issue 13)
)

# -- paper 2, Fig. 2: the direct hinge regularizer ----------------------------------------------------------
_HINGE = tuple(
    RunSpec(
        f"hinge_b{b}_l{lam:g}", "bnn/fashion_fc_hinge_b32_l1e-3.{budget}.yaml", f"hinge b={b}, lambda={lam:g}",
        (f"strategy.params.hinge_b={b}", f"strategy.params.hinge_lambda={lam:g}"),
    )
    for b in (32, 64, 128) for lam in (1e-4, 1e-3, 1e-2)
)
HINGE = Experiment(
    name="bnn-hinge",
    paper=P2,
    reproduces="Fig. 2",
    title="Direct hinge regularizer lambda * mean max(0, b - T): higher T^b, no better accuracy under bit errors",
    description="FCBNN trained without flips, with the hinge regularizer for b in {32, 64, 128} and lambda in "
    "{1e-4, 1e-3, 1e-2} (Sec. IV-A), and with 5 % flip training for comparison.",
    runs=(_flip_run("fc", 0), _flip_run("fc", 5), *_HINGE),
    evals=(_BER_EVAL, _TB_EVAL),
    sections=(Section("hinge", "Hinge regularizer, FCBNN Fashion-MNIST (paper 2, Fig. 2)", "ber", kind="bnn_curves",
                      extra_eval="tb"),),
    smoke_runs=("fc_p0", "hinge_b32_l0.001"),
)

EXPERIMENTS = (FIG1, FIG2, TABLE3, HINGE)
