"""A trained run as evaluation sees it: the model, its metadata, its test data and its weight format.

:func:`load_run` is the one place that turns a run directory (or a ``model.safetensors`` /
``model.json`` checkpoint) into these: the model is rebuilt from the checkpoint, the test
set is the dataset named in the metadata, read in the input convention the model was
trained with (normalized, scaled to [0, 1] or raw pixels), and the quantizer is the one
training used (paper 3, Sec. 4.1; a number format of contract 5 if it trained with one) unless an
evaluation asks for another precision, scheme or format (post-training quantization). A run whose
metadata names no dataset is an error. A language model's run names its task (``causal_lm``) and
block size: its test set is the text's test split in blocks of that size, scored by next-token
error and perplexity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bitrobust.data import BlockLoader, Loader, load_dataset, load_text
from bitrobust.device import resolve_device
from bitrobust.errors import BitrobustError
from bitrobust.models.checkpoint import load_checkpoint
from bitrobust.formats import get_format
from bitrobust.quantization import FixedPointQuantizer
from bitrobust.quantization.model import Quantizer
from bitrobust.tasks import TASKS, Task


def check_weight_format(format: str | None, bits: int | None, scheme: str | None) -> None:
    """An evaluation's weight storage: a registered number format or bits/scheme (both unset: the run's own),
    checked before any work (:meth:`LoadedRun.quantizer` resolves them).

    >>> check_weight_format("bf16", 8, None)
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: give a number format or bits/scheme, not both
    """
    if format is not None:
        if bits is not None or scheme is not None:
            raise BitrobustError("give a number format or bits/scheme, not both")
        get_format(format)  # a known name


@dataclass
class LoadedRun:
    """A checkpoint loaded for evaluation (see the module docstring)."""

    path: Path
    model: nn.Module
    meta: dict
    device: torch.device

    @property
    def name(self) -> str:
        """The registered model name."""
        return self.meta["model"]["name"]

    @property
    def dataset(self) -> str:
        name = (self.meta.get("data") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise BitrobustError(f"{self.path}: the checkpoint metadata names no dataset (data.name), "
                                 "so the test set is unknown")
        return name

    @property
    def task(self) -> Task:
        """How the model's outputs are scored: the metadata's ``task`` (default: classification)."""
        return TASKS.get(self.meta.get("task", "classification"))()

    @property
    def recipe_eval(self) -> dict:
        """The ``eval`` section of the recipe the run was trained with ({} if unknown)."""
        section = (self.meta.get("config") or {}).get("eval")
        return section if isinstance(section, dict) else {}

    def quantizer(self, bits: int | None = None, scheme: str | None = None,
                  format: str | None = None) -> tuple[Quantizer, tuple[str, ...]]:
        """(quantizer, excluded tensor globs): the number format ``format`` (:mod:`bitrobust.formats`), else
        training's precision and scheme unless ``bits``/``scheme`` name others (the trained scheme's
        overrides apply only when the scheme is the trained one), else training's format."""
        quant = self.meta.get("quant") or {}
        if format is not None or (bits is None and scheme is None and quant.get("format")):
            return get_format(format or quant["format"]), tuple(quant.get("exclude", ()))
        bits = bits if bits is not None else quant.get("bits")
        if bits is None:
            raise BitrobustError("the model was trained without quantization and the evaluation sets no precision "
                                 "(pass --bits)")
        trained = quant.get("scheme", "rquant")
        scheme = scheme or trained
        overrides = (quant.get("overrides") or {}) if scheme == trained else {}
        return FixedPointQuantizer(bits, scheme, **overrides), tuple(quant.get("exclude", ()))

    def test_set_label(self, test_subset: int | None = None, test_first: int | None = None) -> str:
        """Which test examples :meth:`test_data` gives, as results record it (results are paired only on the same).

        >>> run = LoadedRun(Path("runs/r"), nn.Identity(), {"data": {"name": "mnist"}}, torch.device("cpu"))
        >>> run.test_set_label(2000), run.test_set_label(test_first=9000)
        ('mnist test, stratified 2000', 'mnist test, first 9000')
        """
        if test_subset:
            return f"{self.dataset} test, stratified {test_subset}"
        return f"{self.dataset} test" + (f", first {test_first}" if test_first else "")

    def test_data(self, data_dir: str | os.PathLike | None = None, test_subset: int | None = None,
                  batch_size: int = 1000, test_first: int | None = None) -> Loader | BlockLoader:
        """The test set in the input convention of training, on the model's device: a stratified subset of
        ``test_subset`` examples (a random one of blocks for a text), or the first ``test_first`` ones, or all."""
        if test_subset and test_first:
            raise BitrobustError("choose a stratified test subset or the first test examples, not both")
        return self._loader("test", data_dir, batch_size, test_subset, test_first)

    def train_data(self, data_dir: str | os.PathLike | None = None, first: int | None = None,
                   batch_size: int = 1000) -> Loader | BlockLoader:
        """The first ``first`` training examples (all if None) as :meth:`test_data` reads them, without
        augmentation (e.g. to calibrate activation ranges)."""
        return self._loader("train", data_dir, batch_size, None, first)

    def _loader(self, split: str, data_dir: str | os.PathLike | None, batch_size: int, subset: int | None,
                first: int | None) -> Loader | BlockLoader:
        data = self.meta.get("data") or {}
        block_size = data.get("block_size")
        if block_size is not None:
            examples = load_text(self.dataset, split, block_size, data_dir=data_dir)
        else:
            examples = load_dataset(self.dataset, split, data_dir=data_dir, progress=False)
        if subset:
            examples = examples.subset(subset)
        if first:
            examples = examples.first(first)
        if block_size is not None:
            return BlockLoader(examples, batch_size=batch_size, device=self.device)
        return Loader(examples, batch_size=batch_size, device=self.device, normalize=data.get("normalize", True),
                      raw=data.get("raw", False))


def load_run(path: str | os.PathLike, device: str | torch.device = "auto") -> LoadedRun:
    """Load the run directory or checkpoint ``path`` onto ``device`` ("auto": CUDA if present).

    >>> import tempfile, torch
    >>> from bitrobust.models import build_model
    >>> from bitrobust.models.checkpoint import save_checkpoint
    >>> d = tempfile.mkdtemp()
    >>> _ = save_checkpoint(d, build_model("cnn_small"), {"model": {"name": "cnn_small", "kwargs": {}},
    ...                     "data": {"name": "mnist"}, "quant": {"bits": 8, "scheme": "rquant"}})
    >>> run = load_run(d, "cpu")
    >>> run.name, run.dataset, run.quantizer()[0].bits, run.quantizer(format="bf16")[0].bits
    ('cnn_small', 'mnist', 8, 16)
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    model, meta = load_checkpoint(path, device)
    return LoadedRun(Path(path), model, meta, device)
