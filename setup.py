"""Build the ext/ hot-path extensions.

Environment switches (all off by default, release build):
  VL_ANNOTATE=1   write Cython annotated HTML next to each .pyx (make annotate)
  VL_TRACE=1      compile with linetrace/profile and CYTHON_TRACE for profilers (make profile)
  VL_DEBUG=1      -O0 -g, bounds checks on
  VL_SANITIZE=1   AddressSanitizer + UBSan (-O1 -g; run with libasan preloaded: make asan)
  VL_EXT_ONLY=a,b build only these extension names (e.g. venuelink.ext.book) -- for quick iteration
  VL_SKIP_EXT=1   build no extensions (editable install of the Python parts only)
  VL_MARCH=native add -march=<value> to every module (deploy builds per target host)
  VL_PORTABLE=1   build venuelink.ext.json for any x86-64 (simdjson's scalar On-Demand kernel); by default it
                  is built for the build host's SIMD level (AVX2 when the host has it), and refuses
                  to import on a CPU without it
"""
import os
import runpy
import sys
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("VL_DEBUG") == "1"
SANITIZE = os.environ.get("VL_SANITIZE") == "1"
TRACE = os.environ.get("VL_TRACE") == "1"
ANNOTATE = os.environ.get("VL_ANNOTATE") == "1"
ONLY = {x.strip() for x in os.environ.get("VL_EXT_ONLY", "").split(",") if x.strip()}
MARCH = os.environ.get("VL_MARCH", "")

INCLUDE = ["ext/include"]
cflags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-DNDEBUG"]
if SANITIZE:
    cflags = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
if MARCH:
    cflags.append(f"-march={MARCH}")
macros = []
if TRACE:
    macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]


def host_simd_flags() -> list[str]:
    """simdjson's On-Demand front end is compiled into our translation unit for the SIMD level
    the compiler flags allow (the library's runtime dispatch covers only its own DOM API).
    Without these flags it is the scalar fallback, several times slower."""
    if os.environ.get("VL_PORTABLE") == "1" or MARCH:
        return []
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    need = {"avx2": "-mavx2", "bmi1": "-mbmi", "bmi2": "-mbmi2", "pclmulqdq": "-mpclmul", "abm": "-mlzcnt"}
    if all(k in flags for k in need):
        return list(need.values())
    return []


HEADERS = sorted(str(p) for p in Path("ext/include").glob("*.h*"))


# The installed package is ``venuelink``; the repository keeps its folders: engine/ is ``venuelink``,
# ext/ ``venuelink.ext``, adapters/ ``venuelink.adapters`` (package_dir below). Cython finds a
# cimported ``venuelink.ext.book`` by its path, so the sources are compiled through a small tree of
# links that spells the installed names (build/cysrc/venuelink/{ext,adapters} -> the folders).
HERE = Path(__file__).resolve().parent
PACKAGE_DIRS = {"venuelink": "engine", "venuelink.ext": "ext", "venuelink.adapters": "adapters"}
CYSRC = Path("build") / "cysrc"


def link_tree() -> None:
    pkg = HERE / CYSRC / "venuelink"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").touch()
    for sub in ("ext", "adapters"):
        link = pkg / sub
        if not link.is_symlink():
            link.symlink_to(HERE / sub, target_is_directory=True)


def packages() -> list[str]:
    """Every package under the three folders, by its installed name."""
    out = []
    for name, folder in PACKAGE_DIRS.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder).parts
            if "__pycache__" not in rel:
                out.append(".".join((name, *rel)))
    return out


def ext(name: str, *, cpp: bool = False, libs: tuple[str, ...] = (), simd: bool = False) -> Extension:
    path = str(CYSRC / (name.replace(".", "/") + ".pyx"))
    extra = list(cflags)
    if cpp:
        extra += ["-std=c++17"]
    if simd:
        extra += host_simd_flags()
    return Extension(
        name,
        [path],
        include_dirs=INCLUDE,
        libraries=list(libs),
        extra_compile_args=extra,
        extra_link_args=["-fsanitize=address,undefined"] if SANITIZE else [],
        define_macros=macros,
        language="c++" if cpp else "c",
        # the shared C headers every extension may include: a change rebuilds each of them, the
        # venues' parsers included (build_ext only looks at the sources and these)
        depends=HEADERS,
    )


def venue_extensions() -> list[Extension]:
    """Each venue's Cython extensions, as its manifest (adapters/<venue>/__init__.py) lists them,
    read by engine/manifests.py as plain files (nothing of the package is imported)."""
    read = runpy.run_path(str(HERE / "engine" / "manifests.py"))["manifests"]
    out = []
    for m in read(HERE / "adapters"):
        for e in m.extensions:
            e = dict(e)
            out.append(ext(e.pop("name"), **e))
    return out


EXTENSIONS = [
    ext("venuelink.ext.clock"),
    ext("venuelink.ext.decimal", simd=True),
    ext("venuelink.ext.book"),
    ext("venuelink.ext.checksum", libs=("z",)),
    ext("venuelink.ext.ratelimit"),
    ext("venuelink.ext.histogram"),
    ext("venuelink.ext.json", cpp=True, libs=("simdjson",), simd=True),
    ext("venuelink.ext.sync"),
    ext("venuelink.ext.feed"),
    ext("venuelink.ext.events"),
    ext("venuelink.ext.wire", cpp=True, libs=("simdjson",), simd=True),
    ext("venuelink.ext.view"),
    *venue_extensions(),
]
if ONLY:
    EXTENSIONS = [e for e in EXTENSIONS if e.name in ONLY]
if os.environ.get("VL_SKIP_EXT") == "1":
    # `make` installs the dependencies and the editable package this way, then builds the
    # extensions once in place with build_ext --inplace (no second compile inside pip).
    EXTENSIONS = []

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "embedsignature": True,
    "profile": TRACE,
    "linetrace": TRACE,
    "warn.maybe_uninitialized": True,
}

if EXTENSIONS:
    link_tree()

setup(
    packages=packages(),
    package_dir=PACKAGE_DIRS,
    ext_modules=[] if not EXTENSIONS else cythonize(
        EXTENSIONS,
        compiler_directives=directives,
        annotate=ANNOTATE,
        include_path=[str(CYSRC)],
        nthreads=int(os.environ.get("VL_JOBS", "2")) if "build_ext" in sys.argv else 0,
    ),
    zip_safe=False,
)
