"""Builds the `callconnect` wheel: the module (callconnect.py, as the package's
__init__.py) and the release library beside it, so that the wheel works with nothing
else installed. The library is CALLCONNECT_LIB when set, else the source tree's
target/release/libcallconnect.so (`make release`). The version is the crate's."""
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 has its own
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
    VERSION = re.search(r'^version = "(.+)"', f.read(), re.M).group(1)
MAJOR = VERSION.split(".")[0]


def release_library():
    path = os.environ.get("CALLCONNECT_LIB") or os.path.join(ROOT, "target", "release", "libcallconnect.so")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} does not exist: run `make release` in {ROOT} first (or set CALLCONNECT_LIB)")
    return path


class BuildPackage(build_py):
    """callconnect.py becomes callconnect/__init__.py, with libcallconnect.so.MAJOR beside it."""

    def run(self):
        package = os.path.join(self.build_lib, "callconnect")
        os.makedirs(package, exist_ok=True)
        self.copy_file(os.path.join(HERE, "callconnect.py"), os.path.join(package, "__init__.py"))
        shutil.copy(release_library(), os.path.join(package, f"libcallconnect.so.{MAJOR}"))


class PlatformWheel(bdist_wheel):
    """The wheel holds a Linux shared library: tagged for the platform, any Python 3."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    version=VERSION,
    py_modules=["callconnect"],  # built as the package callconnect/ by BuildPackage
    cmdclass={"build_py": BuildPackage, "bdist_wheel": PlatformWheel},
)
