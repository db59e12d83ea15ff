import json

import pytest
import torch

from bitrobust.errors import BitrobustError
from bitrobust.io import atomic_path
from bitrobust.models.checkpoint import load_checkpoint, save_checkpoint
from bitrobust.models import build_model

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


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_usual_mode(tmp_path):
    import os

    from bitrobust.io import write_text

    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
