import gzip
import os
import pickle
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.data import load_dataset, read_idx, safe_loads
from bitrobust.data.formats import IMAGE_MAGIC, LABEL_MAGIC
from bitrobust.errors import BitrobustError


def _write_idx(path, magic: int, array: np.ndarray) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_real_mnist_test_set(real_data):
    ds = load_dataset("mnist", "test", download=False)  # found through $BITROBUST_DATA
    assert ds.x.shape == (10000, 1, 28, 28) and ds.x.dtype.is_floating_point is False
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.y.bincount().tolist() == counts
    assert int(ds.x.max()) == 255 and int(ds.x.min()) == 0
    assert (ds.num_classes, ds.mean, ds.std) == (10, (0.1307,), (0.3081,))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6), st.data())
def test_idx_roundtrip(tmp_path_factory, n, h, w, data):
    path = tmp_path_factory.mktemp("idx") / "x.gz"
    raw = data.draw(st.binary(min_size=n * h * w, max_size=n * h * w))
    array = np.frombuffer(raw, np.uint8).reshape(n, h, w)
    _write_idx(path, IMAGE_MAGIC, array)
    np.testing.assert_array_equal(read_idx(path, IMAGE_MAGIC), array)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "labels.gz"
    _write_idx(path, LABEL_MAGIC, np.arange(5))
    with pytest.raises(BitrobustError, match="bad IDX magic number 0x801, expected 0x803"):
        read_idx(path, IMAGE_MAGIC)


def test_idx_truncated_data(tmp_path):
    path = tmp_path / "images.gz"
    header = IMAGE_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (3, 28, 28))
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(28 * 28 * 2))
    with pytest.raises(BitrobustError, match="IDX data has 1568 bytes"):
        read_idx(path, IMAGE_MAGIC)
    with gzip.open(path, "wb") as f:
        f.write(header[:6])
    with pytest.raises(BitrobustError, match="truncated IDX header"):
        read_idx(path, IMAGE_MAGIC)


def test_idx_truncated_gzip_and_garbage(tmp_path):
    path = tmp_path / "images.gz"
    _write_idx(path, LABEL_MAGIC, np.arange(1000) % 10)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(BitrobustError, match="not a valid gzip"):
        read_idx(path, LABEL_MAGIC)
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(BitrobustError, match="not a valid gzip"):
        read_idx(path, LABEL_MAGIC)


def test_corrupt_mnist_labels_in_dataset(tmp_path, real_data):
    (tmp_path / "mnist").mkdir()
    shutil.copy(real_data / "mnist" / "t10k-images-idx3-ubyte.gz", tmp_path / "mnist")
    _write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", LABEL_MAGIC, np.full(10000, 12))
    with pytest.raises(BitrobustError, match="corrupt"):  # md5 catches it first
        load_dataset("mnist", "test", data_dir=tmp_path, download=False)
    with pytest.raises(BitrobustError, match=r"labels outside \[0, 10\)"):  # the parser too
        load_dataset("mnist", "test", data_dir=tmp_path, download=False, verify=False)


# --- restricted unpickler -------------------------------------------------------------


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(str(marker))}, protocol=2)
    with pytest.raises(BitrobustError, match=r"refused.*system is not allowed"):
        safe_loads(payload, "evil")
    assert not marker.exists()
    pickle.loads(payload)  # the standard unpickler would have run it
    assert marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(Vprint(1)\ntR.",
        b"c__builtin__\nexec\n(Vx=1\ntR.",
        b"csubprocess\ncall\n((Vls\nltR.",
        b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.",
    ],
)
def test_dangerous_globals_are_refused(payload):
    with pytest.raises(BitrobustError, match="not allowed"):
        safe_loads(payload)


def test_numpy_arrays_and_py2_strings_load():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = safe_loads(pickle.dumps({b"data": array, b"labels": [1, 2], b"name": b"x"}, protocol=2))
    np.testing.assert_array_equal(out[b"data"], array)
    assert out[b"labels"] == [1, 2] and out[b"name"] == b"x"
    # Python 2 str (SHORT_BINSTRING) decodes to bytes with encoding="bytes".
    assert safe_loads(b"\x80\x02}q\x00U\x04dataq\x01K\x07s.") == {b"data": 7}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_never_escapes_as_another_error(blob):
    try:
        safe_loads(b"\x80\x02" + blob)
    except BitrobustError:
        pass
