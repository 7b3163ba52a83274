"""Build the ext/ hot-path extensions.

Environment switches (all off by default, release build):
  VL_ANNOTATE=1   write Cython annotated HTML next to each .pyx (make annotate)
  VL_TRACE=1      compile with linetrace/profile and CYTHON_TRACE for profilers (make profile)
  VL_DEBUG=1      -O0 -g, bounds checks on
  VL_EXT_ONLY=a,b build only these extension names (e.g. ext.book) -- for quick iteration
  VL_SKIP_EXT=1   build no extensions (editable install of the Python parts only)
  VL_MARCH=native add -march=<value> (deploy builds per target host; never in CI wheels)
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("VL_DEBUG") == "1"
TRACE = os.environ.get("VL_TRACE") == "1"
ANNOTATE = os.environ.get("VL_ANNOTATE") == "1"
ONLY = {x.strip() for x in os.environ.get("VL_EXT_ONLY", "").split(",") if x.strip()}
MARCH = os.environ.get("VL_MARCH", "")

INCLUDE = ["ext/include"]
cflags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-DNDEBUG"]
if MARCH:
    cflags.append(f"-march={MARCH}")
macros = []
if TRACE:
    macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]


def ext(name: str, *, cpp: bool = False, libs: tuple[str, ...] = ()) -> Extension:
    path = name.replace(".", "/") + (".pyx")
    extra = list(cflags)
    if cpp:
        extra += ["-std=c++17"]
    return Extension(
        name,
        [path],
        include_dirs=INCLUDE,
        libraries=list(libs),
        extra_compile_args=extra,
        define_macros=macros,
        language="c++" if cpp else "c",
    )


EXTENSIONS = [
    ext("ext.clock"),
    ext("ext.decimal"),
    ext("ext.book"),
    ext("ext.checksum", libs=("z",)),
    ext("ext.ratelimit"),
    ext("ext.histogram"),
    ext("ext.json", cpp=True, libs=("simdjson",)),
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

setup(
    ext_modules=[] if not EXTENSIONS else cythonize(
        EXTENSIONS,
        compiler_directives=directives,
        annotate=ANNOTATE,
        include_path=["."],
        nthreads=int(os.environ.get("VL_JOBS", "2")) if "build_ext" in sys.argv else 0,
    ),
    zip_safe=False,
)
