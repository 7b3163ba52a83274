"""Project rules as tests: the layout the README promises stays true."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def test_every_ext_module_has_its_c_api_stub_and_is_built():
    setup = (ROOT / "setup.py").read_text()
    for pyx in sorted((ROOT / "ext").glob("*.pyx")):
        name = pyx.stem
        assert (ROOT / "ext" / f"{name}.pxd").exists(), f"ext/{name}.pyx has no .pxd (C API for cimport)"
        assert (ROOT / "ext" / f"{name}.pyi").exists(), f"ext/{name}.pyx has no .pyi"
        assert f'"venuelink.ext.{name}"' in setup, f"venuelink.ext.{name} is not built by setup.py"


def test_no_build_output_tracked():
    bad = [f for f in tracked() if re.search(r"\.(so|o|html)$|^build/|\.egg-info/", f)
           or (f.endswith((".c", ".cpp")) and Path(ROOT / f).with_suffix(".pyx").exists())]
    assert not bad, bad


def test_readme_opens_with_the_two_commands_and_ci_runs_the_tests():
    head = (ROOT / "README.md").read_text().split("\n```sh\n", 1)[1].split("```", 1)[0]
    cmds = [line.split("#")[0].strip() for line in head.strip().splitlines()]
    assert cmds == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_registered_venue_has_fixtures_and_a_simulator():
    from venuelink.registry import ADAPTERS
    from venuelink.sim.server import SIMULATORS
    for venue in ADAPTERS:
        assert (ROOT / "tests" / "fixtures" / venue.name).is_dir(), f"no recorded frames for {venue.name}"
        assert venue.name in SIMULATORS, f"no simulator for {venue.name}"
