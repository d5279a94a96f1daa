"""coursetools.checks.assert_own_code: an answer that calls the reference library is caught (fast)."""

import numpy as np
import pytest

from coursetools.checks import ExerciseError, assert_own_code
from nnlib import activations


def through_a_module(z):
    return activations.sigmoid(z)


def through_a_nested_function(z):
    def inner(v):
        return activations.sigmoid(v)
    return inner(z)


sigmoid_from_nnlib = activations.sigmoid


def through_a_name(z):
    return sigmoid_from_nnlib(z)


def own(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("answer", [through_a_module, through_a_nested_function, through_a_name])
def test_reaching_the_reference_fails_naming_the_route(answer):
    with pytest.raises(ExerciseError, match=f"{answer.__name__} uses .* which come from nnlib"):
        assert_own_code(answer)


def test_numpy_only_and_remote_functions_pass():
    assert_own_code(own)
    assert_own_code(np.exp)  # no Python code (a ufunc, or the grader's stand-in): not inspected
