import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from jaxtl.tasks import TaskPair, teacher_pair

KEY = jax.random.key(0)
# One size set per generator, shared by the tests: JAX compiles once per shape (seconds each).
TEACHER = dict(Ps=400, Pt=400, P0=50, N0=50)
READOUTS = {"identity": lambda h: h, "erf": scipy.special.erf, "tanh": np.tanh}


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return a @ b / np.sqrt((a @ a) * (b @ b))


def central_difference(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def u_statistic_overlap(X1, X2):
    """The input overlap by explicit sums over pairs of points (independent of jaxtl's algebra)."""
    X1, X2 = np.asarray(X1), np.asarray(X2)
    G1, G2, G12 = X1 @ X1.T, X2 @ X2.T, X1 @ X2.T
    off = lambda G: (G**2)[~np.eye(len(G), dtype=bool)].mean()
    return (G12**2).mean() / np.sqrt(off(G1) * off(G2))


# ---------------------------------------------------------------- teacher_pair


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.3, 0.9])
def test_teacher_overlap_matches_rho_within_sampling_error(rho):
    """The cosine of w_s and w_t fluctuates around rho with standard deviation
    sigma = (1 - rho^2) / sqrt(N0) (that of a correlation coefficient of N0 Gaussian pairs;
    its bias, -rho (1 - rho^2) / (2 N0), is 50 times smaller than the tolerance). Over K keys:
    the mean within 4 sigma / sqrt(K) of rho, and the spread within 30% of sigma (the
    standard error of a standard deviation of K = 64 samples is 9%). rho = 0: independent
    teachers, overlap 0 with the spread of two unrelated random vectors, 1 / sqrt(N0)."""
    n0, K = 2000, 64
    pairs = jax.vmap(lambda k: teacher_pair(k, Ps=3, Pt=4, P0=1, N0=n0, rho=rho))(jax.random.split(KEY, K))
    w_s, w_t = np.asarray(pairs.params["w_s"]), np.asarray(pairs.params["w_t"])
    measured = np.asarray(pairs.overlaps["teacher"])
    np.testing.assert_allclose(measured, [cosine(a, b) for a, b in zip(w_s, w_t)], rtol=1e-12, atol=1e-15)
    for i in range(3):  # here Ps Pt < N0^2: the P x P branch of the trace algebra
        pair = jax.tree.map(lambda x: x[i], pairs)
        assert float(pair.overlaps["input"]) == pytest.approx(u_statistic_overlap(pair.Xs, pair.Xt), rel=1e-12)
    sigma = (1 - rho**2) / np.sqrt(n0)
    assert abs(measured.mean() - rho) < 4 * sigma / np.sqrt(K)
    assert 0.7 * sigma < measured.std() < 1.3 * sigma


def test_rho_one_gives_one_teacher_and_the_source_side_is_a_single_task():
    """rho = 1, shift = 0, noise = 0: w_t = w_s exactly, and Xs, ys, X0, y0 are one task:
    every label is tanh(gain w_s . x / sqrt(N0)) of its input (computed here in NumPy)."""
    n0, gain = TEACHER["N0"], 2.0
    pair = teacher_pair(KEY, **TEACHER, rho=1.0, readout="tanh", gain=gain)
    w = np.asarray(pair.params["w_s"])
    np.testing.assert_array_equal(pair.params["w_t"], w)
    assert float(pair.overlaps["teacher"]) == pytest.approx(1.0, abs=1e-14)
    for X, y in ((pair.Xs, pair.ys), (pair.X0, pair.y0)):
        np.testing.assert_allclose(y, np.tanh(gain * np.asarray(X) @ w / np.sqrt(n0)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("readout", ["identity", "erf", "tanh"])
def test_teacher_labels_and_inputs_follow_the_documented_model(readout):
    """Train labels minus the teacher's function (NumPy) are the label noise: its standard
    deviation matches `noise` within 5 standard errors (noise / sqrt(2 P)); test labels carry
    none. Target inputs have mean mu = shift u (each column's mean within 5 / sqrt(Pt))."""
    n0, P, gain, noise, shift = TEACHER["N0"], TEACHER["Ps"], 1.5, 0.3, 0.7
    pair = teacher_pair(KEY, **TEACHER, rho=0.4, readout=readout, gain=gain, noise=noise, shift=shift)
    sigma = READOUTS[readout]
    for X, y, w in ((pair.Xs, pair.ys, "w_s"), (pair.Xt, pair.yt, "w_t")):
        residual = np.asarray(y) - sigma(gain * np.asarray(X) @ np.asarray(pair.params[w]) / np.sqrt(n0))
        assert abs(residual.std() - noise) < 5 * noise / np.sqrt(2 * P)
    clean = sigma(gain * np.asarray(pair.X0) @ np.asarray(pair.params["w_t"]) / np.sqrt(n0))
    np.testing.assert_allclose(pair.y0, clean, rtol=1e-12, atol=1e-14)
    mu = np.asarray(pair.params["mu"])
    assert np.all(np.abs(np.asarray(pair.Xt).mean(0) - mu) < 5 / np.sqrt(P))
    assert np.all(np.abs(np.asarray(pair.Xs).mean(0)) < 5 / np.sqrt(P))
    assert np.linalg.norm(mu) > 0.3 * shift * np.sqrt(n0)


def test_input_overlap_is_the_documented_u_statistic():
    """Here Ps Pt > N0^2: the N0 x N0 branch (the other one: the rho test above)."""
    pair = teacher_pair(KEY, **TEACHER, shift=0.5)
    assert float(pair.overlaps["input"]) == pytest.approx(u_statistic_overlap(pair.Xs, pair.Xt), rel=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_input_overlap_matches_gaussian_population_value(shift):
    """N(0, I) against N(mu, I): (1 + m) / sqrt(1 + 2 m + N0 m^2), m = |mu|^2 / N0 (with each
    key's own mu). The mean over K keys of measured minus exact lies within 4 standard
    errors (the spread of the K differences / sqrt(K))."""
    n0, K = TEACHER["N0"], 32
    pairs = jax.vmap(lambda k: teacher_pair(k, **TEACHER, shift=shift))(jax.random.split(KEY, K))
    m = np.sum(np.asarray(pairs.params["mu"]) ** 2, axis=1) / n0
    diff = np.asarray(pairs.overlaps["input"]) - (1 + m) / np.sqrt(1 + 2 * m + n0 * m**2)
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(K)


def data_scalar(pair):
    """A scalar touching every array of a pair, and its overlaps."""
    return (
        jnp.sum(pair.yt**2)
        + jnp.sum(jnp.sin(pair.Xt))
        + jnp.sum(pair.y0 * pair.X0[:, 0])
        + jnp.sum(pair.ys)
        + pair.overlaps["teacher"]
        + pair.overlaps["input"]
    )


@pytest.mark.parametrize("knob, value", [("rho", 0.4), ("rho", -0.8), ("gain", 1.3), ("noise", 0.2), ("shift", 0.5)])
def test_teacher_pair_gradient_matches_finite_differences(knob, value):
    knobs = dict(rho=0.6, readout="tanh", gain=1.1, noise=0.1, shift=0.3)

    def f(x):
        return data_scalar(teacher_pair(KEY, **TEACHER, **{**knobs, knob: x}))

    grad = float(jax.grad(f)(value))
    assert grad == pytest.approx(float(central_difference(f, value)), rel=1e-6)
    assert abs(grad) > 1e-3


# ---------------------------------------------------------------- all generators


GENERATORS = {
    "teacher": (teacher_pair, TEACHER, dict(rho=0.3, noise=0.1, shift=0.2)),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_jit_gives_the_same_data_as_eager(name):
    generate, sizes, knobs = GENERATORS[name]
    knobs = {k: jnp.asarray(v) for k, v in knobs.items()}  # traced under jit
    eager = generate(KEY, **sizes, **knobs)
    jitted = eqx.filter_jit(lambda key, knobs: generate(key, **sizes, **knobs))(KEY, knobs)
    assert jax.tree.structure(eager) == jax.tree.structure(jitted)
    for x, y in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)
    assert isinstance(eager, TaskPair) and eager.Xs.dtype == jnp.float64


BAD_INPUTS = [
    (teacher_pair, dict(rho=1.5), r"rho must lie in \[-1, 1\], got 1.5"),
    (teacher_pair, dict(rho=-1.01), r"rho must lie in \[-1, 1\]"),
    (teacher_pair, dict(rho=np.nan), r"rho must lie in \[-1, 1\]"),
    (teacher_pair, dict(Ps=0), r"Ps must be an integer >= 1, got 0"),
    (teacher_pair, dict(N0=2.5), r"N0 must be an integer >= 1, got 2.5"),
    (teacher_pair, dict(readout="relu"), r"readout: activation must be one of"),
    (teacher_pair, dict(noise=-0.1), r"noise must lie in \[0, \+inf\)"),
    (teacher_pair, dict(gain=0.0), r"gain must lie in \(0, \+inf\)"),
    (teacher_pair, dict(shift=np.inf), r"shift must be finite"),
]


@pytest.mark.parametrize("generate, bad, message", BAD_INPUTS)
def test_bad_input_raises_a_value_error_naming_the_argument(generate, bad, message):
    sizes = {teacher_pair: dict(Ps=3, Pt=3, P0=3, N0=3)}[generate]
    with pytest.raises(ValueError, match=message):
        generate(KEY, **{**sizes, **bad})


def test_traced_rho_out_of_range_raises_at_run_time():
    f = eqx.filter_jit(lambda rho: teacher_pair(KEY, Ps=2, Pt=2, P0=2, N0=3, rho=rho).yt)
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"rho must lie in \[-1, 1\]"):
        f(jnp.asarray(1.2))


def test_task_pair_validates_shapes_naming_the_field():
    ok = dict(Xs=np.zeros((4, 3)), ys=np.zeros(4), Xt=np.zeros((2, 3)), yt=np.zeros(2))
    ok.update(X0=np.zeros((5, 3)), y0=np.zeros(5))
    pair = TaskPair(**ok)
    assert isinstance(pair.Xt, jax.Array) and pair.overlaps == {} and pair.params == {}
    for field, bad, message in [("X0", np.zeros((5, 2)), r"X0 must have shape \(P0, N0\) = \(5, 3\)"),
                                ("yt", np.zeros(3), r"yt must have shape \(Pt,\) = \(2,\)"),
                                ("Xs", np.zeros(4), r"Xs must have shape \(Ps, N0\)"),
                                ("y0", np.zeros((5, 1)), r"y0 must have shape \(P0,\)")]:
        with pytest.raises(ValueError, match=message):
            TaskPair(**{**ok, field: bad})
