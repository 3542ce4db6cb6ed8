"""The one stationary-point mechanism behind every theory in jaxtl, and the one list of outcomes.

A theory supplies the gradient of a scalar potential (an effective action or a Franz-Parisi
potential) of its order parameters in unconstrained coordinates, together with the Jacobian
of that gradient, both in closed form and sharing their expensive intermediates (the tests
check them against `jax.grad` / `jax.jacfwd` of the potential). The order parameters solve
grad V = 0 by Newton's method: a root of the gradient, so a saddle point is found as readily
as a minimum.

Newton is globalized by backtracking on the merit |grad V|^2, for which the Newton direction
is a descent direction at every point, saddle or not: a step is halved until the merit
decreases by Armijo's rule. A full step is taken wherever Newton converges anyway, so this
costs nothing there; far from the root it keeps an iterate from jumping out of the basin it
started in (into that of an unphysical root) and halves back a step into a region where the
potential is not finite. Derivatives of the solution with respect to everything in `args`
come from the implicit function theorem at the root (`optimistix.ImplicitAdjoint`), never
from unrolling the iterations.

Where a theory can also evaluate the gradient alone, cheaper than with its Jacobian, and has a
point near the root with a Jacobian close to the exact one there (the root of an approximate
problem and its Jacobian), the solve starts with the chord method there: every step uses that
Jacobian and evaluates the gradient alone; a point is accepted where the step computed at it
is below the tolerance, and whatever the theory computed with that gradient comes back with
it (`Stationary.aux`), so that nothing has to be evaluated again at the root. A point the
chord does not bring there in a few steps is solved by globalized Newton from its ordinary
start, as without a guess; derivatives come from the implicit function theorem either way.

A stationary point is not yet a result: each theory checks the conditions of its domain and
reports the first one violated as its own outcome in `RESULTS` (`first_failure`).
"""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from equinox.internal import unvmap_any
from jaxtyping import Array, Bool, Float, Int, PyTree

from ._linalg import solve


class RESULTS(optx.RESULTS):  # pyright: ignore
    """How a theory's solve ended: `successful` (a physical stationary point), one of
    optimistix's solver failures, or a stationary point outside the theory's domain ("no
    physical stationary point: ..." naming the condition violated). `jaxtl.RESULTS[sol.result]`
    is the message; `sol.converged` is `sol.result == jaxtl.RESULTS.successful`."""

    not_a_root = "the solver stopped at a point where the gradient of the potential is not zero (|grad V| > 1e-6)"
    source_failed = "the source's single-task solve failed (its reason: `sol.source.result`)"
    prior_only_failed = "the prior-only reference solve of the target failed (its reason: `sol.prior_only.result`)"
    not_a_minimum = (
        "no physical stationary point: Q* is not a minimum of the action S(Q) (S'' <= 0 there)"
    )
    overlap_not_psd = (
        "no physical stationary point: the overlaps violate Q_s Q_tt >= Q_st^2 with Q_tt >= 0 "
        "(the Gram matrix of the source and target readouts is not positive semidefinite)"
    )
    matrix_not_pd = "no physical stationary point: M = C_e + T I is not positive definite (its Cholesky fails)"
    field_not_psd = (
        "no physical stationary point: the covariance S_g of the source-informed field is not "
        "positive semidefinite on the target training points (its Cholesky fails)"
    )

    readout_not_physical = (
        "no physical stationary point: the readout's overlaps violate q > 0 and m^2 <= rho q "
        "(or the equation for q has no positive solution)"
    )
    kernel_not_pd = (
        "no physical stationary point: the adapted kernel Phi + lambda1 T I is not positive definite "
        "(its Cholesky fails)"
    )
    renormalized_kernel_not_psd = (
        "no physical stationary point: the renormalized kernel K_R is not positive semidefinite "
        "(the 'full' deep action, a linearization in Q, far from Q = 1)"
    )
    samples_collapsed = (
        "the Monte Carlo estimate is not reliable: the effective sample size of the importance weights "
        "fell below max(P, 100) (the tilt is too strong for this many draws: pass more `neurons`, or a "
        "smaller feature_strength)"
    )
    monte_carlo_unresolved = (
        "the Monte Carlo estimate is not resolved: two halves of the weight draws disagree on the "
        "stationarity equation by more than 10% of |y| (pass more `neurons`)"
    )


NO_PHYSICAL_ROOT = (
    "not_a_minimum", "overlap_not_psd", "matrix_not_pd", "field_not_psd", "readout_not_physical", "kernel_not_pd",
    "renormalized_kernel_not_psd",
)  # fmt: skip
"""The names of the outcomes in `RESULTS` that are a stationary point outside the domain."""


def first_failure(result: RESULTS, checks: "Sequence[tuple[Bool[Array, ''], RESULTS]]") -> RESULTS:
    """`result` where it is a failure already; elsewhere the outcome of the first of `checks`,
    pairs (condition that must hold, outcome when it does not), that fails; `successful` where
    all hold."""
    verdict = RESULTS.successful
    for ok, failure in reversed(checks):
        verdict = RESULTS.where(ok, verdict, failure)
    return RESULTS.where(result == RESULTS.successful, verdict, result)


class Stationary(eqx.Module):
    """A stationary point of a potential and how the search ended.

    - `value`: the coordinates at the stationary point (same shape as the initial guess);
      NaN where the search failed.
    - `result`: `RESULTS.successful`, or the reason for failure (a non-finite value counts as
      `RESULTS.nonfinite`, a backtracking that cannot decrease the merit as
      `RESULTS.nonlinear_divergence`).
    - `num_steps`: evaluations of the gradient (with its Jacobian, or alone in the chord steps;
      full Newton steps and halved trial steps).
    - `aux`: with a `gradient` function (`stationary_point`), its auxiliary output at `value`,
      without derivatives (where the search failed: at the point it stopped at); None otherwise.
    - `jacobian`: without a `gradient` function, the Jacobian at `value` from the evaluation
      that checks the gradient there, without derivatives (for a check of the root's kind,
      such as a minimum's positive curvature, at no further evaluation; where the search
      failed: at the point it stopped at); None otherwise.
    """

    value: Float[Array, "*n"]
    result: RESULTS
    num_steps: Int[Array, ""]
    aux: PyTree = None
    jacobian: PyTree = None


def stationary_point(
    gradient_and_jacobian: Callable[[Array, PyTree], "tuple[Array, Array]"],
    x0: Float[Array, "*n"],
    args: PyTree,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 64,
    gradient: "Callable[[Array, PyTree], tuple[Array, PyTree]] | None" = None,
    guess: "tuple[Float[Array, '*n'], Float[Array, '*nn']] | None" = None,
) -> Stationary:
    """Solve gradient(x, args) = 0 by globalized Newton (module docstring), starting from `x0`.

    `x0` is a scalar or a vector of n coordinates; `gradient_and_jacobian(x, args)`
    returns the gradient of the potential at x (shape of x) and its Jacobian (() or (n, n));
    a non-finite value marks x as outside the potential's domain.
    Everything it depends on must be passed in `args` (not closed over), so that implicit
    differentiation reaches it. Newton stops once its estimate of the remaining error is below
    atol + rtol |x| (`_Newton`). For n <= 3 the loop calls no linear solver, so it also runs
    inside `jax.shard_map` (the sweep's per-device loops). Never raises: failure is reported in
    `result`, and derivatives at a failed point are NaN (not an error).

    With `gradient(x, args)` -> (the same gradient, aux) and `guess` = (x_g, J_g), a point near
    the root and a Jacobian close to the gradient's there (e.g. the root of an approximate
    problem and its Jacobian): the chord method from x_g with J_g first (module docstring,
    `_chord`), globalized Newton from `x0` only where it fails; `aux` of the point returned is
    `Stationary.aux`.
    """
    if (gradient is None) != (guess is None):
        raise ValueError("stationary_point: `gradient` and `guess` are given together or not at all")
    if gradient is not None:
        return _chorded(gradient_and_jacobian, gradient, x0, guess, args, rtol=rtol, atol=atol, max_steps=max_steps)

    sol = _root_find(gradient_and_jacobian, x0, args, rtol=rtol, atol=atol, max_steps=max_steps)
    # The stopping rule predicts the error from the last steps; check the gradient itself at
    # the point returned, so that a point that is not a root is never reported as one.
    g, J = gradient_and_jacobian(*jax.lax.stop_gradient((sol.value, args)))
    return eqx.tree_at(lambda s: s.jacobian, _stationary(sol, g, sol.stats["num_steps"]), J, is_leaf=lambda x: x is None)


def _root_find(gradient_and_jacobian, x0, args, *, rtol, atol, max_steps, done=None) -> optx.Solution:
    """Globalized Newton (`_Newton`) from `x0` by `optx.root_find`, derivatives by the implicit
    function theorem; where `done` (a bool), x0 is returned as it is (a root found already)."""

    def finite_at_failure(x, args):
        # Where the gradient or its Jacobian is not finite (a failed solve, or a trial point
        # outside the potential's domain), return x itself and say so: Newton rejects such a
        # trial point, and implicit differentiation at a failed point sees the identity, a
        # finite operator, instead of an error that would stop a whole vmapped batch.
        g, J = gradient_and_jacobian(x, args)
        ok = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(J))
        return jnp.where(ok, g, x), (jnp.where(ok, J, jnp.eye(x.size, dtype=J.dtype).reshape(J.shape)), ok)

    return optx.root_find(
        finite_at_failure,
        _Newton(rtol=rtol, atol=atol),
        x0,
        args,
        options=None if done is None else dict(done=done),
        has_aux=True,
        max_steps=max_steps,
        adjoint=optx.ImplicitAdjoint(),
        throw=False,
    )


def _stationary(sol: optx.Solution, g, num_steps, aux=None) -> Stationary:
    """The outcome of a search that returned `sol`, with the gradient `g` at `sol.value`."""
    finite = jnp.all(jnp.isfinite(sol.value))
    result = RESULTS.where(finite, RESULTS.promote(sol.result), RESULTS.nonfinite)
    root = jnp.all(jnp.abs(g) <= _GRADIENT_TOLERANCE)
    result = RESULTS.where((result == RESULTS.successful) & ~root, RESULTS.not_a_root, result)
    # A failed search has no value: NaN, so that nothing built on it (a transfer solve on a
    # failed source) is mistaken for a number, and cotangents stop here: reverse-mode
    # gradients are NaN there rather than NaN fed into (and raised by) an adjoint's linear solve.
    value = jnp.where(result == RESULTS.successful, sol.value, jnp.nan)
    return Stationary(value, result, num_steps, aux)


_CHORD_STEPS = 5  # gradient evaluations of the chord method, at most


class _Chord(eqx.Module):
    x: Float[Array, "*n"]  # the point evaluated last
    step: Float[Array, "*n"]  # J^{-1} g there
    g: Float[Array, "*n"]  # the gradient there
    aux: PyTree  # and what `gradient` returned with it
    size: Float[Array, ""]  # |step| / (atol + rtol |x - step|), max over coordinates
    steps: Int[Array, ""]  # evaluations so far
    done: Bool[Array, ""]  # x is a root: the step computed there is below tolerance
    failed: Bool[Array, ""]  # not finite, or the steps stopped shrinking


def _chord(gradient, guess, J, args, *, rtol, atol) -> _Chord:
    """The chord method: x_0 = guess, x_{k+1} = x_k - J^{-1} g(x_k) with one Jacobian J for
    every step, evaluating `gradient` alone. Stops where the step computed at x_k is below
    tolerance and the gradient below `_GRADIENT_TOLERANCE` (`done`: x_k is returned with its
    gradient and aux), where the steps stop halving or a value is not finite (`failed`), or
    after `_CHORD_STEPS` evaluations. The error shrinks by |I - J^{-1} J(x*)| a step: with J
    and the guess within 1e-4 of the Jacobian and the root, the third point is a root.

    Under `jax.vmap` the loop runs until every point has stopped (`unvmap_any`), and a point
    that has stopped is evaluated again where it is, which gives the same gradient and aux: so
    those (Pt x Pt arrays in the transfer theory) are not selected point by point at every
    step, as a loop with a batched condition would (a pass over all of them a step)."""

    def step(c: _Chord) -> _Chord:
        active = ~c.done & ~c.failed & (c.steps < _CHORD_STEPS)
        x = jnp.where(active, c.x - c.step, c.x)
        g, aux = gradient(x, args)
        d = _newton_step(J, g)
        size = jnp.max(jnp.abs(d) / (atol + rtol * jnp.abs(x - d)))
        finite = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(d))
        done = finite & (size < 1) & jnp.all(jnp.abs(g) <= _GRADIENT_TOLERANCE)
        failed = ~done & (~finite | ~(size <= c.size / 2))
        kept = lambda new, old: jnp.where(active, new, old)  # noqa: E731 (g, aux: the same where kept)
        return _Chord(x, kept(d, c.step), g, aux, kept(size, c.size), c.steps + active, kept(done, c.done),
                      kept(failed, c.failed))  # fmt: skip

    def running(c: _Chord):
        return unvmap_any(~c.done & ~c.failed & (c.steps < _CHORD_STEPS))

    false = jnp.array(False)
    start = _Chord(guess, jnp.zeros_like(guess), None, None, jnp.array(jnp.inf, guess.dtype), jnp.array(0), false, false)
    return jax.lax.while_loop(running, step, step(start))


def _chorded(gradient_and_jacobian, gradient, x0, guess, args, *, rtol, atol, max_steps) -> Stationary:
    """`stationary_point` with a `gradient` function and a `guess`: the chord from the guess
    (`_chord`), then globalized Newton from x0 where the chord did not end at a root (a
    `lax.while_loop` that runs no iteration where it did, also under `jax.vmap` when it did for
    every point), and the gradient and aux at Newton's roots (computed only where some point
    needs them)."""
    chord = _chord(gradient, *jax.lax.stop_gradient((*guess, args)), rtol=rtol, atol=atol)
    start = jax.lax.stop_gradient(jnp.where(chord.done, chord.x, x0))
    sol = _root_find(gradient_and_jacobian, start, args, rtol=rtol, atol=atol, max_steps=max_steps, done=chord.done)
    root, fixed = jax.lax.stop_gradient((sol.value, args))

    def at_newton_roots():
        g, aux = gradient(root, fixed)
        return jax.tree.map(lambda c, n: jnp.where(chord.done, c, n), (chord.g, chord.aux), (g, aux))

    # A cond on whether any point needs it (`unvmap_any`: a cond also under jax.vmap), not a loop
    # carrying the aux, which would pass over all of it even where it runs no iteration.
    g, aux = jax.lax.cond(unvmap_any(~chord.done), at_newton_roots, lambda: (chord.g, chord.aux))
    return _stationary(sol, g, chord.steps + sol.stats["num_steps"], aux)


def raise_if_failed(value: PyTree, result: RESULTS, theory: str) -> PyTree:
    """`value`, raising at run time (also under jit and vmap) unless `result` is successful;
    the message names the theory and the outcome (`RESULTS`)."""
    messages = [
        f"{theory}: {message}. Pass throw=False to get the outcome of each point in "
        "`.result` / `.converged` instead of this error."
        for message in RESULTS._index_to_message  # indexed by the outcome's value
    ]
    return eqx.branched_error_if(value, result != RESULTS.successful, result._value, messages)


def _newton_step(J, g):
    """J^{-1} g: for a scalar or n <= 3 coordinates in closed form (no LAPACK call inside the
    batched loop), by Cramer's rule; for more (the adaptive kernels' P coordinates) by an LU
    solve, one matrix at a time under `jax.vmap` (`_linalg.solve`)."""
    if g.size > 3:
        return solve(J, g)
    if g.size == 1:
        return g / J.reshape(g.shape)
    if g.size == 2:
        (a, b), (c, d) = J[0], J[1]
        return jnp.stack([d * g[0] - b * g[1], a * g[1] - c * g[0]]) / (a * d - b * c)
    r0, r1, r2 = J[0], J[1], J[2]  # J^{-1} has the columns r1 x r2, r2 x r0, r0 x r1, over det J
    adjugate = jnp.stack([jnp.cross(r1, r2), jnp.cross(r2, r0), jnp.cross(r0, r1)], axis=1)
    return adjugate @ g / (r0 @ jnp.cross(r1, r2))


_GRADIENT_TOLERANCE = 1e-6  # max |grad V| accepted at a root (Newton's own tolerance is on x)
_ARMIJO = 1e-4  # fraction of the predicted decrease of the merit a step must achieve
_MIN_FRACTION = 2.0**-30  # give up (nonlinear_divergence) when the step is halved below this


class _NewtonState(eqx.Module):
    base: Float[Array, "*n"]  # the last accepted iterate
    merit: Float[Array, ""]  # |gradient|^2 there (inf before the first evaluation)
    direction: Float[Array, "*n"]  # the Newton step J^{-1} g there
    fraction: Float[Array, ""]  # of `direction` taken by the trial point now evaluated
    diffsize: Float[Array, ""]  # |full step| / (atol + rtol |x|), max over coordinates
    predicted: Float[Array, ""]  # the error left after the step, estimated, in the same units
    accepted: Bool[Array, ""]  # whether the last evaluated trial point was accepted
    failed: Bool[Array, ""]


class _Newton(optx.AbstractRootFinder):
    """Newton's method with the Jacobian supplied by `fn` as its auxiliary output, and
    backtracking on |g|^2 (module docstring). Each step evaluates `fn` once, at the trial point
    x_base - t d: accepted if |g|^2 <= (1 - 2 c t) |g_base|^2 (then the next trial is a full
    Newton step from it), halved otherwise.

    Stopping rule: Newton converges quadratically, |step_k| ~ C |step_{k-1}|^2, so the error
    left after full step k is about C |step_k|^2 = |step_k|^3 / |step_{k-1}|^2. Stop when that
    (once full steps shrink at least tenfold), or the step itself, is below the tolerance
    (atol + rtol |x|): one evaluation fewer than optimistix's Cauchy rule, which also asks the
    gradient at the accepted point to be below atol.
    """

    rtol: float
    atol: float
    norm = staticmethod(optx.max_norm)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        inf = jnp.array(jnp.inf, y.dtype)
        one = jnp.array(1.0, y.dtype)
        false = jnp.array(False)
        done = jnp.asarray((options or {}).get("done", False))  # y is a root already: no step
        return _NewtonState(y, inf, jnp.zeros_like(y), one, jnp.where(done, 0.0, inf), inf, done, false)

    def step(self, fn, y, args, options, state, tags):
        g, (J, finite) = fn(y, args)
        merit = jnp.where(finite, jnp.sum(g**2), jnp.nan)
        t = state.fraction
        accept = jnp.isfinite(merit) & (merit <= (1 - 2 * _ARMIJO * t) * state.merit)
        direction = _newton_step(J, g)
        full = y - direction
        diffsize = jnp.max(jnp.abs(direction) / (self.atol + self.rtol * jnp.abs(full)))
        # The quadratic estimate, trusted only after two full steps that shrink fast (rate < 0.1).
        rate = jnp.where(t == 1, diffsize / state.diffsize, jnp.inf)
        predicted = jnp.where((rate > 0) & (rate < 0.1), diffsize * rate**2, jnp.inf)
        half = t / 2
        accepted = _NewtonState(
            y, merit, direction, jnp.ones_like(t), diffsize, predicted, jnp.array(True),
            ~jnp.all(jnp.isfinite(full)),
        )  # fmt: skip
        rejected = _NewtonState(
            state.base, state.merit, state.direction, half, jnp.asarray(jnp.inf, t.dtype),
            jnp.asarray(jnp.inf, t.dtype), jnp.array(False),
            (half < _MIN_FRACTION) | ~jnp.isfinite(state.merit),  # nothing to go back to
        )  # fmt: skip
        new_state = jax.tree.map(lambda a, r: jnp.where(accept, a, r), accepted, rejected)
        new_y = jnp.where(accept, full, state.base - half * state.direction)
        return new_y, new_state, (J, finite)

    def terminate(self, fn, y, args, options, state, tags):
        converged = state.accepted & ((state.diffsize < 1) | (state.predicted < 1))
        result = optx.RESULTS.where(state.failed, optx.RESULTS.nonlinear_divergence, optx.RESULTS.successful)
        return converged | state.failed, result

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return y, aux, {}
