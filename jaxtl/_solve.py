"""The one stationary-point mechanism behind every theory in jaxtl.

A theory supplies the gradient of a scalar potential (an effective action or a Franz-Parisi
potential) of its order parameters, written in unconstrained coordinates: `jax.grad(V)`, or
a closed form where that is cheaper (the tests check it against `jax.grad(V)`). The order
parameters solve grad V = 0 by Newton's method (optimistix): a root of the gradient, so a
saddle point is found as readily as a minimum. Derivatives of the solution with respect to everything in
`args` come from the implicit function theorem at the root (`optimistix.ImplicitAdjoint`),
never from unrolling the iterations.

A theory that can write the Jacobian of its gradient in closed form, sharing the expensive
intermediates of the gradient (the transfer theory: one Pt x Pt inverse for both), passes
`jacobian=True` and a function returning (gradient, Jacobian); Newton then uses that Jacobian
(`_ExactNewton`) instead of differentiating the gradient with autodiff at every step.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int, PyTree


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
    jacobian: bool = False,
) -> Stationary:
    """Solve gradient(x, args) = 0 by Newton's method, starting from `x0`.

    `gradient(x, args)` is the gradient of the potential with respect to x (same pytree as
    x). Everything it depends on must be passed in `args` (not closed over), so that
    implicit differentiation reaches it. Never raises: failure is reported in `result`, and
    derivatives at a failed point are NaN (not an error).

    With `jacobian=True`, x0 is a scalar or a vector of n <= 2 coordinates and
    `gradient(x, args)` returns the pair (gradient, its Jacobian: () and (), or (n,) and
    (n, n)); Newton's method then uses that Jacobian and stops once its estimate of the
    remaining error is below the tolerance (`_ExactNewton`). Its forward loop calls no linear
    solver, so it also runs inside `jax.shard_map` (the sweep's per-device loops). Implicit
    differentiation still differentiates the gradient itself.
    """

    def finite_at_failure(x, args):
        # Where an iterate is already non-finite (a failed solve), return x itself: its
        # Jacobian is then the identity, so implicit differentiation at a failed point gives
        # NaN derivatives downstream instead of an error that would stop a whole vmapped batch.
        out = gradient(x, args)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(x)]))
        if jacobian:
            g, J = out
            return jnp.where(ok, g, x), jnp.where(ok, J, jnp.eye(x.size, dtype=J.dtype).reshape(J.shape))
        return jax.tree.map(lambda gi, xi: jnp.where(ok, gi, xi), out, x)

    solver = _ExactNewton(rtol=rtol, atol=atol) if jacobian else optx.Newton(rtol=rtol, atol=atol)
    sol = optx.root_find(
        finite_at_failure,
        solver,
        x0,
        args,
        has_aux=jacobian,
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


def _newton_step(J, g):
    """J^{-1} g for a scalar or n <= 2 coordinates in closed form (no LAPACK call, no linear
    solver inside the batched loop)."""
    if g.size == 1:
        return g / J.reshape(g.shape)
    (a, b), (c, d) = J[0], J[1]
    return jnp.stack([d * g[0] - b * g[1], a * g[1] - c * g[0]]) / (a * d - b * c)


class _ExactNewtonState(eqx.Module):
    diffsize: Float[Array, ""]  # |step| / (atol + rtol |x|), max over coordinates
    predicted: Float[Array, ""]  # the error left after the step, estimated, in the same units
    finite: Bool[Array, ""]


class _ExactNewton(optx.AbstractRootFinder):
    """Newton's method with the Jacobian supplied by `fn` as its auxiliary output.

    Stopping rule: Newton converges quadratically, |step_k| ~ C |step_{k-1}|^2, so the error
    left after step k is about C |step_k|^2 = |step_k|^3 / |step_{k-1}|^2. Stop when that
    (once the steps shrink at least tenfold), or the step itself, is below the tolerance
    (atol + rtol |x|): one Jacobian and
    gradient evaluation fewer than optimistix's Cauchy rule, which also asks the gradient
    at the accepted point to be below atol, i.e. one more step after the solution is found
    to working precision.
    """

    rtol: float
    atol: float
    norm = staticmethod(optx.max_norm)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        inf = jnp.array(jnp.inf, y.dtype)
        return _ExactNewtonState(inf, inf, jnp.array(True))

    def step(self, fn, y, args, options, state, tags):
        g, J = fn(y, args)
        diff = _newton_step(J, g)
        new_y = y - diff
        diffsize = jnp.max(jnp.abs(diff) / (self.atol + self.rtol * jnp.abs(new_y)))
        rate = diffsize / state.diffsize  # 0 after the first step (state.diffsize = inf)
        # The quadratic estimate, trusted only once the steps shrink fast (rate < 0.1).
        predicted = jnp.where((rate > 0) & (rate < 0.1), diffsize * rate**2, jnp.inf)
        finite = jnp.all(jnp.isfinite(new_y))
        return new_y, _ExactNewtonState(diffsize, predicted, finite), J

    def terminate(self, fn, y, args, options, state, tags):
        done = (state.diffsize < 1) | (state.predicted < 1) | ~state.finite
        return done, optx.RESULTS.successful

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return y, aux, {}
