"""Run an experiment: plan its runs and evaluations, train and evaluate what is missing, report.

Layout under the output directory ``OUT`` (default ``runs/reproduce/<budget>``):

    OUT/runs/<recipe>-<hash>/                  one training run (config.yaml, model, ...);
        evals/<kind>-<hash>/robustness.json    one evaluation of it (or metrics.json, weights.json)
    OUT/<NAME>/                                the experiment's report, tables, figures and
        experiment.yaml                        its resolved definition

The hashes are of the resolved training config and evaluation settings, so a model
that several experiments share is trained once, and changing a recipe or an override
trains a new model instead of resuming a different one. Training resumes after the last
finished epoch (``Trainer.fit(resume=True)``) and is skipped when all epochs are done;
an evaluation is skipped when its result file exists. Several ``reproduce`` processes may share
one output directory: each training config (``runs/<hash>.lock``) and evaluation
(``<dir>.lock``) is claimed with an exclusive file lock (POSIX only), so a run two experiments
need is trained once, by whichever process reaches it first, while the other waits and then
skips it (linking its planned directory to the other's if their names differ). ``smoke=True`` shrinks everything
(200 training and 100 test images, 1 epoch of 2 steps, 2 chips, 2 rates) to exercise the
whole pipeline in seconds.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bitrobust.config import apply_overrides, dump_yaml, from_dict, load_yaml, to_dict
from bitrobust.errors import BitrobustError
from bitrobust.experiments.spec import BUDGETS, EvalSpec, Experiment, Row, RunSpec, for_budget

CONFIGS_ENV = "BITROBUST_CONFIGS"
RESULT_FILES = {"bnn_metrics": "metrics.json", "weights": "weights.json"}
SMOKE_TRAIN = ("epochs=1", "max_steps=2", "data.train_subset=200", "data.test_subset=100", "data.batch_size=32")
SMOKE_TEST_SUBSET = 100
DEFAULT_OUT = "runs/reproduce"

Log = Callable[[str], None]


# ----------------------------------------------------------------------------- configs dir


def find_configs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The recipe directory: ``explicit``, else ``$BITROBUST_CONFIGS``, else the repository's
    ``configs/`` (found relative to this package's source), else ``./configs``."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path / "paper3").is_dir() and not (path / "bnn").is_dir():
            raise BitrobustError(f"--configs {path}: not a recipe directory (no paper3/ or bnn/ in it)")
        return path
    candidates = []
    if os.environ.get(CONFIGS_ENV):
        candidates.append(Path(os.environ[CONFIGS_ENV]).expanduser())
    candidates.append(Path(__file__).resolve().parents[3] / "configs")  # src/bitrobust/experiments -> repo
    candidates.append(Path.cwd() / "configs")
    for path in candidates:
        if (path / "paper3").is_dir() or (path / "bnn").is_dir():
            return path
    raise BitrobustError(
        "recipe directory not found (tried " + ", ".join(str(p) for p in candidates)
        + "); pass --configs DIR (the configs/ directory of the bitrobust repository)"
    )


# ----------------------------------------------------------------------------- planning


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass
class PlannedRun:
    """One training run of the plan (a repeat of a :class:`RunSpec` has its own)."""

    spec: RunSpec
    key: str
    label: str
    seed_index: int | None
    recipe: Path
    overrides: tuple[str, ...]
    config: object  # TrainConfig
    config_dict: dict
    run_dir: Path

    @property
    def finished(self) -> bool:
        state = self.run_dir / "trainer_state.json"
        if not state.is_file() or not (self.run_dir / "model.safetensors").is_file():
            return False
        try:
            return int(json.loads(state.read_text()).get("epoch", 0)) >= self.config.epochs
        except (ValueError, OSError):
            return False

    @property
    def digest(self) -> str:
        """The config hash that ends the directory name."""
        return self.run_dir.name.rsplit("-", 1)[-1]

    def describe(self) -> dict:
        return {
            "key": self.key, "label": self.label, "recipe": str(self.recipe), "overrides": list(self.overrides),
            "seed": self.config.seed, "run_dir": str(self.run_dir), "config_hash": self.digest,
        }


@dataclass
class PlannedEval:
    """One evaluation of one run (a profiled evaluation has one per chip)."""

    run: PlannedRun
    spec: EvalSpec
    settings: dict
    out_dir: Path

    @property
    def result_file(self) -> Path:
        return self.out_dir / RESULT_FILES.get(self.spec.kind, "robustness.json")

    @property
    def done(self) -> bool:
        return self.result_file.is_file()

    def describe(self) -> dict:
        return {"run": self.run.key, "eval": self.spec.key, "settings": self.settings, "dir": str(self.out_dir)}


@dataclass
class Plan:
    experiment: Experiment
    budget: str
    smoke: bool
    out: Path
    configs_dir: Path
    runs: dict[str, list[PlannedRun]] = field(default_factory=dict)  # run key -> repeats
    evals: dict[tuple[str, str], list[PlannedEval]] = field(default_factory=dict)  # (run key, eval key) -> ...

    @property
    def report_dir(self) -> Path:
        return self.out / self.experiment.name

    def all_runs(self) -> list[PlannedRun]:
        return [r for reps in self.runs.values() for r in reps]

    def all_evals(self) -> list[PlannedEval]:
        return [e for evs in self.evals.values() for e in evs]

    def unique_runs(self) -> list[PlannedRun]:
        """One run per directory (two keys with the same resolved config share one)."""
        seen: dict[Path, PlannedRun] = {}
        for r in self.all_runs():
            seen.setdefault(r.run_dir, r)
        return list(seen.values())

    def unique_evals(self) -> list[PlannedEval]:
        seen: dict[Path, PlannedEval] = {}
        for e in self.all_evals():
            seen.setdefault(e.out_dir, e)
        return list(seen.values())

    def section_rows(self, section) -> list[Row]:
        """The section's rows whose run is part of this plan (budget, smoke)."""
        return [r for r in self.experiment.section_rows(section) if r.run in self.runs]

    def describe(self) -> dict:
        exp = self.experiment
        return {
            "experiment": exp.name, "paper": exp.paper, "reproduces": exp.reproduces, "title": exp.title,
            "description": exp.description, "notes": list(exp.notes), "budget": self.budget, "smoke": self.smoke,
            "configs": str(self.configs_dir), "out": str(self.out),
            "runs": [r.describe() for r in self.all_runs()],
            "evaluations": [e.describe() for e in self.all_evals()],
            "sections": [
                {"key": s.key, "title": s.title, "kind": s.kind, "eval": s.eval, "extra_eval": s.extra_eval,
                 "rows": [{"run": r.run, "eval": r.eval or s.eval, "label": r.label} for r in self.section_rows(s)]}
                for s in exp.sections
            ],
        }


_RECIPE_CACHE: dict[tuple, dict] = {}
_CONFIG_CACHE: dict[tuple, tuple] = {}


def _resolved_recipe(path: Path, overrides: tuple[str, ...]) -> dict:
    """``apply_overrides(load_yaml(path), overrides)``, cached per (file version, overrides); a fresh copy.

    Parsed with libyaml where available (``--list`` plans hundreds of runs); anything
    unusual goes through :mod:`bitrobust.config` for its error messages.
    """
    key = (str(path), path.stat().st_mtime_ns, overrides)
    if key not in _RECIPE_CACHE:
        _RECIPE_CACHE[key] = _fast_recipe(path, overrides)
    return copy.deepcopy(_RECIPE_CACHE[key])


def _fast_recipe(path: Path, overrides: tuple[str, ...]) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(), Loader=loader)
        if not isinstance(data, dict):
            raise ValueError
        for item in overrides:  # the semantics of bitrobust.config.apply_overrides
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise ValueError
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError
            node[parts[-1]] = yaml.load(raw, Loader=loader)
        return data
    except (ValueError, yaml.YAMLError, OSError):
        return apply_overrides(load_yaml(path), overrides)  # raises the usual one-line error, or agrees


def _smoke_overrides(data: dict) -> list[str]:
    out = list(SMOKE_TRAIN)
    params = (data.get("strategy") or {}).get("params") or {}
    if "loss_threshold" in params:  # inject bit errors from the first step, to exercise RandBET
        out.append("strategy.params.loss_threshold=100")
    return out


def plan_run(spec: RunSpec, budget: str, out: Path, configs_dir: Path, smoke: bool, seed_index: int | None,
             dirs: dict[str, Path] | None = None) -> PlannedRun:
    """Resolve ``spec``'s config; its directory is ``out/runs/<key>.<budget>-<config hash>``, or the
    directory that already holds that config (under another key, or planned earlier: ``dirs``)."""
    from bitrobust.training import TrainConfig

    recipe = configs_dir / spec.recipe_path(budget)
    if not recipe.is_file():
        raise BitrobustError(f"recipe {spec.recipe_path(budget)} of run {spec.key!r} not found in {configs_dir}")
    overrides = list(spec.budget_overrides(budget))
    base_key = (str(recipe), recipe.stat().st_mtime_ns, tuple(overrides), smoke)
    if base_key not in _CONFIG_CACHE:
        data = _resolved_recipe(recipe, tuple(overrides))
        extra = _smoke_overrides(data) if smoke else []
        if extra:
            data = _resolved_recipe(recipe, tuple(overrides + extra))
        _CONFIG_CACHE[base_key] = (extra, from_dict(TrainConfig, data))
    extra, config = _CONFIG_CACHE[base_key]
    overrides += extra
    if seed_index is not None:  # the override seed=i, without resolving the recipe again
        overrides.append(f"seed={seed_index}")
        config = dataclasses.replace(config, seed=seed_index)
    config_dict = to_dict(config)
    key = spec.key if seed_index is None else f"{spec.key}#seed{seed_index}"
    label = spec.label if seed_index is None else f"{spec.label} (seed {seed_index})"
    digest = _hash(config_dict)
    dirs = {} if dirs is None else dirs
    if digest not in dirs:
        root = out / "runs"
        existing = [d for d in sorted(root.glob(f"*-{digest}")) if d.is_dir()] if root.is_dir() else []
        name = spec.key + ("" if seed_index is None else f"-seed{seed_index}") + f".{budget}-{digest}"
        dirs[digest] = existing[0] if existing else root / name
    return PlannedRun(spec, key, label, seed_index, recipe, tuple(overrides), config, config_dict, dirs[digest])


def eval_settings(spec: EvalSpec, run: PlannedRun, budget: str, smoke: bool) -> list[dict]:
    """Resolved settings of ``spec`` for ``run`` (one dict per profiled chip, else one)."""
    cfg = run.config
    test_subset = for_budget(spec.test_subset, budget)
    if smoke:
        test_subset = min(test_subset or SMOKE_TEST_SUBSET, SMOKE_TEST_SUBSET)
    base: dict = {"kind": spec.kind, "test_subset": test_subset}
    if spec.kind in ("random", "transient", "linf"):
        rates = for_budget(spec.rates, budget)
        rates = list(rates) if rates else list(cfg.eval.rates)
        chips = for_budget(spec.chips, budget) or cfg.eval.chips
        if smoke:
            rates = sorted({rates[0], rates[-1]})
            chips = min(chips, 2)
        base.update(rates=[float(p) for p in rates], chips=int(chips))
        if spec.kind != "linf":
            base["first_chip"] = spec.first_chip
    if spec.kind in ("random", "transient", "linf", "profiled", "weights"):
        base.update(scheme=spec.scheme, bits=spec.bits)
        if spec.batch_stats:
            base["batch_stats"] = True
        if spec.scale_to is not None:
            base["scale_to"] = float(spec.scale_to)
    if spec.kind == "bnn_metrics":
        base["bs"] = [float(b) for b in spec.bs]
    if spec.kind == "weights":  # the relative absolute error of Fig. 10 at p = 1 % (experiments/evaluate.py)
        base.update(rae_p=0.01, rae_chips=2 if smoke else 10)
    if spec.kind != "profiled":
        return [base]
    offsets = int(for_budget(spec.offsets, budget) or 10)
    chips = list(spec.paper_chips)
    if smoke:
        offsets, chips = min(offsets, 2), chips[:2]
    if spec.persistent:
        base["persistent"] = True
    return [dict(base, chip=name, chip_seed=spec.chip_seed, offsets=offsets) for name in chips]


def make_plan(exp: Experiment, budget: str, out: str | os.PathLike, configs_dir: Path, smoke: bool = False) -> Plan:
    """Resolve the runs and evaluations ``exp`` needs for ``budget`` (see the module docstring)."""
    if budget not in BUDGETS:
        raise BitrobustError(f"unknown budget {budget!r}; valid: {', '.join(BUDGETS)}")
    plan = Plan(exp, budget, smoke, Path(out), configs_dir)
    wanted = set(exp.smoke_runs) if smoke and exp.smoke_runs else None
    dirs: dict[str, Path] = {}
    needed: list[tuple[str, str]] = []
    for section in exp.sections:
        for row in exp.section_rows(section):
            spec = exp.run(row.run)
            if budget not in spec.budgets or (wanted is not None and row.run not in wanted):
                continue
            if row.run not in plan.runs:
                n = spec.n_repeats(budget) if not smoke else 1
                plan.runs[row.run] = [
                    plan_run(spec, budget, plan.out, configs_dir, smoke, None if n == 1 else i, dirs) for i in range(n)
                ]
            for key in (row.eval or section.eval, section.extra_eval):
                if key is not None and (row.run, key) not in needed:
                    needed.append((row.run, key))
    if not plan.runs:
        raise BitrobustError(f"experiment {exp.name} has no runs in the {budget} budget")
    for run_key, eval_key in needed:
        spec = exp.eval(eval_key)
        for run in plan.runs[run_key]:
            for settings in eval_settings(spec, run, budget, smoke):
                slug = spec.kind + (f"-{settings['chip']}" if "chip" in settings else "")
                plan.evals.setdefault((run.key, eval_key), []).append(
                    PlannedEval(run, spec, settings, run.run_dir / "evals" / f"{slug}-{_hash(settings)}")
                )
    return plan


# ----------------------------------------------------------------------------- running


@contextlib.contextmanager
def _data_env(data_dir: str | os.PathLike | None):
    """$BITROBUST_DATA = data_dir while training (kept out of the configs, so out of their hashes)."""
    from bitrobust.data.storage import ENV_VAR

    if not data_dir:
        yield
        return
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(data_dir)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = old


@contextlib.contextmanager
def claimed(directory: Path, wait: bool = True):
    """Hold an exclusive lock on ``directory`` (file ``<directory>.lock``) for the ``with`` block,
    which receives True; with ``wait=False`` it receives False at once if another process holds
    the lock. Locks are per process (flock), for ``reproduce`` runs side by side, not for the
    ranks of one torchrun job; a no-op (always True) where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _adopt_twin(run: PlannedRun) -> None:
    """If another process created a directory for the same config (under another experiment's
    key) after this plan was made, link ``run.run_dir`` to it, so the model is trained once."""
    if run.run_dir.is_symlink() and not run.run_dir.exists():  # its twin was deleted
        run.run_dir.unlink()
    if os.path.lexists(run.run_dir):
        return
    twins = [d for d in sorted(run.run_dir.parent.glob(f"*-{run.digest}")) if d.is_dir()]
    if twins:
        run.run_dir.symlink_to(twins[0].name, target_is_directory=True)


def train(run: PlannedRun, data_dir=None, progress: bool = True, wait: bool = True,
          announce: Callable[[], None] | None = None) -> bool | None:
    """Train (or finish training) ``run``: True when trained, False when it was already finished
    (perhaps by another process that held the config's lock meanwhile), None when ``wait`` is
    False and another process holds the lock. ``announce`` is called just before training."""
    from bitrobust.training import Trainer

    with claimed(run.run_dir.parent / run.digest, wait) as held:
        if not held:
            return None
        _adopt_twin(run)
        if run.finished:
            return False
        if announce is not None:
            announce()
        with _data_env(data_dir):
            Trainer(run.config, run.run_dir, progress=progress).fit(resume=True)
    return True


def _busy_last(items: list, attempt: Callable[[object, bool], bool]) -> None:
    """``attempt(item, wait)`` for every item; items another process holds (attempt returns
    False without waiting) are retried at the end, then waiting for them."""
    later = [item for item in items if not attempt(item, False)]
    for item in later:
        attempt(item, True)


def reproduce(
    exp: Experiment,
    budget: str = "quick",
    out: str | os.PathLike | None = None,
    configs_dir: str | os.PathLike | None = None,
    smoke: bool = False,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    log: Log = print,
) -> Plan:
    """Train and evaluate what is missing for ``exp`` and write its report; returns the plan.

    Runs and evaluations that another ``reproduce`` process is working on are left for last."""
    from bitrobust.experiments.evaluate import evaluate
    from bitrobust.experiments.report_input import report_input
    from bitrobust.reports.experiment import write_experiment_report
    from bitrobust.io import write_text

    configs = find_configs_dir(configs_dir)
    out = Path(out) if out else default_out(budget, smoke)
    plan = make_plan(exp, budget, out, configs, smoke)
    plan.report_dir.mkdir(parents=True, exist_ok=True)
    write_text(plan.report_dir / "experiment.yaml", dump_yaml(plan.describe()))
    runs, evals = plan.unique_runs(), plan.unique_evals()
    log(f"{exp.name}: {exp.reproduces} -- {exp.title}")
    log(f"budget {budget}{' (smoke)' if smoke else ''}: {len(runs)} runs, {len(evals)} evaluations; output in {out}")
    start = time.perf_counter()

    def train_one(item, wait: bool) -> bool:
        i, run = item
        head = f"[train {i}/{len(runs)}] {run.label}: {run.run_dir.name}"
        if not wait and run.finished:
            log(f"{head} -- finished earlier, skipped")
            return True
        resuming = ", resuming" if (run.run_dir / "trainer_state.json").exists() else ""
        epochs = f"{run.config.epochs} epoch{'s' if run.config.epochs != 1 else ''}"
        t0 = time.perf_counter()
        outcome = train(run, data_dir, progress, wait, lambda: log(f"{head} ({epochs}{resuming})"))
        if outcome is None:
            log(f"{head} -- another process is training it; later")
            return False
        log(f"    trained in {_duration(time.perf_counter() - t0)}" if outcome else f"{head} -- finished by another process")
        return True

    def evaluate_one(item, wait: bool) -> bool:
        i, ev = item
        head = f"[eval {i}/{len(evals)}] {ev.run.label}: {_eval_summary(ev.settings)}"
        if not wait and ev.done:
            log(f"{head} -- done earlier, skipped")
            return True
        t0 = time.perf_counter()
        with claimed(ev.out_dir, wait) as held:
            if not held:
                log(f"{head} -- another process is running it; later")
                return False
            if ev.done:
                log(f"{head} -- done by another process")
                return True
            log(head)
            line = evaluate(ev, data_dir=data_dir, progress=progress)
        log(f"    {line} ({_duration(time.perf_counter() - t0)})")
        return True

    _busy_last(list(enumerate(runs, 1)), train_one)
    _busy_last(list(enumerate(evals, 1)), evaluate_one)
    paths = write_experiment_report(report_input(plan), plan.report_dir)
    log(f"report: {paths[0]} ({_duration(time.perf_counter() - start)} in all)")
    return plan


def default_out(budget: str, smoke: bool = False) -> Path:
    return Path(DEFAULT_OUT) / (f"{budget}-smoke" if smoke else budget)


def _eval_summary(s: dict) -> str:
    kind = s["kind"]
    n = f" on {s['test_subset']} test images" if s.get("test_subset") else " on the test set"
    extra = "".join(
        f", {label}" for key, label in (("scheme", f"scheme {s.get('scheme')}"), ("bits", f"m={s.get('bits')}"),
                                         ("batch_stats", "batch statistics"), ("scale_to", f"scaled to {s.get('scale_to')}"))
        if s.get(key)
    )
    if kind in ("random", "transient", "linf"):
        sym = "eps" if kind == "linf" else "p"
        rates = ",".join(f"{100 * p:g}%" for p in s["rates"])
        first = f" from chip {s['first_chip']}" if s.get("first_chip") else ""
        unit = {"random": "chip", "transient": "read", "linf": "trial"}[kind] + ("s" if s["chips"] != 1 else "")
        return f"{kind} {sym}={rates} x {s['chips']} {unit}{first}{extra}{n}"
    if kind == "profiled":
        persistent = ", persistent errors only" if s.get("persistent") else ""
        return f"profiled chip {s['chip']} x {s['offsets']} offsets{persistent}{extra}{n}"
    if kind == "bnn_metrics":
        return f"T^b, Pi, VAR(Pi){n}"
    return f"weight statistics{extra}{n}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- runtime estimates

# Seconds per training step (the recipe's batch) and per pass over 10k test images.
# CPU: measured on this project's shared 2-core machine with one thread
# (cnn_small, ResNet-20 at half width on MNIST; BNNs on Fashion-MNIST).
CPU_COSTS = {
    "cnn_small": (0.22, 14.0),
    "resnet20": (2.9, 64.0),  # measured at width 0.5 (0.72 s, 16 s), x4 for width 1; scales ~ width^2
    "bnn_fc": (0.023, 0.31),  # FC256-FC256-10; scales ~ width
    "bnn_cnn": (0.077, 3.0),  # C16-MP2-C16-MP2-FC512-10; scales ~ conv width
}
# GPU: not measured (no GPU was available when these were written) -- rough guesses
# for one modern data-centre GPU, batch 128, fake quantization in the loop.
GPU_COSTS = {
    "cnn_small": (0.004, 0.05),
    "simplenet_mnist": (0.012, 0.3),
    "simplenet_cifar": (0.025, 0.8),
    "resnet20": (0.015, 0.4),
    "resnet50": (0.06, 2.0),
    "wrn28_10": (0.10, 2.5),
    "bnn_fc": (0.004, 0.05),
    "bnn_cnn": (0.006, 0.15),
}
# Floors per step and per 10k-image pass: small models do not get faster than this.
FLOORS = {"cpu": (0.005, 0.05), "gpu": (0.003, 0.03)}
TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000}
TEST_SIZE = 10000
_TWO_PASS = ("randbet", "curricular_randbet", "alternating_randbet", "pattbet")  # clean + perturbed pass (measured 2.0x)


def _cost_key(config) -> tuple[str, float]:
    """(cost table key, relative size) of a config's model."""
    name, kwargs = config.model.name, config.model.kwargs
    if name == "bnn":
        arch = str(kwargs.get("arch", ""))
        first = arch.split("-")[0]
        width = int("".join(ch for ch in first if ch.isdigit()) or 1)
        return ("bnn_cnn", width / 16) if first.startswith("C") else ("bnn_fc", width / 256)
    return name, float(kwargs.get("width", 1.0)) ** 2


def estimate_seconds(plan: Plan, device: str) -> float | None:
    """Estimated wall time of the whole plan (training + evaluations) on ``device`` ("cpu"/"gpu")."""
    costs = CPU_COSTS if device == "cpu" else GPU_COSTS
    floor_step, floor_pass = FLOORS[device]
    total = 0.0
    for run in plan.unique_runs():
        cfg = run.config
        key, scale = _cost_key(cfg)
        if key not in costs:
            return None
        step, pass10k = max(floor_step, costs[key][0] * scale), max(floor_pass, costs[key][1] * scale)
        n_train = cfg.data.train_subset or TRAIN_SIZES.get(cfg.data.name, 50000)
        steps = math.ceil(n_train / cfg.data.batch_size)
        if cfg.max_steps:
            steps = min(steps, cfg.max_steps)
        factor = 2.0 if cfg.strategy.name in _TWO_PASS else 1.0
        test = min(cfg.data.test_subset or TEST_SIZE, TEST_SIZE)
        total += cfg.epochs * (steps * step * factor + pass10k * test / TEST_SIZE)
    for ev in plan.unique_evals():
        key, scale = _cost_key(ev.run.config)
        s = ev.settings
        passes = {
            "random": lambda: 1 + s["chips"] * len([p for p in s["rates"] if p > 0]),
            "transient": lambda: 1 + s["chips"] * len([p for p in s["rates"] if p > 0]),
            "linf": lambda: 1 + s["chips"] * len(s["rates"]),
            "profiled": lambda: 1 + s["offsets"],
            "bnn_metrics": lambda: 4,
            "weights": lambda: 1,
        }[s["kind"]]()
        total += passes * max(floor_pass, costs[key][1] * scale) * (s.get("test_subset") or TEST_SIZE) / TEST_SIZE
    return total


def estimate_text(exp: Experiment, configs_dir: Path | None) -> dict[str, str]:
    """{"quick": "~25 min CPU (estimate)", "full": "~30 h GPU (estimate)"} (or "?" without recipes)."""
    out = {}
    for budget, device in (("quick", "cpu"), ("full", "gpu")):
        try:
            if configs_dir is None:
                raise BitrobustError("no recipes")
            seconds = estimate_seconds(make_plan(exp, budget, Path("."), configs_dir), device)
        except BitrobustError:
            seconds = None
        out[budget] = "?" if seconds is None else f"~{_rough(seconds)} {device.upper()}"
    return out


def _rough(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return "1 min"
    if minutes < 90:
        return f"{max(1, round(minutes / 5) * 5) if minutes > 10 else round(minutes)} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} d"
