"""Text corpora for language models: bytes as tokens, deterministic splits, fixed-length blocks.

A text is tokenized at the byte level -- its UTF-8 bytes are the token ids, a vocabulary of
256 that needs no tokenizer and round-trips any text exactly. The split is deterministic and
interleaved (:class:`~bitrobust.data.specs.TextSpec`: chunk k of ``chunk`` bytes goes to
validation if k mod ``every`` = every - 2, to test if it is every - 1, else to train), and a
split is served as blocks of length L that never cross a chunk boundary:
x = tokens[i:i+L], y = tokens[i+1:i+L+1] for i = chunk start + 0, L, 2L, ... (contract 7).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from bitrobust.data.formats import read_bible_sqlite
from bitrobust.data.specs import TEXTS, TextSpec
from bitrobust.data.storage import ensure_file
from bitrobust.errors import BitrobustError

TEXT_READERS = {"bible_sqlite": read_bible_sqlite}


@dataclass(eq=False, repr=False)
class TokenBlocks(torch.utils.data.Dataset):
    """Blocks of ``block_size`` tokens of ``tokens`` (1-D, uint8 bytes or int64 ids) starting at ``starts``.

    Item i is ``(x, y)`` with x = tokens[s:s+L], y = tokens[s+1:s+L+1] (int64), s = starts[i].

    >>> blocks = TokenBlocks.from_tokens(torch.tensor(list(b"hello world"), dtype=torch.uint8), block_size=4)
    >>> len(blocks), bytes(blocks[1][0].tolist()), bytes(blocks[1][1].tolist())
    (2, b'o wo', b' wor')
    """

    tokens: torch.Tensor
    starts: torch.Tensor
    block_size: int
    name: str = "tokens"
    num_classes: int = 256

    def __post_init__(self) -> None:
        if self.tokens.dim() != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tuple(self.tokens.shape)}")
        if len(self.starts) and int(self.starts.max()) + self.block_size + 1 > len(self.tokens):
            raise ValueError("a block (with its next-token target) runs past the end of the tokens")

    @classmethod
    def from_tokens(cls, tokens: torch.Tensor, block_size: int, name: str = "tokens", num_classes: int = 256) -> TokenBlocks:
        """Consecutive blocks 0, L, 2L, ... of one stream (as many as fit with their targets)."""
        return cls(tokens, _block_starts(0, len(tokens), block_size), block_size, name, num_classes)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = int(self.starts[i])
        return self.tokens[s : s + self.block_size].long(), self.tokens[s + 1 : s + self.block_size + 1].long()

    def __repr__(self) -> str:
        return f"TokenBlocks({self.name!r}, blocks={len(self)}, block_size={self.block_size}, device={self.device})"

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the blocks ``idx``, each ``[len(idx), L]`` int64."""
        pos = self.starts.to(idx.device)[idx, None] + torch.arange(self.block_size, device=idx.device)
        return self.tokens[pos].long(), self.tokens[pos + 1].long()

    def _with(self, starts: torch.Tensor) -> TokenBlocks:
        return TokenBlocks(self.tokens, starts, self.block_size, self.name, self.num_classes)

    def to(self, device: torch.device | str) -> TokenBlocks:
        """The same blocks on ``device`` (self if they are already there)."""
        device = torch.device(device)
        if self.tokens.device == device:
            return self
        return TokenBlocks(self.tokens.to(device), self.starts.to(device), self.block_size, self.name, self.num_classes)

    def first(self, n: int) -> TokenBlocks:
        """The first ``n`` blocks."""
        if not 0 <= n <= len(self):
            raise BitrobustError(f"the first {n} blocks requested from {len(self)}")
        return self._with(self.starts[:n])

    def subset(self, n: int, seed: int = 0, stratified: bool = True) -> TokenBlocks:
        """``n`` blocks drawn without replacement (seeded), in their original order (``stratified`` is for
        the signature of :meth:`~bitrobust.data.dataset.ImageDataset.subset`: text has no classes)."""
        if not 0 <= n <= len(self):
            raise BitrobustError(f"subset of {n} blocks requested from {len(self)}")
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self._with(self.starts[torch.sort(perm[:n]).values.to(self.starts.device)])


def _block_starts(begin: int, end: int, block_size: int) -> torch.Tensor:
    """Starts begin, begin + L, ... of the blocks that fit, with their targets, in [begin, end)."""
    return torch.arange(begin, max(begin, end - block_size), block_size)


def split_chunks(n_bytes: int, spec: TextSpec, split: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` byte ranges of ``split``'s chunks (see the module docstring).

    >>> split_chunks(10 * 4096, TEXTS.get("bible_asv"), "test")[:1], len(split_chunks(40 * 4096, TEXTS.get("bible_asv"), "train"))
    ([], 36)
    """
    spec.files_for(split)  # a known split
    wanted = {"validation": spec.every - 2, "test": spec.every - 1}.get(split)
    out = []
    for k, start in enumerate(range(0, n_bytes, spec.chunk)):
        r = k % spec.every
        if (r == wanted) if wanted is not None else r < spec.every - 2:
            out.append((start, min(start + spec.chunk, n_bytes)))
    return out


def text_bytes(name: str | TextSpec, data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> bytes:
    """The whole text of a registered corpus as UTF-8 bytes (its file found or fetched, md5-checked)."""
    spec = name if isinstance(name, TextSpec) else TEXTS.get(name)
    path = ensure_file(spec, spec.files[0], data_dir, download)
    return TEXT_READERS[spec.format](path).encode("utf-8")


def load_text(name: str | TextSpec, split: str = "train", block_size: int = 128,
              data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> TokenBlocks:
    """``split`` ("train", "validation" or "test") of a registered text as blocks of ``block_size`` bytes."""
    spec = name if isinstance(name, TextSpec) else TEXTS.get(name)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size < spec.chunk:
        raise BitrobustError(f"block_size must be an integer in [1, {spec.chunk}), got {block_size!r}")
    data = text_bytes(spec, data_dir, download)
    parts, starts, offset = [], [], 0
    for begin, end in split_chunks(len(data), spec, split):
        parts.append(data[begin:end])
        starts.append(_block_starts(offset, offset + end - begin, block_size))
        offset += end - begin
    tokens = torch.frombuffer(bytearray(b"".join(parts)), dtype=torch.uint8)
    return TokenBlocks(tokens, torch.cat(starts), block_size, spec.name, spec.vocab_size)
