"""Shared test problems and an independent NumPy/SciPy evaluation of the theory's formulas.

Nothing here imports jaxtl: it is the reference the library is checked against. It works in
the original basis (solves and log-determinants of P x P matrices), not in the eigenbasis
the library uses.
"""

import numpy as np
import scipy.optimize


def teacher_data(seed, P, N0, P0=50, noise=0.1):
    """Gaussian inputs, labels tanh(2 w.x / sqrt(N0)) + noise; train and test from one teacher."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N0)
    X, X0 = rng.standard_normal((P, N0)), rng.standard_normal((P0, N0))
    label = lambda Z: np.tanh(2 * Z @ w / np.sqrt(N0))
    return X, label(X) + noise * rng.standard_normal(P), X0, label(X0)


def nngp(X1, X2, lambda0, activation):
    """NNGP kernel (theory note, "Kernels") for erf and identity, in NumPy."""
    n0 = X1.shape[1]
    s12 = X1 @ X2.T / n0 / lambda0
    if activation == "identity":
        return s12
    s11 = (X1**2).sum(1) / n0 / lambda0
    s22 = (X2**2).sum(1) / n0 / lambda0
    return 2 / np.pi * np.arcsin(2 * s12 / np.sqrt(np.outer(1 + 2 * s11, 1 + 2 * s22)))


def action_derivative(Q, K, y, width, temperature, lambda1):
    """dS/dQ of the single-task action, with dense solves:
    1 - 1/Q + (1/N1) [tr(A^{-1} K/l1) - y^T A^{-1} (K/l1) A^{-1} y],  A = T I + (Q/l1) K."""
    Kl = K / lambda1
    A = temperature * np.eye(len(y)) + Q * Kl
    Ainv_y = np.linalg.solve(A, y)
    return 1 - 1 / Q + (np.trace(np.linalg.solve(A, Kl)) - Ainv_y @ Kl @ Ainv_y) / width


def action(Q, K, y, width, temperature, lambda1):
    A = temperature * np.eye(len(y)) + Q * K / lambda1
    return Q - np.log(Q) + (np.linalg.slogdet(A)[1] + y @ np.linalg.solve(A, y)) / width


def single_task(X, y, X0, y0, *, width, temperature, lambda0, lambda1, activation):
    """Q* by Brent's method on dS/dQ, and the GP test error; returns (Q, total, bias2, variance)."""
    K = nngp(X, X, lambda0, activation)
    if np.isinf(width):
        Q = 1.0
    else:
        dS = lambda Q: action_derivative(Q, K, y, width, temperature, lambda1)
        Q = scipy.optimize.brentq(dS, 1e-6, 1e3, xtol=1e-15, rtol=1e-15)
    k0 = nngp(X, X0, lambda0, activation)
    k00 = np.diag(nngp(X0, X0, lambda0, activation))
    G = K + temperature * lambda1 / Q * np.eye(len(y))
    mean = k0.T @ np.linalg.solve(G, y)
    variance = Q / lambda1 * (k00 - np.einsum("ia,ia->a", k0, np.linalg.solve(G, k0)))
    bias2 = np.mean((y0 - mean) ** 2)
    return Q, bias2 + variance.mean(), bias2, variance.mean()
