"""Input checks: the one place where jaxtl checks its arguments.

A concrete bad value (also under `jax.grad` outside `jit`) raises `ValueError` at once,
naming the argument, its allowed range and the offending value(s). A traced value (under
`jax.jit` or `jax.vmap`) is checked at run time by `equinox.branched_error_if`: when, and
only when, a check fails, the message is formatted on the host with the offending value(s)
and their batch index (`_report`). Equinox raises it as an `equinox.EquinoxRuntimeError`
under `jax.vmap` and `equinox.filter_jit`; under `jax.jit` JAX wraps the same message in a
`jax.errors.JaxRuntimeError`. Both are `RuntimeError`s.
"""

import dataclasses
import itertools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from equinox.internal import unvmap_any
from jaxtyping import Array, ArrayLike, Bool, Float, Int


_SHOWN = 3  # offending entries a message lists


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _index(spot: np.ndarray) -> str:
    return str(int(spot[0])) if len(spot) == 1 else str(tuple(int(i) for i in spot))


def _offending(values: np.ndarray, bad: np.ndarray, batch_ndim: int = 0) -> str:
    """The bad entries of `values` with their place, e.g. "-1.0", "nan at entry (3, 5)",
    "-0.1 at batch index 1": the first `_SHOWN` of them and how many more. The leading
    `batch_ndim` axes of `values` are batch (vmap) axes."""
    spots = np.argwhere(bad)
    shown = []
    for spot in spots[:_SHOWN]:
        places = [f"{label} {_index(part)}" for label, part in
                  (("batch index", spot[:batch_ndim]), ("entry", spot[batch_ndim:])) if len(part)]  # fmt: skip
        shown.append(repr(float(values[tuple(spot)])) + (f" at {', '.join(places)}" if places else ""))
    more = len(spots) - _SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@dataclasses.dataclass(frozen=True)
class _Messages:
    """The messages of failed run-time checks, by number: `_report` formats and stores one
    when a check fails; equinox looks it up by that number (its `branched_error_if` index)
    when it raises. The store is shared; equinox is given one `_Messages` per requirement,
    so that it traces each kind of check on its own and shows the stack of the one that
    failed. The last 64 messages are kept (with `EQX_ON_ERROR=nan` nothing reads them)."""

    requirement: str
    _store: ClassVar["dict[int, str]"] = {}
    _numbers: ClassVar[itertools.count] = itertools.count(1)

    @classmethod
    def add(cls, message: str) -> int:
        number = next(cls._numbers) % (2**31 - 1) + 1  # an int32 > 0
        cls._store[number] = message
        while len(cls._store) > 64:
            del cls._store[next(iter(cls._store))]
        return number

    def __getitem__(self, number: int) -> str:
        return self._store[number]


def _report(x: Array, bad: Bool[Array, "*s"], requirement: str) -> Int[Array, ""]:
    """On the host, store "{requirement}, got {offending values}" for traced `x` and `bad` of
    equal shape; returns its number (int32, one per batch element under `jax.vmap`)."""
    ndim = x.ndim

    def store(values, bad):
        values, bad = np.asarray(values), np.asarray(bad)
        batch_ndim = values.ndim - ndim
        number = _Messages.add(f"{requirement}, got {_offending(values, bad, batch_ndim)}")
        return np.full(values.shape[:batch_ndim], number, np.int32)

    struct = jax.ShapeDtypeStruct((), jnp.int32)
    return jax.pure_callback(store, struct, jax.lax.stop_gradient(x), bad, vmap_method="broadcast_all")


def _check(x: Array, bad: Bool[Array, "*s"], requirement: str) -> Array:
    """`x`, checked: a ValueError now if concrete, else an error at run time where `bad`
    (of the shape of `x`) holds True. `requirement` is e.g. "width must lie in (0, +inf]"."""
    if not _is_traced(bad):  # a concrete value (x itself may carry a gradient: stop it)
        if np.any(bad):
            raise ValueError(f"{requirement}, got {_offending(np.asarray(jax.lax.stop_gradient(x)), np.asarray(bad))}")
        return x
    # The message is formatted only on failure: `unvmap_any` keeps the cond a cond under vmap.
    number = jax.lax.cond(unvmap_any(bad), lambda: _report(x, bad, requirement), lambda: jnp.zeros((), jnp.int32))
    return eqx.branched_error_if(x, bad, number, _Messages(requirement))


def real(name: str, x) -> Float[Array, "*s"]:
    """`x` as a float array, checked to be a real number or an array of real numbers (not a
    string, a bool or a complex number). A static check: it reads only the type."""
    try:
        x_array = jnp.asarray(x)  # no dtype: jnp.asarray("1", float) would be 1.0
    except (TypeError, ValueError):  # strings, None, objects
        x_array = None
    if x_array is None or not (jnp.issubdtype(x_array.dtype, jnp.integer) or jnp.issubdtype(x_array.dtype, jnp.floating)):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    return x_array.astype(float)


def within(
    name: str, x: Float[ArrayLike, "*s"], low: float, high: float, *, closed: "tuple[bool, bool]" = (True, True)
) -> Float[Array, "*s"]:
    """`x` as a float array, checked to lie between `low` and `high` (either may be infinite),
    each end included if `closed` says so: (0, +inf] is `within(name, x, 0, inf, closed=(False,
    True))`. NaN lies nowhere."""
    x = real(name, x)
    above = (x >= low) if closed[0] else (x > low)
    below = (x <= high) if closed[1] else (x < high)
    ends = f"{'[' if closed[0] else '('}{_end(low)}, {_end(high)}{']' if closed[1] else ')'}"
    return _check(x, ~(above & below), f"{name} must lie in {ends}")


def _end(value: float) -> str:
    return "+inf" if value == np.inf else "-inf" if value == -np.inf else f"{value:g}"


def positive(name: str, x: Float[ArrayLike, "*s"], *, allow_inf: bool = False) -> Float[Array, "*s"]:
    """`x` as a float array, checked to be > 0 (and finite unless `allow_inf`)."""
    return within(name, x, 0.0, np.inf, closed=(False, allow_inf))


def finite(name: str, x: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
    """`x` as a float array, checked to hold no NaN or infinite entry."""
    x = real(name, x)
    return _check(x, ~jnp.isfinite(x), f"{name} must be finite")


def interval(
    name: str, x: Float[ArrayLike, "*s"], low: float, high: float, *, allow_inf: bool = False
) -> Float[Array, "*s"]:
    """`x` as a float array, checked to lie in the closed interval [low, high] (open at +inf
    unless `allow_inf`)."""
    return within(name, x, low, high, closed=(True, high != np.inf or allow_inf))


def shape(name: str, x: Array, expected: tuple, meaning: str) -> None:
    """Raise a ValueError unless `x.shape == expected` (a static check)."""
    if jnp.shape(x) != tuple(expected):
        raise ValueError(f"{name} must have shape {meaning} = {tuple(expected)}, got {jnp.shape(x)}")


def inputs(name: str, X: Array, rows: str = "P", *, empty: bool = False) -> None:
    """Raise a ValueError unless `X` is a matrix of inputs, shape (rows, N0), with at least
    one input dimension and (unless `empty`) one row (a static check)."""
    least = (0 if empty else 1, 1)
    if jnp.ndim(X) != 2 or any(n < m for n, m in zip(jnp.shape(X), least)):
        sizes = "N0 >= 1" if empty else f"{rows} >= 1 and N0 >= 1"
        raise ValueError(f"{name} must have shape ({rows}, N0) with {sizes}, got {jnp.shape(X)}")


def pair(name: str, value, members: str) -> tuple:
    """`value` as a tuple of two (e.g. the data (X, y) of a task); a ValueError naming `name`
    and the expected `members`, e.g. "(Xs, ys)", otherwise."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be a pair {members}, got a value of type {type(value).__name__}")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair {members}, got a {type(value).__name__} of length {len(value)}")
    return tuple(value)


def count(name: str, n, minimum: int = 1) -> int:
    """`n` as a Python int, checked to be an integer >= `minimum` (a static size: never traced)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def choice(name: str, value, allowed: tuple) -> str:
    """`value` if it is one of the strings `allowed`, else a ValueError naming `name`."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
