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
    """NNGP kernel (jaxtl/theory/README.md, section 2) for erf and identity, in NumPy."""
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


def gram(X1, X2, var1, var2, cov, activation):
    """Kernel E[sigma(h1) sigma(h2)] with weight variances var1, var2 and covariance cov
    (jaxtl/theory/README.md, section 2), for erf and identity, in NumPy."""
    n0 = X1.shape[1]
    s12 = cov * X1 @ X2.T / n0
    if activation == "identity":
        return s12
    s11 = var1 * (X1**2).sum(1) / n0
    s22 = var2 * (X2**2).sum(1) / n0
    return 2 / np.pi * np.arcsin(2 * s12 / np.sqrt(np.outer(1 + 2 * s11, 1 + 2 * s22)))


def transfer(Xs, ys, Xt, yt, X0, y0, *, width, temperature, coupling, lambda0, lambda1, activation,
             source_temperature=None, start=None, conditions=False):
    """The transfer theory of jaxtl/theory/README.md (section 4) with dense matrices in the original
    basis: Q_s by `single_task` at the source temperature T_s (`source_temperature`, default
    `temperature`), then (Q_t, Q_tt, Q_st) by scipy.optimize.root on the gradient of
    V in those three variables (no variable eliminated), from `start` (default: the prior-only
    point (Q_p, 0, 0)), then the predictor with the joint covariance of the shared field g on
    target and test inputs built explicitly.
    Returns (Q_s, Q_t, Q_tt, Q_st, total, bias2, variance); with `conditions=True` also a dict
    of the physical conditions' margins, each >= 0 at a physical root: "Q_t - Q_tt", "Q_tt",
    "Q_s Q_tt - Q_st^2", "min eig M" (target training points), "min eig S_g" (training and
    test points together), "min variance" (test points). Only Q_s and A_s see T_s; the rest of the
    target side is at `temperature`."""
    T, l0, l1 = temperature, lambda0, lambda1
    T_s = temperature if source_temperature is None else source_temperature
    if np.isinf(coupling):
        v_t = c_st = c_tt = 1 / l0
    else:
        g = coupling
        v_t = 1 / (l0 + g) + g**2 / (l0 * (l0 + g) ** 2)
        c_st, c_tt = g / (l0 * (l0 + g)), g**2 / (l0 * (l0 + g) ** 2)
    Q_s = single_task(Xs, ys, Xs[:1], ys[:1], width=width, temperature=T_s, lambda0=l0, lambda1=l1,
                      activation=activation)[0]
    Xall = np.concatenate([Xt, X0])
    Pt = len(Xt)
    K = gram(Xall, Xall, v_t, v_t, v_t, activation)  # target, on train + test inputs
    Kr = gram(Xall, Xall, v_t, v_t, c_tt, activation)  # two target replicas
    Kas = gram(Xall, Xs, v_t, 1 / l0, c_st, activation)  # target-source
    As = Q_s / l1 * nngp(Xs, Xs, l0, activation) + T_s * np.eye(len(Xs))
    u_all = Kas @ np.linalg.solve(As, ys) / l1
    B_all = Kas @ np.linalg.solve(As, Kas.T) / l1**2
    Ktt, Krtt, u, B = K[:Pt, :Pt], Kr[:Pt, :Pt], u_all[:Pt], B_all[:Pt, :Pt]

    def gradient(q):
        Q_t, Q_tt, Q_st = q
        D = Q_t - Q_tt
        W = np.linalg.inv((Q_t * Ktt - Q_tt * Krtt) / l1 + T * np.eye(Pt))
        r = yt - Q_st * u
        Sigma = np.outer(r, r) + Q_tt / l1 * Krtt - Q_st**2 * B
        excess = (Q_tt - Q_st**2 / Q_s) / D**2
        d_t = 1 - 1 / D + excess + (np.trace(W @ Ktt) - np.trace(W @ Ktt @ W @ Sigma)) / (width * l1)
        d_tt = -excess + np.trace(W @ Krtt @ W @ Sigma) / (width * l1)
        d_st = 2 * Q_st / (Q_s * D) - 2 * (u @ W @ r + Q_st * np.trace(W @ B)) / width
        return np.array([d_t, d_tt, d_st])

    if np.isinf(width):
        Q_t, Q_tt, Q_st = 1.0, 0.0, 0.0
    else:
        Q_p = single_task(Xt, yt, Xt[:1], yt[:1], width=width, temperature=T, lambda0=1 / v_t,
                          lambda1=l1, activation=activation)[0]
        sol = scipy.optimize.root(gradient, [Q_p, 0.0, 0.0] if start is None else start, method="hybr", tol=1e-15)
        assert np.abs(gradient(sol.x)).max() < 1e-11, sol  # "xtol too small" is fine here
        Q_t, Q_tt, Q_st = sol.x
    C = (Q_t * K - Q_tt * Kr) / l1
    Sg = Q_tt / l1 * Kr - Q_st**2 * B_all  # covariance of g on train + test
    m = Q_st * u_all
    Mt = C[:Pt, :Pt] + T * np.eye(Pt)
    Z = np.linalg.solve(Mt, C[:Pt, Pt:])  # M^{-1} c0, one column per test point
    mean = m[Pt:] + Z.T @ (yt - m[:Pt])
    own = np.diag(C[Pt:, Pt:]) - np.einsum("ia,ia->a", C[:Pt, Pt:], Z)
    field = []
    for a in range(len(X0)):
        coef = np.zeros(len(Xall))
        coef[Pt + a], coef[:Pt] = 1.0, -Z[:, a]
        field.append(coef @ Sg @ coef)
    variance = own + np.array(field)
    bias2 = np.mean((y0 - mean) ** 2)
    out = (Q_s, Q_t, Q_tt, Q_st, bias2 + variance.mean(), bias2, variance.mean())
    if conditions == "kernels":  # the renormalized kernels and the relatedness
        r = yt - m[:Pt]
        return out, dict(effective=C, source_target=Q_st / l1 * Kas, relatedness=1 - r @ r / (yt @ yt))
    if not conditions:
        return out
    margins = {
        "Q_t - Q_tt": Q_t - Q_tt,
        "Q_tt": Q_tt,
        "Q_s Q_tt - Q_st^2": Q_s * Q_tt - Q_st**2,
        "min eig M": np.linalg.eigvalsh(Mt).min(),
        "min eig S_g": np.linalg.eigvalsh(Sg).min(),
        "min variance": variance.min(),
    }
    return out, margins
