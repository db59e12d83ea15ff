"""Plans: which training runs and evaluations an experiment needs, and where their files go.

Layout under the output directory ``OUT`` (default ``runs/reproduce/<budget>``):

    OUT/runs/<recipe>-<hash>/                  one training run (config.yaml, model, ...);
        evals/<kind>-<hash>/robustness.json    one evaluation of it (or metrics.json, weights.json)
    OUT/<NAME>/                                the experiment's report, tables, figures and
        experiment.yaml                        its resolved definition

The hashes are of the resolved training config and evaluation settings, so a model that
several experiments share is trained once, and changing a recipe or an override trains a
new model instead of resuming a different one. ``smoke=True`` shrinks everything (200
training and 100 test images, 1 epoch of 2 steps, 2 chips, 2 rates, at most 2 seeds, one bit position of a
vulnerability map) to exercise
the whole pipeline in seconds. A plan is data only: :mod:`bitrobust.experiments.schedule` runs it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bitrobust.config import apply_overrides, from_dict, load_yaml, to_dict
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import EVAL_KINDS
from bitrobust.experiments.recipes import RECIPES_DIR, recipes_label
from bitrobust.experiments.spec import BUDGETS, EvalSpec, Experiment, Row, RunSpec, for_budget
from bitrobust.training import TrainConfig

SMOKE_TRAIN = ("epochs=1", "max_steps=2", "data.train_subset=200", "data.test_subset=100", "data.batch_size=32")
SMOKE_TEST_SUBSET = 100
SMOKE_REPEATS = 2  # a repeated run keeps two seeds in a smoke run, so seed pairing is exercised
DEFAULT_OUT = "runs/reproduce"


def config_hash(obj) -> str:
    """The 8-hex-digit hash of a JSON-able object that ends run and evaluation directory names."""
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
    config: TrainConfig
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

    def describe(self, relative_to: Path) -> dict:
        """Recipe by name, run directory relative to ``relative_to`` (no absolute paths in result files)."""
        recipe = self.recipe.with_suffix("").name if not self.recipe.is_relative_to(RECIPES_DIR) else \
            self.recipe.relative_to(RECIPES_DIR).with_suffix("").as_posix()
        return {
            "key": self.key, "label": self.label, "recipe": recipe, "overrides": list(self.overrides),
            "seed": self.config.seed, "run_dir": os.path.relpath(self.run_dir, relative_to), "config_hash": self.digest,
        }


@dataclass
class PlannedEval:
    """One evaluation of one run (a profiled evaluation has one per chip); ``settings`` are the
    frozen settings of its evaluation kind."""

    run: PlannedRun
    spec: EvalSpec
    settings: object
    out_dir: Path

    @property
    def kind(self):
        return EVAL_KINDS.get(self.spec.kind)

    @property
    def result_file(self) -> Path:
        return self.out_dir / self.kind.result_file

    @property
    def done(self) -> bool:
        return self.result_file.is_file()

    def describe(self, relative_to: Path) -> dict:
        return {"run": self.run.key, "eval": self.spec.key, "settings": self.settings.to_dict(),
                "dir": os.path.relpath(self.out_dir, relative_to)}


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
        """The resolved definition (``experiment.yaml``): paths relative to the report directory."""
        exp = self.experiment
        return {
            "experiment": exp.name, "paper": exp.paper, "reproduces": exp.reproduces, "title": exp.title,
            "description": exp.description, "notes": list(exp.notes), "budget": self.budget, "smoke": self.smoke,
            "configs": recipes_label(self.configs_dir), "out": os.path.relpath(self.out, self.report_dir),
            "runs": [r.describe(self.report_dir) for r in self.all_runs()],
            "evaluations": [e.describe(self.report_dir) for e in self.all_evals()],
            "sections": [
                {"key": s.key, "title": s.title, "kind": s.kind, "eval": s.eval, "extra_eval": s.extra_eval,
                 "rows": [{"run": r.run, "eval": r.eval or s.eval, "label": r.label} for r in self.section_rows(s)]}
                for s in exp.sections
            ],
        }


def _smoke_overrides(data: dict) -> list[str]:
    out = list(SMOKE_TRAIN)
    params = (data.get("strategy") or {}).get("params") or {}
    if "loss_threshold" in params:  # inject bit errors from the first step, to exercise RandBET
        out.append("strategy.params.loss_threshold=100")
    return out


def plan_run(spec: RunSpec, budget: str, out: Path, configs_dir: Path, smoke: bool, seed_index: int | None,
             dirs: dict[str, Path] | None = None) -> PlannedRun:
    """Resolve ``spec``'s config; its directory is ``out/runs/<key>.<budget>-<config hash>`` (repeat i >= 1:
    ``<key>-seed<i>.<budget>-<hash>``; seed 0 of a recipe with seed 0 has the single run's config, hash and
    directory, so adding repeats reuses a finished run), or the directory that already holds that config
    (under another key, or planned earlier: ``dirs``)."""
    recipe = configs_dir / spec.recipe_path(budget)
    if not recipe.is_file():
        raise BitrobustError(f"recipe {spec.recipe_path(budget)} of run {spec.key!r} not found in {configs_dir}")
    overrides = list(spec.budget_overrides(budget))
    data = apply_overrides(load_yaml(recipe), overrides)
    if smoke:
        extra = _smoke_overrides(data)
        overrides += extra
        data = apply_overrides(data, extra)
    if seed_index is not None:
        overrides.append(f"seed={seed_index}")
    config = from_dict(TrainConfig, data)
    if seed_index is not None:
        config = dataclasses.replace(config, seed=seed_index)
    config_dict = to_dict(config)
    key = spec.key if seed_index is None else f"{spec.key}#seed{seed_index}"
    label = spec.label if seed_index is None else f"{spec.label} (seed {seed_index})"
    digest = config_hash(config_dict)
    dirs = {} if dirs is None else dirs
    if digest not in dirs:
        root = out / "runs"
        existing = [d for d in sorted(root.glob(f"*-{digest}")) if d.is_dir()] if root.is_dir() else []
        name = spec.key + (f"-seed{seed_index}" if seed_index else "") + f".{budget}-{digest}"  # seed 0: the single run's
        dirs[digest] = existing[0] if existing else root / name
    return PlannedRun(spec, key, label, seed_index, recipe, tuple(overrides), config, config_dict, dirs[digest])


def _shrunk(settings):
    """The smoke form of evaluation settings: 2 chips / offsets / trials, the first and last rate, 100 test images;
    a vulnerability map only bit position 0 (or the first of its positions)."""
    changes: dict = {"test_subset": min(settings.test_subset or SMOKE_TEST_SUBSET, SMOKE_TEST_SUBSET)}
    if hasattr(settings, "positions"):
        changes["positions"] = tuple(settings.positions[:1]) or (0,)
    for name in ("chips", "offsets", "rae_chips"):
        if hasattr(settings, name):
            changes[name] = min(getattr(settings, name), 2)
    if hasattr(settings, "rates"):
        changes["rates"] = tuple(sorted({settings.rates[0], settings.rates[-1]}))
    return dataclasses.replace(settings, **changes)


def eval_settings(spec: EvalSpec, run: PlannedRun, budget: str, smoke: bool) -> list:
    """The frozen settings of ``spec``'s evaluation kind for ``run`` (one per profiled chip, else one):
    every field of the kind's settings that ``spec`` sets, for ``budget``; the rest from the run's
    recipe (its ``eval`` section) or the kind's defaults."""
    kind = EVAL_KINDS.get(spec.kind)
    names = [f.name for f in dataclasses.fields(kind.settings_type) if f.name != "kind"]
    values = {n: for_budget(getattr(spec, n), budget) for n in names if hasattr(spec, n)}
    chips = list(spec.paper_chips)[: 2 if smoke else None] if "chip" in names else [None]
    out = []
    for chip in chips:
        settings = kind.settings(dict(values, chip=chip), to_dict(run.config.eval))
        out.append(_shrunk(settings) if smoke else settings)
    return out


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
                n = min(exp.n_repeats(spec, budget), SMOKE_REPEATS if smoke else 10**9)
                plan.runs[row.run] = [
                    plan_run(spec, budget, plan.out, configs_dir, smoke, None if n == 1 else i, dirs) for i in range(n)
                ]
            for key in (row.eval or section.eval, section.extra_eval):
                if key is not None and (row.run, key) not in needed:
                    needed.append((row.run, key))
    if not plan.runs and not any(s.model_free for s in exp.sections):
        raise BitrobustError(f"experiment {exp.name} has no runs in the {budget} budget")
    for run_key, eval_key in needed:
        spec = exp.eval(eval_key)
        for run in plan.runs[run_key]:
            for settings in eval_settings(spec, run, budget, smoke):
                d = settings.to_dict()
                slug = spec.kind + (f"-{d['chip']}" if "chip" in d else "")
                plan.evals.setdefault((run.key, eval_key), []).append(
                    PlannedEval(run, spec, settings, run.run_dir / "evals" / f"{slug}-{config_hash(d)}")
                )
    return plan


def default_out(budget: str, smoke: bool = False) -> Path:
    return Path(DEFAULT_OUT) / (f"{budget}-smoke" if smoke else budget)
