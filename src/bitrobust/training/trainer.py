"""One trainer for every strategy: data, model, quantizer, optimizer, checkpoints, resume.

A run directory holds::

    config.yaml                the resolved recipe
    trainer_state.safetensors  the commit record: weights, optimizer tensors and, in its
                               metadata, the epoch, optimizer and strategy state and the
                               metrics of every finished epoch
    model.safetensors          the latest weights, + model.json: how to rebuild the model
                               (what ``bitrobust eval RUN_DIR`` loads)
    metrics.jsonl              one line per finished epoch
    trainer_state.json         the epoch and optimizer/strategy state, readable

At the end of every epoch the trainer commits it in one step: ``trainer_state.safetensors``
is written to a temporary file and renamed into place, so it always holds one whole
epoch. Only then does it rewrite the other files from it, each atomically, with
``trainer_state.json`` last: a run directory is at epoch e or e + 1 as a whole, and
``trainer_state.json`` claims an epoch only once the model of that epoch is in place.
``resume=True`` reads nothing but the commit record, continues after its epoch and first
rewrites the other files from it (which repairs a run killed between the commit and them:
``metrics.jsonl`` holds exactly the committed epochs) and deletes temporaries a killed
write left behind. Since shuffling and bit errors are seeded per (seed, epoch, step), a
resumed run ends with the same weights as an uninterrupted one, wherever it was killed.
A text dataset (:class:`~bitrobust.data.specs.TextSpec`) trains a causal language model: blocks of
``data.block_size`` bytes, the next-token cross-entropy as the loss, and the test error and
perplexity of the :class:`~bitrobust.tasks.CausalLM` task after every epoch (contract 7).
Under ``torchrun`` each process trains on its shard of every batch and gradients are
averaged with ``all_reduce`` before each step (data parallelism), so every rank holds the
same weights; rank 0 writes the files.
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bitrobust.config import dump_yaml, load_yaml, to_dict
from bitrobust.console import bar_disable, quiet
from bitrobust.data import AugmentConfig, BlockLoader, Loader, TextSpec, dataset_spec, load_dataset, load_text
from bitrobust.device import init_distributed, local_device
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import PassResult, evaluate_pass
from bitrobust.io import load_tensors_with_metadata, remove_temporaries, save_tensors, write_json, write_text
from bitrobust.models.checkpoint import save_checkpoint
from bitrobust.models import build_model, check_model
from bitrobust.quantization import load_tensors, quantize_model, restored
from bitrobust.tasks import CausalLM, Classification, token_cross_entropy
from bitrobust.training.config import TrainConfig
from bitrobust.training.optim import build_optimizer
from bitrobust.training.robust import RobustTraining
from bitrobust.training.strategies import STRATEGIES

STATE_FILE = "trainer_state.safetensors"  # the commit record (see module docstring)
DEFAULT_BLOCK_SIZE = 128  # tokens per block of a text dataset without data.block_size
RUN_FILES = ("config.yaml", STATE_FILE, "model.safetensors", "model.json", "metrics.jsonl", "trainer_state.json")


class Trainer:
    """Train ``config`` into ``run_dir`` (see module docstring)."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, progress: bool = True,
                 data_dir: str | os.PathLike | None = None) -> None:
        """``data_dir``: where the datasets are (default: the recipe's ``data.data_dir``, else
        ``$BITROBUST_DATA`` or the user cache); a location, not a setting, so it is not saved in
        ``config.yaml`` and a run can resume with its data elsewhere."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.device = local_device(config.device)
        # Fail fast on unknown names, before any data is read or downloaded.
        spec = dataset_spec(config.data.name)
        dc = config.data
        self.text = isinstance(spec, TextSpec)
        if self.text and (dc.augment or dc.raw):
            raise BitrobustError(f"data.augment and data.raw apply to images, not to the text {dc.name}")
        if not self.text and dc.block_size is not None:
            raise BitrobustError(f"data.block_size applies to text datasets, not to {dc.name}")
        check_model(config.model.name, **{**spec.model_kwargs(), **config.model.kwargs})
        self.strategy = STRATEGIES.get(config.strategy.name)(config.strategy)  # validates strategy.params
        self.rank, self.world_size = init_distributed(self.device)
        data_dir = data_dir or dc.data_dir
        if self.text:
            self.block_size = dc.block_size or DEFAULT_BLOCK_SIZE
            train = load_text(dc.name, "train", self.block_size, data_dir=data_dir)
            test = load_text(dc.name, "test", self.block_size, data_dir=data_dir)
        else:
            train = load_dataset(dc.name, "train", data_dir=data_dir)
            test = load_dataset(dc.name, "test", data_dir=data_dir)
        if dc.train_subset:
            train = train.subset(dc.train_subset, seed=config.seed)
        if dc.test_subset:
            test = test.subset(dc.test_subset, seed=config.seed)
        shard = {"rank": self.rank, "world_size": self.world_size}
        if self.text:
            self.train_loader = BlockLoader(train, batch_size=dc.batch_size // self.world_size, shuffle=True,
                                            seed=config.seed, device=self.device, **shard)
            self.test_loader = BlockLoader(test, batch_size=dc.test_batch_size, device=self.device)
        else:
            self.train_loader = Loader(
                train,
                batch_size=dc.batch_size // self.world_size,
                shuffle=True,
                seed=config.seed,
                device=self.device,
                normalize=dc.normalize,
                raw=dc.raw,
                augment=AugmentConfig() if dc.augment else None,
                **shard,
            )
            self.test_loader = Loader(
                test, batch_size=dc.test_batch_size, device=self.device, normalize=dc.normalize, raw=dc.raw
            )
        self.task = CausalLM() if self.text else Classification()
        self.model_kwargs = {**spec.model_kwargs(), **config.model.kwargs}
        self.model = build_model(config.model.name, seed=config.seed, **self.model_kwargs).to(self.device)
        self.optimizer = build_optimizer(config.optim, self.model.parameters())
        n = len(self.train_loader)
        self.steps_per_epoch = n if config.max_steps is None else min(config.max_steps, n)
        loss = token_cross_entropy if self.text else F.cross_entropy
        self.training = RobustTraining(  # the steps, exactly as in a user's own loop
            self.model,
            self.optimizer,
            self.strategy,
            loss_fn=partial(loss, label_smoothing=config.strategy.label_smoothing),
            quant=config.quant,
            seed=config.seed,
            total_steps=config.epochs * self.steps_per_epoch,
            world_size=self.world_size,
            device=self.device,
        )
        self.context = self.training.context
        self.epoch = 0  # epochs finished
        self.history: list[dict] = []  # their metrics, one dict per epoch

    # -- files -------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def meta(self, metrics: dict | None = None) -> dict:
        dc = self.config.data
        data = {"name": dc.name, "normalize": dc.normalize, "raw": dc.raw}
        text = {"task": self.task.name} if self.text else {}  # how `bitrobust eval` scores it (default: classification)
        return {
            "model": {"name": self.config.model.name, "kwargs": self.model_kwargs},
            "data": {**data, "block_size": self.block_size} if self.text else data,
            **text,
            "quant": self.strategy.checkpoint_quant(),  # how `bitrobust eval` stores the weights
            "epochs_done": self.epoch,
            "config": to_dict(self.config),
            "metrics": metrics or {},
        }

    def _commit(self) -> None:
        """Commit the finished epoch: the commit record in one atomic rename, then the other files."""
        opt = self.optimizer.state_dict()
        tensors = {f"optim.{i}.{k}": v for i, s in opt["state"].items() for k, v in s.items() if torch.is_tensor(v)}
        scalars = {str(i): {k: v for k, v in s.items() if not torch.is_tensor(v)} for i, s in opt["state"].items()}
        tensors.update({f"model.{k}": v for k, v in self.model.state_dict().items()})
        state = {
            "epoch": self.epoch, "param_groups": opt["param_groups"], "optim_scalars": scalars, "strategy": self.strategy.state()
        }
        metadata = {"trainer_state": json.dumps(state), "metrics": json.dumps(self.history)}
        save_tensors(self.run_dir / STATE_FILE, tensors, metadata)
        self._publish(state)

    def _publish(self, state: dict) -> None:
        """Rewrite the files derived from the commit record; ``trainer_state.json`` last."""
        save_checkpoint(self.run_dir / "model.safetensors", self.model, self.meta(self.history[-1]))
        write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in self.history))
        write_json(self.run_dir / "trainer_state.json", state)

    def _load_state(self) -> dict:
        """Restore the committed epoch (model, optimizer, strategy, metrics); returns its state."""
        path = self.run_dir / STATE_FILE
        tensors, metadata = load_tensors_with_metadata(path, "trainer state")
        try:
            info, history = json.loads(metadata["trainer_state"]), json.loads(metadata["metrics"])
        except KeyError:
            raise BitrobustError(f"cannot resume {self.run_dir}: {path.name} has no commit record "
                                 "(written by an older bitrobust); train it again") from None
        except json.JSONDecodeError as exc:
            raise BitrobustError(f"corrupt trainer state {path}: {exc}") from None
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state: dict = {}
        for key, v in tensors.items():
            if key.startswith("optim."):
                _, i, name = key.split(".", 2)
                state.setdefault(int(i), {})[name] = v.to(self.device)
        for i, s in info.get("optim_scalars", {}).items():
            state.setdefault(int(i), {}).update(s)
        self.optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
        self.strategy.load_state(info.get("strategy", {}))
        self.epoch = int(info["epoch"])
        self.history = history
        return info

    def _prepare_run_dir(self, resume: bool) -> None:
        config_path = self.run_dir / "config.yaml"
        committed = (self.run_dir / STATE_FILE).exists()
        if committed and not resume:
            raise BitrobustError(f"{self.run_dir} already holds a run; use --resume to continue it or choose another --out")
        if committed and config_path.exists() and load_yaml(config_path) != to_dict(self.config):
            raise BitrobustError(f"cannot resume {self.run_dir}: its config.yaml differs from this config")
        state = self._load_state() if committed else None
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.run_dir, RUN_FILES)  # left by a write killed before its rename
        if state is not None:
            self._publish(state)
        else:
            write_text(config_path, dump_yaml(self.config))
            (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)

    # -- training ----------------------------------------------------------------------------
    def test_error(self) -> float:
        """Test error with the quantized weights (Err), float weights if no quantizer."""
        return self.test_pass().error

    def test_pass(self) -> PassResult:
        """The task's pass over the test set with the quantized weights (float weights if no quantizer):
        Err, and the perplexity of a language model."""
        self.model.eval()
        quantizer = self.context.quantizer
        if quantizer is None:
            return evaluate_pass(self.model, self.test_loader, self.task)
        with restored(self.model):
            state = quantize_model(self.model, quantizer, exclude=self.config.quant.exclude)
            load_tensors(self.model, state.dequantize())
            return evaluate_pass(self.model, self.test_loader, self.task)

    def fit(self, resume: bool = False) -> dict:
        """Train the remaining epochs; returns the last epoch's metrics."""
        self._prepare_run_dir(resume)
        cfg = self.config
        metrics: dict = {}
        steps_per_epoch = self.steps_per_epoch
        while self.epoch < cfg.epochs:
            epoch = self.epoch
            lr = cfg.optim.lr_at(epoch, cfg.epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.train_loader.set_epoch(epoch)
            self.training.global_step = epoch * steps_per_epoch  # bit errors and flips seeded per (seed, step)
            self.model.train()
            loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
            bar = tqdm(
                total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=bar_disable(self.progress and self.is_main),
                leave=False, dynamic_ncols=True,
            )
            for step, (x, y) in enumerate(self.train_loader):
                if step >= steps_per_epoch:
                    break
                result = self.training.step(x, y)
                loss_sum += result.loss * result.n
                correct += result.correct
                seen += result.n
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}%")
            bar.close()
            self.epoch = epoch + 1
            test = self.test_pass()
            metrics = {
                "epoch": self.epoch,
                "lr": lr,
                "train_loss": loss_sum / max(seen, 1),
                "train_error": 1 - correct / max(seen, 1),
                "test_error": test.error,
                **({} if test.perplexity is None else {"test_perplexity": test.perplexity}),
                "seconds": time.perf_counter() - start,
                **self.strategy.metrics(),
            }
            self.history.append(metrics)
            if self.is_main:
                self._commit()
                if self.progress and not quiet():  # the one line per epoch, also when stderr is not a terminal
                    tqdm.write(
                        f"epoch {self.epoch}/{cfg.epochs}: loss {metrics['train_loss']:.4f}, "
                        f"train err {100 * metrics['train_error']:.2f}%, test Err {100 * metrics['test_error']:.2f}%"
                        + (f", test perplexity {test.perplexity:.3f}" if test.perplexity is not None else "")
                    )
        return metrics
