import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import sklearn.datasets

import jaxtl
from jaxtl import _problem
from jaxtl.tasks import TaskPair, _mnist, digits_pair, hidden_manifold_pair, mnist_pair, teacher_pair

KEY = jax.random.key(0)
# One size set per generator, shared by the tests: JAX compiles once per shape (seconds each).
TEACHER = dict(Ps=400, Pt=400, P0=50, N0=50)
MANIFOLD = dict(Ps=150, Pt=150, P0=30, N0=60, D=20)
DIGITS = dict(Ps=150, Pt=60, P0=80)
MNIST = dict(Ps=40, Pt=21, P0=30, side=14)
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


# ---------------------------------------------------------------- mnist_pair

# MNIST's images per digit 0-9 (LeCun et al.'s published counts).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def mnist_inputs_numpy(images, side):
    """Block averages by explicit slicing, then each image standardized over its pixels."""
    s = 28 // side
    blocks = np.stack([images[:, i * s:(i + 1) * s, j * s:(j + 1) * s].astype(float).mean(axis=(1, 2))
                       for i in range(side) for j in range(side)], axis=1)  # fmt: skip
    return (blocks - blocks.mean(1, keepdims=True)) / blocks.std(1, keepdims=True)


def test_mnist_data_is_mnist_as_zarr_reads_it():
    """The zip read without zarr equals zarr's reading of it; the class counts and the first
    training labels are MNIST's."""
    zarr = pytest.importorskip("zarr")
    data = _mnist.mnist_data()
    group = zarr.open_group(zarr.storage.ZipStore(str(_mnist._data_file()), mode="r"), mode="r")
    for split, n in (("train", 60000), ("test", 10000)):
        images, digits = data[split]
        assert images.shape == (n, 28, 28) and digits.shape == (n,) and images.dtype == digits.dtype == np.uint8
        np.testing.assert_array_equal(images, group[f"{split}_images"][...])
        np.testing.assert_array_equal(digits, group[f"{split}_labels"][...])
    assert np.bincount(data["train"][1]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(data["test"][1]).tolist() == MNIST_TEST_COUNTS
    assert data["train"][1][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert 0 < data["train"][0][0].mean() < 255 and data["train"][0][0].max() == 255


@pytest.mark.parametrize(
    "source_classes, target_classes, side",
    [(((0, 1, 2, 3), (5, 6, 7, 8)), ((0, 1, 2, 4), (5, 6, 7, 9)), 14),  # the default classes
     (((3,), (8, 1)), ((8,), (3,)), 28)],  # shared digits with opposite labels; an uneven spread
)
def test_mnist_pair_has_the_documented_classes_labels_inputs_and_sets(source_classes, target_classes, side):
    sizes = MNIST | dict(side=side)
    pair = mnist_pair(KEY, **sizes, source_classes=source_classes, target_classes=target_classes)
    data = _mnist.mnist_data()
    assert pair.params["source_classes"] == source_classes and pair.params["target_classes"] == target_classes
    sets = {"s": (pair.Xs, pair.ys, source_classes, "train"), "t": (pair.Xt, pair.yt, target_classes, "train"),
            "0": (pair.X0, pair.y0, target_classes, "test")}  # fmt: skip
    for name, (X, y, (positive, negative), split) in sets.items():
        P, index = sizes[f"P{name}"], np.asarray(pair.params[f"index_{name}"])
        assert X.shape == (P, side**2) and y.shape == (P,) and index.shape == (P,)
        assert X.dtype == y.dtype == jnp.float64
        images, digits = data[split]
        digit = digits[index]
        np.testing.assert_array_equal(y, np.where(np.isin(digit, positive), 1.0, -1.0))  # label by group
        assert set(digit[y == 1]) <= set(positive) and set(digit[y == -1]) <= set(negative)
        assert np.sum(y == 1) == P // 2 and np.sum(y == -1) == P - P // 2  # exactly +-1, balanced
        for group, half in ((positive, P // 2), (negative, P - P // 2)):  # spread evenly over the digits
            per_digit = [np.sum(digit == d) for d in group]
            assert sum(per_digit) == half and max(per_digit) - min(per_digit) <= 1
        assert len(set(index.tolist())) == P  # no image twice
        # the images at these rows of this split, block-averaged, then standardized one by one
        np.testing.assert_allclose(X, mnist_inputs_numpy(images[index], side), rtol=0, atol=1e-12)
    assert not set(np.asarray(pair.params["index_s"]).tolist()) & set(np.asarray(pair.params["index_t"]).tolist())
    assert float(pair.overlaps["input"]) == pytest.approx(u_statistic_overlap(pair.Xs, pair.Xt), rel=1e-12)
    assert 0 < np.sum(pair.ys[:10] == 1) < 10  # the labels are shuffled, not grouped


def test_mnist_inputs_are_block_averages_standardized_per_image():
    """For every side: mean 0 and variance 1 over each image's pixels (|x|^2 = N0), the
    standardized block averages of the raw image, also for one image alone. No image is
    constant (standardization defined) even at side 4."""
    images = _mnist.mnist_data()["test"][0][:50]
    for side in _mnist.SIDES:
        X = _mnist.mnist_inputs(images, side)
        assert X.shape == (50, side**2) and X.dtype == np.float64
        np.testing.assert_allclose(X.mean(1), 0, atol=1e-12)
        np.testing.assert_allclose(X.var(1), 1, rtol=0, atol=1e-12)
        np.testing.assert_allclose((X**2).sum(1), side**2, rtol=1e-12)
        np.testing.assert_allclose(X, mnist_inputs_numpy(images, side), rtol=0, atol=1e-12)
        s, image = 28 // side, images[7].astype(float)
        block = image.reshape(side, s, side, s).mean(axis=(1, 3)).ravel()  # one image, before standardizing
        np.testing.assert_allclose(X[7] * block.std() + block.mean(), block, rtol=0, atol=1e-9)
        np.testing.assert_allclose(_mnist.mnist_inputs(images[7], side), X[7], rtol=0, atol=0)
    every = np.concatenate([d[0] for d in _mnist.mnist_data().values()]).reshape(-1, 4, 7, 4, 7).sum(axis=(2, 4), dtype=int)
    assert np.all(every.reshape(len(every), -1).std(1) > 0)


def test_mnist_pair_is_reproducible_by_key():
    a, b = mnist_pair(KEY, **MNIST), mnist_pair(KEY, **MNIST)
    other = mnist_pair(jax.random.key(1), **MNIST)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    for name in ("index_s", "index_t", "index_0"):  # other images, not only in another order
        assert set(np.asarray(a.params[name]).tolist()) != set(np.asarray(other.params[name]).tolist())
    assert not np.array_equal(a.Xs, other.Xs)


def test_mnist_pair_shares_training_images_only_when_asked():
    """One digit per label and Ps = Pt: the source takes all 5421 training images of 5, so
    that a disjoint target can have at most one image (a 1); with shared_images the target
    draws anew and takes all the 5s too."""
    classes, n5 = dict(source_classes=((5,), (1,)), target_classes=((5,), (1,))), MNIST_TRAIN_COUNTS[5]
    with pytest.raises(ValueError, match=r"Pt must be at most 1 .*shared_images=True"):
        mnist_pair(KEY, **classes, Ps=2 * n5, Pt=2 * n5, P0=2, side=4)
    pair = mnist_pair(KEY, **classes, Ps=2 * n5, Pt=2 * n5, P0=2, side=4, shared_images=True)
    index_s, index_t = (np.asarray(pair.params[n]) for n in ("index_s", "index_t"))
    fives = set(np.flatnonzero(_mnist.mnist_data()["train"][1] == 5).tolist())
    assert set(index_s[np.asarray(pair.ys) == 1].tolist()) == fives == set(index_t[np.asarray(pair.yt) == 1].tolist())
    ones_s, ones_t = (set(i[np.asarray(y) == -1].tolist()) for i, y in ((index_s, pair.ys), (index_t, pair.yt)))
    assert len(ones_s) == len(ones_t) == n5 and ones_s != ones_t  # 1s drawn anew: other images


def test_mnist_pair_under_jit_and_vmap_equals_one_key_at_a_time():
    jitted = jax.jit(lambda k: mnist_pair(k, **MNIST))(KEY)
    np.testing.assert_allclose(jitted.Xt, mnist_pair(KEY, **MNIST).Xt, rtol=0, atol=1e-13)
    keys = jax.random.split(KEY, 3)
    batched = jax.vmap(lambda k: mnist_pair(k, **MNIST))(keys)
    assert batched.Xs.shape == (3, MNIST["Ps"], MNIST["side"] ** 2) and batched.X0.shape == (3, MNIST["P0"], 196)
    for i, k in enumerate(keys):
        single = mnist_pair(k, **MNIST)
        for name in ("Xs", "ys", "Xt", "yt", "X0", "y0"):
            np.testing.assert_allclose(getattr(batched, name)[i], getattr(single, name), rtol=0, atol=1e-13)
        np.testing.assert_array_equal(batched.params["index_t"][i], single.params["index_t"])
        assert float(batched.overlaps["input"][i]) == pytest.approx(float(single.overlaps["input"]), rel=1e-12)


def test_mnist_pair_sizes_side_and_classes_are_static_for_sweeps():
    """Integer and boolean defaults make static parameters, not vmapped knobs."""
    names = ["Ps", "Pt", "P0", "side", "shared_images", "source_classes"]
    assert set(_problem.kinds(mnist_pair, jaxtl.theory.get("transfer"), names).values()) == {"static"}


@pytest.mark.parametrize("missing", ["distribution", "file", "numcodecs"])
def test_mnist_pair_without_its_data_names_the_extra(monkeypatch, missing):
    if missing == "distribution":
        monkeypatch.setattr(_mnist, "_DISTRIBUTION", "jaxtl-no-such-distribution")
    elif missing == "file":
        monkeypatch.setattr(_mnist, "_FILE", "pureml/datasets/MNIST/files/no-such-file.zarr.zip")
    else:
        monkeypatch.setitem(sys.modules, "numcodecs", None)  # import numcodecs fails
    for cached in (_mnist.mnist_data, _mnist._per_digit):
        cached.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "jaxtl\[mnist\]"'):
            mnist_pair(KEY, **MNIST)
    finally:
        monkeypatch.undo()
        for cached in (_mnist.mnist_data, _mnist._per_digit):
            cached.cache_clear()
    assert _mnist.mnist_data()["test"][0].shape == (10000, 28, 28)  # found again


# ---------------------------------------------------------------- all generators


GENERATORS = {
    "teacher": (teacher_pair, TEACHER, dict(rho=0.3, noise=0.1, shift=0.2)),
    "hidden_manifold": (hidden_manifold_pair, MANIFOLD, KNOBS),
    "digits": (digits_pair, DIGITS, {}),
    "mnist": (mnist_pair, MNIST, {}),
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
    (mnist_pair, dict(Ps=0), r"Ps must be an integer >= 1, got 0"),
    (mnist_pair, dict(source_classes=((0, 1), (1, 2))), r"source_classes must be \(positive digits, negative digits\)"),
    (mnist_pair, dict(target_classes=((10,), (1,))), r"target_classes must be .* digits 0-9"),
    (mnist_pair, dict(target_classes=((3,), ())), r"target_classes must be"),
    (mnist_pair, dict(side=5), r"side must be one of 28, 14, 7, 4, got 5"),
    (mnist_pair, dict(side=True), r"side must be one of"),
    (mnist_pair, dict(shared_images="yes"), r"shared_images must be True or False"),
    # 5421 training 5s, 6742 1s: the first group (5) takes Ps // 2, the second Ps - Ps // 2
    (mnist_pair, dict(source_classes=((5,), (1,)), Ps=10844), r"Ps must be at most 10843 .*got 10844"),
    # the test 0s (980, first of its group: takes the remainder) and 5s (892) bound the default target
    (mnist_pair, dict(P0=7137), r"P0 must be at most 7136 .*got 7137"),
]


@pytest.mark.parametrize("generate, bad, message", BAD_INPUTS,
                         ids=[f"{g.__name__}-{'-'.join(b)}" for g, b, _ in BAD_INPUTS])  # fmt: skip
def test_bad_input_raises_a_value_error_naming_the_argument(generate, bad, message):
    sizes = {teacher_pair: dict(Ps=3, Pt=3, P0=3, N0=3), hidden_manifold_pair: dict(Ps=3, Pt=3, P0=3, N0=3, D=2),
             digits_pair: dict(Ps=3, Pt=3, P0=3), mnist_pair: dict(Ps=3, Pt=3, P0=3, side=4)}[generate]
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
