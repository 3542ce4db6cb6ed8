"""Input checks that raise a ValueError on concrete values and still work under jit/vmap.

A concrete (non-traced) bad value raises `ValueError` at once, naming the argument and its
allowed range. A traced value is checked at run time with `equinox.error_if`, which raises
an `equinox.EquinoxRuntimeError` carrying the same message.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._activation import Activation, get_activation


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check(x: Array, bad: Array, message: str) -> Array:
    if _is_traced(bad):
        return eqx.error_if(x, bad, message)
    if np.any(np.asarray(bad)):
        raise ValueError(message)
    return x


def positive(name: str, x: Float[ArrayLike, "*s"], *, allow_inf: bool = False) -> Float[Array, "*s"]:
    """`x` as a float array, checked to be > 0 (and finite unless `allow_inf`)."""
    x = jnp.asarray(x, float)
    upper = "+inf]" if allow_inf else "+inf)"
    bad = ~(x > 0) | (False if allow_inf else jnp.isinf(x))
    return _check(x, bad, f"{name} must lie in (0, {upper}, got {_show(x)}")


def finite(name: str, x: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
    """`x` as a float array, checked to hold no NaN or infinite entry."""
    x = jnp.asarray(x, float)
    return _check(x, ~jnp.all(jnp.isfinite(x)), f"{name} must be finite (it holds NaN or inf)")


def shape(name: str, x: Array, expected: tuple, meaning: str) -> None:
    """Raise a ValueError unless `x.shape == expected` (a static check)."""
    if jnp.shape(x) != tuple(expected):
        raise ValueError(f"{name} must have shape {meaning} = {tuple(expected)}, got {jnp.shape(x)}")


def _show(x) -> str:
    return "a traced value" if _is_traced(x) else str(np.asarray(x))


def interval(
    name: str, x: Float[ArrayLike, "*s"], low: float, high: float, *, allow_inf: bool = False
) -> Float[Array, "*s"]:
    """`x` as a float array, checked to lie in the closed interval [low, high] (open at +inf
    unless `allow_inf`)."""
    x = jnp.asarray(x, float)
    upper = ("+inf]" if allow_inf else "+inf)") if high == np.inf else f"{high:g}]"
    bad = ~((x >= low) & (x <= high)) | (False if allow_inf else jnp.isinf(x))
    return _check(x, bad, f"{name} must lie in [{low:g}, {upper}, got {_show(x)}")


def count(name: str, n) -> int:
    """`n` as a Python int, checked to be an integer >= 1 (a static size: never traced)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def activation(name: str, value) -> Activation:
    """Resolve an activation argument by `get_activation`, naming the argument if it is unknown."""
    try:
        return get_activation(value)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
