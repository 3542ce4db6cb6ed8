"""Activations: one object gives both the network's nonlinearity and its Gaussian kernel.

Like neural-tangents' `stax` layers, an activation knows its finite version (`__call__`,
used by the networks in `jaxtl.nets`) and its infinite-width kernel (`kernel`, used by
every theory), so that the two cannot drift apart.
"""

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


class Activation(eqx.Module):
    """An odd activation sigma with its Gaussian kernel.

    Subclasses implement `__call__` (sigma, elementwise) and `kernel`.
    """

    @abc.abstractmethod
    def __call__(self, x: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """sigma(x), elementwise."""

    @abc.abstractmethod
    def kernel(
        self,
        s11: Float[ArrayLike, "*shape"],
        s22: Float[ArrayLike, "*shape"],
        s12: Float[ArrayLike, "*shape"],
    ) -> Float[Array, "*shape"]:
        """E[sigma(h1) sigma(h2)] for (h1, h2) ~ N(0, [[s11, s12], [s12, s22]]).

        Theory note (`shared/theory/transfer.md`), section "Kernels". The three arguments
        broadcast against each other; the covariance matrix must be positive semidefinite.
        """


class Erf(Activation):
    """sigma(x) = erf(x); closed-form kernel (2/pi) arcsin(2 s12 / sqrt((1+2 s11)(1+2 s22)))."""

    def __call__(self, x):
        return jax.scipy.special.erf(x)

    def kernel(self, s11, s22, s12):
        return (2 / jnp.pi) * jnp.arcsin(2 * s12 / jnp.sqrt((1 + 2 * s11) * (1 + 2 * s22)))


class Identity(Activation):
    """sigma(x) = x (a deep linear network); kernel s12."""

    def __call__(self, x):
        return jnp.asarray(x)

    def kernel(self, s11, s22, s12):
        return jnp.broadcast_to(jnp.asarray(s12), jnp.broadcast_shapes(*map(jnp.shape, (s11, s22, s12))))


class Sign(Activation):
    """sigma(x) = sign(x) (binary labels); kernel (2/pi) arcsin(s12 / sqrt(s11 s22)).

    Its kernel's slope at s12 = 0, 2 / (pi sqrt(s11 s22)), is E[sigma'(h1)] E[sigma'(h2)] with
    E[sigma'(h)] = sqrt(2 / (pi s)) in the sense of distributions (Price's theorem), which is
    what the features' covariances use (`jaxtl.features.feature_covariances`)."""

    def __call__(self, x):
        return jnp.sign(x)

    def kernel(self, s11, s22, s12):
        return (2 / jnp.pi) * jnp.arcsin(jnp.clip(s12 / jnp.sqrt(s11 * s22), -1.0, 1.0))


class Tanh(Activation):
    """sigma(x) = tanh(x); kernel by tensor-product Gauss-Hermite quadrature in 2-D.

    `order` nodes per dimension (even; the odd symmetry halves the work). The quadrature
    converges geometrically at a rate set by the distance of tanh's poles (+-i pi / 2) from
    the real axis in units of the pre-activation's standard deviation, so larger variances
    need more nodes. Absolute error against adaptive SciPy
    integrals (tests/test_kernels.py), by order and (s11, s22, s12):

    | order | (1, 1, .5) | (1.2, 1.2, 1.2) | (2, 2, 1) | (3, 3, 2) |
    |-------|------------|-----------------|-----------|-----------|
    | 64    | 1e-10      | 2e-8            | 5e-8      | 1e-6      |
    | 96    | 4e-13      | 1e-10           | 1e-9      | 5e-8      |
    | 128   | 3e-15      | 2e-12           | 3e-11     | 3e-9      |

    Cost: order**2 / 2 tanh evaluations per entry (about 6 s for a 1000 x 1000 Gram matrix
    at order 96 on two CPU cores).

    Derivatives with respect to (s11, s22, s12) come from Price's theorem
    (d/ds12 E[s(h1)s(h2)] = E[s'(h1)s'(h2)], d/ds11 = E[s''(h1)s(h2)] / 2), each itself a
    quadrature, so reverse-mode gradients store no per-node intermediates.
    """

    order: int = eqx.field(static=True, default=96)

    def __check_init__(self):
        if not (isinstance(self.order, int) and self.order >= 2 and self.order % 2 == 0):
            raise ValueError(f"Tanh(order=...) must be an even integer >= 2, got {self.order!r}")

    def __call__(self, x):
        return jnp.tanh(x)

    def kernel(self, s11, s22, s12):
        s11, s22, s12 = jnp.broadcast_arrays(*(jnp.asarray(s, float) for s in (s11, s22, s12)))
        return _tanh_kernel(self.order, s11, s22, s12)


def _tanh(x):
    return jnp.tanh(x)


def _dtanh(x):
    return 1 - jnp.tanh(x) ** 2


def _d2tanh(x):
    t = jnp.tanh(x)
    return -2 * t * (1 - t**2)


def _gauss_hermite_expectation(f1, f2, order, s11, s22, s12, parity1):
    """E[f1(h1) f2(h2)] for (h1, h2) ~ N(0, [[s11, s12], [s12, s22]]) by order**2 GH nodes.

    h1 = l11 z1, h2 = l21 z1 + l22 z2 (Cholesky factor of the covariance; l22 = 0, a
    perfectly correlated pair, is allowed). f1 has parity `parity1` (+1 even, -1 odd), so
    the sum over z1 runs over the positive nodes only, pairing +z1 with -z1.
    """
    z, w = np.polynomial.hermite_e.hermegauss(order)
    z, w = jnp.asarray(z), jnp.asarray(w / np.sqrt(2 * np.pi))
    l11 = jnp.sqrt(s11)
    l21 = jnp.where(s11 > 0, s12 / jnp.where(s11 > 0, l11, 1.0), 0.0)
    r = s22 - l21**2
    l22 = jnp.where(r > 0, jnp.sqrt(jnp.where(r > 0, r, 1.0)), 0.0)

    def inner(zi):  # sum over z2 nodes of w f2(l21 zi + l22 z2)
        return jnp.sum(w * f2(l21[..., None] * zi + l22[..., None] * z), axis=-1)

    def term(i, acc):
        return acc + w[i] * f1(l11 * z[i]) * (inner(z[i]) + parity1 * inner(-z[i]))

    return jax.lax.fori_loop(order // 2, order, term, jnp.zeros(jnp.shape(s12)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _tanh_kernel(order, s11, s22, s12):
    return _gauss_hermite_expectation(_tanh, _tanh, order, s11, s22, s12, -1)


@_tanh_kernel.defjvp
def _tanh_kernel_jvp(order, primals, tangents):
    s11, s22, s12 = primals
    ds11, ds22, ds12 = tangents
    out = _tanh_kernel(order, s11, s22, s12)
    # Price's theorem; the (s22, s11) term swaps the roles of h1 and h2.
    d12 = _gauss_hermite_expectation(_dtanh, _dtanh, order, s11, s22, s12, +1)
    d11 = _gauss_hermite_expectation(_d2tanh, _tanh, order, s11, s22, s12, -1) / 2
    d22 = _gauss_hermite_expectation(_d2tanh, _tanh, order, s22, s11, s12, -1) / 2
    return out, d12 * ds12 + d11 * ds11 + d22 * ds22


_NAMES = {"erf": Erf, "identity": Identity, "linear": Identity, "sign": Sign, "tanh": Tanh}


def get_activation(activation: "str | Activation", name: str = "activation") -> Activation:
    """Resolve an activation given by name ("erf", "identity" or "linear", "sign", "tanh") or object;
    a ValueError naming the argument `name` (e.g. "readout") if it is neither."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _NAMES:
        return _NAMES[activation.lower()]()
    raise ValueError(
        f"{name} must be one of {sorted(_NAMES)} or a jaxtl.kernels.Activation, got {activation!r}"
    )
