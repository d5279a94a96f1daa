"""coursetools.perturb: the stand-in for other machines' round-off (fast; each case in a fresh
interpreter, since the perturbation cannot be undone)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from coursetools import perturb

PROBE = """
import json, numpy as np
from coursetools import perturb
x = np.linspace(0.1, 2.0, 1000)
plain = {"exp": np.exp(x).tolist(), "draw": np.random.default_rng(3).standard_normal(1000).tolist(),
         "dot": float(np.dot(x, x))}
perturb.install(draws=1e-13, ops=4 * 2.0**-52, seed=SEED)
out = np.empty_like(x)
np.exp(x, out=out)
rng = np.random.default_rng(3)
print(json.dumps({
    "plain": plain,
    "exp": np.exp(x).tolist(), "again": np.exp(x).tolist(), "out": out.tolist(),
    "draw": rng.standard_normal(1000).tolist(), "generator": isinstance(rng, np.random.Generator),
    "dot": float(np.dot(x, x)), "f32": np.exp(x.astype(np.float32)).dtype.name,
    "scalar": type(np.exp(1.0)).__name__, "ints": np.random.default_rng(3).integers(0, 10, 5).tolist(),
    "reduce": float(np.add.reduce(x)), "at": hasattr(np.exp, "at"),
}))
"""


def probe(seed=0):
    done = subprocess.run([sys.executable, "-c", PROBE.replace("SEED", str(seed))],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def result():
    return probe()


def relative(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b) / np.abs(b)


def test_round_off_is_perturbed_by_a_few_units_in_the_last_place(result):
    change = relative(result["exp"], result["plain"]["exp"])
    assert change.max() <= 5 * 2.0**-52 and np.count_nonzero(change) > 500


def test_draws_are_perturbed_at_the_requested_level(result):
    change = relative(result["draw"], result["plain"]["draw"])
    assert 1e-14 < change.max() <= 1.01e-13
    assert result["generator"], "a perturbed generator is still a numpy Generator"
    assert result["ints"] == np.random.default_rng(3).integers(0, 10, 5).tolist(), "integers are exact"


def test_the_perturbed_machine_is_deterministic(result):
    assert result["exp"] == result["again"], "the same computation must give the same result"
    assert result["out"] == result["exp"], "out= receives the perturbed result"


def test_types_and_ufunc_attributes_survive(result):
    assert result["f32"] == "float32" and result["scalar"] == "float64" and result["at"]
    assert result["reduce"] == pytest.approx(float(np.add.reduce(np.linspace(0.1, 2.0, 1000))), rel=1e-15)


def test_another_seed_is_another_machine(result):
    assert probe(seed=1)["exp"] != result["exp"]


def test_the_kernel_environment_names_the_start_up_file(tmp_path):
    env = perturb.kernel_env(tmp_path / "ipython", seed=3, base={})
    startup = tmp_path / "ipython" / "profile_default" / "startup" / "00-perturb.py"
    assert "install_from_env" in startup.read_text()
    assert env["IPYTHONDIR"] == str(tmp_path / "ipython") and env[perturb.VARIABLE].endswith(" 3")
    assert not perturb.was_installed(tmp_path / "ipython")
