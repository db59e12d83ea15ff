"""``bitrobust reproduce``: the experiment registry, planning, and the smoke form end to end.

Every experiment is planned in both budgets (recipes exist, overrides are valid) and run
end to end in its smoke form (well under a minute for all of them); a first subset,
sharing one output directory, also checks what each evaluation kind (random, fixed
pattern, profiled, L-inf, batch statistics, scaling, transient, BNN metrics, weights) and
each report section kind computed, and that a second run trains nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from bitrobust.cli import main
from bitrobust.experiments import EXPERIMENTS, EvalSpec, Experiment, RunSpec, Section, all_experiments
from bitrobust.experiments.spec import Row
from bitrobust.experiments.plan import make_plan
from bitrobust.experiments.recipes import find_configs_dir

NAMES = [e.name for e in all_experiments()]
# every evaluation kind and section kind, sharing models (one output directory); with
# test_batch_statistics_at_test_time (p3-table10) about 35 s on the shared 2-core machine
FAST = ["p3-table11", "p3-table5", "p3-fig9", "p3-fig10", "bnn-hinge", "bnn-table3"]
PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_experiment(capsys):
    code, out, _ = run_cli(capsys, "reproduce", "--list")
    assert code == 0
    lines = out.splitlines()
    for exp in all_experiments():
        line = next(l for l in lines if l.startswith(exp.name + " "))
        assert exp.reproduces in line
        assert "CPU" in line and "GPU" in line  # runtime estimates for both budgets
    assert "estimate" in out


def test_registry_covers_the_papers():
    names = set(EXPERIMENTS.names())
    for name in ("p3-table1", "p3-table2", "p3-table3", "p3-table4", "p3-table5", "p3-table9", "p3-table10",
                 "p3-table11", "p3-table12", "p3-table13", "p3-table14", "p3-table18", "p3-table21", "p3-fig7",
                 "p3-table16", "p3-fig9", "p3-fig10", "bnn-fig1", "bnn-fig2", "bnn-table3", "bnn-hinge",
                 "bnn-native-vs-st"):
        assert name in names


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_every_experiment_plans(budget, tmp_path):
    """Recipes are found and every override resolves to a valid config, in both budgets."""
    configs = find_configs_dir()
    for name in NAMES:
        plan = make_plan(EXPERIMENTS.get(name), budget, tmp_path, configs)
        model_free = all(s.model_free for s in plan.experiment.sections)  # Fig. 1, 3/8: nothing to train
        assert (plan.all_runs() and plan.all_evals()) or (model_free and not plan.experiment.runs)
        for section in plan.experiment.sections:
            for row in plan.section_rows(section):
                assert (plan.runs[row.run][0].key, row.eval or section.eval) in plan.evals
    table3 = make_plan(EXPERIMENTS.get("bnn-table3"), budget, tmp_path, configs)
    identity = [r for r in table3.all_runs() if "ste" not in r.config.model.kwargs]
    # quick: one seed per cell, three for the widest nets (FC 128, CNN 64: 2 nets x 6 BERs x 2 more seeds)
    assert len(identity) == (54 * 10 if budget == "full" else 54 + 2 * 6 * 2)
    htanh = [r for r in table3.all_runs() if r.config.model.kwargs.get("ste") == "htanh"]
    assert len(htanh) == (54 * 10 if budget == "full" else 3 * 6)  # quick: FC 16 and 64, CNN 16 only
    assert len(identity) + len(htanh) == len(table3.all_runs())


def test_medium_budget_is_table21_on_the_papers_model(capsys, tmp_path):
    """The medium budget trains Tab. 21's m = 8 rows with SimpleNet on all of MNIST and evaluates 20 chips on the
    whole test set at Tab. 21's rates; experiments without medium runs refuse the budget in one line."""
    plan = make_plan(EXPERIMENTS.get("p3-table21"), "medium", tmp_path, find_configs_dir())
    assert sorted(plan.runs) == ["mnist_clip0.05", "mnist_randbet0.05_p10", "mnist_rquant"]
    for run in plan.all_runs():
        assert run.recipe.name.endswith(".medium.yaml") and run.run_dir.name.split("-")[0].endswith(".medium")
        assert (run.config.model.name, run.config.data.name, run.config.data.train_subset) == ("simplenet_mnist", "mnist", None)
        assert run.config.epochs == 5 and run.config.quant.bits == 8
    assert {r.key: r.config.strategy.clip_w_max for r in plan.all_runs()} == {
        "mnist_rquant": None, "mnist_clip0.05": 0.05, "mnist_randbet0.05_p10": 0.05}
    for ev in plan.all_evals():
        assert ev.settings.test_subset is None and ev.settings.chips == 20
        assert tuple(ev.settings.rates) == (0.01, 0.05, 0.1, 0.15)
    code, _, err = run_cli(capsys, "reproduce", "p3-table2", "--budget", "medium", "--dry-run", "--out", str(tmp_path))
    assert code == 2 and "no runs in the medium budget" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(capsys, "reproduce", "--list")
    assert "MEDIUM" in out.splitlines()[0]
    line = next(l for l in out.splitlines() if l.startswith("p3-table21 "))
    assert line.count("CPU") == 2


def test_shared_models_share_a_run_directory(tmp_path):
    configs = find_configs_dir()
    b = make_plan(EXPERIMENTS.get("p3-table4"), "quick", tmp_path, configs)
    b.runs["rquant"][0].run_dir.mkdir(parents=True)  # as if trained
    a = make_plan(EXPERIMENTS.get("p3-table10"), "quick", tmp_path, configs)  # gn_rquant is RQUANT
    assert a.runs["gn_rquant"][0].run_dir == b.runs["rquant"][0].run_dir
    assert a.runs["bn_rquant"][0].run_dir != b.runs["rquant"][0].run_dir
    smoke = make_plan(EXPERIMENTS.get("p3-table4"), "quick", tmp_path, configs, smoke=True)
    assert smoke.runs["clip0.1"][0].run_dir != b.runs["clip0.1"][0].run_dir  # smoke configs differ
    # two keys with one config in one plan: one directory, trained and evaluated once
    twins = Experiment(
        "twins", "paper 3", "Tab. 0", "twins",
        runs=(RunSpec("a", "paper3/rquant.{budget}.yaml", "A"), RunSpec("b", "paper3/normal.{budget}.yaml", "B",
                                                                        ("quant.scheme=rquant",))),
        evals=(EvalSpec("random"),), sections=(Section("s", "S", "random"),),
    )
    plan = make_plan(twins, "quick", tmp_path / "twins", configs)
    assert plan.runs["a"][0].run_dir == plan.runs["b"][0].run_dir
    assert len(plan.unique_runs()) == 1 and len(plan.unique_evals()) == 1 and len(plan.all_evals()) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "p3-nope"], "unknown experiment 'p3-nope'; valid: bnn-fig1"),
        (["reproduce"], "or use --list; valid:"),
        (["reproduce", "p3-table1", "--configs", "/nonexistent/configs"], "not a recipe directory"),
    ],
)
def test_bad_input_is_one_line(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_the_plan(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "reproduce", "p3-table4", "--dry-run", "--out", str(tmp_path))
    assert code == 0
    assert sum(line.startswith("run ") for line in out.splitlines()) == 5 * 3  # 5 models x 3 seeds (quick)
    assert "to train" in out and "report ->" in out
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory, data_dir):
    return tmp_path_factory.mktemp("reproduce")


def _check_report(out: Path, name: str) -> dict:
    report = out / name
    text = (report / "report.md").read_text()
    exp = EXPERIMENTS.get(name)
    assert text.startswith(f"# {exp.paper}, {exp.reproduces}") and "smoke" in text
    definition = yaml.safe_load((report / "experiment.yaml").read_text())
    assert definition["experiment"] == name and definition["smoke"] is True
    assert definition["runs"] or all(s.model_free for s in exp.sections)
    results = json.loads((report / "results.json").read_text())
    assert results["sections"]
    for section in results["sections"]:
        files = list((report / section["key"]).iterdir())
        assert any(f.suffix == ".md" for f in files) and any(f.suffix == ".json" for f in files)
        assert any(f.suffix == ".csv" for f in files)
        pngs = [f for f in files if f.suffix == ".png"]
        assert pngs and all(f.read_bytes()[:8] == PNG for f in pngs)
    return results


def _smoke(capsys, out: Path, data_dir, name: str):
    code, stdout, _ = run_cli(capsys, "reproduce", name, "--smoke", "--out", str(out), "--data-dir", str(data_dir),
                              "--no-progress")
    assert code == 0, stdout
    return stdout


def test_reproduce_batch_size_reaches_every_evaluation(capsys, tmp_path, data_dir):
    code, stdout, _ = run_cli(capsys, "reproduce", "p3-table11", "--smoke", "--out", str(tmp_path), "--data-dir",
                              str(data_dir), "--no-progress", "--batch-size", "16")
    assert code == 0, stdout
    configs = list((tmp_path / "runs").glob("*/evals/*/eval_config.json"))
    assert configs and all(json.loads(c.read_text())["batch_size"] == 16 for c in configs)


def test_smoke_subset_end_to_end_and_resumable(capsys, smoke_out, data_dir):
    for name in FAST:
        _smoke(capsys, smoke_out, data_dir, name)
        _check_report(smoke_out, name)
    # what each kind of section reports
    t11 = json.loads((smoke_out / "p3-table11" / "results.json").read_text())["sections"][0]
    scaled = {r["model"]: r for r in t11["rows"]}
    assert scaled["RQUANT -> CLIPPING_0.25"]["err"] == pytest.approx(scaled["RQUANT"]["err"], abs=0.02)
    config = next((smoke_out / "runs").glob("*/evals/random-*/eval_config.json"), None)
    assert config is not None and json.loads(config.read_text())["batch_size"] == 1000
    t5 = json.loads((smoke_out / "p3-table5" / "results.json").read_text())["sections"][0]
    assert [c["chip"] for c in t5["chips"]] == ["chip1_0.866", "chip1_2.744"]
    assert t5["chips"][0]["p"] == pytest.approx(0.00866, rel=0.1)
    f9 = json.loads((smoke_out / "p3-fig9" / "results.json").read_text())["sections"][0]
    assert {r["errors"] for r in f9["rows"]} == {"linf"}
    f10 = json.loads((smoke_out / "p3-fig10" / "results.json").read_text())["sections"][0]
    clip = next(r for r in f10["rows"] if r["model"] == "CLIPPING_0.1")
    assert clip["reference_is_w_max"] and clip["reference"] == 0.1 and 0 < clip["relu_relevance"] <= 1
    assert clip["relative_error"] > 0 and clip["relative_error_p"] == 0.01
    hinge = json.loads((smoke_out / "bnn-hinge" / "results.json").read_text())["sections"][0]
    assert all(len(r["T"]) == 6 and r["errors"] == "transient" for r in hinge["rows"])
    t3b = json.loads((smoke_out / "bnn-table3" / "results.json").read_text())["sections"]
    assert {(c["neurons"], c["ber"]) for c in t3b[0]["cells"]} == {("8,8", 0.0), ("8,8", 5.0)}
    # a second run trains and evaluates nothing
    stdout = _smoke(capsys, smoke_out, data_dir, "p3-fig10")
    assert "trained in" not in stdout and "finished earlier, skipped" in stdout and "done earlier, skipped" in stdout


def test_batch_statistics_at_test_time(capsys, smoke_out, data_dir):
    _smoke(capsys, smoke_out, data_dir, "p3-table10")
    results = _check_report(smoke_out, "p3-table10")
    keys = [s["key"] for s in results["sections"]]
    assert keys == ["accumulated", "batch_stats"]
    configs = [json.loads(p.read_text()) for p in (smoke_out / "runs").glob("*/evals/random-*/eval_config.json")]
    assert any(c.get("batch_stats") for c in configs)


def test_seeds_are_paired_chip_by_chip(capsys, smoke_out, data_dir):
    """Smoke p3-table4 trains 2 seeds per model and evaluates 2 chips: RANDBET vs CLIPPING has 4 paired
    differences d[s][c]; the interval is over the 2 seeds' means (t with 1 degree of freedom: 12.706)."""
    _smoke(capsys, smoke_out, data_dir, "p3-table4")
    plan = make_plan(EXPERIMENTS.get("p3-table4"), "quick", smoke_out, find_configs_dir(), smoke=True)
    runs = {key: [r.run_dir.name for r in reps] for key, reps in plan.runs.items()}
    assert len(runs["clip0.1"]) == 2 and runs["clip0.1"][0].startswith("clip0.1.quick-")  # seed 0: the single run's name
    assert runs["clip0.1"][1].startswith("clip0.1-seed1.quick-")
    seeds = {key: [json.loads(plan.evals[(f"{key}#seed{i}", "random")][0].result_file.read_text()) for i in (0, 1)]
             for key in ("clip0.1", "randbet0.1_p1")}
    assert all(r["first_chip"] == 0 and r["test_set"] == "mnist test, stratified 100" for rs in seeds.values() for r in rs)
    section = json.loads((smoke_out / "p3-table4" / "results.json").read_text())["sections"][0]
    [pair] = [c for c in section["paired"] if (c["a"], c["b"]) == ("RANDBET_0.1 p=1%", "CLIPPING_0.1")]
    for row in pair["rows"]:
        def rerr(key, s):
            return next(r["rerr"] for r in seeds[key][s]["rates"] if r["p"] == row["p"])
        d = [[x - y for x, y in zip(rerr("randbet0.1_p1", s), rerr("clip0.1", s))] for s in (0, 1)]
        assert sum(len(ds) for ds in d) == 4 and (row["seeds"], row["chips"], row["unit"]) == (2, 2, "seed")
        means = [sum(ds) / 2 for ds in d]
        mean = sum(means) / 2
        half = 12.7062 * abs(means[0] - means[1]) / 2 ** 0.5 / 2 ** 0.5  # sd of two values = |a - b| / sqrt(2)
        assert row["mean"] == pytest.approx(mean, abs=1e-12)
        assert (row["low"], row["high"]) == (pytest.approx(mean - half, abs=1e-4), pytest.approx(mean + half, abs=1e-4))
    model = next(m for m in section["models"] if m["model"] == "CLIPPING_0.1")
    assert (model["seeds"], model["chips"], model["n_examples"]) == (2, 2, 100)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in FAST + ["p3-table10"]])
def test_smoke_every_experiment(capsys, smoke_out, data_dir, name):
    _smoke(capsys, smoke_out, data_dir, name)
    results = _check_report(smoke_out, name)
    if name == "p3-table3":  # the training pattern (chip 0 only) and unseen chips 1, 2
        sections = results["sections"]
        assert [s["key"] for s in sections] == ["fixed_pattern", "random_patterns"]
        assert {r["trials"] for r in sections[0]["rows"]} == {1}
        assert {r["trials"] for r in sections[1]["rows"]} == {2}
    if name == "bnn-native-vs-st":  # both gradients, paired native - ST at the smoke's rate, clean and two reads' rates
        [fc] = results["sections"]
        assert fc["stes"] == ["identity", "htanh"] and fc["train_bers"] == [0.05]
        assert [(r["ste"], r["eval_ber"]) for r in fc["paired"]] == [(s, q) for s in fc["stes"] for q in (0.0, 0.01, 0.3)]
    if name == "bnn-fig1":  # identity and hard-tanh sections side by side
        assert [s["key"] for s in results["sections"]] == ["fcbnn", "fcbnn_htanh", "cbnn"]
    if name in ("formats", "lm-formats"):
        _check_ecc_sections(smoke_out, name, results)
    if name == "formats":
        _check_formats(smoke_out, results)


def _check_ecc_sections(out: Path, name: str, results: dict) -> None:
    """ECC rows: paired with their rows without ECC at every rate, and the ECC counts the report shows are those of
    the evaluations' robustness.json (mean per chip)."""
    exp = EXPERIMENTS.get(name)
    plan = make_plan(exp, "quick", out, find_configs_dir(), smoke=True)
    section = next(s for s in results["sections"] if s["key"] == "ecc")
    spec = next(s for s in exp.sections if s.key == "ecc")
    rows = plan.section_rows(spec)
    ecc_rows = [r for r in rows if plan.evals[(r.run, r.eval)][0].settings.ecc == "secded64"]
    assert ecc_rows and len(rows) == 2 * len(ecc_rows)
    assert {(c["a"], c["b"]) for c in section["paired"]} == {(r.label, r.label.removesuffix(" + ECC (72, 64)"))
                                                            for r in ecc_rows}
    assert all(len(c["rows"]) == len(section["rates"]) for c in section["paired"])
    shown = {m["model"]: m for m in section["ecc"]}
    assert set(shown) == {r.label for r in ecc_rows}
    for row in ecc_rows:
        result = json.loads(plan.evals[(row.run, row.eval)][0].result_file.read_text())
        assert result["protection"]["ecc"] == "secded64" and shown[row.label]["codewords"] == result["ecc_codewords"] > 0
        for got, rate in zip(shown[row.label]["rates"], [r for r in result["rates"] if r["p"] > 0]):
            assert got["corrected_mean"] == pytest.approx(sum(rate["ecc_corrected"]) / len(rate["ecc_corrected"]))
            assert got["detected_mean"] == pytest.approx(sum(rate["ecc_detected"]) / len(rate["ecc_detected"]))
        top = shown[row.label]["rates"][-1]
        assert top["corrected_mean"] + top["detected_mean"] > 0  # the highest rate hits some codewords


def _check_formats(out: Path, results: dict) -> None:
    sections = {s["key"]: s for s in results["sections"]}
    assert list(sections) == ["rerr", "ecc", "protected", "vulnerability", "energy"]
    assert {(c["a"], c["b"]) for c in sections["protected"]["paired"]} == {
        ("int8 per tensor (RQUANT), MSB protected", "int8 per tensor (RQUANT)"),
        ("int4 per group of 128, MSB protected", "int4 per group of 128"),
        ("bf16, sign + exponent protected", "bf16")}
    # a flipped float exponent gives non-finite outputs: shown for bf16, as the result files hold them
    nonfinite = {m["model"]: m for m in sections["rerr"]["nonfinite"]}
    assert "bf16" in nonfinite and nonfinite["bf16"]["rates"][-1]["nonfinite_mean"] > 0
    maps = {m["model"]: m for m in sections["vulnerability"]["maps"]}
    assert set(maps) == {"int8 per tensor (RQUANT)", "bf16"}
    for m in maps.values():
        assert m["positions"] == [0] and m["chips"] == 2 and len(m["tensors"]) == len(m["rerr_mean"]) > 1
    assert (out / "formats" / "vulnerability" / "vulnerability_bf16.png").read_bytes()[:8] == PNG
    energy = {m["name"]: m for m in sections["energy"]["models"]}
    for label in ("int8 per tensor (RQUANT)", "int4 per group of 128", "bf16"):
        plain, coded = energy[label], energy[label + " + ECC (72, 64)"]
        assert (plain["ecc"], coded["ecc"]) == (None, "secded64")
        assert plain["bits_per_weight"] == coded["bits_per_weight"]


def test_docs_list_every_experiment_with_the_estimates_of_reproduce_list():
    """docs/reproduce.md's table states the same quick and full estimates as `bitrobust reproduce --list`."""
    from bitrobust.experiments.estimate import estimate_text
    from bitrobust.experiments.recipes import find_configs_dir

    docs = (Path(__file__).resolve().parents[2] / "docs" / "reproduce.md").read_text()
    rows = {line.split(" | ")[0][3:-1]: line.rstrip(" |").split(" | ") for line in docs.splitlines()
            if line.startswith("| `")}
    for exp in all_experiments():
        assert exp.name in rows, exp.name
        est = estimate_text(exp, find_configs_dir())
        assert rows[exp.name][-2:] == [est["quick"].rsplit(" ", 1)[0], est["full"].rsplit(" ", 1)[0]], exp.name


def test_a_claimed_directory_waits_for_its_holder(tmp_path):
    """Two processes sharing an output directory never train the same run at once."""
    import threading

    from bitrobust.experiments.schedule import claimed

    run_dir = tmp_path / "runs" / "a.quick-0123abcd"
    acquired = threading.Event()

    def second():
        with claimed(run_dir):
            acquired.set()

    with claimed(run_dir) as held:
        assert held
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not acquired.wait(0.3)  # blocked while the first holder trains
        with claimed(run_dir, wait=False) as held_too:
            assert not held_too  # without waiting: told at once
    assert acquired.wait(10)
    waiter.join()
    assert (tmp_path / "runs" / "a.quick-0123abcd.lock").is_file()


def test_a_run_finished_under_another_name_after_planning_is_reused(tmp_path):
    from bitrobust.experiments.schedule import _adopt_twin, train

    plan = make_plan(EXPERIMENTS.get("p3-table11"), "quick", tmp_path, find_configs_dir(), smoke=True)
    run, other = plan.unique_runs()[:2]
    twin = run.run_dir.parent / f"other-experiment-key.quick-{run.digest}"  # made by another process
    twin.mkdir(parents=True)
    (twin / "model.safetensors").write_bytes(b"")
    (twin / "trainer_state.json").write_text(json.dumps({"epoch": run.config.epochs}))
    assert train(run) is False  # finished: nothing trained
    assert run.run_dir.is_symlink() and run.finished
    _adopt_twin(run)  # idempotent
    assert run.run_dir.resolve() == twin.resolve()
    _adopt_twin(other)  # no twin: nothing created
    assert not os.path.lexists(other.run_dir)
    other.run_dir.parent.mkdir(parents=True, exist_ok=True)
    other.run_dir.symlink_to("deleted-twin")  # a dangling link is dropped
    _adopt_twin(other)
    assert not os.path.lexists(other.run_dir)


def test_an_experiment_can_score_as_the_reference_code(tmp_path):
    """EvalSpec(rerr="official", test_first=9000) reaches the evaluation's settings; plain specs keep their hashes."""
    from bitrobust.experiments.plan import eval_settings

    plan = make_plan(EXPERIMENTS.get("p3-table11"), "quick", tmp_path, find_configs_dir())
    run = plan.unique_runs()[0]
    official = EvalSpec("o", "random", rates=(0.01,), chips=3, rerr="official", test_first=9000, test_subset=None)
    [settings] = eval_settings(official, run, "quick", smoke=False)
    assert (settings.rerr, settings.test_first, settings.test_subset) == ("official", 9000, None)
    assert {"rerr": "official", "test_first": 9000}.items() <= settings.to_dict().items()
    [plain] = eval_settings(EvalSpec("p", "random", rates=(0.01,), chips=3), run, "quick", smoke=False)
    assert "rerr" not in plain.to_dict() and "test_first" not in plain.to_dict()


def test_table7_errors_are_the_models_clean_errors(capsys, smoke_out, data_dir):
    """p3-table7's cells equal the clean error of each trained model, quantized and evaluated directly."""
    from bitrobust.evaluation import evaluate_pass, load_run
    from bitrobust.quantization import load_tensors, quantize_model

    _smoke(capsys, smoke_out, data_dir, "p3-table7")
    rows = json.loads((smoke_out / "p3-table7" / "results.json").read_text())["sections"][0]["rows"]
    plan = make_plan(EXPERIMENTS.get("p3-table7"), "quick", smoke_out, find_configs_dir(), smoke=True)
    assert {(r["m"], r["norm"]) for r in rows} == {(r.spec.tags["m"], r.spec.tags["norm"]) for r in plan.all_runs()}
    for run in plan.all_runs():
        loaded = load_run(run.run_dir, "cpu")
        quantizer, exclude = loaded.quantizer()
        assert quantizer.bits == run.spec.tags["m"]
        load_tensors(loaded.model, quantize_model(loaded.model, quantizer, exclude=exclude).dequantize())
        loaded.model.eval()
        err = evaluate_pass(loaded.model, loaded.test_data(data_dir, 100)).error
        cell = next(r for r in rows if (r["m"], r["norm"]) == (run.spec.tags["m"], run.spec.tags["norm"]))
        assert cell["err"] == pytest.approx(err)
def test_section_pairs_name_existing_rows():
    runs = (RunSpec("a", "paper3/rquant.{budget}.yaml", "A"), RunSpec("b", "paper3/rquant.{budget}.yaml", "B"))
    evals = (EvalSpec("random"),)
    ok = Experiment("x", "paper 3", "Tab. 0", "t", runs=runs, evals=evals,
                    sections=(Section("s", "S", "random", pairs=(("b", "a"),)),))
    assert ok.row_named(ok.sections[0], "b").run == "b"
    with pytest.raises(ValueError, match="'c' names no row"):
        Experiment("x", "paper 3", "Tab. 0", "t", runs=runs, evals=evals,
                   sections=(Section("s", "S", "random", pairs=(("c", "a"),)),))
    twice = (Section("s", "S", "random", rows=(Row("a"), Row("a", label="A again")), baseline="a"),)
    with pytest.raises(ValueError, match="'a' names more than one row"):
        Experiment("x", "paper 3", "Tab. 0", "t", runs=runs, evals=evals, sections=twice)
