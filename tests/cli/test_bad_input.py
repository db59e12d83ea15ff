"""Adversarial inputs: every bad argument or input file of every subcommand is refused the way the README
promises -- one line on stderr starting with ``bitrobust: error:``, exit status 2, no traceback, and no file
created or changed.

Each row of :data:`CASES` names the command line (``{ws}`` is the case's workspace, ``{run}`` a trained tiny
run, ``{bnn}`` a trained tiny BNN, ``{evaluated}`` an evaluated run, ``{data}`` the dataset root) and the
files to prepare in the workspace. The test snapshots every file and folder (path, size, mtime) of the
workspace, of the runs and of the dataset root before the command, and compares after it. The workspace is
also the working directory and ``$XDG_CACHE_HOME``, so a default output path or a download into the user
cache would show up as a new file. Downloads are disabled (``urlopen`` raises).

argparse's own usage errors (a missing argument, a value its ``type=`` or ``choices=`` rejects) are printed by
argparse itself: the usage (wrapped over several lines) followed by one ``bitrobust CMD: error:`` line, exit
status 2. Those rows are marked ``usage=True`` and accepted in that form. A few rows also run as a real
subprocess (``subprocess=True``) to show that nothing reaches stderr beyond that one line.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from bitrobust.cli import main

Prepare = Callable[[Path, dict], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    files: tuple[Prepare, ...] = ()
    usage: bool = False  # an argparse usage error: usage lines, then one "error:" line
    subprocess: bool = False  # also run as `python -m bitrobust` in a fresh process
    message: str = ""  # a fragment the error line must contain


def case(id: str, argv: str, *files: Prepare, usage: bool = False, subprocess: bool = False, message: str = "") -> Case:
    return Case(id, tuple(argv.split()), files, usage, subprocess, message)


# ----------------------------------------------------------------------------- files to prepare


def text(rel: str, content: str) -> Prepare:
    return lambda ws, ctx: _write(ws / rel, content.encode())


def data(rel: str, content: bytes) -> Prepare:
    return lambda ws, ctx: _write(ws / rel, content)


def random_bytes(rel: str, n: int = 4096) -> Prepare:
    return data(rel, np.random.default_rng(0).bytes(n))


def folder(rel: str) -> Prepare:
    return lambda ws, ctx: (ws / rel).mkdir(parents=True, exist_ok=True)


def npy(rel: str, array: np.ndarray) -> Prepare:
    def prepare(ws: Path, ctx: dict) -> None:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(ws / rel, array)

    return prepare


def npz(rel: str, **arrays: np.ndarray) -> Prepare:
    def prepare(ws: Path, ctx: dict) -> None:
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        np.savez(ws / rel, **arrays)

    return prepare


def npy_header(shape: tuple[int, ...], descr: str = "<f4", payload: int = 64) -> bytes:
    """A .npy file whose header claims ``shape`` but that holds only ``payload`` bytes of data."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (127 - 10 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * payload


def huge_npz(rel: str) -> Prepare:
    def prepare(ws: Path, ctx: dict) -> None:
        with zipfile.ZipFile(ws / rel, "w") as z:
            for key in ("flip_0to1", "flip_1to0"):
                z.writestr(f"{key}.npy", npy_header((10**6, 10**6)))

    return prepare


def copy_run(rel: str, src: str = "run", meta=None, tensors: bytes | None = None,
             drop: tuple[str, ...] = ()) -> Prepare:
    """A copy of a trained run; ``meta(dict)`` edits model.json, ``tensors`` replaces model.safetensors."""

    def prepare(ws: Path, ctx: dict) -> None:
        dest = ws / rel
        shutil.copytree(ctx[src], dest)
        if meta is not None:
            info = json.loads((dest / "model.json").read_text())
            meta(info)
            (dest / "model.json").write_text(json.dumps(info))
        if tensors is not None:
            (dest / "model.safetensors").write_bytes(tensors)
        for name in drop:
            (dest / name).unlink()

    return prepare


def setter(path: str, value) -> Callable[[dict], None]:
    """An edit of model.json: set the dotted ``path`` to ``value``."""

    def edit(info: dict) -> None:
        *parents, last = path.split(".")
        node = info
        for p in parents:
            node = node[p]
        node[last] = value

    return edit


def corrupt_mnist(rel: str, bad: str) -> Prepare:
    """A data root with the MNIST files (links to the real ones), file ``bad`` corrupt."""

    def prepare(ws: Path, ctx: dict) -> None:
        (ws / rel / "mnist").mkdir(parents=True)
        for f in (ctx["data"] / "mnist").iterdir():
            (ws / rel / "mnist" / f.name).symlink_to(f)
        (ws / rel / "mnist" / bad).unlink()
        _write(ws / rel / "mnist" / bad, b"not the images")

    return prepare


def robustness(rel: str, edit: Callable[[dict], object]) -> Prepare:
    """An evaluated run whose robustness.json is replaced by ``edit(result)``."""

    def prepare(ws: Path, ctx: dict) -> None:
        dest = ws / rel
        shutil.copytree(ctx["evaluated"], dest)
        result = json.loads((dest / "robustness.json").read_text())
        (dest / "robustness.json").write_text(json.dumps(edit(result)))

    return prepare


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


TINY_RECIPE = "model: {name: cnn_small, kwargs: {channels: [4, 8]}}\ndata: {train_subset: 100, test_subset: 100}\n" \
              "epochs: 1\nmax_steps: 1\n"
R = text("r.yaml", TINY_RECIPE)
FILE = text("afile", "I am a file\n")

# ----------------------------------------------------------------------------- the cases

CASES = [
    # -- top level and argparse
    case("no-such-command", "fly", usage=True),
    case("eval-no-model", "eval", usage=True),
    case("eval-chips-zero", "eval {run} --chips 0", usage=True),
    case("eval-first-chip-negative", "eval {run} --first-chip -1", usage=True, subprocess=True),
    case("eval-batch-size-text", "eval {run} --batch-size many", usage=True),
    case("eval-kind-unknown", "eval {run} --kind cosmic", usage=True),
    case("eval-offsets-zero", "eval {run} --offsets 0", usage=True),
    case("eval-chip-seed-negative", "eval {run} --chip-seed -2", usage=True),
    case("eval-bits-text", "eval {run} --bits eight", usage=True),
    case("eval-scale-to-text", "eval {run} --scale-to big", usage=True),
    case("eval-test-subset-zero", "eval {run} --test-subset 0", usage=True),
    case("train-no-out", "train quickstart", usage=True),
    case("eval-subset-and-first", "eval {run} --test-subset 10 --test-first 20 --out {ws}/e", message="not both"),
    case("report-no-runs", "report --out {ws}/rep", message="not both or neither"),
    case("report-compare-one-side", "report --compare {evaluated} --out {ws}/rep", usage=True),
    case("report-names-unknown", "report {evaluated} --out {ws}/rep --names file", usage=True),
    case("energy-criterion-unknown", "energy {evaluated} --out {ws}/e --criterion median", usage=True),
    case("reproduce-budget-unknown", "reproduce p3-table1 --budget huge", usage=True),
    case("reproduce-batch-size-zero", "reproduce p3-table1 --batch-size 0", usage=True),
    case("metrics-batch-size-negative", "metrics {bnn} --batch-size -1", usage=True),
    case("quickstart-epochs-zero", "quickstart --epochs 0", usage=True),
    case("quickstart-chips-negative", "quickstart --chips -3", usage=True),
    case("quickstart-rates-out-of-range", "quickstart --rates 0.5,2", message="p must be in [0, 1]"),
    case("quickstart-rates-text", "quickstart --rates lots", message="invalid bit error rate"),
    # -- data
    case("data-check-unknown", "data check imagenet", message="valid: cifar10"),
    case("data-download-unknown", "data download imagenet --data-dir {ws}/d", message="valid: cifar10"),
    case("data-check-root-missing", "data check --data-dir {ws}/nowhere", message="nowhere"),
    case("data-check-root-file", "data check --data-dir {ws}/afile", FILE, message="not a directory"),
    case("data-download-root-file", "data download mnist --data-dir {ws}/afile", FILE, message="not a directory"),
    case("data-download-root-below-file", "data download mnist --data-dir {ws}/afile/sub", FILE, message="afile"),
    # -- recipes
    case("recipes-show-unknown", "recipes --show paper3/nothing", message="recipe not found"),
    case("recipes-show-binary", "recipes --show {ws}/bin.yaml", random_bytes("bin.yaml"), message="bin.yaml"),
    case("recipes-prefix-unknown", "recipes paper9/", message="no recipe starts with"),
    # -- train: the recipe file
    case("train-recipe-missing", "train {ws}/none.yaml --out {ws}/t", message="recipe not found"),
    case("train-recipe-directory", "train {ws}/dir --out {ws}/t", folder("dir"), message="directory"),
    case("train-recipe-binary", "train {ws}/bin.yaml --out {ws}/t", random_bytes("bin.yaml"), subprocess=True),
    case("train-recipe-empty", "train {ws}/e.yaml --out {ws}/t", text("e.yaml", ""), message="empty"),
    case("train-recipe-comments-only", "train {ws}/e.yaml --out {ws}/t", text("e.yaml", "# nothing\n"),
         message="empty"),
    case("train-recipe-list", "train {ws}/l.yaml --out {ws}/t", text("l.yaml", "- a\n- b\n"), message="mapping"),
    case("train-recipe-bad-yaml", "train {ws}/y.yaml --out {ws}/t", text("y.yaml", "model: {name: [\n"),
         message="YAML"),
    case("train-recipe-unknown-key", "train {ws}/u.yaml --out {ws}/t", text("u.yaml", "epochz: 2\n"), message="epochz"),
    case("train-recipe-section-not-mapping", "train {ws}/s.yaml --out {ws}/t", text("s.yaml", "optim: fast\n"),
         message="mapping"),
    case("train-recipe-huge-model", "train {ws}/h.yaml --out {ws}/t",
         text("h.yaml", "model: {name: cnn_small, kwargs: {width: 100000}}\n"), message="parameters"),
    # -- train: --set overrides
    case("train-set-no-equals", "train {ws}/r.yaml --out {ws}/t --set epochs", R, message="key=value"),
    case("train-set-epochs-text", "train {ws}/r.yaml --out {ws}/t --set epochs=two", R, message="epochs"),
    case("train-set-epochs-zero", "train {ws}/r.yaml --out {ws}/t --set epochs=0", R, message="epochs"),
    case("train-set-batch-size-zero", "train {ws}/r.yaml --out {ws}/t --set data.batch_size=0", R,
         message="data.batch_size"),
    case("train-set-test-batch-size-negative", "train {ws}/r.yaml --out {ws}/t --set data.test_batch_size=-5", R,
         message="data.test_batch_size"),
    case("train-set-train-subset-zero", "train {ws}/r.yaml --out {ws}/t --set data.train_subset=0", R,
         message="data.train_subset"),
    case("train-set-test-subset-negative", "train {ws}/r.yaml --out {ws}/t --set data.test_subset=-1", R,
         message="data.test_subset"),
    case("train-set-dataset-unknown", "train {ws}/r.yaml --out {ws}/t --set data.name=imagenet", R, message="imagenet"),
    case("train-set-raw-normalized", "train {ws}/r.yaml --out {ws}/t --set data.raw=true", R, message="normalize"),
    case("train-set-lr-negative", "train {ws}/r.yaml --out {ws}/t --set optim.lr=-1", R, message="optim.lr"),
    case("train-set-momentum-negative", "train {ws}/r.yaml --out {ws}/t --set optim.momentum=-0.5", R,
         message="optim.momentum"),
    case("train-set-weight-decay-negative", "train {ws}/r.yaml --out {ws}/t --set optim.weight_decay=-1", R,
         message="optim.weight_decay"),
    case("train-set-every-zero", "train {ws}/r.yaml --out {ws}/t --set optim.schedule=every --set optim.every=0", R,
         message="optim.every"),
    case("train-set-gamma-negative", "train {ws}/r.yaml --out {ws}/t --set optim.gamma=-0.1", R, message="optim.gamma"),
    case("train-set-milestone-out-of-range", "train {ws}/r.yaml --out {ws}/t --set optim.milestones=[0.5,2]", R,
         message="optim.milestones"),
    case("train-set-optimizer-unknown", "train {ws}/r.yaml --out {ws}/t --set optim.name=rmsprop", R,
         message="rmsprop"),
    case("train-set-schedule-unknown", "train {ws}/r.yaml --out {ws}/t --set optim.schedule=bogus", R, message="bogus"),
    case("train-set-nesterov-text", "train {ws}/r.yaml --out {ws}/t --set optim.nesterov=maybe", R, message="nesterov"),
    case("train-set-model-unknown", "train {ws}/r.yaml --out {ws}/t --set model.name=gpt5", R, message="gpt5"),
    case("train-set-model-kwargs-text", "train {ws}/r.yaml --out {ws}/t --set model.kwargs=oops", R,
         message="model.kwargs"),
    case("train-set-model-option-unknown", "train {ws}/r.yaml --out {ws}/t --set model.kwargs.depth=3", R,
         message="depth"),
    case("train-set-model-width-negative", "train {ws}/r.yaml --out {ws}/t --set model.kwargs.width=-1", R,
         message="width"),
    case("train-set-model-channels-text", "train {ws}/r.yaml --out {ws}/t --set model.kwargs.channels=wide", R,
         message="cnn_small"),
    case("train-set-model-huge", "train {ws}/r.yaml --out {ws}/t --set model.name=mlp --set model.kwargs={{}} "
         "--set model.kwargs.width=1000000",
         R, message="parameters", subprocess=True),
    case("train-set-bnn-no-arch", "train {ws}/r.yaml --out {ws}/t --set model.name=bnn --set model.kwargs={{}}", R,
         message="arch"),
    case("train-set-bits-nine", "train {ws}/r.yaml --out {ws}/t --set quant.bits=9", R, message="bits"),
    case("train-set-scheme-unknown", "train {ws}/r.yaml --out {ws}/t --set quant.scheme=fancy", R, message="fancy"),
    case("train-set-quant-override-unknown", "train {ws}/r.yaml --out {ws}/t --set quant.overrides.dither=1", R,
         message="dither"),
    case("train-set-quant-override-type", "train {ws}/r.yaml --out {ws}/t --set quant.overrides.symmetric=maybe", R,
         message="symmetric"),
    case("train-set-quant-overrides-text", "train {ws}/r.yaml --out {ws}/t --set quant.overrides=trunc", R,
         message="quant.overrides"),
    case("train-set-strategy-unknown", "train {ws}/r.yaml --out {ws}/t --set strategy.name=magic", R, message="magic"),
    case("train-set-strategy-params-normal", "train {ws}/r.yaml --out {ws}/t --set strategy.params.p=0.1", R,
         message="strategy.params"),
    case("train-set-strategy-params-randbet", "train {ws}/r.yaml --out {ws}/t --set strategy.name=randbet "
         "--set strategy.params.q=0.1", R, message="strategy.params"),
    case("train-set-clip-negative", "train {ws}/r.yaml --out {ws}/t --set strategy.clip_w_max=-1", R,
         message="clip_w_max"),
    case("train-set-label-smoothing-two", "train {ws}/r.yaml --out {ws}/t --set strategy.label_smoothing=2", R,
         message="label_smoothing"),
    case("train-set-max-steps-zero", "train {ws}/r.yaml --out {ws}/t --set max_steps=0", R, message="max_steps"),
    case("train-set-device-unknown", "train {ws}/r.yaml --out {ws}/t --set device=tpu", R, message="tpu"),
    case("train-set-eval-chips-zero", "train {ws}/r.yaml --out {ws}/t --set eval.chips=0", R, message="eval.chips"),
    case("train-set-eval-rate-two", "train {ws}/r.yaml --out {ws}/t --set eval.rates=[0.1,2]", R, message="eval.rates"),
    # -- train: outputs and data
    case("train-out-is-file", "train {ws}/r.yaml --out {ws}/afile", R, FILE, message="not a directory",
         subprocess=True),
    case("train-out-below-file", "train {ws}/r.yaml --out {ws}/afile/run", R, FILE, message="afile"),
    case("train-out-holds-run", "train {ws}/r.yaml --out {ws}/old", R, copy_run("old"), message="--resume"),
    case("train-data-dir-file", "train {ws}/r.yaml --out {ws}/t --data-dir {ws}/afile", R, FILE,
         message="not a directory"),
    case("train-corrupt-dataset", "train {ws}/r.yaml --out {ws}/t --data-dir {ws}/d", R,
         corrupt_mnist("d", "train-images-idx3-ubyte.gz"),
         message="md5"),
    # -- eval: arguments
    case("eval-run-missing", "eval {ws}/nosuchrun", message="nosuchrun"),
    case("eval-rates-out-of-range", "eval {run} --rates 0.5,1.5", message="p must be in [0, 1]"),
    case("eval-rates-empty", "eval {run} --rates ,", message="no bit error rates"),
    case("eval-bits-nine", "eval {run} --bits 9 --out {ws}/e", message="bits"),
    case("eval-scheme-unknown", "eval {run} --scheme fancy --out {ws}/e", message="fancy"),
    case("eval-errors-unknown", "eval {run} --errors cosmic", message="--errors"),
    case("eval-kind-and-errors", "eval {run} --kind random --errors random", message="not both"),
    case("eval-profiled-no-chip", "eval {run} --kind profiled --out {ws}/e", message="chip"),
    case("eval-setting-of-other-kind", "eval {run} --kind weights --chips 3 --out {ws}/e", message="chips"),
    case("eval-activations-glob-no-module", "eval {run} --kind activations --activations features.* --out {ws}/e",
         message="matches no module"),
    case("eval-activations-no-modules", "eval {run} --kind activations --out {ws}/e", message="modules"),
    case("eval-activations-format-unknown", "eval {run} --kind activations --activations conv1 --act-format int9 "
         "--out {ws}/e", message="int9"),
    case("eval-activations-protect-bad", "eval {run} --kind activations --activations conv1 --act-protect 9 "
         "--out {ws}/e", message="bit position"),
    case("eval-activations-of-other-kind", "eval {run} --activations conv1 --out {ws}/e", message="modules"),
    case("eval-logits-format-unknown", "eval {run} --kind logits --format bf17 --out {ws}/e", message="bf17"),
    case("eval-logits-format-and-bits", "eval {run} --kind logits --format bf16 --bits 8 --out {ws}/e",
         message="not both"),
    case("eval-weight-errors-format-and-scheme", "eval {run} --kind weight_errors --format bf16 --scheme normal "
         "--out {ws}/e", message="not both"),
    case("eval-act-mode-unknown", "eval {run} --kind activations --activations conv1 --act-mode sometimes",
         usage=True),
    case("eval-scale-to-negative", "eval {run} --scale-to -1 --out {ws}/e", usage=True),
    case("eval-device-unknown", "eval {run} --device tpu --out {ws}/e", message="tpu"),
    case("eval-out-is-file", "eval {run} --out {ws}/afile", FILE, message="not a directory"),
    case("eval-out-below-file", "eval {run} --out {ws}/afile/e", FILE, message="afile"),
    case("eval-data-dir-file", "eval {run} --out {ws}/e --data-dir {ws}/afile", FILE, message="not a directory"),
    case("eval-test-subset-too-big", "eval {run} --out {ws}/e --test-subset 20000", message="20000"),
    case("eval-corrupt-dataset", "eval {run} --out {ws}/e --data-dir {ws}/d",
         corrupt_mnist("d", "t10k-images-idx3-ubyte.gz"), message="md5",
         subprocess=True),
    case("eval-bnn-metrics-of-cnn", "eval {run} --kind bnn_metrics --out {ws}/e", message="binarized network"),
    # -- eval: the run directory and checkpoint
    case("eval-run-empty-dir", "eval {ws}/r --out {ws}/e", folder("r"), message="not found"),
    case("eval-meta-missing", "eval {ws}/r --out {ws}/e", copy_run("r", drop=("model.json",)), message="model.json"),
    case("eval-tensors-missing", "eval {ws}/r --out {ws}/e", copy_run("r", drop=("model.safetensors",)),
         message="model.safetensors"),
    case("eval-meta-not-json", "eval {ws}/r --out {ws}/e", copy_run("r"), text("r/model.json", "{not json"),
         message="corrupt"),
    case("eval-meta-binary", "eval {ws}/r --out {ws}/e", copy_run("r"), random_bytes("r/model.json"),
         message="model.json"),
    case("eval-meta-list", "eval {ws}/r --out {ws}/e", copy_run("r"), text("r/model.json", "[1, 2]"),
         message="not a bitrobust checkpoint"),
    case("eval-meta-version", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("version", 99)), message="version"),
    case("eval-meta-model-unknown", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("model.name", "gpt5")),
         message="gpt5"),
    case("eval-meta-kwargs-text", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("model.kwargs", "oops")),
         message="kwargs"),
    case("eval-meta-kwargs-unknown", "eval {ws}/r --out {ws}/e",
         copy_run("r", meta=setter("model.kwargs.depth", 3)), message="depth"),
    case("eval-meta-width-huge", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("model.kwargs.width", 1e6)),
         message="parameters"),
    case("eval-meta-channels-text", "eval {ws}/r --out {ws}/e",
         copy_run("r", meta=setter("model.kwargs.channels", "wide")), message="cnn_small"),
    case("eval-meta-quant-text", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("quant", "8 bit")),
         message="quant"),
    case("eval-meta-quant-bits", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("quant.bits", 12)),
         message="bits"),
    case("eval-meta-quant-override-unknown", "eval {ws}/r --out {ws}/e",
         copy_run("r", meta=setter("quant.overrides", {"dither": True})), message="dither"),
    case("eval-meta-quant-exclude-number", "eval {ws}/r --out {ws}/e",
         copy_run("r", meta=setter("quant.exclude", 5)), message="exclude"),
    case("eval-meta-data-list", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("data", ["mnist"])),
         message="data"),
    case("eval-meta-dataset-unknown", "eval {ws}/r --out {ws}/e", copy_run("r", meta=setter("data.name", "imagenet")),
         message="imagenet"),
    case("eval-meta-recipe-eval-rates", "eval {ws}/r --out {ws}/e",
         copy_run("r", meta=setter("config.eval", {"rates": "many"})), message="rates"),
    case("eval-tensors-random", "eval {ws}/r --out {ws}/e", copy_run("r", tensors=np.random.default_rng(1).bytes(999)),
         message="corrupt"),
    case("eval-tensors-truncated", "eval {ws}/r --out {ws}/e", copy_run("r"),
         lambda ws, ctx: _write(ws / "r/model.safetensors", (ctx["run"] / "model.safetensors").read_bytes()[:500]),
         message="corrupt"),
    case("eval-tensors-huge-header", "eval {ws}/r --out {ws}/e",
         copy_run("r", tensors=struct.pack("<Q", 10**12) + b"{}"), message="corrupt"),
    case("eval-tensors-other-model", "eval {ws}/r --out {ws}/e", copy_run("r"),
         lambda ws, ctx: shutil.copy(ctx["bnn"] / "model.safetensors", ws / "r/model.safetensors"),
         message="does not match"),
    # -- eval: chip maps
    case("chip-missing", "eval {run} --kind profiled --chip {ws}/none.npz --out {ws}/e", message="not found"),
    case("chip-directory", "eval {run} --kind profiled --chip {ws}/dir --out {ws}/e", folder("dir"), message="dir"),
    case("chip-empty-file", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e", data("c.npy", b""),
         message="c.npy"),
    case("chip-random-npy", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e", random_bytes("c.npy"),
         message="c.npy"),
    case("chip-random-npz", "eval {run} --kind profiled --chip {ws}/c.npz --out {ws}/e", random_bytes("c.npz"),
         message="c.npz"),
    case("chip-huge-header-npy", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         data("c.npy", npy_header((10**6, 10**6))), message="c.npy", subprocess=True),
    case("chip-truncated-npy", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         data("c.npy", npy_header((64, 64), payload=100)), message="c.npy"),
    case("chip-huge-header-npz", "eval {run} --kind profiled --chip {ws}/c.npz --out {ws}/e", huge_npz("c.npz"),
         message="c.npz"),
    case("chip-3d", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         npy("c.npy", np.zeros((2, 3, 4), np.float32)), message="2-D"),
    case("chip-probability-above-one", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         npy("c.npy", np.full((8, 8), 1.5, np.float32)), message="[0, 1]"),
    case("chip-code-seven", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         npy("c.npy", np.full((8, 8), 7, np.int64)), message="code map"),
    case("chip-object-array", "eval {run} --kind profiled --chip {ws}/c.npy --out {ws}/e",
         npy("c.npy", np.array([{"a": 1}], dtype=object)), message="c.npy"),
    case("chip-npz-missing-map", "eval {run} --kind profiled --chip {ws}/c.npz --out {ws}/e",
         npz("c.npz", flip_0to1=np.zeros((4, 4), np.float32)), message="flip_1to0"),
    case("chip-npz-shapes-differ", "eval {run} --kind profiled --chip {ws}/c.npz --out {ws}/e",
         npz("c.npz", flip_0to1=np.zeros((4, 4), np.float32), flip_1to0=np.zeros((4, 5), np.float32)),
         message="shape"),
    case("chip-npz-nan", "eval {run} --kind profiled --chip {ws}/c.npz --out {ws}/e",
         npz("c.npz", flip_0to1=np.full((4, 4), np.nan, np.float32), flip_1to0=np.zeros((4, 4), np.float32)),
         message="NaN"),
    case("chip-paper-row-unknown", "eval {run} --kind profiled --chip chip9_9.999 --out {ws}/e", message="chip9"),
    # -- metrics
    case("metrics-run-missing", "metrics {ws}/nosuchrun", message="nosuchrun"),
    case("metrics-bs-text", "metrics {bnn} --bs two", message="tolerance level"),
    case("metrics-bs-negative", "metrics {bnn} --bs 2,-4", message=">= 0"),
    case("metrics-bs-empty", "metrics {bnn} --bs ,", message="no tolerance levels"),
    case("metrics-out-is-file", "metrics {bnn} --out {ws}/afile", FILE, message="not a directory"),
    case("metrics-out-below-file", "metrics {bnn} --out {ws}/afile/m", FILE, message="afile"),
    case("metrics-device-unknown", "metrics {bnn} --device tpu --out {ws}/m", message="tpu"),
    case("metrics-of-cnn", "metrics {run} --out {ws}/m", message="binarized network"),
    # -- report
    case("report-run-missing", "report {ws}/nosuchrun --out {ws}/rep", message="nosuchrun"),
    case("report-not-evaluated", "report {run} --out {ws}/rep", message="robustness.json"),
    case("report-result-corrupt", "report {ws}/r --out {ws}/rep", copy_run("r"), text("r/robustness.json", "{"),
         message="robustness.json"),
    case("report-result-list", "report {ws}/r --out {ws}/rep", robustness("r", lambda r: [r]),
         message="robustness.json"),
    case("report-result-no-rates", "report {ws}/r --out {ws}/rep",
         robustness("r", lambda r: {k: v for k, v in r.items() if k != "rates"}), message="rates"),
    case("report-result-rate-text", "report {ws}/r --out {ws}/rep",
         robustness("r", lambda r: {**r, "rates": [{**r["rates"][0], "p": "high"}]}), message="robustness.json"),
    case("report-out-is-file", "report {evaluated} --out {ws}/afile", FILE, message="not a directory"),
    case("report-out-below-file", "report {evaluated} --out {ws}/afile/rep", FILE, message="afile"),
    case("report-delta-zero", "report {evaluated} --out {ws}/rep --delta 0", message="delta"),
    case("report-delta-nan", "report {evaluated} --out {ws}/rep --delta nan", message="delta"),
    case("report-ymax-negative", "report {evaluated} --out {ws}/rep --ymax -5", usage=True),
    # -- energy
    case("energy-no-runs", "energy --out {ws}/e", message="no run directories"),
    case("energy-no-out", "energy {evaluated}", message="--out"),
    case("energy-out-is-file", "energy {evaluated} --out {ws}/afile", FILE, message="not a directory"),
    case("energy-max-increase-text", "energy {evaluated} --out {ws}/e --max-increase lots", message="max-increase"),
    case("energy-max-increase-negative", "energy {evaluated} --out {ws}/e --max-increase=-1%", message="max-increase"),
    case("energy-max-increase-nan", "energy {evaluated} --out {ws}/e --max-increase nan", message="max-increase"),
    case("energy-delta-two", "energy {evaluated} --out {ws}/e --delta 2", message="delta"),
    case("energy-ecc-unknown", "energy {evaluated} --out {ws}/e --ecc hamming", message="valid: secded16"),
    case("energy-reference-missing", "energy {evaluated} --out {ws}/e --reference {ws}/none", message="none"),
    case("energy-model-missing", "energy {evaluated} --out {ws}/e --energy-model {ws}/m.csv", message="m.csv"),
    case("energy-model-binary", "energy --show-model --energy-model {ws}/m.csv", random_bytes("m.csv"),
         message="m.csv"),
    case("energy-model-no-columns", "energy --show-model --energy-model {ws}/m.csv", text("m.csv", "a,b\n1,2\n"),
         message="missing column"),
    case("energy-model-value-text", "energy --show-model --energy-model {ws}/m.csv",
         text("m.csv", "voltage,bit_error_rate,energy\n1,0,1\nlow,0.01,0.5\n"), message="invalid voltage"),
    # -- reproduce
    case("reproduce-unknown", "reproduce p9-table1", message="p9-table1"),
    case("report-verdicts-dir-missing", "report --verdicts {ws}/nores --doc {ws}/afile", FILE,
         message="no results directory"),
    case("reproduce-no-name", "reproduce", message="--list"),
    case("reproduce-configs-missing", "reproduce p3-table1 --configs {ws}/none", message="recipe directory"),
    case("reproduce-list-configs-missing", "reproduce --list --configs {ws}/none", message="recipe directory"),
    case("reproduce-out-is-file", "reproduce p3-table1 --smoke --out {ws}/afile", FILE, message="not a directory"),
    case("reproduce-out-below-file", "reproduce p3-table1 --smoke --out {ws}/afile/x", FILE, message="afile"),
    case("reproduce-data-dir-file", "reproduce p3-table1 --smoke --out {ws}/x --data-dir {ws}/afile", FILE,
         message="not a directory"),
]


# ----------------------------------------------------------------------------- running a case


@pytest.fixture(scope="session")
def evaluated(tiny_run, data_dir, tmp_path_factory) -> Path:
    """The tiny run evaluated (robustness.json) in a run directory of its own."""
    run = tmp_path_factory.mktemp("evaluated") / "run"
    shutil.copytree(tiny_run, run)
    assert main(["eval", str(run), "--chips", "1", "--rates", "0.01", "--test-subset", "100",
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    return run


@pytest.fixture
def workspace(tmp_path, tiny_run, bnn_run, evaluated, data_dir, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    monkeypatch.setenv("XDG_CACHE_HOME", str(ws / "cache"))
    monkeypatch.setenv("BITROBUST_DATA", str(data_dir))
    monkeypatch.delenv("BITROBUST_CONFIGS", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network disabled in the bad-input tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return {"ws": ws, "run": tiny_run, "bnn": bnn_run, "evaluated": evaluated, "data": data_dir}


def snapshot(*roots: Path) -> dict:
    """Every path under ``roots`` with its size and modification time."""
    out = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns, p.is_dir())
    return out


def check_stderr(err: str, c: Case) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    if c.usage:
        # argparse: "usage: bitrobust CMD ..." (wrapped, continuation lines indented), then one error line
        assert lines and lines[0].startswith("usage: bitrobust"), err
        assert all(line.startswith(" ") for line in lines[1:-1]), err
        assert lines[-1].startswith("bitrobust") and ": error: " in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("bitrobust: error: "), err
        assert c.message in lines[0], err


def prepared(c: Case, ctx: dict) -> tuple[list[str], list[Path]]:
    for prepare in c.files:
        prepare(ctx["ws"], ctx)
    argv = [a.format(**{k: str(v) for k, v in ctx.items()}) for a in c.argv]
    return argv, [ctx["ws"], ctx["run"], ctx["bnn"], ctx["evaluated"], ctx["data"]]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(c: Case, workspace, capsys):
    argv, roots = prepared(c, workspace)
    before = snapshot(*roots)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    check_stderr(err, c)
    assert snapshot(*roots) == before


@pytest.mark.parametrize("c", [c for c in CASES if c.subprocess], ids=[c.id for c in CASES if c.subprocess])
def test_bad_input_in_a_fresh_process(c: Case, workspace):
    argv, roots = prepared(c, workspace)
    before = snapshot(*roots)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "bitrobust", *argv], cwd=workspace["ws"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    check_stderr(proc.stderr, c)
    assert snapshot(*roots) == before


def test_unwritable_output_parent(workspace, capsys, tmp_path):
    """--out below a folder the user cannot write to (skipped where permissions do not bind, e.g. as root)."""
    locked = workspace["ws"] / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("permissions do not bind for this user")
        before = snapshot(workspace["ws"])
        for argv in (["eval", str(workspace["run"]), "--out", str(locked / "e")],
                     ["report", str(workspace["evaluated"]), "--out", str(locked / "r")],
                     ["train", "quickstart", "--out", str(locked / "t")]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "not writable" in err
        assert snapshot(workspace["ws"]) == before
    finally:
        locked.chmod(0o755)


def test_output_dir_not_writable(tmp_path, monkeypatch):
    """The not-writable branch of the shared --out check (os.access is patched: permissions may not bind here)."""
    from bitrobust.cli.common import output_dir
    from bitrobust.errors import BitrobustError

    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(BitrobustError, match="is not writable"):
        output_dir(tmp_path / "new" / "run")
    assert list(tmp_path.iterdir()) == []
