"""The readout theory on frozen features against readouts fitted on sampled data, at full size.

`jaxtl.features.learning_curve` (jaxtl/theory/README.md, section 9) against ridge (square
loss) and logistic readouts fitted on P sampled jointly Gaussian (u, v) with the same Omega
and Phi (v = A u + z, z ~ N(0, diag(s)): Omega = A A^T + diag(s), Phi = A), at K features,
D = K/2 latent dimensions, five values of P/K: the classification error of the theory and the
mean +- standard error over seeds of the fitted readouts' (each measured on fresh test
samples), the deviation in % and in standard errors, and the wall time of one learning curve
(the five points) by theory and by simulation, measured in the same run.

    python benchmarks/features.py            # K = 500 and 1000, 10 seeds
    python benchmarks/features.py --quick    # K = 200, 4 seeds

The fitted readouts are computed in JAX (vmapped over seeds): the square loss by one linear
solve, the logistic loss by 30 Newton steps on its convex objective (gradient below 1e-8).
"""

import argparse
import datetime
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtl
from jaxtl.features import learning_curve

ALPHAS = (0.25, 0.5, 1.0, 2.0, 4.0)
RIDGE, P_TEST = 0.1, 4000


def feature_model(K):
    rng = np.random.default_rng(K)
    D = K // 2
    A = rng.standard_normal((K, D)) / np.sqrt(D)
    s = 0.5 * (1 + rng.random(K))
    return A @ A.T + np.diag(s), A, s, rng.standard_normal(D)


def fit(v, y, loss):
    """The readout w fitted on features v (P, K) and labels y (P,), ridge RIDGE."""
    K = v.shape[1]
    if loss == "square":
        return jnp.linalg.solve(v.T @ v / K + RIDGE * jnp.eye(K), v.T @ y / jnp.sqrt(K))

    def newton(w, _):
        z = y * (v @ w) / jnp.sqrt(K)
        s = jax.nn.sigmoid(-z)
        gradient = -(v.T @ (y * s)) / jnp.sqrt(K) + RIDGE * w
        hessian = (v.T * (s * (1 - s))) @ v / K + RIDGE * jnp.eye(K)
        return w - jnp.linalg.solve(hessian, gradient), None

    return jax.lax.scan(newton, jnp.zeros(K), None, length=30)[0]


def simulated_errors(key, A, s, theta, P, loss, seeds):
    """Classification errors of readouts fitted on `seeds` independent training sets."""
    K, D = A.shape

    def one(key):
        k = jax.random.split(key, 4)
        u, u0 = jax.random.normal(k[0], (P, D)), jax.random.normal(k[1], (P_TEST, D))
        v = u @ A.T + jax.random.normal(k[2], (P, K)) * jnp.sqrt(s)
        v0 = u0 @ A.T + jax.random.normal(k[3], (P_TEST, K)) * jnp.sqrt(s)
        w = fit(v, jnp.sign(u @ theta), loss)
        return jnp.mean(jnp.sign(v0 @ w) != jnp.sign(u0 @ theta))

    return np.asarray(jax.lax.map(one, jax.random.split(key, seeds)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 200, 4 seeds")
    args = parser.parse_args()
    sizes, seeds = ((200,), 4) if args.quick else ((500, 1000), 10)
    print(f"jaxtl.features.learning_curve vs fitted readouts; ridge {RIDGE}, D = K/2, {seeds} seeds, "
          f"{P_TEST} test samples; {jax.devices()[0].platform}; {datetime.date.today()}")
    print(f"{'loss':>9} {'K':>5} {'P/K':>5} {'theory':>8} {'fitted':>8} {'stderr':>7} {'dev %':>6} {'dev/se':>6}")
    timings = []
    for loss in ("square", "logistic"):
        for K in sizes:
            Omega, A, s, theta = feature_model(K)
            def errors(P, Omega, A, theta):  # the data passed as arguments: XLA folds closed-over constants
                return learning_curve(Omega, A, theta, samples=P, ridge=RIDGE, loss=loss).classification_error

            curve = jax.jit(jax.vmap(errors, in_axes=(0, None, None, None)))
            data = (jnp.asarray(ALPHAS) * K, jnp.asarray(Omega), jnp.asarray(A), jnp.asarray(theta))
            jax.block_until_ready(curve(*data))  # compile
            start = time.perf_counter()
            theory = np.asarray(jax.block_until_ready(curve(*data)))
            t_theory = time.perf_counter() - start
            start = time.perf_counter()
            for alpha, value in zip(ALPHAS, theory):
                errors = simulated_errors(jax.random.key(1), A, s, theta, int(alpha * K), loss, seeds)
                mean, se = errors.mean(), errors.std(ddof=1) / np.sqrt(seeds)
                print(f"{loss:>9} {K:>5} {alpha:>5.2f} {value:>8.4f} {mean:>8.4f} {se:>7.4f} "
                      f"{100 * (value - mean) / mean:>6.2f} {(value - mean) / se:>6.2f}")
            timings.append((loss, K, t_theory, time.perf_counter() - start))
    print(f"\n{'loss':>9} {'K':>5} {'theory s':>9} {'simulation s':>12} {'ratio':>8}   (one learning curve, 5 points)")
    for loss, K, a, b in timings:
        print(f"{loss:>9} {K:>5} {a:>9.4f} {b:>12.2f} {b / a:>8.0f}x")


if __name__ == "__main__":
    main()
