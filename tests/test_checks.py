"""jaxtl._checks: a ValueError on concrete bad input, an error at run time on traced bad input,
each naming the argument, its range and the bad value(s)."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtl import _checks


def test_concrete_bad_values_are_value_errors_with_the_values():
    with pytest.raises(ValueError, match=r"^width must lie in \(0, \+inf\], got -1\.0$"):
        _checks.positive("width", -1.0, allow_inf=True)
    with pytest.raises(ValueError, match=r"^rho must lie in \[-1, 1\], got 2\.0 at entry 1, nan at entry 3$"):
        _checks.interval("rho", [0.5, 2.0, 1.0, np.nan], -1.0, 1.0)
    X = np.ones((4, 3))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"^X must be finite, got inf at entry \(2, 1\)$"):
        _checks.finite("X", X)
    with pytest.raises(ValueError, match=r"got -1\.0 at entry 0, -2\.0 at entry 1, -3\.0 at entry 2 and 2 more$"):
        _checks.positive("T", -np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match=r"^T must lie in \(0, \+inf\), got inf$"):
        _checks.positive("T", np.inf)
    with pytest.raises(ValueError, match=r"^temperature must lie in \(0, \+inf\), got -3\.0\n"):
        jax.grad(lambda T: _checks.positive("temperature", T))(-3.0)  # a concrete value under grad
    np.testing.assert_array_equal(_checks.positive("T", [1, 2]), [1.0, 2.0])
    assert float(_checks.positive("width", np.inf, allow_inf=True)) == np.inf


@pytest.mark.parametrize("value", ["100", b"1", ["1", "2"], np.array("3"), None, True, 1j])
@pytest.mark.parametrize("check", [_checks.positive, _checks.finite, lambda n, x: _checks.interval(n, x, 0.0, 1.0)])
def test_non_numbers_are_value_errors(check, value):
    with pytest.raises(ValueError, match=f"^width must be a real number, got {re.escape(repr(value))}$"):
        check("width", value)


def twice_positive(T):
    return 2 * _checks.positive("temperature", T)


def test_traced_bad_values_raise_at_run_time_with_values_and_batch_index():
    """vmap and equinox.filter_jit: an EquinoxRuntimeError; jax.jit: JAX's JaxRuntimeError
    with the same message; both RuntimeErrors."""
    message = r"temperature must lie in \(0, \+inf\), got "
    with pytest.raises(eqx.EquinoxRuntimeError, match=message + r"-1\.0 at batch index 1, nan at batch index 3\n"):
        jax.vmap(twice_positive)(jnp.array([0.1, -1.0, 0.2, jnp.nan]))
    with pytest.raises(eqx.EquinoxRuntimeError, match=message + r"0\.0 at batch index \(1, 0\)\n"):
        jax.vmap(jax.vmap(twice_positive))(jnp.array([[0.1, 0.2], [0.0, 0.3]]))
    with pytest.raises(eqx.EquinoxRuntimeError, match=message + r"-1\.0\n"):
        eqx.filter_jit(twice_positive)(-1.0)
    with pytest.raises(eqx.EquinoxRuntimeError, match=message + r"-2\.0\n"):  # each failure its own message
        eqx.filter_jit(twice_positive)(-2.0)
    with pytest.raises(RuntimeError, match=message + r"-4\.0\n") as error:
        jax.jit(twice_positive)(-4.0)
    assert type(error.value) is jax.errors.JaxRuntimeError
    X = jnp.zeros((2, 3, 2)).at[1, 2, 0].set(jnp.inf)
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"X must be finite, got inf at batch index 1, entry \(2, 0\)\n"):
        jax.vmap(lambda X: _checks.finite("X", X))(X)


def first_and_second(first, second):
    first = _checks.positive("first", first)
    second = _checks.positive("second", second)
    return first * second


def test_run_time_error_shows_the_stack_of_the_failed_check():
    """Each kind of check is its own trace in equinox, so the stack it shows is that of the
    check that failed, not that of a check of the same shapes before it."""
    with pytest.raises(eqx.EquinoxRuntimeError) as error:
        eqx.filter_jit(first_and_second)(1.0, -1.0)
    assert 'second = _checks.positive("second", second)' in str(error.value)
    assert 'first = _checks.positive("first", first)' not in str(error.value)


def test_traced_good_values_pass_and_differentiate():
    np.testing.assert_allclose(jax.vmap(twice_positive)(jnp.array([0.1, 2.0])), [0.2, 4.0])
    assert float(jax.jit(twice_positive)(0.5)) == 1.0
    assert float(jax.grad(lambda T: twice_positive(T) ** 2)(0.5)) == 4.0
    assert float(jax.jit(jax.grad(lambda T: twice_positive(T) ** 2))(0.5)) == 4.0


def test_count_with_a_minimum():
    assert _checks.count("steps", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 0, got -3$"):
        _checks.count("steps", -3, minimum=0)
    with pytest.raises(ValueError, match=r"^Ps must be an integer >= 1, got '3'$"):
        _checks.count("Ps", "3")


def test_inputs_need_a_row_and_an_input_dimension():
    _checks.inputs("X", np.ones((2, 1)))
    _checks.inputs("X", np.ones((0, 1)), empty=True)
    for shape in [(5, 0), (0, 3), (5,)]:
        with pytest.raises(ValueError, match=rf"^Xt must have shape \(Pt, N0\) with Pt >= 1 and N0 >= 1, got {re.escape(str(shape))}$"):
            _checks.inputs("Xt", np.ones(shape), "Pt")
    with pytest.raises(ValueError, match=r"^X must have shape \(P, N0\) with N0 >= 1, got \(0, 0\)$"):
        _checks.inputs("X", np.ones((0, 0)), empty=True)


def test_pairs():
    assert _checks.pair("source", [1, 2], "(Xs, ys)") == (1, 2)
    with pytest.raises(ValueError, match=r"^source must be a pair \(Xs, ys\), got a tuple of length 3$"):
        _checks.pair("source", (1, 2, 3), "(Xs, ys)")
    with pytest.raises(ValueError, match=r"^target must be a pair \(Xt, yt\), got a value of type ndarray$"):
        _checks.pair("target", np.ones((2, 3)), "(Xt, yt)")
