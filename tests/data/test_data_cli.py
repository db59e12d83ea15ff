import dataclasses
import hashlib
import shutil

import pytest

import bitrobust.cli as cli
from bitrobust.data import DATASETS


def _write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_check_reports_good_corrupt_and_missing(tmp_path, capsys, real_data):
    shutil.copytree(real_data / "mnist", tmp_path / "mnist")
    _write(tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", b"truncated")
    assert cli.main(["data", "check", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    lines = {tuple(line.split()[:2]): line for line in out.splitlines()}
    assert lines[("mnist", "t10k-images-idx3-ubyte.gz")].endswith("ok")
    bad = lines[("fashion_mnist", "t10k-labels-idx1-ubyte.gz")]
    assert "bad md5" in bad and hashlib.md5(b"truncated").hexdigest() in bad
    assert "bb300cfdad3c16e7a12a480ee83cd310" in bad
    assert lines[("cifar10", "cifar-10-python.tar.gz")].endswith("missing")
    assert "4 ok, 5 missing, 1 corrupt" in out and "bitrobust data download fashion_mnist" in out


def test_check_with_patched_md5s(tmp_path, capsys, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    _write(tmp_path / "mnist" / name, b"good")
    spec = DATASETS.get("mnist").with_md5s({name: hashlib.md5(b"good").hexdigest()})
    monkeypatch.setitem(DATASETS._items, "mnist", spec)
    assert cli.main(["data", "check", "mnist", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out and "1 ok, 3 missing, 0 corrupt" in out
    _write(tmp_path / "mnist" / name, b"bad")
    assert cli.main(["data", "check", "--data-dir", str(tmp_path)]) == 1


def test_check_uses_env_var(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITROBUST_DATA", str(tmp_path))
    assert cli.main(["data", "check"]) == 0
    assert "0 ok, 10 missing, 0 corrupt" in capsys.readouterr().out


def test_download_from_local_mirror(tmp_path, capsys, monkeypatch):
    mirror = tmp_path / "mirror"
    spec = DATASETS.get("mnist")
    md5s = {}
    for f in spec.files:
        _write(mirror / f.name, f.name.encode())
        md5s[f.name] = hashlib.md5(f.name.encode()).hexdigest()
    spec = dataclasses.replace(spec.with_md5s(md5s), mirrors=("file:///nonexistent/", mirror.as_uri() + "/"))
    monkeypatch.setitem(DATASETS._items, "mnist", spec)
    assert cli.main(["data", "download", "mnist", "--data-dir", str(tmp_path / "root")]) == 0
    assert "mnist: 4 file(s) ok" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "root" / "mnist").iterdir()) == sorted(md5s)


def test_errors_and_help(tmp_path, capsys):
    assert cli.main(["data", "download", "imagenet", "--data-dir", str(tmp_path)]) == 2
    assert "valid: cifar10, cifar100, fashion_mnist, mnist" in capsys.readouterr().err
    assert cli.main(["data"]) == 1
    assert "check" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["data", "check", "--help"])
    assert exit_.value.code == 0 and "--data-dir" in capsys.readouterr().out
