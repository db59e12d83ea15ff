"""Running a plan: train what is missing, evaluate what is missing, write the report.

Training resumes after the last finished epoch (``Trainer.fit(resume=True)``) and is skipped
when all epochs are done; an evaluation is skipped when its result file exists. Several
``reproduce`` processes may share one output directory: each training config
(``runs/<hash>.lock``) and evaluation (``<dir>.lock``) is claimed with an exclusive file lock
(``filelock``), so a run two experiments need is trained once, by whichever process reaches
it first, while the other works on something else first (the evaluations of finished runs
included) and then skips it (linking its planned directory to the other's if their names differ). Locks are per process, for
``reproduce`` runs side by side, not for the ranks of one torchrun job.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from bitrobust.config import dump_yaml
from bitrobust.console import duration
from bitrobust.evaluation import evaluate
from bitrobust.experiments.plan import Plan, PlannedEval, PlannedRun, default_out, make_plan
from bitrobust.experiments.recipes import find_configs_dir
from bitrobust.experiments.report_input import report_input
from bitrobust.experiments.spec import Experiment
from bitrobust.io import write_text
from bitrobust.reports.experiment import write_experiment_report
from bitrobust.training import Trainer

Log = Callable[[str], None]


@contextlib.contextmanager
def claimed(directory: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``directory`` (file ``<directory>.lock``) for the ``with`` block,
    which receives True; with ``wait=False`` it receives False at once if another process holds
    the lock."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory.parent / f"{directory.name}.lock", timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


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
    with claimed(run.run_dir.parent / run.digest, wait) as held:
        if not held:
            return None
        _adopt_twin(run)
        if run.finished:
            return False
        if announce is not None:
            announce()
        Trainer(run.config, run.run_dir, progress=progress, data_dir=data_dir).fit(resume=True)
    return True


def run_evaluation(ev: PlannedEval, data_dir=None, progress: bool = True, batch_size: int | None = None) -> str:
    """Run planned evaluation ``ev`` and write its files; returns the kind's one-line summary."""
    outcome = evaluate(ev.run.run_dir, ev.settings, ev.out_dir, data_dir=data_dir, progress=progress,
                       label=ev.run.label, batch_size=batch_size)
    return ev.kind.summary(outcome, ev.settings)


def _busy_last(items: list, attempt: Callable[[object, bool], bool]) -> None:
    """``attempt(item, wait)`` for every item; items another process holds (attempt returns
    False without waiting) are retried at the end, then waiting for them."""
    later = [item for item in items if not attempt(item, False)]
    for item in later:
        attempt(item, True)


def work_through(runs: list, evals: list, train_one: Callable[[object, bool], bool],
                 evaluate_one: Callable[[object, bool], bool], trained: Callable[[object], bool]) -> None:
    """Trainings, then evaluations, each first without waiting for what another process holds;
    the evaluations of runs already ``trained`` come before waiting for those trainings, so a
    second process works on them meanwhile instead of idling.

    >>> calls = []
    >>> def train_one(r, wait): calls.append(("train", r, wait)); return wait or r != 2  # run 2: held elsewhere
    >>> def evaluate_one(e, wait): calls.append(("eval", e, wait)); return True
    >>> work_through([1, 2], [1, 2], train_one, evaluate_one, trained=lambda e: e != 2)
    >>> calls  # doctest: +NORMALIZE_WHITESPACE
    [('train', 1, False), ('train', 2, False), ('eval', 1, False), ('train', 2, True), ('eval', 2, False)]
    """
    later_runs = [run for run in runs if not train_one(run, False)]
    later_evals = [ev for ev in evals if not (trained(ev) and evaluate_one(ev, False))]
    for run in later_runs:
        train_one(run, True)
    _busy_last(later_evals, evaluate_one)


def reproduce(
    exp: Experiment,
    budget: str = "quick",
    out: str | os.PathLike | None = None,
    configs_dir: str | os.PathLike | None = None,
    smoke: bool = False,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    log: Log = print,
    batch_size: int | None = None,
) -> Plan:
    """Train and evaluate what is missing for ``exp`` and write its report; returns the plan.

    Runs and evaluations that another ``reproduce`` process is working on are left for last."""
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
        resuming = ", resuming" if (run.run_dir / "trainer_state.safetensors").exists() else ""
        epochs = f"{run.config.epochs} epoch{'s' if run.config.epochs != 1 else ''}"
        t0 = time.perf_counter()
        outcome = train(run, data_dir, progress, wait, lambda: log(f"{head} ({epochs}{resuming})"))
        if outcome is None:
            log(f"{head} -- another process is training it; later")
            return False
        log(f"    trained in {duration(time.perf_counter() - t0)}" if outcome else f"{head} -- finished by another process")
        return True

    def evaluate_one(item, wait: bool) -> bool:
        i, ev = item
        head = f"[eval {i}/{len(evals)}] {ev.run.label}: {ev.kind.describe(ev.settings)}"
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
            line = run_evaluation(ev, data_dir=data_dir, progress=progress, batch_size=batch_size)
        log(f"    {line} ({duration(time.perf_counter() - t0)})")
        return True

    work_through(list(enumerate(runs, 1)), list(enumerate(evals, 1)), train_one, evaluate_one,
                 trained=lambda item: item[1].run.finished)
    paths = write_experiment_report(report_input(plan), plan.report_dir)
    log(f"report: {paths[0]} ({duration(time.perf_counter() - start)} in all)")
    return plan
