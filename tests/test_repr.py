"""Result objects show their numbers in a REPL (jaxtl._repr)."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl
from jaxtl import nets


def test_numbers_small_arrays_and_large_arrays():
    err = jaxtl.TestError(jnp.asarray(0.38101), jnp.asarray(0.1775), jnp.asarray(0.2035))
    assert repr(err) == "TestError(total=0.381, bias2=0.1775, variance=0.2035)"
    small = jaxtl.Prediction(jnp.array([1.0, -2.5, 1e-5]), jnp.array([[1.0, 2.0], [3.0, np.nan]]))
    assert repr(small) == "Prediction(mean=[1, -2.5, 1e-05], variance=[[1, 2], [3, nan]])"
    large = jaxtl.Prediction(jnp.zeros(200), jnp.zeros((3, 4)))
    assert repr(large) == "Prediction(mean=f64[200], variance=f64[3,4])"
    estimate = nets.Estimate(err, jaxtl.TestError(jnp.asarray(0.008018), jnp.asarray(0.006765), jnp.asarray(2)))
    assert repr(estimate) == (
        "Estimate(mean=TestError(total=0.381, bias2=0.1775, variance=0.2035), "
        "stderr=TestError(total=0.008018, bias2=0.006765, variance=2))"
    )
    flags = nets.Estimate(np.array([True, False]), 3)
    assert repr(flags) == "Estimate(mean=[True, False], stderr=3)"


def test_traced_fields_fall_back_to_shapes():
    shown = []

    def f(total, variance):
        shown.append(repr(jaxtl.TestError(total, total / 2, variance)))
        return total

    jax.jit(f)(jnp.ones(()), jnp.zeros(3))
    jax.vmap(f)(jnp.ones(4), jnp.zeros((4, 3)))
    assert shown == ["TestError(total=f64[], bias2=f64[], variance=f64[3])"] * 2


def test_comparison_shows_its_rows():
    c = nets.Comparison(("test error", "Q"), jnp.array([0.381, 0.8981]), jnp.array([0.3754, 0.8981]), jnp.array([0.008, 0.01]))
    assert repr(c) == "Comparison(names=('test error', 'Q'), theory=[0.381, 0.8981], networks=[0.3754, 0.8981], stderr=[0.008, 0.01])"
