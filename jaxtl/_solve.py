"""The one stationary-point mechanism behind every theory in jaxtl.

A theory supplies the gradient of a scalar potential (an effective action or a Franz-Parisi
potential) of its order parameters, written in unconstrained coordinates: `jax.grad(V)`, or
a closed form where that is cheaper (the tests check it against `jax.grad(V)`). The order
parameters solve grad V = 0 by Newton's method (optimistix): a root of the gradient, so a
saddle point is found as readily as a minimum. Derivatives of the solution with respect to everything in
`args` come from the implicit function theorem at the root (`optimistix.ImplicitAdjoint`),
never from unrolling the iterations.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Float, Int, PyTree


class Stationary(eqx.Module):
    """A stationary point of a potential and how the search ended.

    - `value`: the coordinates at the stationary point (same pytree as the initial guess).
    - `result`: `optimistix.RESULTS.successful`, or the reason for failure (a non-finite
      value counts as `RESULTS.nonfinite`); `optimistix.RESULTS[result]` is the message.
    - `num_steps`: Newton steps taken.
    """

    value: PyTree[Float[Array, "..."]]
    result: optx.RESULTS
    num_steps: Int[Array, ""]


def stationary_point(
    gradient: Callable[[PyTree, PyTree], PyTree[Float[Array, "..."]]],
    x0: PyTree[Float[Array, "..."]],
    args: PyTree,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 64,
) -> Stationary:
    """Solve gradient(x, args) = 0 by Newton's method, starting from `x0`.

    `gradient(x, args)` is the gradient of the potential with respect to x (same pytree as
    x). Everything it depends on must be passed in `args` (not closed over), so that
    implicit differentiation reaches it. Never raises: failure is reported in `result`, and
    derivatives at a failed point are NaN (not an error).
    """

    def finite_at_failure(x, args):
        # Where an iterate is already non-finite (a failed solve), return x itself: its
        # Jacobian is then the identity, so implicit differentiation at a failed point gives
        # NaN derivatives downstream instead of an error that would stop a whole vmapped batch.
        g = gradient(x, args)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(x)]))
        return jax.tree.map(lambda gi, xi: jnp.where(ok, gi, xi), g, x)

    sol = optx.root_find(
        finite_at_failure,
        optx.Newton(rtol=rtol, atol=atol),
        x0,
        args,
        max_steps=max_steps,
        adjoint=optx.ImplicitAdjoint(),
        throw=False,
    )
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(sol.value)]))
    result = optx.RESULTS.where(finite, sol.result, optx.RESULTS.nonfinite)
    # The same NaN, but cotangents stop here at a non-finite point: reverse-mode gradients
    # are then NaN there rather than NaN fed into (and raised by) the adjoint's linear solve.
    value = jax.tree.map(lambda v: jnp.where(finite, v, jnp.nan), sol.value)
    return Stationary(value, result, sol.stats["num_steps"])


def raise_if_failed(stationary: Stationary, theory: str) -> Stationary:
    """Raise (at run time, also under jit and vmap) unless the search succeeded."""
    failed = stationary.result != optx.RESULTS.successful
    message = (
        f"{theory}: the order-parameter equations were not solved (Newton diverged, hit its "
        "step limit, or gave a non-finite value). Pass throw=False to get the status of each "
        "point in `.result` instead of this error."
    )
    return eqx.tree_at(lambda s: s.value, stationary, eqx.error_if(stationary.value, failed, message))
