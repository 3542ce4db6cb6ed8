"""The transfer theory against an independent NumPy/SciPy evaluation, its limits, its
derivatives and its benefit map."""

import equinox as eqx
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtl
from jaxtl.theory._transfer import (
    _gradient_and_jacobian,
    _moments,
    _potential,
    _source_overlap,
    _target_inverse,
    _target_matrix,
)

TEACHER = jax.jit(jaxtl.tasks.teacher_pair, static_argnames=("Ps", "Pt", "P0", "N0", "readout"))


def pair(rho=1.0, *, Ps=80, Pt=30, P0=40, N0=40, seed=0, noise=0.1):
    return TEACHER(jax.random.key(seed), Ps=Ps, Pt=Pt, P0=P0, N0=N0, rho=rho, gain=2.0, noise=noise)


def solve(p, **kwargs):
    kwargs = dict(dict(width=60.0, temperature=0.05, coupling=1.0), **kwargs)
    return jaxtl.transfer((p.Xs, p.ys), (p.Xt, p.yt), **kwargs)


@pytest.mark.parametrize("activation", ["erf", "identity", "tanh"])
def test_zero_coupling_is_the_single_task_target(activation):
    p = pair()
    sol = solve(p, coupling=0.0, activation=activation)
    alone = jaxtl.single_task(p.Xt, p.yt, width=60.0, temperature=0.05, activation=activation)
    assert sol.Q_st == 0 and abs(sol.Q_tt) < 1e-14
    np.testing.assert_allclose(sol.Q_t, alone.Q, rtol=1e-10)
    source = jaxtl.single_task(p.Xs, p.ys, width=60.0, temperature=0.05, activation=activation)
    np.testing.assert_allclose(sol.Q_s, source.Q, rtol=1e-10)
    mine, theirs = sol.test_error(p.X0, p.y0), alone.test_error(p.X0, p.y0)
    for field in ("total", "bias2", "variance"):
        np.testing.assert_allclose(getattr(mine, field), getattr(theirs, field), rtol=1e-10)
    benefit = sol.benefit(p.X0, p.y0)
    assert max(abs(benefit.total), abs(benefit.prior), abs(benefit.source)) < 1e-12


@pytest.mark.parametrize(
    "activation, coupling, rho, width, lambda0, lambda1",
    [
        ("erf", 1.0, 1.0, 60.0, 1.0, 1.0),
        ("erf", 10.0, 0.5, 30.0, 1.5, 0.7),
        ("erf", np.inf, 0.8, 60.0, 1.0, 1.0),
        ("identity", 3.0, 0.9, 40.0, 1.0, 2.0),
        ("identity", np.inf, 1.0, 40.0, 0.8, 1.0),
    ],
)
def test_matches_numpy_reference(activation, coupling, rho, width, lambda0, lambda1):
    p = pair(rho)
    kw = dict(width=width, temperature=0.05, coupling=coupling, lambda0=lambda0, lambda1=lambda1)
    sol = solve(p, activation=activation, **kw)
    data = [np.asarray(a) for a in (p.Xs, p.ys, p.Xt, p.yt, p.X0, p.y0)]
    ref = helpers.transfer(*data, activation=activation, **kw)
    err = sol.test_error(p.X0, p.y0)
    mine = [sol.Q_s, sol.Q_t, sol.Q_tt, sol.Q_st, err.total, err.bias2, err.variance]
    np.testing.assert_allclose(np.array(mine), np.array(ref), rtol=1e-8, atol=1e-10)
    assert sol.converged and abs(ref[3]) > 1e-4  # the source-target overlap is not trivially zero


@pytest.mark.parametrize("activation, coupling", [("erf", 2.0), ("tanh", 0.5), ("identity", np.inf)])
def test_closed_form_derivatives_are_those_of_the_potential(activation, coupling):
    """`_gradient_and_jacobian` (what Newton uses) against jax.grad and jax.hessian of V itself,
    at points away from the solution: V is stationary in Q_st at `_source_overlap`, the gradient
    is V's in (log(Q_t - Q_tt), Q_tt) there, and the Jacobian is the Hessian of V with Q_st
    eliminated (the Schur complement of V's Hessian in x = (log D, Q_tt, Q_st))."""
    p = pair(0.7)
    sol = solve(p, coupling=coupling, activation=activation, lambda1=0.8)
    for D, Q_tt in [(0.8, 0.1), (1.3, 0.4), (1.0, -0.05)]:
        Q_st, V_qq = _source_overlap(_target_inverse(D, Q_tt, sol.state), D, sol.state)
        x = jnp.array([jnp.log(D), Q_tt, Q_st])
        full = jax.grad(_potential)(x, sol.state)
        hessian = jax.hessian(_potential)(x, sol.state)
        gradient, jacobian = _gradient_and_jacobian(x[:2], sol.state)
        assert abs(full[2]) < 1e-10 and abs(float(Q_st)) > 1e-3
        np.testing.assert_allclose(V_qq, hessian[2, 2], rtol=1e-10)
        np.testing.assert_allclose(gradient, full[:2], rtol=1e-9, atol=1e-12)
        schur = hessian[:2, :2] - jnp.outer(hessian[:2, 2], hessian[2, :2]) / hessian[2, 2]
        np.testing.assert_allclose(jacobian, schur, rtol=1e-9, atol=1e-11)

def test_infinite_width_has_no_transfer():
    """N1 -> inf: Q_t -> 1, Q_tt, Q_st -> 0 like 1/N1; the source part of the benefit vanishes
    while the prior part stays (jaxtl/theory/README.md, section 4.7)."""
    p = pair()
    sols = [solve(p, width=w, coupling=3.0) for w in (1e3, 1e4, 1e5)]
    for a, b in zip(sols, sols[1:]):  # each tenfold width shrinks the deviations about tenfold
        for name, limit in (("Q_t", 1.0), ("Q_tt", 0.0), ("Q_st", 0.0)):
            ratio = abs(getattr(a, name) - limit) / abs(getattr(b, name) - limit)
            assert 7 < ratio < 13, (name, ratio)
    infinite = solve(p, width=jnp.inf, coupling=3.0)
    assert (infinite.Q_t, infinite.Q_tt, infinite.Q_st, infinite.Q_s) == (1.0, 0.0, 0.0, 1.0)
    benefit = infinite.benefit(p.X0, p.y0)
    assert abs(benefit.source) < 1e-12 and abs(benefit.prior) > 1e-3
    np.testing.assert_allclose(sols[-1].benefit(p.X0, p.y0).prior, benefit.prior, rtol=1e-3)


def test_large_coupling_approaches_infinite_coupling():
    p = pair(0.9)
    limit = solve(p, coupling=jnp.inf)
    gaps = []
    for gamma in (1e3, 1e4, 1e5):
        sol = solve(p, coupling=gamma)
        gaps.append(max(abs(getattr(sol, n) - getattr(limit, n)) for n in ("Q_t", "Q_tt", "Q_st")))
    assert gaps[2] < 1e-4 and 7 < gaps[0] / gaps[1] < 13 and 7 < gaps[1] / gaps[2] < 13
    err = solve(p, coupling=1e6).test_error(p.X0, p.y0).total
    np.testing.assert_allclose(err, limit.test_error(p.X0, p.y0).total, rtol=1e-5)


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name, value, step", [
    ("coupling", 2.0, 1e-4), ("temperature", 0.05, 1e-6), ("width", 60.0, 1e-3),
    ("lambda0", 1.2, 1e-5), ("lambda1", 0.8, 1e-5), ("rho", 0.6, 1e-5), ("source_temperature", 0.2, 1e-6),
])
def test_gradients_match_finite_differences(name, value, step):
    """d(test error)/d(parameter) and d Q_st/d(parameter) by implicit differentiation, both
    modes, against central differences; rho reaches the theory through the teacher pair."""

    def observables(x):
        p = pair(x if name == "rho" else 0.8)
        kw = {} if name == "rho" else {name: x}  # source_temperature: T_s = 0.2 against T_t = 0.05
        sol = solve(p, **kw)
        return jnp.stack([sol.test_error(p.X0, p.y0).total, sol.Q_st, sol.Q_tt, sol.Q_t])

    f = jax.jit(observables)
    fd = _central(f, value, step)
    np.testing.assert_allclose(jax.jacfwd(f)(value), fd, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(jax.jacrev(f)(value), fd, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("activation, coupling", [("erf", 0.0), ("erf", 3.0), ("tanh", np.inf), ("identity", 0.5)])
def test_test_error_is_the_mean_over_the_predictor(activation, coupling):
    """The test error, summed from traces of M^{-1} with the test kernels' means, equals the
    mean over test points of the predictor's squared bias and variance (`predict`)."""
    p = pair(0.6)
    sol = solve(p, coupling=coupling, activation=activation)
    fused = sol.test_error(p.X0, p.y0)
    pred = sol.predict(p.X0)
    bias2 = np.mean((np.asarray(p.y0) - np.asarray(pred.mean)) ** 2)
    variance = np.mean(np.asarray(pred.variance))
    np.testing.assert_allclose([fused.bias2, fused.variance, fused.total], [bias2, variance, bias2 + variance], rtol=1e-12)


def test_tanh_root_and_inverse_are_exact():
    """With tanh, whose quadrature kernel is symmetric only to ~1e-8, the solve's M^{-1} at the
    root is NumPy's inverse of M (to 1e-10) and the root is one of the exact equations: the
    state's K_tt' and B are symmetrized before the Schur-complement inverse reads one triangle."""
    p = pair(0.5, Ps=100, Pt=160, N0=5)
    sol = solve(p, width=100.0, temperature=1e-3, coupling=3.0, activation="tanh")
    D, Q_tt = sol.Q_t - sol.Q_tt, sol.Q_tt
    M = np.asarray(_target_matrix(D, Q_tt, sol.state))
    reference = np.linalg.inv(M)
    assert np.max(np.abs(np.asarray(sol.inverse.W) - reference)) < 1e-10 * np.max(np.abs(reference))
    x = jnp.stack([jnp.log(D), Q_tt])
    assert np.max(np.abs(_gradient_and_jacobian(x, sol.state)[0])) < 1e-8


def test_perturbative_potential_is_exact_to_second_order():
    """`_perturbative_potential` against the exact V (`_potential`, log-determinant and inverse):
    with the off-diagonal parts of K_tt' and B (eigenbasis of K_tt) scaled by t, the difference
    falls as t^3 (by 8 for each halving of t): the expansion is right to second order."""
    import dataclasses

    from jaxtl.theory._transfer import Expansion, _perturbative_potential, _potential

    p = pair(0.9, Ps=120, Pt=60)
    sol = solve(p, coupling=2.0)
    x = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])

    def error(t):
        off = lambda A: t * A + (1 - t) * jnp.diag(jnp.diag(A))  # noqa: E731
        state = dataclasses.replace(sol.state, replica_kernel=off(sol.state.replica_kernel),
                                    source_covariance=off(sol.state.source_covariance))  # fmt: skip
        return abs(float(perturbative(x, sol.Q_st, Expansion.of(state)) - exact(jnp.append(x, sol.Q_st), state)))

    perturbative, exact = jax.jit(_perturbative_potential), jax.jit(_potential)

    errors = [error(t) for t in (1.0, 0.5, 0.25)]
    assert 0 < errors[0] < 1e-5
    for ratio in (errors[0] / errors[1], errors[1] / errors[2]):
        assert 7.0 < ratio < 9.0, errors


@pytest.mark.parametrize("width_ratio", [0.0, 2.0])
def test_presolve_gradient_is_that_of_the_perturbative_potential(width_ratio):
    """The presolve's closed-form gradient, Q_st* and Jacobian (`_perturbative_terms`, forward
    mode through it) against automatic derivatives of `_perturbative_potential` with Q_st
    eliminated at its stationary value, away from the root, with one hidden layer and with a
    second one (`width_ratio`)."""
    import dataclasses

    from jaxtl.theory._transfer import Expansion, _perturbative_gradient_and_jacobian, _perturbative_potential, _perturbative_terms

    p = pair(0.9, Ps=120, Pt=60)
    sol = solve(p, coupling=2.0)
    state = dataclasses.replace(sol.state, width_ratio=jnp.asarray(width_ratio))
    x = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt]) + jnp.array([0.1, -0.03])
    dV = jax.grad(_perturbative_potential, 1)
    overlap = lambda x, e: -dV(x, 0.0, e) / jax.grad(dV, 1)(x, 0.0, e)  # noqa: E731 (V is quadratic in Q_st)
    reduced = lambda x, e: jax.grad(_perturbative_potential)(x, overlap(x, e), e)  # noqa: E731
    reference = jax.jit(lambda x, e: (overlap(x, e), reduced(x, e), jax.jacfwd(reduced)(x, e)))
    q_ad, gradient_ad, jacobian_ad = reference(x, Expansion.of(state))
    gradient, q = jax.jit(_perturbative_terms)(x, Expansion.of(state))
    np.testing.assert_allclose(q, q_ad, rtol=1e-12)
    np.testing.assert_allclose(gradient, gradient_ad, rtol=1e-11, atol=1e-13)
    assert np.max(np.abs(gradient)) > 1e-3  # not at a root, where both would vanish
    _, jacobian = jax.jit(_perturbative_gradient_and_jacobian)(x, Expansion.of(state))
    np.testing.assert_allclose(jacobian, jacobian_ad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("coupling, rho", [(0.1, 0.3), (2.0, 0.9), (30.0, 0.0), (np.inf, 0.6)])
def test_perturbative_presolve_guides_the_chord_to_the_newton_root(coupling, rho):
    """The root of the potential to second order in the off-diagonal parts of K_tt' and B lies
    within 1e-5 of the exact root, its Jacobian within 1e-4 of the exact one there; from it the
    chord steps reach the root without Newton in one or two gradient evaluations, the same root
    as globalized Newton from the ordinary start (to its tolerance), with M^{-1} and its
    products of that root."""
    from jaxtl.theory._solve import stationary_point
    from jaxtl.theory._transfer import Expansion, _perturbative_gradient_and_jacobian

    p = pair(rho, Ps=120, Pt=60)
    sol = solve(p, coupling=coupling)
    x = jnp.stack([jnp.log(sol.Q_t - sol.Q_tt), sol.Q_tt])
    start = jaxtl.theory._transfer.starting_point(sol.prior_only.Q, sol.prior_only.state, coupling, 1.0)
    guess = stationary_point(_perturbative_gradient_and_jacobian, start, Expansion.of(sol.state))
    J = _gradient_and_jacobian(x, sol.state)[1]
    J_perturbative = _perturbative_gradient_and_jacobian(x, Expansion.of(sol.state))[1]
    assert guess.result == jaxtl.RESULTS.successful and np.max(np.abs(guess.value - x) / (1 + np.abs(x))) < 1e-5
    assert np.linalg.norm(np.eye(2) - np.linalg.solve(J_perturbative, J), 2) < 1e-4
    assert sol.converged and int(sol.num_steps) <= 2
    newton = stationary_point(_gradient_and_jacobian, start, sol.state)
    assert np.all(np.abs(newton.value - x) <= 2e-10 * (1 + np.abs(x)))
    exact = _target_inverse(sol.Q_t - sol.Q_tt, sol.Q_tt, sol.state)
    for kept, fresh in zip(jax.tree.leaves(sol.inverse), jax.tree.leaves(exact)):
        np.testing.assert_allclose(kept, fresh, rtol=1e-9, atol=1e-12)


def test_second_derivative_matches_finite_differences():
    """d^2(test error)/d gamma^2 (forward over reverse, through the inverse kept at the root)
    against central differences of the first derivative."""
    p = pair(0.8)
    grad = jax.jit(jax.grad(lambda g: solve(p, coupling=g).test_error(p.X0, p.y0).total))
    np.testing.assert_allclose(jax.jacfwd(grad)(2.0), _central(grad, 2.0, 1e-4), rtol=1e-5)


def test_gradient_with_respect_to_data():
    p = pair(0.8)
    direction = jax.random.normal(jax.random.key(1), p.Xs.shape)
    moved = lambda t: eqx.tree_at(lambda q: q.Xs, p, p.Xs + t * direction)
    f = jax.jit(lambda t: solve(moved(t)).test_error(p.X0, p.y0).total)
    np.testing.assert_allclose(jax.grad(f)(0.0), _central(f, 0.0, 1e-5), rtol=1e-5)


def test_vmap_over_parameters_and_pairs_equals_loop():
    p = pair(0.8)
    gammas = jnp.array([0.0, 0.5, 5.0, jnp.inf])
    temps = jnp.array([0.02, 0.05, 0.1, 0.2])

    def errors(gamma, T, yt):
        sol = jaxtl.transfer((p.Xs, p.ys), (p.Xt, yt), width=60.0, temperature=T, coupling=gamma)
        return jnp.stack([sol.Q_t, sol.Q_tt, sol.Q_st, sol.test_error(p.X0, p.y0).total])

    yts = p.yt[None] * jnp.array([1.0, 0.5, -1.0, 2.0])[:, None]
    batched = jax.jit(jax.vmap(errors))(gammas, temps, yts)
    for i in range(4):
        np.testing.assert_allclose(batched[i], errors(gammas[i], temps[i], yts[i]), rtol=1e-10, atol=1e-13)
    pairs = [pair(0.8, seed=s) for s in range(3)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *pairs)
    many = jax.vmap(lambda q: solve(q).Q_st)(stacked)
    np.testing.assert_allclose(many, [solve(q).Q_st for q in pairs], rtol=1e-10)


# ------------------------------------------------- source and target temperatures


@pytest.mark.parametrize(
    "activation, coupling, source_temperature, temperature",
    [("erf", 2.0, 0.5, 0.05), ("erf", np.inf, 0.01, 0.1), ("identity", 3.0, 0.2, 0.02)],
)
def test_separate_temperatures_match_numpy_reference(activation, coupling, source_temperature, temperature):
    """T_s != T_t against the dense NumPy/SciPy evaluation (tests/helpers.py: T_s in Q_s and
    A_s only): order parameters and test error to 1e-8; and T_s does change them."""
    p = pair(0.8)
    kw = dict(width=50.0, temperature=temperature, coupling=coupling, lambda0=1.0, lambda1=1.0)
    sol = solve(p, activation=activation, source_temperature=source_temperature, **kw)
    data = [np.asarray(a) for a in (p.Xs, p.ys, p.Xt, p.yt, p.X0, p.y0)]
    ref = helpers.transfer(*data, activation=activation, source_temperature=source_temperature, **kw)
    err = sol.test_error(p.X0, p.y0)
    mine = [sol.Q_s, sol.Q_t, sol.Q_tt, sol.Q_st, err.total, err.bias2, err.variance]
    np.testing.assert_allclose(np.array(mine), np.array(ref), rtol=1e-8, atol=1e-10)
    same = solve(p, activation=activation, **kw)  # T_s = T_t
    assert abs(sol.Q_s - same.Q_s) > 1e-3 and abs(sol.Q_st - same.Q_st) > 1e-4
    assert (sol.temperature, sol.source_temperature) == (temperature, source_temperature)


def test_equal_temperatures_are_one_temperature():
    """source_temperature = temperature gives what one temperature gives, to 1e-12, in every
    output (order parameters, errors, benefit split, relatedness), also under vmap."""
    p = pair(0.8)

    def outputs(T_s, T):
        sol = solve(p, coupling=2.0, temperature=T, source_temperature=T_s)
        e, b = sol.test_error(p.X0, p.y0), sol.benefit(p.X0, p.y0)
        return jnp.stack([sol.Q_s, sol.Q_t, sol.Q_tt, sol.Q_st, e.total, e.bias2, e.variance, b.total, b.prior,
                          b.source, sol.relatedness])

    one = solve(p, coupling=2.0)
    e, b = one.test_error(p.X0, p.y0), one.benefit(p.X0, p.y0)
    reference = jnp.stack([one.Q_s, one.Q_t, one.Q_tt, one.Q_st, e.total, e.bias2, e.variance, b.total, b.prior,
                           b.source, one.relatedness])
    np.testing.assert_allclose(outputs(0.05, 0.05), reference, rtol=1e-12, atol=1e-14)
    temps = jnp.array([0.02, 0.05, 0.2])
    batched = jax.jit(jax.vmap(outputs))(temps, temps)
    for i, T in enumerate(temps):
        np.testing.assert_allclose(batched[i], outputs(T, T), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("activation", ["erf", "identity"])
def test_zero_coupling_is_the_single_task_target_at_its_own_temperature(activation):
    """gamma = 0: the target is the single-task theory at T_t whatever T_s; the source's Q_s is
    its single-task Q* at T_s."""
    p = pair()
    for T_s in (0.01, 0.5):
        sol = solve(p, coupling=0.0, temperature=0.1, source_temperature=T_s, activation=activation)
        alone = jaxtl.single_task(p.Xt, p.yt, width=60.0, temperature=0.1, activation=activation)
        source = jaxtl.single_task(p.Xs, p.ys, width=60.0, temperature=T_s, activation=activation)
        np.testing.assert_allclose([sol.Q_t, sol.Q_s], [alone.Q, source.Q], rtol=1e-10)
        np.testing.assert_allclose(sol.test_error(p.X0, p.y0).total, alone.test_error(p.X0, p.y0).total, rtol=1e-10)
        assert sol.Q_st == 0 and abs(sol.benefit(p.X0, p.y0).total) < 1e-12


def test_gradient_in_the_source_temperature_matches_finite_differences():
    """d(test error)/dT_s by implicit differentiation (forward mode) against a central
    difference, at T_s = 0.2, T_t = 0.05 (both modes and every parameter: the slow
    test_gradients_match_finite_differences)."""
    p = pair(0.8)
    f = jax.jit(lambda T_s: solve(p, coupling=2.0, source_temperature=T_s).test_error(p.X0, p.y0).total)
    fd = _central(f, 0.2, 1e-6)
    assert abs(fd) > 1e-4
    np.testing.assert_allclose(jax.jacfwd(f)(0.2), fd, rtol=1e-5)


def test_bad_source_temperature_raises():
    with pytest.raises(ValueError, match="^source_temperature must"):
        solve(pair(), source_temperature=0.0)


# ------------------------------------------------- renormalized kernels, relatedness


@pytest.mark.parametrize("activation, coupling", [("erf", 2.0), ("identity", np.inf)])
def test_renormalized_kernels_and_relatedness_match_numpy(activation, coupling):
    """effective_kernel, source_target_kernel and relatedness against the dense NumPy
    evaluation (train and test inputs together), and M = C_e(Xt, Xt) + T_t I."""
    p = pair(0.8)
    kw = dict(width=50.0, temperature=0.05, coupling=coupling, lambda0=1.0, lambda1=1.0, source_temperature=0.1)
    sol = solve(p, activation=activation, **kw)
    data = [np.asarray(a) for a in (p.Xs, p.ys, p.Xt, p.yt, p.X0, p.y0)]
    _, ref = helpers.transfer(*data, activation=activation, conditions="kernels", **kw)
    X = jnp.concatenate([p.Xt, p.X0])
    np.testing.assert_allclose(sol.effective_kernel(X), ref["effective"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sol.source_target_kernel(X), ref["source_target"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sol.relatedness, ref["relatedness"], rtol=1e-8)
    U = sol.prior_only.eigenvectors
    M = U @ _target_matrix(sol.Q_t - sol.Q_tt, sol.Q_tt, sol.state) @ U.T
    np.testing.assert_allclose(sol.effective_kernel(p.Xt) + 0.05 * jnp.eye(len(p.Xt)), M, rtol=1e-10, atol=1e-12)
    assert sol.effective_kernel(p.Xt, p.X0[:5]).shape == (len(p.Xt), 5)
    assert sol.source_target_kernel(p.X0[:5], p.Xt).shape == (5, len(p.Xt))
    with pytest.raises(ValueError, match="^X must have shape"):
        sol.source_target_kernel(p.X0[:, :-1])


def test_relatedness_vanishes_without_transfer():
    """0 at gamma = 0 (no source-target kernel) and at infinite width; NaN where the solve failed."""
    p = pair(1.0)
    assert solve(p, coupling=0.0).relatedness == 0
    assert solve(p, width=jnp.inf, coupling=3.0).relatedness == 0
    assert abs(solve(p, width=1e4, coupling=3.0).relatedness) < 1e-2 < solve(p, coupling=3.0).relatedness
    failed = eqx.tree_at(lambda s: s.result, solve(p, coupling=3.0), jaxtl.RESULTS.nonlinear_divergence)
    assert np.isnan(failed.relatedness) and np.isnan(failed.source_target_kernel(p.X0)).all()
    assert np.isnan(failed.effective_kernel(p.Xt)).all()


def test_relatedness_orders_pairs_like_the_source_benefit():
    """Over teacher pairs of teacher overlap rho in {1, 0.7, 0.4, 0, -0.7} (two keys each), the
    relatedness ranks the pairs as the source part of the benefit does (Spearman > 0.7), and
    on average falls from rho = 1 to 0.4 to 0."""
    def at(rho, seed):
        p = jaxtl.tasks.teacher_pair(jax.random.key(seed), Ps=120, Pt=40, P0=200, N0=50, rho=rho, gain=2.0, noise=0.1)
        sol = solve(p, width=100.0, coupling=3.0)
        return sol.relatedness, sol.benefit(p.X0, p.y0).source

    rho = np.repeat([1.0, 0.7, 0.4, 0.0, -0.7], 2)
    R, source = (np.asarray(a) for a in jax.jit(jax.vmap(at))(rho, np.tile([0, 1], 5)))
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert np.corrcoef(ranks(R), ranks(source))[0, 1] > 0.7
    mean = {r: R[rho == r].mean() for r in (1.0, 0.4, 0.0)}
    assert mean[1.0] > mean[0.4] > mean[0.0]


def test_benefit_map_related_positive_unrelated_negative():
    """On teacher pairs: related tasks (rho = 1) gain at intermediate gamma, most of it through
    the source-target kernel; unrelated tasks (rho = 0) lose at large gamma."""
    related = pair(1.0, Ps=150, Pt=40, P0=200, N0=60)
    unrelated = pair(0.0, Ps=150, Pt=40, P0=200, N0=60)
    kw = dict(width=100.0, temperature=0.05)
    good = solve(related, coupling=3.0, **kw).benefit(related.X0, related.y0)
    bad = solve(unrelated, coupling=jnp.inf, **kw).benefit(unrelated.X0, unrelated.y0)
    assert good.total > 0.01 and good.source > 0
    assert bad.total < -0.01 and bad.source < 0
    np.testing.assert_allclose(good.total, good.prior + good.source, rtol=1e-12)


def test_order_parameters_are_consistent():
    """Q_t > Q_tt >= Q_st^2 / Q_s at the stationary point (the replica-specific and the
    source-unexplained parts of the target's readout overlap are non-negative)."""
    for rho in (0.0, 0.5, 1.0):
        sol = solve(pair(rho), coupling=5.0)
        assert sol.Q_t > sol.Q_tt >= sol.Q_st**2 / sol.Q_s - 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(coupling=-1.0), "coupling must lie in \\[0, \\+inf\\]"),
        (dict(width=0.0), "width"),
        (dict(temperature=-0.1), "temperature"),
        (dict(lambda0=0.0), "lambda0"),
        (dict(activation="relu"), "activation"),
        (dict(coupling="10"), "^coupling must be a real number, got '10'$"),
        (dict(width="100"), "^width must be a real number, got '100'$"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve(pair(), **kwargs)


def test_bad_shapes_raise():
    p = pair()
    with pytest.raises(ValueError, match="Xt"):
        jaxtl.transfer((p.Xs, p.ys), (p.Xt[:, :-1], p.yt), width=60.0, temperature=0.05, coupling=1.0)
    with pytest.raises(ValueError, match="yt"):
        jaxtl.transfer((p.Xs, p.ys), (p.Xt, p.yt[:-1]), width=60.0, temperature=0.05, coupling=1.0)
    with pytest.raises(ValueError, match="ys"):
        jaxtl.transfer((p.Xs, p.ys.at[0].set(jnp.nan)), (p.Xt, p.yt), width=60.0, temperature=0.05, coupling=1.0)
    with pytest.raises(ValueError, match=r"^Xs must have shape \(Ps, N0\) with Ps >= 1 and N0 >= 1, got \(80, 0\)$"):
        jaxtl.transfer((p.Xs[:, :0], p.ys), (p.Xt[:, :0], p.yt), width=60.0, temperature=0.05, coupling=1.0)
    with pytest.raises(ValueError, match=r"^Xt must have shape \(Pt, N0\) with Pt >= 1 and N0 >= 1, got \(0, 40\)$"):
        jaxtl.transfer((p.Xs, p.ys), (p.Xt[:0], p.yt[:0]), width=60.0, temperature=0.05, coupling=1.0)


def test_source_and_target_must_be_pairs():
    p = pair()
    with pytest.raises(ValueError, match=r"^source must be a pair \(Xs, ys\), got a tuple of length 3$"):
        jaxtl.transfer((p.Xs, p.ys, p.y0), (p.Xt, p.yt), width=60.0, temperature=0.05, coupling=1.0)
    with pytest.raises(ValueError, match=r"^target must be a pair \(Xt, yt\), got a value of type TaskPair$"):
        jaxtl.transfer((p.Xs, p.ys), p, width=60.0, temperature=0.05, coupling=1.0)


def test_traced_bad_coupling_raises_at_run_time():
    p = pair()
    f = eqx.filter_jit(lambda g: solve(p, coupling=g).Q_t)
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"coupling must lie in \[0, \+inf\], got -1\.0\n"):
        f(-1.0)


def test_repr_shows_the_numbers():
    p = pair()
    sol = solve(p, coupling=10.0)
    b = sol.benefit(p.X0, p.y0)
    Q = ", ".join(f"{n}={float(getattr(sol, n)):.4g}" for n in ("Q_s", "Q_t", "Q_tt", "Q_st"))
    assert repr(sol) == (
        f"TransferSolution({Q}, converged=True, result=successful, width=60, temperature=0.05, source_temperature=0.05, coupling=10, "
        "lambda0=1, lambda1=1, activation=Erf())"
    )
    assert repr(b) == f"TransferBenefit(total={float(b.total):.4g}, prior={float(b.prior):.4g}, source={float(b.source):.4g})"


def test_moments_limits_and_derivative():
    """v_t, c_st, c_tt: 1/lambda0, 0, 0 at gamma = 0; 1/lambda0 each at gamma = inf; finite
    derivative at gamma = 0."""
    np.testing.assert_allclose(_moments(0.0, 2.0), (0.5, 0.0, 0.0))
    np.testing.assert_allclose(_moments(jnp.inf, 2.0), (0.5, 0.5, 0.5))
    d = jax.jacfwd(lambda g: jnp.stack(_moments(g, 2.0)))(0.0)
    assert np.all(np.isfinite(d)) and d[1] > 0


# The README's transfer problem, where the solver's old start (the prior-only point, Q_tt = 0)
# led plain Newton to unphysical roots (Q_tt < 0) at small width; the physical roots below were
# found by an independent multi-start Newton, to four digits.
README_PROBLEM = dict(Ps=300, Pt=80, P0=400, N0=100)


@pytest.mark.parametrize("width, coupling, physical", [
    (50.0, 10.0, (1.2085, 0.8710, 0.7266)),
    (40.0, 3.0, (1.1686, 0.7428, 0.7425)),
    (15.0, 10.0, (1.1466, 1.0597, 1.0223)),
])  # fmt: skip
def test_small_width_reaches_the_physical_root(width, coupling, physical):
    p = pair(**README_PROBLEM)
    sol = solve(p, width=width, coupling=coupling)
    assert sol.converged
    data = [np.asarray(a) for a in (p.Xs, p.ys, p.Xt, p.yt, p.X0, p.y0)]
    kw = dict(width=width, temperature=0.05, coupling=coupling, lambda0=1.0, lambda1=1.0, activation="erf")
    ref, margins = helpers.transfer(*data, **kw, start=physical, conditions=True)
    err = sol.test_error(p.X0, p.y0)
    mine = [sol.Q_s, sol.Q_t, sol.Q_tt, sol.Q_st, err.total, err.bias2, err.variance]
    np.testing.assert_allclose(np.array(mine), np.array(ref), rtol=1e-8, atol=1e-10)
    assert min(margins.values()) > 0, margins
    assert 0 < err.total < 1  # labels of order 1: no more errors of -132 or -6e5


def test_tiny_width_is_physical_or_says_so():
    """N1 = 2 on a small pair (the prior-only start gave Q_t = -0.265 and negative variances):
    the physical root, checked by NumPy, or a failure that names why."""
    p = pair(Ps=60, Pt=20, P0=50, N0=30)
    sol = solve(p, width=2.0, coupling=1.0, throw=False)
    if not sol.converged:
        assert jaxtl.RESULTS[sol.result].startswith("no physical stationary point")
        return
    data = [np.asarray(a) for a in (p.Xs, p.ys, p.Xt, p.yt, p.X0, p.y0)]
    start = [float(sol.Q_t) * 1.01, float(sol.Q_tt) * 0.99, float(sol.Q_st) * 1.01]
    ref, margins = helpers.transfer(*data, width=2.0, temperature=0.05, coupling=1.0, lambda0=1.0, lambda1=1.0,
                                    activation="erf", start=start, conditions=True)
    np.testing.assert_allclose([sol.Q_t, sol.Q_tt, sol.Q_st], ref[1:4], rtol=1e-8)
    assert min(margins.values()) > 0, margins


def test_an_unphysical_root_is_a_failure_with_its_own_message():
    """Started on the unphysical root that the old start led to (width 50, gamma 10: Q_tt < 0),
    Newton stays there: the solve is reported as no physical stationary point, its
    predictions are NaN, and throw=True raises with the violated condition."""
    p = pair(**README_PROBLEM)
    args = {k: jnp.asarray(v, float) for k, v in dict(width=50.0, temperature=0.05, source_temperature=0.05, coupling=10.0, lambda0=1.0, lambda1=1.0).items()}
    start = jnp.array([np.log(-5.6503 + 6.0228), -6.0228])  # (log(Q_t - Q_tt), Q_tt)
    act = jaxtl.kernels.get_activation("erf")
    sol = jaxtl.theory._transfer._solve(p.Xs, p.ys, p.Xt, p.yt, **args, activation=act, throw=False, start=start)
    assert sol.Q_tt < 0 and sol.result == jaxtl.RESULTS.overlap_not_psd and not sol.converged
    assert jaxtl.RESULTS[sol.result].startswith("no physical stationary point: the overlaps violate")
    assert np.isnan(sol.test_error(p.X0, p.y0).total) and np.isnan(sol.benefit(p.X0, p.y0).total)
    with pytest.raises(eqx.EquinoxRuntimeError, match="jaxtl.transfer: no physical stationary point"):
        jaxtl.theory._transfer._solve(p.Xs, p.ys, p.Xt, p.yt, **args, activation=act, throw=True, start=start)


def test_every_converged_point_is_physical():
    """Over a grid of (width, coupling, T), down to N1 = 3 at alpha_s = 40: every point reported
    converged satisfies every physical condition (checked in NumPy from the returned order
    parameters: overlaps, M, S_g on training and test points, predictive variances); the
    fraction of points with a physical root found is printed and must be high."""
    p = pair(Ps=120, Pt=40, P0=30, N0=50)
    widths = jnp.array([3.0, 10.0, 30.0, 120.0])
    couplings = jnp.array([0.0, 0.1, 1.0, 10.0, 100.0, jnp.inf])
    temperatures = jnp.array([0.01, 0.1])

    @jax.jit
    def grid(Xs, ys, Xt, yt, X0):
        def one(w, g, T):
            sol = jaxtl.transfer((Xs, ys), (Xt, yt), width=w, temperature=T, coupling=g, throw=False)
            return sol.Q_s, sol.Q_t, sol.Q_tt, sol.Q_st, sol.converged, sol.predict(X0).variance
        for axis in (2, 1, 0):
            one = jax.vmap(one, [None if a != axis else 0 for a in range(3)])
        return one(widths, couplings, temperatures)

    Q_s, Q_t, Q_tt, Q_st, converged, variance = (np.asarray(a) for a in grid(p.Xs, p.ys, p.Xt, p.yt, p.X0))
    Xs, Xt, X0 = (np.asarray(a) for a in (p.Xs, p.Xt, p.X0))
    found = converged.mean()
    print(f"physical root found at {converged.sum()} of {converged.size} points ({found:.0%})")
    assert found >= 0.9
    for i, j, k in zip(*np.nonzero(converged)):
        T, g = float(temperatures[k]), float(couplings[j])
        v_t, c_st, c_tt = (np.asarray(m) for m in _moments(jnp.asarray(g), 1.0))
        qs, qt, qtt, qst = Q_s[i, j, k], Q_t[i, j, k], Q_tt[i, j, k], Q_st[i, j, k]
        assert qt > qtt >= -1e-12 and qs * qtt - qst**2 >= -1e-10, (i, j, k)
        Xa = np.concatenate([Xt, X0])
        K = helpers.gram(Xa, Xa, v_t, v_t, v_t, "erf")
        Kr = helpers.gram(Xa, Xa, v_t, v_t, c_tt, "erf")
        Kas = helpers.gram(Xa, Xs, v_t, 1.0, c_st, "erf")
        As = qs * helpers.nngp(Xs, Xs, 1.0, "erf") + T * np.eye(len(Xs))
        M = (qt * K - qtt * Kr)[:40, :40] + T * np.eye(40)
        S_g = qtt * Kr - qst**2 * Kas @ np.linalg.solve(As, Kas.T)
        scale = np.abs(np.diag(S_g)).max() + 1e-300
        assert np.linalg.eigvalsh(M).min() > 0
        assert np.linalg.eigvalsh(S_g).min() >= -1e-8 * scale, (i, j, k)
        assert variance[i, j, k].min() >= -1e-10, (i, j, k)
