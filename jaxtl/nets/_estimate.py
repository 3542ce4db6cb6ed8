"""Estimates with error bars from independent Langevin chains (delete-one jackknife).

A chain (or, in the transfer protocol, a source chain with everything sampled from it) is
the independent unit: averages within a unit are correlated, units are not. Every quantity
jaxtl measures on sampled networks is a smooth function of per-unit averages (the mean
output and mean squared output per test point, the readout norm); the jackknife over units
gives it an error bar and removes its O(1/units) bias, for example the excess
Var(mean output) / units in the squared bias (y0 - <f>)^2.
"""

from typing import Callable, Generic, TypeVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._repr import Readable
from ..theory._result import Prediction, TestError

_T = TypeVar("_T")


class Estimate(Readable, Generic[_T]):
    """A measured quantity and its standard error: two pytrees of the same structure.

    For example `Estimate[TestError]`: `.mean.total` and `.stderr.total` are the test error
    and its standard error, in the units of the theory's `TestError.total`.
    """

    mean: _T
    stderr: _T


def jackknife(statistic: Callable[..., PyTree], *unit_means: Float[Array, "units ..."]) -> Estimate:
    """Delete-one jackknife of `statistic(*pooled_means)` over the leading (unit) axis.

    With theta the statistic of the means over all n units and theta_i that without unit i:
    estimate = n theta - (n - 1) mean_i theta_i (exact for statistics at most quadratic in
    the means), stderr = sqrt((n - 1) mean_i (theta_i - mean_j theta_j)^2) (Efron & Stein).
    For a linear statistic this is the plain mean and std / sqrt(n). `statistic` may return
    any pytree of arrays.
    """
    n = unit_means[0].shape[0]
    if n < 2:
        raise ValueError(f"error bars need at least two independent chains, got {n}")
    full = statistic(*(m.mean(0) for m in unit_means))
    left_out = jax.vmap(statistic)(*((m.sum(0) - m) / (n - 1) for m in unit_means))
    mean_left_out = jax.tree.map(lambda t: t.mean(0), left_out)
    return Estimate(
        mean=jax.tree.map(lambda f, m: n * f - (n - 1) * m, full, mean_left_out),
        stderr=jax.tree.map(lambda t, m: jnp.sqrt((n - 1) * ((t - m) ** 2).mean(0)), left_out, mean_left_out),
    )


def prediction(mean_output: Float[Array, "units P0"], mean_output_sq: Float[Array, "units P0"]) -> Estimate[Prediction]:
    """Posterior mean <f(x0)> and variance <f(x0)^2> - <f(x0)>^2 per test point."""
    return jackknife(lambda m, m2: Prediction(m, m2 - m**2), mean_output, mean_output_sq)


def test_error(
    mean_output: Float[Array, "units P0"], mean_output_sq: Float[Array, "units P0"], y_test: Float[Array, " P0"]
) -> Estimate[TestError]:
    """Test error from per-unit means of f(x0) and f(x0)^2 at the P0 test points.

    total = mean over x0 of <(y0 - f(x0))^2> (the posterior average: the theory's test
    error), bias2 = mean over x0 of (y0 - <f(x0)>)^2, variance = total - bias2.
    """
    return jackknife(lambda m, m2: TestError.of(Prediction(m, m2 - m**2), y_test), mean_output, mean_output_sq)
