import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
import jaxtl
from jaxtl.theory._single_task import SingleTaskState, _action, _action_gradient_and_curvature, _lowest_node, _mean_prediction, _refined_start, _start_on_grid
from jaxtl.theory._solve import RESULTS, raise_if_failed, stationary_point

CASES = [  # (activation, P, N0, width, temperature, lambda0, lambda1)
    ("erf", 80, 40, 60.0, 0.05, 1.0, 1.0),
    ("erf", 120, 30, 400.0, 0.2, 0.7, 1.8),
    ("erf", 60, 100, 15.0, 0.01, 2.0, 0.5),
    ("identity", 80, 40, 60.0, 0.05, 1.0, 1.0),
    ("identity", 50, 80, 25.0, 0.1, 1.5, 0.8),
]


@pytest.fixture(scope="module")
def data():
    return helpers.teacher_data(0, 70, 35, P0=40)


def solve(data, **kw):
    X, y, _, _ = data
    params = dict(width=50.0, temperature=0.05, lambda0=1.0, lambda1=1.0, activation="erf")
    return jaxtl.single_task(X, y, **{**params, **kw})


@pytest.mark.parametrize("activation, P, N0, width, temperature, lambda0, lambda1", CASES)
def test_matches_independent_numpy_scipy_evaluation(activation, P, N0, width, temperature, lambda0, lambda1):
    X, y, X0, y0 = helpers.teacher_data(P + N0, P, N0)
    params = dict(width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1, activation=activation)
    Q, total, bias2, variance = helpers.single_task(X, y, X0, y0, **params)
    sol = jaxtl.single_task(X, y, **params)
    err = sol.test_error(X0, y0)
    assert bool(sol.converged)
    np.testing.assert_allclose(sol.Q, Q, rtol=1e-8)
    np.testing.assert_allclose([err.total, err.bias2, err.variance], [total, bias2, variance], rtol=1e-8)
    assert abs(Q - 1) > 1e-3  # the renormalization is not trivial in these cases
    # The solution minimizes the action.
    S = helpers.action
    K = helpers.nngp(X, X, lambda0, activation)
    args = (K, y, width, temperature, lambda1)
    assert S(Q, *args) < min(S(Q * 0.99, *args), S(Q * 1.01, *args))
    np.testing.assert_allclose(sol.action(Q), S(Q, *args), rtol=1e-10)


def test_infinite_width_gives_nngp(data):
    X, y, X0, y0 = data
    nngp_Q, nngp_total, _, _ = helpers.single_task(
        X, y, X0, y0, width=np.inf, temperature=0.05, lambda0=1.0, lambda1=1.0, activation="erf"
    )
    inf = solve(data, width=jnp.inf)
    assert float(inf.Q) == 1.0 and float(inf.alpha) == 0.0
    np.testing.assert_allclose(inf.test_error(X0, y0).total, nngp_total, rtol=1e-10)
    widths = [1e3, 1e4, 1e5, 1e6]
    Qs = np.array([solve(data, width=w).Q for w in widths])
    errors = np.array([solve(data, width=w).test_error(X0, y0).total for w in widths])
    # Q* - 1 and the error's distance to the NNGP error shrink like 1/N1.
    np.testing.assert_allclose(np.abs(Qs - 1) * widths, np.abs(Qs[-1] - 1) * widths[-1], rtol=0.05)
    assert np.all(np.diff(np.abs(errors - nngp_total)) < 0)
    assert abs(errors[-1] - nngp_total) < 1e-2 * abs(errors[0] - nngp_total)


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("activation", ["erf", "identity"])
@pytest.mark.parametrize("name, value, h", [
    ("temperature", 0.05, 1e-6), ("lambda0", 1.3, 1e-5), ("lambda1", 0.8, 1e-5), ("width", 50.0, 1e-3)
])
def test_implicit_gradients_match_finite_differences(data, activation, name, value, h):
    """Gradients of Q* and of the test error, including identity with P > N0 (a degenerate
    null space of K that the eigendecomposition's derivative must survive)."""
    X, y, X0, y0 = data
    N0 = 20 if activation == "identity" else X.shape[1]  # P = 70 > N0 = 20: singular K
    X, X0 = X[:, :N0], X0[:, :N0]

    def outputs(v):
        params = dict(width=50.0, temperature=0.05, activation=activation)
        sol = jaxtl.single_task(X, y, **{**params, name: v})
        return jnp.stack([sol.Q, sol.test_error(X0, y0).total])

    grad = jax.jacfwd(outputs)(value), jax.jacrev(outputs)(value)
    fd = central_difference(outputs, value, h)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-5)
    np.testing.assert_allclose(grad[1], fd, rtol=1e-5)


def test_gradient_with_respect_to_labels_matches_finite_differences(data):
    X, y, X0, y0 = data
    direction = np.random.default_rng(5).standard_normal(y.shape)

    def error(labels):
        return jaxtl.single_task(X, labels, width=50.0, temperature=0.05).test_error(X0, y0).total

    directional = jnp.dot(jax.grad(error)(jnp.asarray(y)), direction)
    fd = central_difference(lambda e: error(y + e * direction), 0.0, 1e-6)
    np.testing.assert_allclose(directional, fd, rtol=1e-5)


def test_vmap_equals_loop_over_every_parameter_and_over_data_sets(data):
    X, y, X0, y0 = data
    grid = dict(
        temperature=jnp.array([0.01, 0.1, 1.0]),
        width=jnp.array([10.0, 100.0, jnp.inf]),
        lambda0=jnp.array([0.5, 1.0, 2.0]),
        lambda1=jnp.array([0.5, 1.0, 2.0]),
    )

    def error(**kw):
        sol = solve(data, **kw)
        return jnp.stack([sol.Q, sol.test_error(X0, y0).total])

    for name, values in grid.items():
        batched = jax.vmap(lambda v: error(**{name: v}))(values)
        looped = np.stack([error(**{name: v}) for v in values])
        np.testing.assert_allclose(batched, looped, rtol=1e-12, err_msg=name)

    sets = [helpers.teacher_data(s, 40, 20, P0=10) for s in range(3)]
    Xs, ys, X0s, y0s = (jnp.stack(a) for a in zip(*sets))

    def one(X, y, X0, y0):
        return jaxtl.single_task(X, y, width=30.0, temperature=0.1).test_error(X0, y0).total

    np.testing.assert_allclose(jax.vmap(one)(Xs, ys, X0s, y0s), [one(*s) for s in sets], rtol=1e-12)


def test_jit_equals_eager(data):
    X, y, X0, y0 = data

    def f(T, N1):
        sol = jaxtl.single_task(X, y, width=N1, temperature=T, activation="tanh")
        err = sol.test_error(X0, y0)
        return jnp.stack([sol.Q, err.total, err.bias2, err.variance])

    np.testing.assert_allclose(jax.jit(f)(0.05, 40.0), f(0.05, 40.0), rtol=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(temperature=0.0), "temperature must lie in \\(0, \\+inf\\)"),
    (dict(temperature=-1.0), "temperature"),
    (dict(width=0.0), "width must lie in \\(0, \\+inf\\]"),
    (dict(width=-5.0), "width"),
    (dict(lambda0=0.0), "lambda0"),
    (dict(lambda1=-1.0), "lambda1"),
    (dict(temperature=np.nan), "temperature"),
    (dict(activation="relu"), "activation must be one of"),
    (dict(width="100"), "^width must be a real number, got '100'$"),
    (dict(temperature="0.1"), "^temperature must be a real number, got '0.1'$"),
    (dict(lambda0="1"), "^lambda0 must be a real number"),
    (dict(lambda1=[1, "2"]), "^lambda1 must be a real number"),
])
def test_bad_parameters_are_value_errors(data, kw, match):
    with pytest.raises(ValueError, match=match):
        solve(data, **kw)


def test_bad_data_are_value_errors(data):
    X, y, X0, y0 = data
    with pytest.raises(ValueError, match="y must have shape"):
        jaxtl.single_task(X, y[:-1], width=10.0, temperature=0.1)
    with pytest.raises(ValueError, match="X must have shape"):
        jaxtl.single_task(X[0], y[:1], width=10.0, temperature=0.1)
    with pytest.raises(ValueError, match=r"^X must have shape \(P, N0\) with P >= 1 and N0 >= 1, got \(70, 0\)$"):
        jaxtl.single_task(X[:, :0], y, width=10.0, temperature=0.1)
    with pytest.raises(ValueError, match="X must be finite"):
        jaxtl.single_task(np.where(X > 2, np.nan, X), y, width=10.0, temperature=0.1)
    with pytest.raises(ValueError, match="y must be finite"):
        jaxtl.single_task(X, np.r_[np.inf, y[1:]], width=10.0, temperature=0.1)
    sol = solve(data)
    with pytest.raises(ValueError, match="X0 must have shape"):
        sol.test_error(X0[:, :-1], y0)
    with pytest.raises(ValueError, match="y0 must have shape"):
        sol.test_error(X0, y0[:-1])


def test_traced_bad_values_raise_at_run_time(data):
    """As the README says: under vmap / filter_jit an EquinoxRuntimeError, under jax.jit JAX's
    JaxRuntimeError, both RuntimeErrors whose message has the argument, its range, the bad
    value and its batch index."""
    X, y, _, _ = data
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"temperature must lie in \(0, \+inf\), got -0\.1 at batch index 1\n"):
        jax.vmap(lambda T: solve(data, temperature=T).Q)(jnp.array([0.1, -0.1]))
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"width must lie in \(0, \+inf\], got 0\.0\n"):
        eqx.filter_jit(lambda N1: solve(data, width=N1).Q)(0.0)
    with pytest.raises(RuntimeError, match=r"temperature must lie in \(0, \+inf\), got -1\.0\n") as error:
        jax.jit(lambda T: jaxtl.single_task(X, y, width=100.0, temperature=T).Q)(-1.0)
    assert type(error.value) is jax.errors.JaxRuntimeError
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"X must be finite, got nan at batch index 1, entry \(2, 3\)\n"):
        jax.vmap(lambda X: solve((X, y, None, None)).Q)(np.stack([X, np.where(X == X[2, 3], np.nan, X)]))


def test_repr_shows_the_numbers(data):
    X, y, X0, y0 = data
    sol = solve(data, width=50.0, temperature=0.05)
    err = sol.test_error(X0, y0)
    assert repr(sol) == (
        f"SingleTaskSolution(Q={float(sol.Q):.4g}, converged=True, result=successful, width=50, temperature=0.05, lambda0=1, "
        "lambda1=1, activation=Erf())"
    )
    assert repr(err) == f"TestError(total={float(err.total):.4g}, bias2={float(err.bias2):.4g}, variance={float(err.variance):.4g})"
    batched = jax.vmap(lambda T: solve(data, temperature=T))(jnp.array([0.05, 0.1]))
    assert "temperature=[0.05, 0.1]" in repr(batched) and "converged=[True, True]" in repr(batched)


def test_failed_solve_is_reported_never_a_silent_nan():
    """A potential with no stationary point: the status says so, and throw raises."""
    def with_jacobian(V):
        return lambda x, a: (jax.grad(V)(x, a), jax.hessian(V)(x, a))

    out = stationary_point(with_jacobian(lambda x, a: jnp.sum(a * x)), jnp.zeros(()), jnp.array(1.0))
    assert out.result != RESULTS.successful
    with pytest.raises(eqx.EquinoxRuntimeError, match="test: Nonfinite"):
        raise_if_failed(out.value, out.result, "test")
    # V = z arctan z - log(1 + z^2)/2, z = x - a, has one stationary point, z = 0 (gradient
    # arctan z). Plain Newton diverges from |z| > 1.39, each step overshooting further;
    # backtracking on |gradient|^2 reaches it from z = 5.
    def V(x, a):
        return (x - a) * jnp.arctan(x - a) - jnp.log1p((x - a) ** 2) / 2

    ok = stationary_point(with_jacobian(V), jnp.array(5.5), jnp.array(0.5))
    # A Jacobian far too large makes Newton's steps tiny where the gradient is not zero: the
    # stopping rule alone would call that a root; the check of the gradient at the end does not.
    stuck = stationary_point(lambda x, a: (a + 0 * x, jnp.asarray(1e12)), jnp.array(0.0), jnp.array(1e-3))
    assert stuck.result == RESULTS.not_a_root and np.isnan(stuck.value)
    assert ok.result == RESULTS.successful and float(ok.value) == pytest.approx(0.5)


def _coupled_cubic(x, a):
    """The gradient of V = sum(x^4/4 + x^2/2 - a x) + 0.3 x_0 x_1, its Jacobian, and an aux
    output (here x + 1), for the chord tests: one stationary point, solved by SciPy below."""
    g = x**3 + x - a + 0.3 * x[::-1]
    J = jnp.diag(3 * x**2 + 1) + 0.3 * jnp.array([[0.0, 1.0], [1.0, 0.0]])
    return g, J, x + 1


def _cubic_root(a):
    import scipy.optimize

    return scipy.optimize.fsolve(lambda x: np.asarray(_coupled_cubic(jnp.asarray(x), jnp.asarray(a))[0]), np.zeros(2),
                                 xtol=1e-12)  # fmt: skip


def test_chord_steps_reach_the_root_with_its_aux():
    """From a guess near the root with a Jacobian 1e-3 off, the chord steps end at the root
    (against SciPy, to the tolerance: a point is accepted where the step computed there is
    below 1e-10 (1 + |x|)), within their three evaluations (no Newton after them), and return
    the aux of the gradient there; derivatives with respect to the args are the implicit ones."""
    full = lambda x, a: _coupled_cubic(x, a)[:2]  # noqa: E731
    gradient = lambda x, a: (_coupled_cubic(x, a)[0], _coupled_cubic(x, a)[2])  # noqa: E731
    a = jnp.array([0.7, -1.3])
    root = _cubic_root(a)

    def solve(a, guess):
        J = _coupled_cubic(guess, a)[1] * (1 + 1e-3)
        return stationary_point(full, jnp.zeros(2), a, gradient=gradient, guess=(guess, J))

    out = solve(a, jnp.asarray(root) + 1e-4)
    assert out.result == RESULTS.successful and int(out.num_steps) == 3
    assert np.all(np.abs(out.value - root) <= 1e-10 * (1 + np.abs(root)))
    np.testing.assert_allclose(out.aux, out.value + 1, rtol=1e-15)
    value = lambda a: solve(a, jax.lax.stop_gradient(jnp.asarray(root)) + 1e-4).value  # noqa: E731
    fd = np.stack([(_cubic_root(a + h) - _cubic_root(a - h)) / 2e-6 for h in 1e-6 * np.eye(2)], axis=1)
    np.testing.assert_allclose(jax.jacfwd(value)(a), fd, rtol=1e-6)
    np.testing.assert_allclose(jax.jacrev(value)(a), fd, rtol=1e-6)


def test_newton_returns_the_jacobian_at_its_root_which_the_minimum_check_reads():
    """Without a chord, `stationary_point` returns the Jacobian of the evaluation that checked
    the gradient at the root (a check of the root's kind needs no further evaluation; None after
    the chord). The single-task minimum check reads it: on an action with two minima and a
    maximum between them, it is the curvature dg/du at each root, negative at the maximum, and
    the solve's root is a minimum with that curvature."""
    from jaxtl.theory._single_task import order_parameter

    full = lambda x, a: _coupled_cubic(x, a)[:2]  # noqa: E731
    a = jnp.array([0.7, -1.3])
    out = stationary_point(full, jnp.zeros(2), a)
    np.testing.assert_allclose(out.jacobian, _coupled_cubic(out.value, a)[1], rtol=1e-14)
    chord = stationary_point(full, jnp.zeros(2), a, gradient=lambda x, a: (full(x, a)[0], None), guess=(out.value, out.jacobian))
    assert chord.jacobian is None
    state = SingleTaskState(eigenvalues=jnp.array([1.0, 1e-3]), labels=jnp.array([0.0, 1.0]), temperature=jnp.array(1e-2),
                            lambda1=jnp.array(1.0), inv_width=jnp.array(10.0))  # fmt: skip
    roots = jax.jit(jax.vmap(lambda u: stationary_point(_action_gradient_and_curvature, u, state)))(jnp.linspace(-6.0, 6.0, 49))
    found = np.asarray(roots.result._value == RESULTS.successful._value)
    curvatures = np.asarray(jax.vmap(lambda u: _action_gradient_and_curvature(u, state)[1])(roots.value))[found]
    np.testing.assert_allclose(np.asarray(roots.jacobian)[found], curvatures, rtol=1e-12)
    assert np.any(curvatures < 0) and np.any(curvatures > 0), curvatures  # a maximum and a minimum
    solved = order_parameter(state)
    assert solved.result == RESULTS.successful and float(solved.jacobian) > 0
    np.testing.assert_allclose(solved.jacobian, _action_gradient_and_curvature(solved.value, state)[1], rtol=1e-12)


@pytest.mark.parametrize("guess", [np.nan, 40.0])
def test_chord_falls_back_to_newton_from_the_start(guess):
    """A guess that is not a number, or so far that the chord steps stop shrinking: globalized
    Newton from x0 finds it, as without a guess, and the aux is
    the gradient's at that root."""
    full = lambda x, a: _coupled_cubic(x, a)[:2]  # noqa: E731
    gradient = lambda x, a: (_coupled_cubic(x, a)[0], _coupled_cubic(x, a)[2])  # noqa: E731
    a, x0 = jnp.array([0.7, -1.3]), jnp.zeros(2)
    start = jnp.full(2, guess)
    out = stationary_point(full, x0, a, gradient=gradient, guess=(start, _coupled_cubic(start, a)[1]))
    plain = stationary_point(full, x0, a)
    assert out.result == RESULTS.successful and int(out.num_steps) > 3
    np.testing.assert_allclose(out.value, plain.value, rtol=1e-14)
    np.testing.assert_allclose(out.aux, out.value + 1, rtol=1e-15)
    with pytest.raises(ValueError, match="`gradient` and `guess`"):
        stationary_point(full, x0, a, gradient=gradient)


def test_chord_under_vmap_is_each_point_alone():
    """Under jax.vmap the chord runs until every point has stopped, evaluating a stopped point
    again where it is: points that stop after 2 and 3 evaluations, and one that falls back to
    Newton, give exactly (value, steps, aux) what each gives alone; so does a point accepted at
    its guess (the first evaluation, outside the loop, repeated inside it)."""
    full = lambda x, a: _coupled_cubic(x, a)[:2]  # noqa: E731
    gradient = lambda x, a: (_coupled_cubic(x, a)[0], _coupled_cubic(x, a)[2])  # noqa: E731
    a = jnp.array([0.7, -1.3])
    root = jnp.asarray(_cubic_root(a))

    def solve(offset):
        guess = root + offset
        J = _coupled_cubic(guess, a)[1] * (1 + 1e-3)
        out = stationary_point(full, jnp.zeros(2), a, gradient=gradient, guess=(guess, J))
        return out.value, out.num_steps, out.aux

    offsets = jnp.array([0.0, 1e-9, 1e-4, 40.0])
    batched = jax.jit(jax.vmap(solve))(offsets)
    alone = [jax.jit(solve)(o) for o in offsets]  # one compilation for the four
    assert [int(n) for n in batched[1]] == [int(n) for _, n, _ in alone]
    assert 1 == int(batched[1][0]) < int(batched[1][1]) < int(batched[1][2]) < int(batched[1][3])  # 1, 2, 3, Newton
    for i, (value, _, aux) in enumerate(alone):
        np.testing.assert_array_equal(batched[0][i], value)
        np.testing.assert_array_equal(batched[2][i], aux)


def test_gradients_survive_exactly_degenerate_kernel():
    """One-hot inputs make K proportional to the identity (all eigenvalues equal), where the
    textbook eigenvector derivative divides by zero; the gradient must still match FD."""
    P = 12
    X = np.sqrt(P) * np.eye(P)
    y = np.random.default_rng(6).standard_normal(P)
    X0 = np.random.default_rng(7).standard_normal((5, P))

    def error(lambda0):
        sol = jaxtl.single_task(X, y, width=8.0, temperature=0.1, lambda0=lambda0)
        return sol.test_error(X0, X0[:, 0]).total

    np.testing.assert_allclose(jax.grad(error)(1.2), central_difference(error, 1.2, 1e-5), rtol=1e-6)


def test_distant_minimum_is_found():
    """Large T and labels, small N1: Q* ~ 40, where S(log Q) is concave around the NNGP
    value Q = 1 and Newton started there walks off to Q -> 0."""
    X, y, X0, y0 = helpers.teacher_data(1, 150, 60)
    params = dict(width=1.4, temperature=1.3, lambda0=1.0, lambda1=8.0, activation="erf")
    Q, total, _, _ = helpers.single_task(X, 3 * y, X0, y0, **params)
    sol = jaxtl.single_task(X, 3 * y, **params)
    assert Q > 10
    np.testing.assert_allclose([sol.Q, sol.test_error(X0, y0).total], [Q, total], rtol=1e-8)


def test_refined_start_is_within_1e_2_of_the_minimum_and_newton_needs_at_most_three_evaluations():
    """`_refined_start` refines the lowest node of S on the grid log Q = -8..8 by the cubic
    through g and dg/du at the two nodes around it: over T in [1e-3, 10], N1 in [1, 1e4],
    lambda1 in [0.3, 3] and two label scales (Q* from e^-5 to e^6), it is within 1e-2 of the
    log Q* Newton reaches, and Newton from it stops after at most three evaluations (from the
    node, `_lowest_node`, it took up to six); that log Q* is the minimum of the action on a fine
    NumPy grid around it."""
    rng = np.random.default_rng(3)
    k, y = rng.exponential(size=200), rng.standard_normal(200)
    T, N1, lambda1 = (a.ravel() for a in np.meshgrid(np.logspace(-3, 1, 9), np.logspace(0, 4, 9), [0.3, 1.0, 3.0], indexing="ij"))

    def start_and_root(T, N1, lambda1, labels):
        state = SingleTaskState(eigenvalues=jnp.asarray(k), labels=labels, temperature=T, lambda1=lambda1, inv_width=1 / N1)
        refined = _refined_start(state)
        root = stationary_point(_action_gradient_and_curvature, refined, state, rtol=1e-13, atol=1e-13)
        return refined, root.value, root.num_steps, root.result == RESULTS.successful

    for scale in (1.0, 5.0):
        u0, u, steps, ok = (np.asarray(a) for a in jax.jit(jax.vmap(start_and_root, (0, 0, 0, None)))(T, N1, lambda1, scale * y))
        assert ok.all() and np.max(np.abs(u0 - u)) < 1e-2 and steps.max() <= 3
        for i in range(0, T.size, 40):
            fine = u[i] + np.linspace(-0.05, 0.05, 2001)
            a = T[i] + np.exp(fine)[:, None] * k / lambda1[i]
            S = np.exp(fine) - fine + np.sum(np.log(a) + (scale * y) ** 2 / a, axis=1) / N1[i]
            assert abs(fine[np.argmin(S)] - u[i]) <= 1e-4


def test_start_is_refined_for_one_point_and_under_vmap_over_the_width_alone():
    """`_start_on_grid` is `_refined_start` for one point and under `jax.vmap` over N1 alone (the
    refinement's sums at the nodes are then shared by the batch), also inside a vmap over T; it
    is the lowest node (`_lowest_node`) under a vmap over T and N1 together or over the labels;
    the lowest node is the node where a NumPy evaluation of S is lowest."""
    rng = np.random.default_rng(4)
    k, y, ys = rng.exponential(size=100), rng.standard_normal(100), rng.standard_normal((3, 100))
    Ts, widths = jnp.array([0.01, 0.1, 1.0]), jnp.array([5.0, 50.0, 500.0])

    def state(T, N1, labels=y):
        return SingleTaskState(eigenvalues=jnp.asarray(k), labels=jnp.asarray(labels), temperature=T, lambda1=1.0, inv_width=1 / N1)

    def both(f, T, N1, labels=y):
        return _start_on_grid(state(T, N1, labels)), f(state(T, N1, labels))

    refined, lowest = (lambda T, N1: both(_refined_start, T, N1)), (lambda T, N1: both(_lowest_node, T, N1))
    np.testing.assert_array_equal(*jax.jit(refined)(0.1, 50.0))
    np.testing.assert_array_equal(*jax.jit(jax.vmap(jax.vmap(refined, (None, 0)), (0, None)))(Ts, widths))
    np.testing.assert_array_equal(*jax.jit(jax.vmap(lowest))(Ts, widths))
    np.testing.assert_array_equal(*jax.jit(jax.vmap(lambda labels: both(_lowest_node, 0.1, 50.0, labels)))(ys))
    assert not np.array_equal(*jax.jit(jax.vmap(refined))(Ts, widths))  # the two differ
    u, T = np.arange(-8.0, 9.0), 0.1
    a = T + np.exp(u)[:, None] * k
    assert _lowest_node(state(T, 50.0)) == u[np.argmin(np.exp(u) - u + np.sum(np.log(a) + y**2 / a, axis=1) / 50.0)]


def test_mean_prediction_under_vmap_with_shared_or_batched_labels_and_its_gradient():
    """`_mean_prediction` (w * y) @ B: nested vmaps with the labels shared (its own batching
    rule) or batched, and w shared, equal NumPy; reverse-mode gradients through a vmap of it
    equal central differences in every argument."""
    rng = np.random.default_rng(5)
    w, y, ys, B = rng.random((3, 4, 30)), rng.standard_normal(30), rng.standard_normal((4, 30)), rng.standard_normal((30, 6))
    shared = jax.vmap(jax.vmap(_mean_prediction, (0, None, None)), (0, None, None))(w, y, B)
    np.testing.assert_allclose(shared, np.einsum("abp,p,pq->abq", w, y, B), rtol=1e-13, atol=1e-13)
    batched = jax.vmap(jax.vmap(_mean_prediction, (0, 0, None)), (0, None, None))(w, ys, B)
    np.testing.assert_allclose(batched, np.einsum("abp,bp,pq->abq", w, ys, B), rtol=1e-13, atol=1e-13)
    only_labels = jax.vmap(_mean_prediction, (None, 0, None))(w[0, 0], ys, B)
    np.testing.assert_allclose(only_labels, np.einsum("p,bp,pq->bq", w[0, 0], ys, B), rtol=1e-13, atol=1e-13)

    def loss(w, y, B):
        return jnp.sum(jnp.sin(jax.vmap(_mean_prediction, (0, None, None))(w, y, B)))

    grads = jax.grad(loss, argnums=(0, 1, 2))(w[0], y, B)
    for i, (x, g) in enumerate(zip((w[0], y, B), grads)):
        direction = rng.standard_normal(x.shape)
        moved = lambda t: loss(*[x + t * direction if j == i else a for j, a in enumerate((w[0], y, B))])  # noqa: E731
        np.testing.assert_allclose(np.sum(g * direction), (moved(1e-6) - moved(-1e-6)) / 2e-6, rtol=1e-7)


def test_closed_form_action_gradient_and_curvature_are_autodiff_derivatives():
    rng = np.random.default_rng(8)
    k, y_eig = rng.exponential(size=50), rng.standard_normal(50)
    for log_Q, T, lambda1, inv_width in [(0.3, 0.05, 1.0, 0.02), (-2.0, 1.5, 0.3, 1.0), (3.0, 0.01, 4.0, 0.0)]:
        state = SingleTaskState(eigenvalues=k, labels=y_eig, temperature=T, lambda1=lambda1, inv_width=inv_width)
        g, curvature = _action_gradient_and_curvature(log_Q, state)
        np.testing.assert_allclose(g, jax.grad(_action)(log_Q, state), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(curvature, jax.hessian(_action)(log_Q, state), rtol=1e-12, atol=1e-14)


def test_every_converged_point_is_physical(data):
    """Over a grid of (width, T, lambda1) from N1 = 1 (alpha = 70) to 1000 and T from 1e-3 to
    3: every point reported converged has Q* > 0 at a minimum of S (NumPy: S'' > 0 by finite
    differences, and the root of dS/dQ by Brent's method agrees), and non-negative predictive
    variances; the fraction of points solved is printed and must be high."""
    X, y, X0, _ = data
    widths, temperatures, lambda1s = jnp.array([1.0, 5.0, 30.0, 1000.0]), jnp.array([1e-3, 0.05, 3.0]), jnp.array([0.5, 2.0])

    @jax.jit
    def grid(X, y, X0):
        def one(w, T, l1):
            sol = jaxtl.single_task(X, y, width=w, temperature=T, lambda1=l1, throw=False)
            return sol.Q, sol.converged, sol.predict(X0).variance
        for axis in (2, 1, 0):
            one = jax.vmap(one, [None if a != axis else 0 for a in range(3)])
        return one(widths, temperatures, lambda1s)

    Q, converged, variance = (np.asarray(a) for a in grid(X, y, X0))
    print(f"physical Q* found at {converged.sum()} of {converged.size} points ({converged.mean():.0%})")
    assert converged.mean() >= 0.9
    K = helpers.nngp(X, X, 1.0, "erf")
    for i, j, k in zip(*np.nonzero(converged)):
        w, T, l1 = float(widths[i]), float(temperatures[j]), float(lambda1s[k])
        q = Q[i, j, k]
        S = lambda u: helpers.action(np.exp(u), K, y, w, T, l1)
        h = 1e-3
        assert q > 0 and (S(np.log(q) + h) - 2 * S(np.log(q)) + S(np.log(q) - h)) / h**2 > 0, (i, j, k)
        assert abs(helpers.action_derivative(q, K, y, w, T, l1)) < 1e-8, (i, j, k)
        assert variance[i, j, k].min() >= -1e-12, (i, j, k)


def test_test_error_equals_the_mean_of_the_predictor_statistics(data):
    X, y, X0, y0 = data

    def both(T, width):
        sol = jaxtl.single_task(X, y, width=width, temperature=T, throw=False)
        fast, slow = sol.test_error(X0, y0), jaxtl.TestError.of(sol.predict(X0), jnp.asarray(y0))
        return jnp.stack([fast.total, fast.bias2, fast.variance]), jnp.stack([slow.total, slow.bias2, slow.variance])

    fast, slow = jax.vmap(both)(jnp.array([0.01, 0.05, 0.5]), jnp.array([20.0, 50.0, jnp.inf]))
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)
    assert np.all(fast[:, 2] > 0)
