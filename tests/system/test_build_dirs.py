"""The build directory is keyed on the compiler and the flavour: make
CC=clang after make must rebuild with clang, not find gcc's objects up to
date in a shared build/normal (issue 16).  make -n shows where each build
would go without building anything."""
import re
import subprocess

from conftest import ROOT
from procs import clean_make_env


def build_dirs(*args):
    """The build/... directories the objects of make -n ARGS go to."""
    p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "-n",
                        "-B", "programs"] + list(args), env=clean_make_env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return set(re.findall(r"-o (build/[^/\s]+)/", p.stdout))


def test_build_dir_per_compiler_and_flavour():
    assert build_dirs() == {"build/normal"}
    assert build_dirs("CC=gcc") == {"build/normal"}
    assert build_dirs("SANITIZE=1") == {"build/sanitize"}
    assert build_dirs("CC=clang") == {"build/clang"}
    assert build_dirs("CC=clang", "SANITIZE=1") == {"build/clang-sanitize"}
    # BUILD=DIR still wins (as common build scripts and CI use it).
    assert build_dirs("CC=clang", "BUILD=build/mine") == {"build/mine"}
