"""A PEP 517 / PEP 660 build backend for the memrl SDK, standard library only.

pip can install the SDK offline because nothing has to be downloaded to build it: no setuptools, no wheel package.
The backend knows this project's layout (one pure-Python package under ``src/``) and reads the few ``[project]`` keys it
needs from pyproject.toml. Archives are reproducible: entries are sorted and dated 1980-01-01 (the zip epoch), so the
same tree always gives the same bytes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "memrl"
SOURCE = ROOT / "src" / PACKAGE
# Files of the sdist besides the package; enough to rebuild the wheel and run the tests from it.
SDIST_EXTRA = ["pyproject.toml", "README.md", "build_backend/memrl_build.py"]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
WHEEL_TAG = "py3-none-any"

__all__ = [
    "build_wheel", "build_sdist", "build_editable", "get_requires_for_build_wheel", "get_requires_for_build_sdist",
    "get_requires_for_build_editable", "prepare_metadata_for_build_wheel", "prepare_metadata_for_build_editable",
]


def _project() -> dict[str, str]:
    """The string keys of pyproject.toml's [project] table (tomllib is 3.11+, so a line parser keeps 3.10 working)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is None:
        raise ValueError("pyproject.toml has no [project] table")
    keys = dict(re.findall(r'^([A-Za-z][\w-]*)\s*=\s*"([^"]*)"\s*$', section.group(1), re.M))
    for required in ("name", "version"):
        if required not in keys:
            raise ValueError(f"pyproject.toml [project] has no string '{required}'")
    return keys


def _metadata() -> str:
    project = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    readme = ROOT / project.get("readme", "README.md")
    if readme.is_file():
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + readme.read_text(encoding="utf-8")
    return "\n".join(lines) + "\n"


def _dist_info() -> str:
    project = _project()
    return f"{project['name']}-{project['version']}.dist-info"


def _wheel_name() -> str:
    project = _project()
    return f"{project['name']}-{project['version']}-{WHEEL_TAG}.whl"


def _dist_info_files() -> dict[str, bytes]:
    info = _dist_info()
    wheel = f"Wheel-Version: 1.0\nGenerator: memrl_build\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"
    return {
        f"{info}/METADATA": _metadata().encode("utf-8"),
        f"{info}/WHEEL": wheel.encode("utf-8"),
        f"{info}/top_level.txt": f"{PACKAGE}\n".encode("utf-8"),
    }


def _package_files() -> dict[str, bytes]:
    files = {}
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"{PACKAGE}/{path.relative_to(SOURCE).as_posix()}"] = path.read_bytes()
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(directory: str, files: dict[str, bytes]) -> str:
    files = {**files, **_dist_info_files()}
    record = f"{_dist_info()}/RECORD"
    lines = [_record_line(name, data) for name, data in sorted(files.items())] + [f"{record},,"]
    files[record] = ("\n".join(lines) + "\n").encode("utf-8")
    name = _wheel_name()
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():  # RECORD last, as the wheel spec recommends
            entry = zipfile.ZipInfo(path, ZIP_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return name


def _write_metadata_dir(directory: str) -> str:
    for name, data in _dist_info_files().items():
        target = Path(directory) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return _dist_info()


# ---- PEP 517 ----------------------------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings=None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None) -> str:
    return _write_metadata_dir(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_sdist(sdist_directory, config_settings=None) -> str:
    project = _project()
    base = f"{project['name']}-{project['version']}"
    files = {f"{base}/PKG-INFO": _metadata().encode("utf-8")}
    for name in SDIST_EXTRA:
        files[f"{base}/{name}"] = (ROOT / name).read_bytes()
    for name, data in _package_files().items():
        files[f"{base}/src/{name}"] = data
    for path in sorted((ROOT / "tests").glob("*.py")):
        files[f"{base}/tests/{path.name}"] = path.read_bytes()
    archive_name = f"{base}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            entry.mode = 0o644
            entry.mtime = 315532800  # 1980-01-01, as in the wheel
            archive.addfile(entry, io.BytesIO(data))
    # mtime=0 in the gzip header too, or the same tree would give different bytes on every build.
    with gzip.GzipFile(os.path.join(sdist_directory, archive_name), "wb", mtime=0) as packed:
        packed.write(buffer.getvalue())
    return archive_name


# ---- PEP 660 (pip install -e) -----------------------------------------------------------------------------------

def get_requires_for_build_editable(config_settings=None) -> list[str]:
    return []


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None) -> str:
    return _write_metadata_dir(metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    # A .pth line puts src/ on sys.path, so edits to the tree are what `import memrl` loads.
    return _write_wheel(wheel_directory, {f"{PACKAGE}.pth": f"{ROOT / 'src'}\n".encode("utf-8")})
