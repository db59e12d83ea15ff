import dataclasses
import hashlib
from pathlib import Path

import pytest

from bitrobust.data import DATASETS, check_data, download_file, ensure_file, load_dataset
from bitrobust.errors import BitrobustError


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def source(tmp_path) -> Path:
    """A local 'mirror' folder with one file."""
    src = tmp_path / "mirror"
    src.mkdir()
    (src / "blob.bin").write_bytes(b"payload" * 1000)
    return src


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_download_from_file_url_is_verified_and_atomic(tmp_path, source):
    dest = tmp_path / "root" / "sub" / "blob.bin"
    md5 = _md5((source / "blob.bin").read_bytes())
    assert download_file([(source / "blob.bin").as_uri()], dest, md5, progress=False) == dest
    assert dest.read_bytes() == (source / "blob.bin").read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o644
    assert _leftovers(dest.parent) == []


def test_failing_mirror_then_good_one(tmp_path, source):
    dest = tmp_path / "blob.bin"
    urls = [(source / "nope.bin").as_uri(), (source / "blob.bin").as_uri()]
    download_file(urls, dest, _md5((source / "blob.bin").read_bytes()), progress=False)
    assert dest.is_file()


def test_all_mirrors_failing_names_every_url(tmp_path, source):
    urls = [(source / "a.bin").as_uri(), "unknown-scheme://host/b.bin"]
    with pytest.raises(BitrobustError) as err:
        download_file(urls, tmp_path / "blob.bin", None, progress=False)
    assert urls[0] in str(err.value) and urls[1] in str(err.value)
    assert not (tmp_path / "blob.bin").exists() and _leftovers(tmp_path) == []


def test_download_with_bad_md5_is_deleted_and_reported(tmp_path, source):
    dest = tmp_path / "blob.bin"
    actual = _md5((source / "blob.bin").read_bytes())
    with pytest.raises(BitrobustError) as err:
        download_file([(source / "blob.bin").as_uri()], dest, "0" * 32, progress=False)
    msg = str(err.value)
    assert "blob.bin" in msg and "0" * 32 in msg and actual in msg and "deleted" in msg
    assert list(tmp_path.iterdir()) == [source]  # nothing left behind


def _mnist_with_local_mirror(tmp_path) -> tuple:
    """The MNIST spec with md5s/mirror of a fake file, so no network is needed."""
    src = tmp_path / "mirror"
    src.mkdir(exist_ok=True)
    good = b"good labels"
    name = "t10k-labels-idx1-ubyte.gz"
    (src / name).write_bytes(good)
    spec = DATASETS.get("mnist").with_md5s({name: _md5(good)})
    spec = dataclasses.replace(spec, mirrors=(src.as_uri() + "/",))
    file = next(f for f in spec.files if f.name == name)
    return spec, file, good


def test_corrupt_file_is_never_used(tmp_path):
    spec, file, good = _mnist_with_local_mirror(tmp_path)
    path = tmp_path / "root" / "mnist" / file.name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"corrupted!")
    with pytest.raises(BitrobustError, match="corrupt.*delete it"):
        ensure_file(spec, file, tmp_path / "root", download=False)
    assert path.read_bytes() == b"corrupted!"  # left for the user, but not used
    # With download=True it is replaced by a verified copy.
    assert ensure_file(spec, file, tmp_path / "root", download=True, progress=False) == path
    assert path.read_bytes() == good


def test_missing_file_without_download(tmp_path):
    with pytest.raises(BitrobustError, match="missing.*bitrobust data download mnist"):
        load_dataset("mnist", "test", data_dir=tmp_path, download=False)


def test_check_data_reports_ok_missing_and_bad(tmp_path):
    spec, file, good = _mnist_with_local_mirror(tmp_path)
    ensure_file(spec, file, tmp_path, progress=False)  # a file with the real name...
    rows = {(r.dataset, r.file): r for r in check_data(tmp_path)}
    assert len(rows) == 10
    bad = rows[("mnist", file.name)]  # ...but not the canonical md5
    assert bad.status == "bad md5" and bad.actual_md5 == _md5(good) and bad.expected_md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    assert rows[("cifar10", "cifar-10-python.tar.gz")].status == "missing"
    assert [r.status for r in check_data(tmp_path, ["cifar100"])] == ["missing"]


def test_check_data_on_real_files(real_data):
    rows = check_data(real_data, ["mnist", "fashion_mnist"])
    assert [r.status for r in rows] == ["ok"] * 8
