"""Gaussian equivalence of random features on real hidden-manifold inputs, at full size.

The readout theory (`jaxtl.features.learning_curve`, jaxtl/theory/README.md, section 9) on
the closed-form covariances of `jaxtl.features.feature_covariances` (Gaussian equivalence,
section 9.5) against ridge (square loss) and logistic readouts fitted on the real data:
latents c ~ N(0, I_D), inputs x = erf(F^T c / sqrt(D)), labels y = sign(theta . c / sqrt(D)),
random features v = erf(W x / sqrt(N0)), with D = N0 / 2 and K = N0 features; one fixed F
(D, N0), theta (D,) and W (K, N0), all i.i.d. N(0, 1), per size (the theory is for that
realization). For five values of P/K: the classification error of the theory and the mean +-
standard error over seeds of the fitted readouts' (each trained on P fresh latents, measured
on 4000 fresh test points, real inputs both), the deviation in % and in standard errors, and
the wall time of one learning curve (the five points) by theory (covariances included) and by
simulation, measured in the same run.

    python benchmarks/random_features.py                 # N0 = K = 500 and 1000, 10 seeds, ridge 0.1
    python benchmarks/random_features.py --quick         # N0 = K = 200, 4 seeds
    python benchmarks/random_features.py --ridges 0.1 0.01
    python benchmarks/random_features.py --losses square --seeds 40 --key 2   # more, independent seeds

The fitted readouts are computed in JAX (float64, mapped over seeds with `lax.map`): the square
loss by one linear solve, the logistic loss by 30 Newton steps on its convex objective; the
largest final gradient norm over seeds and points is printed per block. (`lax.map`, not
`vmap`: on CPU the products and solves already use every core, and batched LAPACK calls are
what could hang XLA's CPU backend, see jaxtl/__init__.py.)
"""

import argparse
import datetime
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl  # noqa: F401  (enables float64)
from jaxtl.features import feature_covariances, learning_curve

ALPHAS = (0.25, 0.5, 1.0, 2.0, 4.0)
P_TEST, NEWTON_STEPS = 4000, 30


def realization(N0):
    """F (D, N0), theta (D,) and W (K = N0, N0) of one size, D = N0 / 2."""
    rng = np.random.default_rng(N0)
    D = N0 // 2
    F, theta, W = rng.standard_normal((D, N0)), rng.standard_normal(D), rng.standard_normal((N0, N0))
    return jnp.asarray(F), jnp.asarray(theta), jnp.asarray(W)


def fit(v, y, loss, ridge):
    """The readout w fitted on features v (P, K) and labels y (P,), and its gradient norm."""
    K = v.shape[1]

    def gradient(w):
        if loss == "square":
            return -(v.T @ (y - v @ w / jnp.sqrt(K))) / jnp.sqrt(K) + ridge * w
        return -(v.T @ (y * jax.nn.sigmoid(-y * (v @ w) / jnp.sqrt(K)))) / jnp.sqrt(K) + ridge * w

    if loss == "square":
        w = jnp.linalg.solve(v.T @ v / K + ridge * jnp.eye(K), v.T @ y / jnp.sqrt(K))
        return w, jnp.linalg.norm(gradient(w))

    def newton(w, _):
        s = jax.nn.sigmoid(-y * (v @ w) / jnp.sqrt(K))
        hessian = (v.T * (s * (1 - s))) @ v / K + ridge * jnp.eye(K)
        return w - jnp.linalg.solve(hessian, gradient(w)), None

    w = jax.lax.scan(newton, jnp.zeros(K), None, length=NEWTON_STEPS)[0]
    return w, jnp.linalg.norm(gradient(w))


def data(key, F, theta, W, n):
    """n samples of the real data: features v (n, K) and labels y (n,)."""
    D, N0 = F.shape
    c = jax.random.normal(key, (n, D))
    x = jax.scipy.special.erf(c @ F / jnp.sqrt(D))
    v = jax.scipy.special.erf(x @ W.T / jnp.sqrt(N0))
    return v, jnp.sign(c @ theta / jnp.sqrt(D))


def simulated_errors(key, F, theta, W, P, loss, ridge, seeds):
    """Classification errors (and final gradient norms) of readouts fitted on `seeds`
    independent training sets."""

    def one(key):
        k_train, k_test = jax.random.split(key)
        w, grad = fit(*data(k_train, F, theta, W, P), loss, ridge)
        v0, y0 = data(k_test, F, theta, W, P_TEST)
        return jnp.mean(jnp.sign(v0 @ w) != y0), grad

    errors, grads = jax.jit(lambda keys: jax.lax.map(one, keys))(jax.random.split(key, seeds))
    return np.asarray(errors), float(np.max(grads))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N0 = K = 200, 4 seeds")
    parser.add_argument("--ridges", type=float, nargs="+", default=[0.1])
    parser.add_argument("--losses", nargs="+", default=["square", "logistic"], choices=["square", "logistic"])
    parser.add_argument("--sizes", type=int, nargs="+", help="N0 = K (default 500 1000; --quick 200)")
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS), help="values of P/K")
    parser.add_argument("--seeds", type=int, help="training sets per point (default 10; --quick 4)")
    parser.add_argument("--key", type=int, default=1, help="PRNG seed of the training and test sets")
    args = parser.parse_args()
    sizes, seeds = ((200,), 4) if args.quick else ((500, 1000), 10)
    sizes, seeds = tuple(args.sizes or sizes), args.seeds or seeds
    print(f"jaxtl.features theory (closed-form covariances) vs readouts fitted on real hidden-manifold "
          f"data; erf/erf, K = N0, D = N0/2, {seeds} seeds, {P_TEST} test points; "
          f"key {args.key}; {jax.devices()[0].platform}; {datetime.date.today()}")
    print(f"{'loss':>9} {'ridge':>6} {'K':>5} {'P/K':>5} {'theory':>8} {'fitted':>8} {'stderr':>7} "
          f"{'dev %':>6} {'dev/se':>6}")
    covariances = jax.jit(lambda W, F: feature_covariances(W, F, data_activation="erf", activation="erf"))
    timings = []
    for K in sizes:
        F, theta, W = realization(K)
        jax.block_until_ready(covariances(W, F))  # compile
        start = time.perf_counter()
        cov = jax.block_until_ready(covariances(W, F))
        t_cov = time.perf_counter() - start
        for loss in args.losses:
            for ridge in args.ridges:
                def errors(P, Omega, Phi, theta):  # the data passed as arguments: XLA folds closed-over constants
                    return learning_curve(Omega, Phi, theta, samples=P, ridge=ridge, loss=loss).classification_error

                curve = jax.jit(jax.vmap(errors, in_axes=(0, None, None, None)))
                inputs = (jnp.asarray(args.alphas) * K, cov.Omega, cov.Phi, theta)
                jax.block_until_ready(curve(*inputs))  # compile
                start = time.perf_counter()
                theory = np.asarray(jax.block_until_ready(curve(*inputs)))
                t_theory = time.perf_counter() - start
                start, worst = time.perf_counter(), 0.0
                for alpha, value in zip(args.alphas, theory):
                    key = jax.random.key(args.key)
                    errs, grad = simulated_errors(key, F, theta, W, int(alpha * K), loss, ridge, seeds)
                    worst = max(worst, grad)
                    mean, se = errs.mean(), errs.std(ddof=1) / np.sqrt(seeds)
                    print(f"{loss:>9} {ridge:>6g} {K:>5} {alpha:>5.2f} {value:>8.4f} {mean:>8.4f} {se:>7.4f} "
                          f"{100 * (value - mean) / mean:>6.2f} {(value - mean) / se:>6.2f}", flush=True)
                timings.append((loss, ridge, K, t_cov, t_theory, time.perf_counter() - start, worst))
    print(f"\n{'loss':>9} {'ridge':>6} {'K':>5} {'cov s':>7} {'curve s':>8} {'simulation s':>12} {'ratio':>7} "
          f"{'max |grad|':>10}   (one learning curve; ratio: simulation / (cov + curve))")
    for loss, ridge, K, a, b, c, g in timings:
        print(f"{loss:>9} {ridge:>6g} {K:>5} {a:>7.4f} {b:>8.4f} {c:>12.2f} {c / (a + b):>6.0f}x {g:>10.1e}")


if __name__ == "__main__":
    main()
