"""Model checkpoints (bitrobust.models.checkpoint): roundtrip and corrupt or foreign files."""

import json

import pytest
import torch

from bitrobust.errors import BitrobustError
from bitrobust.models import build_model
from bitrobust.models.checkpoint import load_checkpoint, save_checkpoint

META = {"model": {"name": "mlp", "kwargs": {"num_classes": 10, "hidden": [16]}}}


def test_checkpoint_roundtrip(tmp_path):
    model = build_model("mlp", hidden=[16], seed=3)
    save_checkpoint(tmp_path / "model.safetensors", model, META)
    loaded, meta = load_checkpoint(tmp_path)
    assert meta["model"]["name"] == "mlp" and meta["format"] == "bitrobust-checkpoint"
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_corrupt_or_foreign_checkpoints(tmp_path):
    model = build_model("mlp", hidden=[16])
    save_checkpoint(tmp_path / "model.safetensors", model, META)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(BitrobustError, match="corrupt checkpoint metadata"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"model": {"name": "mlp"}}))
    with pytest.raises(BitrobustError, match="not a bitrobust checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "model.safetensors", model, META)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04garbage that is not safetensors")
    with pytest.raises(BitrobustError, match="corrupt checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "model.safetensors", build_model("mlp", hidden=[8]), META)
    with pytest.raises(BitrobustError, match="does not match"):
        load_checkpoint(tmp_path)
    with pytest.raises(BitrobustError, match="not found"):
        load_checkpoint(tmp_path / "missing")


def test_a_model_with_tied_weights_saves_and_loads(tmp_path):
    from torch import nn

    from bitrobust.io import load_tensors_file, save_tensors

    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    model[1].weight = model[0].weight  # tied, as a language model's embedding and output layer
    save_tensors(tmp_path / "t.safetensors", model.state_dict())
    loaded = load_tensors_file(tmp_path / "t.safetensors")
    assert set(loaded) == {"0.weight", "1.weight"}
    assert torch.equal(loaded["0.weight"], model[0].weight) and torch.equal(loaded["1.weight"], model[0].weight)
