import io
import pickle
import tarfile

import numpy as np
import pytest

from bitrobust.data import DATASETS, load_dataset, md5sum
from bitrobust.errors import BitrobustError


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_fake_cifar_loads_exact_pixels(tmp_path, cifar_writer, kind, split):
    spec, expected = cifar_writer(tmp_path, kind, n=4)
    ds = load_dataset(spec, split, data_dir=tmp_path, download=False)
    x, y = expected[split]
    assert ds.x.shape == (len(x), 3, 32, 32)
    assert len(ds) == (20 if kind == "cifar10" and split == "train" else 4)
    np.testing.assert_array_equal(ds.x.numpy(), x)
    np.testing.assert_array_equal(ds.y.numpy(), y)
    assert ds.num_classes == (10 if kind == "cifar10" else 100) and len(ds.mean) == 3


def test_fake_cifar_fails_canonical_md5_unless_unverified(tmp_path, cifar_writer):
    cifar_writer(tmp_path, "cifar10", n=2)
    with pytest.raises(BitrobustError, match="corrupt.*expected c58f30108f718f92721af3b95e74349a"):
        load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    assert len(load_dataset("cifar10", "test", data_dir=tmp_path, download=False, verify=False)) == 2


def _tarball(path, members: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _load(tmp_path, members: dict, kind: str = "cifar100", split: str = "test"):
    spec = DATASETS.get(kind)
    path = tmp_path / spec.subdir / spec.files[0].name
    _tarball(path, members)
    return load_dataset(spec.with_md5s({path.name: md5sum(path)}), split, data_dir=tmp_path, download=False)


class _Evil:
    def __reduce__(self):
        return (eval, ("1/0",))


def test_malicious_batch_in_tarball_is_refused(tmp_path):
    blob = pickle.dumps({b"data": _Evil(), b"fine_labels": []}, protocol=2)
    with pytest.raises(BitrobustError, match="cifar-100-python/test: refused.*eval is not allowed"):
        _load(tmp_path, {"cifar-100-python/test": blob})


def test_missing_member_and_bad_layout(tmp_path):
    with pytest.raises(BitrobustError, match="missing members cifar-100-python/test"):
        _load(tmp_path, {"cifar-100-python/train": b""})
    bad_rows = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}, protocol=2)
    with pytest.raises(BitrobustError, match="rows of 100 bytes"):
        _load(tmp_path, {"cifar-100-python/test": bad_rows})
    bad_labels = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0]}, protocol=2)
    with pytest.raises(BitrobustError, match="'fine_labels' is not 2 integer labels"):
        _load(tmp_path, {"cifar-100-python/test": bad_labels})
    no_key = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(BitrobustError, match="missing key 'fine_labels'"):
        _load(tmp_path, {"cifar-100-python/test": no_key})


def test_not_a_tarball(tmp_path):
    spec = DATASETS.get("cifar10")
    path = tmp_path / spec.subdir / spec.files[0].name
    path.parent.mkdir()
    path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(BitrobustError, match="not a valid tarball"):
        load_dataset(spec, "test", data_dir=tmp_path, download=False, verify=False)
