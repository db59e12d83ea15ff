import dataclasses
import re
from pathlib import Path

import pytest

from bitrobust.data import DATASETS, resolve_data_dir
from bitrobust.errors import BitrobustError


def test_registry_lists_the_four_datasets():
    assert DATASETS.names() == ["cifar10", "cifar100", "fashion_mnist", "mnist"]
    with pytest.raises(BitrobustError, match="valid: cifar10, cifar100, fashion_mnist, mnist"):
        DATASETS.get("imagenet")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_specs_are_consistent(name):
    spec = DATASETS.get(name)
    assert spec.name == name
    assert len(spec.mean) == len(spec.std) == spec.image_shape[0]
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in spec.files)
    assert spec.files_for("train") and spec.files_for("test")
    assert all(url.startswith("http") and url.endswith(spec.files[0].name) for url in spec.urls(spec.files[0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_classes = 3  # type: ignore[misc]
    with pytest.raises(BitrobustError, match="unknown split"):
        spec.files_for("val")


def test_canonical_md5s():
    assert DATASETS.get("cifar10").files[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert DATASETS.get("cifar100").files[0].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "MD5SUMS"
    if shared.is_file():  # the published checksums of the offline copy
        published = dict(line.split()[::-1] for line in shared.read_text().splitlines())
        for name in ("mnist", "fashion_mnist"):
            spec = DATASETS.get(name)
            for f in spec.files:
                assert published[f"{spec.subdir}/{f.name}"] == f.md5


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("BITROBUST_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("BITROBUST_DATA")
    assert resolve_data_dir() == tmp_path / "xdg" / "bitrobust" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "bitrobust" / "data"
