import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import sklearn.datasets

from jaxtl.tasks import TaskPair, digits_pair, hidden_manifold_pair, teacher_pair

KEY = jax.random.key(0)
# One size set per generator, shared by the tests: JAX compiles once per shape (seconds each).
TEACHER = dict(Ps=400, Pt=400, P0=50, N0=50)
MANIFOLD = dict(Ps=150, Pt=150, P0=30, N0=60, D=20)
DIGITS = dict(Ps=150, Pt=60, P0=80)
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


# ---------------------------------------------------------------- hidden_manifold_pair

KNOBS = dict(feature_perturbation=0.8, replaced_fraction=0.25, teacher_perturbation=1.5)


def latent(X, F):
    """Latent coordinates c of identity-activation inputs X = c F / sqrt(D), by least squares."""
    D = F.shape[0]
    c, residual, *_ = np.linalg.lstsq(np.asarray(F).T / np.sqrt(D), np.asarray(X).T, rcond=None)
    return c.T, residual


@pytest.mark.parametrize("knobs", [{}, KNOBS])
def test_hidden_manifold_inputs_and_labels_follow_the_model(knobs):
    """With the identity activation the inputs are c F / sqrt(D): least squares recovers the
    latent c of each set from its own feature matrix (F_s for the source, F_t for the target,
    zero residual), the latent c are standard normal (mean within 5 / sqrt(n), variance within
    5 sqrt(2 / n)), the labels are tanh(gain theta . c / sqrt(D)) of those c (NumPy), and the
    same key with the erf activation gives erf of those inputs. Knobs at 0 (the first case):
    F_t = F_s and theta_t = theta_s exactly, so the target is the source's model."""
    D, gain = MANIFOLD["D"], 1.5
    pair = hidden_manifold_pair(KEY, **MANIFOLD, **knobs, activation="identity", readout="tanh", gain=gain)
    p = pair.params
    sets = (
        (pair.Xs, pair.ys, "F_s", "theta_s"),
        (pair.Xt, pair.yt, "F_t", "theta_t"),
        (pair.X0, pair.y0, "F_t", "theta_t"),
    )
    for X, y, F, theta in sets:
        c, residual = latent(X, p[F])
        assert np.max(residual) < 1e-20
        assert abs(c.mean()) < 5 / np.sqrt(c.size) and abs(c.var() - 1) < 5 * np.sqrt(2 / c.size)
        np.testing.assert_allclose(y, np.tanh(gain * c @ np.asarray(p[theta]) / np.sqrt(D)), rtol=1e-10, atol=1e-12)
    if knobs:
        assert np.min(latent(pair.Xt, p["F_s"])[1]) > 1.0  # the source features do not fit the target
    else:
        np.testing.assert_array_equal(p["F_t"], p["F_s"])
        np.testing.assert_array_equal(p["theta_t"], p["theta_s"])
    erf_pair = hidden_manifold_pair(KEY, **MANIFOLD, **knobs, activation="erf", readout="tanh", gain=gain)
    for X, X_erf in ((pair.Xs, erf_pair.Xs), (pair.Xt, erf_pair.Xt), (pair.X0, erf_pair.X0)):
        np.testing.assert_allclose(X_erf, scipy.special.erf(np.asarray(X)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("knobs", [{}, KNOBS, dict(replaced_fraction=0.25)])
def test_hidden_manifold_overlaps_over_keys(knobs):
    """Over K keys the measured overlaps are the cosines of the params (NumPy) and their means
    lie within 4 standard errors (spread over keys / sqrt(K)) of the documented values:
    features (1 - f) / sqrt(1 + delta_F^2) (f D integer), teacher 1 / sqrt(1 + delta_theta^2),
    input 1 for knobs at 0 (statistically identical inputs). Replacement alone (no
    perturbation) keeps rows k >= f D of F_s exactly."""
    K = 16
    pairs = jax.vmap(lambda k: hidden_manifold_pair(k, **MANIFOLD, **knobs))(jax.random.split(KEY, K))
    p, o = pairs.params, {name: np.asarray(v) for name, v in pairs.overlaps.items()}
    np.testing.assert_allclose(o["features"], [cosine(a, b) for a, b in zip(p["F_s"], p["F_t"])], rtol=1e-12)
    np.testing.assert_allclose(o["teacher"], [cosine(a, b) for a, b in zip(p["theta_s"], p["theta_t"])], rtol=1e-12)
    dF, f, dtheta = (knobs.get(k, 0.0) for k in ("feature_perturbation", "replaced_fraction", "teacher_perturbation"))
    expected = dict(features=(1 - f) / np.sqrt(1 + dF**2), teacher=1 / np.sqrt(1 + dtheta**2))
    if not knobs:
        expected["input"] = 1.0
    for name, value in expected.items():
        assert abs(o[name].mean() - value) <= 4 * o[name].std() / np.sqrt(K) + 1e-14, name
    if knobs == dict(replaced_fraction=0.25):
        kept = int(0.25 * MANIFOLD["D"])
        np.testing.assert_array_equal(p["F_t"][:, kept:], p["F_s"][:, kept:])
        assert not np.any(np.asarray(p["F_t"][:, :kept]) == np.asarray(p["F_s"][:, :kept]))


def hidden_manifold_scalar(**knobs):
    pair = hidden_manifold_pair(KEY, **MANIFOLD, **knobs)
    return data_scalar(pair) + pair.overlaps["features"]


@pytest.mark.parametrize(
    "knob, value", [("feature_perturbation", 0.4), ("replaced_fraction", 0.37), ("teacher_perturbation", 0.6),
                    ("gain", 0.9), ("noise", 0.3)]
)
def test_hidden_manifold_gradient_matches_finite_differences(knob, value):
    knobs = dict(feature_perturbation=0.3, replaced_fraction=0.2, teacher_perturbation=0.5, gain=1.2, noise=0.1)
    f = lambda x: hidden_manifold_scalar(**{**knobs, knob: x})
    grad = float(jax.grad(f)(value))
    assert grad == pytest.approx(float(central_difference(f, value)), rel=1e-6)
    assert abs(grad) > 1e-3


def test_replaced_fraction_is_continuous_with_mean_one_sided_derivative_at_kinks():
    """At f D integer (f = 0.25, D = 20) the data are continuous, and jax.grad gives the mean
    of the two one-sided derivatives (one-sided differences with h = 1e-7)."""
    f = lambda x: hidden_manifold_scalar(replaced_fraction=x)
    h, f0 = 1e-7, float(f(0.25))
    left, right = (f0 - float(f(0.25 - h))) / h, (float(f(0.25 + h)) - f0) / h
    assert abs(left - right) > 1e-2 * abs(left)  # a genuine kink
    assert float(jax.grad(f)(0.25)) == pytest.approx((left + right) / 2, rel=1e-5)


# ---------------------------------------------------------------- digits_pair


def standardized_digits_numpy():
    X, digit = sklearn.datasets.load_digits(return_X_y=True)
    std = X.std(0)
    return (X - X.mean(0)) / np.where(std > 0, std, 1.0), digit


@pytest.mark.parametrize(
    "source, target",
    [(((0, 2, 4), (1, 3)), ((6, 8), (5, 7, 9))),  # the default: parity of 0-4, then of 5-9
     (((0,), (1,)), ((7,), (0,)))],  # a shared class (0), with opposite labels
)
def test_digits_pair_has_documented_classes_labels_inputs_and_disjoint_sets(source, target):
    Ps, Pt, P0 = DIGITS["Ps"], DIGITS["Pt"], DIGITS["P0"]
    pair = digits_pair(KEY, **DIGITS, source=source, target=target)
    X, digit = standardized_digits_numpy()
    sets = {
        "s": (pair.Xs, pair.ys, source, Ps),
        "t": (pair.Xt, pair.yt, target, Pt),
        "0": (pair.X0, pair.y0, target, P0),
    }
    for name, (Xp, yp, (positive, negative), P) in sets.items():
        index = np.asarray(pair.params[f"index_{name}"])
        assert Xp.shape == (P, 64) and yp.shape == (P,) and index.shape == (P,)
        np.testing.assert_allclose(Xp, X[index], rtol=1e-12, atol=1e-12)
        assert set(np.unique(yp)) <= {-1.0, 1.0}
        assert set(digit[index]) <= set(positive + negative)
        np.testing.assert_array_equal(yp, np.where(np.isin(digit[index], positive), 1.0, -1.0))
    indices = [set(np.asarray(pair.params[f"index_{n}"]).tolist()) for n in "st0"]
    assert sum(map(len, indices)) == Ps + Pt + P0 == len(set.union(*indices))  # distinct images
    rows = [set(map(bytes, np.asarray(Xp))) for Xp in (pair.Xs, pair.Xt, pair.X0)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    if source == ((0, 2, 4), (1, 3)):  # both labels occur
        assert {-1.0, 1.0} == set(np.unique(pair.ys)) == set(np.unique(pair.yt))


def test_digits_standardization_and_determinism():
    """All 1797 images are standardized pixel by pixel (mean 0, variance 1 except the 3 pixels
    that are 0 everywhere); same key, same pair; another key, other images."""
    X, _ = standardized_digits_numpy()
    varying = X.std(0) > 0
    assert varying.sum() == 61
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0)[varying], 1, rtol=1e-12)
    a, b = digits_pair(KEY, **DIGITS), digits_pair(KEY, **DIGITS)
    other = digits_pair(jax.random.key(1), **DIGITS)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.params["index_s"], other.params["index_s"])


# ---------------------------------------------------------------- all generators


GENERATORS = {
    "teacher": (teacher_pair, TEACHER, dict(rho=0.3, noise=0.1, shift=0.2)),
    "hidden_manifold": (hidden_manifold_pair, MANIFOLD, KNOBS),
    "digits": (digits_pair, DIGITS, {}),
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
    (teacher_pair, dict(readout="relu"), r"readout must be one of"),
    (teacher_pair, dict(noise=-0.1), r"noise must lie in \[0, \+inf\)"),
    (teacher_pair, dict(gain=0.0), r"gain must lie in \(0, \+inf\)"),
    (teacher_pair, dict(shift=np.inf), r"shift must be finite"),
    (hidden_manifold_pair, dict(D=0), r"D must be an integer >= 1"),
    (hidden_manifold_pair, dict(replaced_fraction=1.2), r"replaced_fraction must lie in \[0, 1\], got 1.2"),
    (hidden_manifold_pair, dict(feature_perturbation=-1.0), r"feature_perturbation must lie in \[0, \+inf\)"),
    (hidden_manifold_pair, dict(teacher_perturbation=-1.0), r"teacher_perturbation must lie in \[0, \+inf\)"),
    (hidden_manifold_pair, dict(activation="relu"), r"activation must be one of"),
    (digits_pair, dict(Pt=0), r"Pt must be an integer >= 1"),
    (digits_pair, dict(source=((0, 1), (1, 2))), r"source must be \(positive digits, negative digits\)"),
    (digits_pair, dict(target=((10,), (1,))), r"target must be .* digits 0-9"),
    (digits_pair, dict(target=((2.0,), (1,))), r"target must be"),
    (digits_pair, dict(source=((0,), ())), r"source must be"),
    (digits_pair, dict(Ps=1000), r"Ps must be at most 901"),
    (  # digit 0 (178 images) shared: the source may take all of them
        digits_pair,
        dict(source=((0,), (1,)), target=((0,), (2,)), Ps=178, Pt=100, P0=78),
        r"Pt \+ P0 must be at most 177",
    ),
]


@pytest.mark.parametrize("generate, bad, message", BAD_INPUTS)
def test_bad_input_raises_a_value_error_naming_the_argument(generate, bad, message):
    sizes = {teacher_pair: dict(Ps=3, Pt=3, P0=3, N0=3), hidden_manifold_pair: dict(Ps=3, Pt=3, P0=3, N0=3, D=2),
             digits_pair: dict(Ps=3, Pt=3, P0=3)}[generate]
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
