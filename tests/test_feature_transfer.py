"""The feature-transfer theory (jaxtl.theory.FeatureTransfer), its training pieces
(jaxtl.nets.train, fit_readout) and jaxtl.learning_curves: against independent computation
(SciPy minimizers, Monte Carlo, readouts fitted on real hidden-manifold inputs, finite
differences) and against jaxtl.sweep."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import jaxtl
from jaxtl import _problem
from jaxtl.kernels import Sign
from jaxtl.nets import Network, fit_readout, train
from jaxtl.tasks import hidden_manifold_pair

SIGN_PAIR = functools.partial(hidden_manifold_pair, readout="sign")
SMALL = dict(width=30, Ps=300, P0=500, N0=60, D=30, training_steps=200)


def test_sign_kernel_matches_monte_carlo():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((400_000, 2)) @ np.linalg.cholesky([[2.0, 0.9], [0.9, 0.7]]).T
    sampled = np.mean(np.sign(h[:, 0]) * np.sign(h[:, 1]))
    assert abs(float(Sign().kernel(2.0, 0.7, 0.9)) - sampled) < 4 / np.sqrt(400_000)


@pytest.mark.parametrize("loss", ["square", "logistic"])
def test_fit_readout_minimizes_the_objective(loss):
    """The readout against SciPy's L-BFGS on the same objective (an independent minimizer)."""
    rng = np.random.default_rng(1)
    v, y = rng.standard_normal((80, 20)), np.sign(rng.standard_normal(80))
    ridge = 0.3

    def objective(w):
        f = v @ w / np.sqrt(20)
        per = (y - f) ** 2 / 2 if loss == "square" else np.logaddexp(0, -y * f)
        slope = (f - y) if loss == "square" else -y * scipy.special.expit(-y * f)
        return per.sum() + ridge / 2 * w @ w, v.T @ slope / np.sqrt(20) + ridge * w

    reference = scipy.optimize.minimize(objective, np.zeros(20), jac=True, method="BFGS", options=dict(gtol=1e-11)).x
    w = np.asarray(fit_readout(jnp.asarray(v), jnp.asarray(y), ridge=ridge, loss=loss))
    np.testing.assert_allclose(w, reference, atol=1e-5)
    assert objective(w)[0] <= objective(reference)[0] + 1e-9


def test_train_lowers_the_objective_and_fits_a_teacher():
    """Adam on the two-layer objective: the training loss falls to a small fraction of its
    start, and the trained network beats chance on fresh data of the same teacher."""
    pair = SIGN_PAIR(jax.random.key(0), Ps=400, Pt=1, P0=1000, N0=40, D=20)
    start = Network.from_prior(jax.random.key(1), 40, 50)
    trained = train(start, pair.Xs, pair.ys, loss="logistic", weight_decay=1e-3, learning_rate=1e-2, steps=300)
    before, after = (np.mean(np.logaddexp(0, -pair.ys * net(pair.Xs))) for net in (start, trained))
    assert after < 0.3 * before
    assert np.mean(np.sign(trained(pair.X0)) != pair.y0) < 0.25
    assert trained.W.shape == start.W.shape and not np.allclose(trained.W, start.W)


@pytest.fixture(scope="module")
def curves():
    """Learning curves at N0 = 200, K = 100 over four seeds (the seeds draw manifold, source
    network and target sets)."""
    return jaxtl.learning_curves(SIGN_PAIR, theory="feature_transfer", Pt=[60, 300], seeds=4, width=100,
                                 Ps=1500, P0=3000, N0=200, D=100, training_steps=300, progress=False)  # fmt: skip


def test_readout_theory_matches_readouts_fitted_on_hidden_manifold_inputs(curves):
    """TF and RF by theory against the same readouts fitted on the pair's own target points
    (real hidden-manifold inputs, not a Gaussian surrogate): within three standard errors over
    seeds, plus 0.02 for the finite-size bias at N0 = 200 (benchmarks/random_features.py has
    the full-size check)."""
    assert bool(curves.converged.all())
    for theory, simulated in (("transferred_error", "transferred_readout_error"), ("random_error", "random_readout_error")):
        difference = curves[theory] - curves[simulated]
        mean, stderr = difference.mean("seed"), difference.std("seed") / np.sqrt(4)
        assert np.all(np.abs(mean) < 3 * stderr + 0.02), (theory, mean.values, stderr.values)


def test_transferred_features_beat_random_ones_on_the_source_task(curves):
    """Source = target (every knob 0): features learned on the task beat random ones."""
    assert float(curves.advantage_over_random.mean()) > 0.03
    assert bool((curves.transferred_error.mean("seed").diff("Pt") < 0).all())  # errors fall with Pt


def test_learning_curves_equal_sweeps_with_the_seeds_keys():
    """learning_curves reuses the source network over Pt; a sweep with the same key
    retrains it at each Pt: the same numbers."""
    ds = jaxtl.learning_curves(SIGN_PAIR, theory="feature_transfer", Pt=[20, 40], seeds=2, key=jax.random.key(3),
                               progress=False, **SMALL)  # fmt: skip
    key = jax.random.split(jax.random.key(3), 2)[1]
    sweep = jaxtl.sweep(SIGN_PAIR, theory="feature_transfer", Pt=[20, 40], key=key, progress=False, **SMALL)
    for name in ("transferred_error", "scratch_error", "fine_tuned_error", "random_readout_error"):
        np.testing.assert_allclose(ds[name].isel(seed=1).values, sweep[name].values, rtol=1e-10, atol=1e-12)


def test_learning_curves_recompute_what_a_changed_source_needs():
    """A generator whose source set depends on Pt: the shared part is recomputed, so the
    curves still equal sweeps."""

    def drifting(key, *, Pt, Ps, P0, N0, D):
        return SIGN_PAIR(jax.random.fold_in(key, Pt), Ps=Ps, Pt=Pt, P0=P0, N0=N0, D=D)

    ds = jaxtl.learning_curves(drifting, theory="feature_transfer", Pt=[20, 40], seeds=1, progress=False, **SMALL)
    key = jax.random.split(jax.random.key(0), 1)[0]
    sweep = jaxtl.sweep(drifting, theory="feature_transfer", Pt=[20, 40], key=key, progress=False, **SMALL)
    np.testing.assert_allclose(ds.fine_tuned_error.isel(seed=0).values, sweep.fine_tuned_error.values, atol=1e-12)


@pytest.mark.parametrize("knob", ["teacher_perturbation", "feature_perturbation"])
def test_implicit_gradient_of_the_transferred_error_matches_finite_differences(knob):
    theory = jaxtl.theory.FeatureTransfer()
    _, values, kind = _problem.resolve(SIGN_PAIR, theory, dict(SMALL, Pt=40, **{knob: 0.5}))
    static = {n: v for n, v in values.items() if kind[n] == "static"}
    numbers = {n: jnp.asarray(v, float) for n, v in values.items() if kind[n] != "static"}
    point = _problem.point_function(SIGN_PAIR, theory, static)
    key = jax.random.key(0)
    shared = point.shared(key, None, numbers)

    def error(x):
        return point.solve(key, None, numbers | {knob: x}, shared)["transferred_error"]

    gradient = float(jax.grad(error)(0.5))
    h = 1e-4
    finite = (float(error(0.5 + h)) - float(error(0.5 - h))) / (2 * h)
    assert abs(gradient) > 1e-4
    np.testing.assert_allclose(gradient, finite, rtol=1e-5)


def test_the_theory_needs_sign_labels_and_a_hidden_manifold():
    with pytest.raises(ValueError, match="readout='sign'"):
        jaxtl.sweep(hidden_manifold_pair, theory="feature_transfer", Pt=20, progress=False, **SMALL)
    with pytest.raises(ValueError, match="hidden_manifold_pair"):
        jaxtl.sweep(jaxtl.tasks.teacher_pair, theory="feature_transfer", Pt=20, Ps=30, P0=30, N0=10, width=5,
                    progress=False)  # fmt: skip


@pytest.mark.parametrize(
    "change, match",
    [(dict(loss="hinge"), "loss must be one of"), (dict(training_steps=-1), "training_steps must be an integer >= 0"),
     (dict(ridge=0.0), "ridge"), (dict(width=0), "width must be an integer >= 1")],
)  # fmt: skip
def test_bad_parameters_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        jaxtl.sweep(SIGN_PAIR, theory="feature_transfer", Pt=20, progress=False, **(SMALL | change))


def test_bad_learning_curve_arguments():
    with pytest.raises(ValueError, match="Pt must be an integer"):
        jaxtl.learning_curves(SIGN_PAIR, theory="feature_transfer", Pt=[0, 10], progress=False, **SMALL)
    with pytest.raises(ValueError, match="single value"):
        jaxtl.learning_curves(SIGN_PAIR, theory="feature_transfer", Pt=[10], ridge=[0.1, 1.0], progress=False, **SMALL)
    with pytest.raises(ValueError, match="seeds"):
        jaxtl.learning_curves(SIGN_PAIR, theory="feature_transfer", Pt=[10], seeds=0, progress=False, **SMALL)


def test_optimize_lowers_the_transferred_error_over_a_knob():
    """jaxtl.optimize on the theory's objective (the TF error) over the teacher perturbation:
    the error falls step after step (the source network is trained once)."""
    ds = jaxtl.optimize(SIGN_PAIR, theory="feature_transfer", over={"teacher_perturbation": (0.05, 3.0)},
                        Pt=40, steps=4, learning_rate=0.3, progress=False, **(SMALL | dict(training_steps=100)))  # fmt: skip
    assert ds.attrs["objective"] == "transferred_error" and bool(ds.converged.all())
    assert float(ds.objective[-1]) < float(ds.objective[0]) - 1e-3
    assert float(ds.teacher_perturbation[-1]) < float(ds.teacher_perturbation[0])
