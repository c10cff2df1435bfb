"""The in-tree build backend: a wheel pip can trust (RECORD hashes), an sdist that rebuilds, the same bytes twice."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def backend():
    spec = importlib.util.spec_from_file_location("memrl_build", ROOT / "build_backend" / "memrl_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BackendTests(unittest.TestCase):
    def setUp(self):
        self.backend = backend()
        self.out = tempfile.TemporaryDirectory()
        self.addCleanup(self.out.cleanup)

    def test_Wheel_HoldsThePackage_AndARecordThatMatches(self):
        name = self.backend.build_wheel(self.out.name)
        self.assertEqual(name, "memrl-0.1.0-py3-none-any.whl")
        with zipfile.ZipFile(Path(self.out.name) / name) as wheel:
            names = set(wheel.namelist())
            sources = {f"memrl/{p.relative_to(ROOT / 'src' / 'memrl').as_posix()}"
                       for p in (ROOT / "src" / "memrl").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
            self.assertTrue({"memrl/__init__.py", "memrl/py.typed"} <= sources)
            self.assertTrue(sources <= names)
            self.assertFalse(any("__pycache__" in n for n in names))
            record = list(csv.reader(io.StringIO(wheel.read("memrl-0.1.0.dist-info/RECORD").decode())))
            self.assertEqual({row[0] for row in record}, names)
            for path, digest, size in record:
                if path.endswith("RECORD"):
                    self.assertEqual((digest, size), ("", ""))
                    continue
                data = wheel.read(path)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                self.assertEqual(digest, f"sha256={expected}", path)
                self.assertEqual(int(size), len(data), path)
            metadata = wheel.read("memrl-0.1.0.dist-info/METADATA").decode()
            self.assertIn("Name: memrl\nVersion: 0.1.0\n", metadata)
            self.assertIn("Requires-Python: >=3.10", metadata)
            self.assertNotIn("Requires-Dist", metadata, "no runtime dependencies")
            self.assertIn("Root-Is-Purelib: true", wheel.read("memrl-0.1.0.dist-info/WHEEL").decode())

    def test_Builds_AreReproducible(self):
        first = (Path(self.out.name) / self.backend.build_wheel(self.out.name)).read_bytes()
        sdist = (Path(self.out.name) / self.backend.build_sdist(self.out.name)).read_bytes()
        with tempfile.TemporaryDirectory() as again:
            self.assertEqual((Path(again) / self.backend.build_wheel(again)).read_bytes(), first)
            self.assertEqual((Path(again) / self.backend.build_sdist(again)).read_bytes(), sdist)

    def test_Sdist_HoldsWhatRebuildsTheWheel(self):
        name = self.backend.build_sdist(self.out.name)
        self.assertEqual(name, "memrl-0.1.0.tar.gz")
        with tarfile.open(Path(self.out.name) / name) as sdist:
            names = set(sdist.getnames())
        for required in ("pyproject.toml", "PKG-INFO", "README.md", "build_backend/memrl_build.py",
                         "src/memrl/__init__.py", "src/memrl/py.typed", "tests/test_build.py"):
            self.assertIn(f"memrl-0.1.0/{required}", names)

    def test_Editable_PointsAtTheSourceTree(self):
        with zipfile.ZipFile(Path(self.out.name) / self.backend.build_editable(self.out.name)) as wheel:
            self.assertEqual(wheel.read("memrl.pth").decode().strip(), str(ROOT / "src"))

    def test_Version_IsThePackagesVersion(self):
        import memrl
        self.assertEqual(self.backend._project()["version"], memrl.__version__)

    def test_BuildRequirements_AreNone(self):
        self.assertEqual(self.backend.get_requires_for_build_wheel(), [])
        self.assertEqual(self.backend.get_requires_for_build_sdist(), [])


if __name__ == "__main__":
    unittest.main()
