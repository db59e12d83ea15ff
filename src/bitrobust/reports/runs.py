"""Load evaluated run directories for reports: the robustness result plus a readable model name.

A run directory holds ``robustness.json`` (written by ``bitrobust eval``), and usually
``model.json`` (checkpoint metadata, with the resolved training config) and
``config.yaml``. The readable name follows paper 3's notation (Tab. 18): NORMAL, RQUANT,
CLIPPING_w_max, RANDBET_w_max p=..., +LS, derived from the training config; without a
config the directory name is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from bitrobust.config import load_yaml
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.io import read_json

RESULT_FILE = "robustness.json"
NAME_SOURCES = ("config", "dir")


@dataclass(frozen=True)
class Run:
    """One evaluated model: its display name, where it came from and its robustness result."""

    name: str
    path: Path
    result: RobustnessResult
    config: dict = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return self.result.bits


def example_run(name: str, err: float, rerr: Sequence[float], p: float = 0.01, bits: int = 8) -> Run:
    """A hand-made run with one rate p, for examples: RErr per chip ``rerr``, n = 1000 test examples.

    >>> example_run("A", 0.05, (0.2, 0.3)).result.rate(0.01).mean
    0.25
    """
    rates = (RateResult(p, tuple(rerr), tuple(0.8 for _ in rerr)),)
    return Run(name, Path(name), RobustnessResult(err, 0.9, 1000, "random", len(rerr), bits, {}, rates))


def _fmt(x: float) -> str:
    return f"{x:g}"


def display_name(config: dict) -> str | None:
    """Paper-3 style name from a resolved training config (dict), or None if it says too little.

    normal strategy: NORMAL / RQUANT by quantization scheme, CLIPPING_w with clip_w_max;
    other strategies: their name upper-cased, _w_max if clipped, p=...% if trained with
    bit errors; " +LS" with label smoothing.
    """
    strategy = config.get("strategy") if isinstance(config, dict) else None
    if not isinstance(strategy, dict) or not isinstance(strategy.get("name"), str):
        return None
    quant = config.get("quant") if isinstance(config.get("quant"), dict) else {}
    scheme = str(quant.get("scheme", "rquant"))
    w_max = strategy.get("clip_w_max")
    params = strategy.get("params") if isinstance(strategy.get("params"), dict) else {}
    kind = strategy["name"]
    if kind == "normal":
        if w_max:
            name = f"CLIPPING_{_fmt(w_max)}" + ("" if scheme == "rquant" else f" [{scheme}]")
        else:
            name = {"normal": "NORMAL", "rquant": "RQUANT"}.get(scheme, scheme.upper())
    else:
        name = kind.upper() + (f"_{_fmt(w_max)}" if w_max else "")
        p = params.get("p")
        if isinstance(p, (int, float)) and p > 0:
            name += f" p={_fmt(100 * p)}%"
    if strategy.get("label_smoothing"):
        name += " +LS"
    return name


def _find_config(run_dir: Path) -> dict:
    """The run's resolved training config: config.yaml, else model.json's "config", else {}."""
    if (run_dir / "config.yaml").is_file():
        return load_yaml(run_dir / "config.yaml")
    if (run_dir / "model.json").is_file():
        meta = read_json(run_dir / "model.json", "checkpoint metadata")
        if isinstance(meta, dict) and isinstance(meta.get("config"), dict):
            return meta["config"]
    return {}


def _with_first_chip(data, eval_config: Path):
    """A result written before results recorded their first chip takes it from its ``eval_config.json``."""
    if not isinstance(data, dict) or "first_chip" in data or not eval_config.is_file():
        return data
    config = read_json(eval_config, "evaluation settings")
    first = config.get("first_chip") if isinstance(config, dict) and config.get("kind") in ("random", "transient") else None
    return {**data, "first_chip": first} if isinstance(first, int) else data


def load_run(path: str | Path, name_from: str = "config") -> Run:
    """Read ``robustness.json`` of a run directory (or the given result file) and name the run."""
    if name_from not in NAME_SOURCES:
        raise BitrobustError(f"unknown name source {name_from!r}; valid: {', '.join(NAME_SOURCES)}")
    path = Path(path)
    result_file = path / RESULT_FILE if path.is_dir() else path
    if not result_file.is_file():
        raise BitrobustError(f"no {RESULT_FILE} in {path}: run `bitrobust eval {path}` first")
    data = read_json(result_file, "robustness result")
    data = _with_first_chip(data, result_file.parent / "eval_config.json")
    try:
        result = RobustnessResult.from_dict(data)
        evaluated = any(r.p > 0 for r in result.rates) and all(len(r.rerr) for r in result.rates)
    except (KeyError, TypeError, ValueError) as exc:
        raise BitrobustError(f"{result_file} is not a robustness result (bad or missing field {exc})") from None
    if not evaluated:
        raise BitrobustError(f"{result_file} has no RErr values at a rate p > 0")
    run_dir = result_file.parent
    config = _find_config(run_dir)
    name = display_name(config) if name_from == "config" else None
    return Run(name or run_dir.resolve().name, run_dir, result, config)


def load_runs(paths: Sequence[str | Path], name_from: str = "config") -> list[Run]:
    """Load several runs; names that collide get the directory name (then a counter) appended."""
    runs = [load_run(p, name_from) for p in paths]
    if not runs:
        raise BitrobustError("no run directories given")
    counts = _counts(runs)
    runs = [
        Run(f"{r.name} ({r.path.resolve().name})", r.path, r.result, r.config)
        if counts[r.name] > 1 and r.name != r.path.resolve().name else r
        for r in runs
    ]
    counts, seen, out = _counts(runs), {}, []
    for r in runs:
        if counts[r.name] > 1:
            seen[r.name] = seen.get(r.name, 0) + 1
            r = Run(f"{r.name} #{seen[r.name]}", r.path, r.result, r.config)
        out.append(r)
    return out


def _counts(runs: list[Run]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.name] = counts.get(r.name, 0) + 1
    return counts
