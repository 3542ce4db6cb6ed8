"""The joint (annealed) reading of transfer: source and target networks in one chain.

Where the transfer protocol (`_transfer_sampling`) quenches the source (target chains hang
from fixed source samples W~), the joint reading samples both networks together from

    p(W_s, v_s, W_t, v_t) ∝ exp(-(L_s + L_t)/T - lambda0/2 (|W_s|^2 + |W_t|^2)
                                - lambda1/2 (|v_s|^2 + |v_t|^2) - gamma/2 |W_t - W_s|^2),

L_s, L_t the two tasks' losses 1/2 sum_mu (y_mu - f(x_mu))^2 (the parametrization of
`Network`), one temperature T. The chain is that of `sample`, on the potential
U = -T log p = L_s + L_t + T (lambda0/2 (|W_s|^2 + |W_t|^2) + lambda1/2 (|v_s|^2 + |v_t|^2)
+ gamma/2 |W_t - W_s|^2), with the same step, burn-in, measurements and divergence checks.

gamma = inf is the limit of this posterior: one first layer W = W_s = W_t shared by the two
readouts, which carries both priors, lambda0/2 |W|^2 twice (W_t = W_s + u with |u|^2 ~ 1/gamma:
integrating u out leaves exp(-lambda0 |W_s|^2)). A multi-task network with a single prior on
its shared layer is another model.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..theory._activation import Activation
from ._langevin import Langevin, Samples, _chains, _Posterior, _samples
from ._network import Network


class _PairNetwork(eqx.Module):
    """The two networks of one joint chain; `W_t` is None when the first layer is shared."""

    W_s: Float[Array, "N1 N0"]
    v_s: Float[Array, " N1"]
    W_t: "Float[Array, 'N1 N0'] | None"
    v_t: Float[Array, " N1"]
    activation: Activation

    @property
    def source(self) -> Network:
        return Network(self.W_s, self.v_s, self.activation)

    @property
    def target(self) -> Network:
        return Network(self.W_s if self.W_t is None else self.W_t, self.v_t, self.activation)


class _JointPosterior(eqx.Module):
    """U = -T log p of the joint chain (module docstring): the two single-task potentials
    (without coupling) plus T gamma/2 |W_t - W_s|^2 unless the first layer is shared."""

    source: _Posterior
    target: _Posterior
    coupling: Float[Array, ""]
    shared: bool = eqx.field(static=True)  # coupling = inf: W_t is W_s

    @property
    def temperature(self) -> Float[Array, ""]:
        return self.target.temperature

    def potential(self, net: _PairNetwork, anchor: None) -> Float[Array, ""]:
        U = self.source.potential(net.source, None) + self.target.potential(net.target, None)
        if not self.shared:
            U = U + 0.5 * self.temperature * self.coupling * jnp.sum((net.W_t - net.W_s) ** 2)
        return U

    def split(self, net: _PairNetwork) -> "tuple[_PairNetwork, _PairNetwork]":
        return eqx.partition(net, eqx.is_inexact_array)  # every weight is sampled

    def measure(self, net: _PairNetwork, X_test: Float[Array, "P0 N0"], kernel: bool) -> "tuple[dict, dict]":
        """Each network's measurements (`_Posterior.measure`); outputs at X_test: the target's."""
        source = self.source.measure(net.source, X_test[:0], kernel)
        target = self.target.measure(net.target, X_test, kernel)
        return {"source": source[0], "target": target[0]}, {"source": source[1], "target": target[1]}


@eqx.filter_jit
def _initialize(key, chains, n0, width, lambda0, lambda1, activation, dtype, shared):
    """Source and target networks drawn from the prior, keys per chain; if shared, W_t = None
    and W_s is drawn from the shared layer's prior N(0, 1/(2 lambda0))."""
    key_source, key_target, key_run = jax.random.split(key, 3)
    init = eqx.filter_vmap(
        lambda k: Network.from_prior(k, n0, width, lambda0=lambda0, lambda1=lambda1, activation=activation, dtype=dtype)
    )
    source, target = init(jax.random.split(key_source, chains)), init(jax.random.split(key_target, chains))
    W_s = source.W / np.sqrt(2).astype(dtype) if shared else source.W
    nets = _PairNetwork(W_s, source.v, None if shared else target.W, target.v, source.activation)
    return nets, jax.random.split(key_run, chains)


def _joint_posterior(source_data, target_data, *, temperature: float, coupling: float, lambda0: float,
                     lambda1: float) -> _JointPosterior:
    """The joint posterior (module docstring) of the data pairs (X, y), in the dtype of Xs."""
    dtype = source_data[0].dtype
    shared = bool(np.isinf(coupling))

    def single(X, y):
        numbers = {name: jnp.asarray(x, dtype) for name, x in
                   (("temperature", temperature), ("lambda0", lambda0), ("lambda1", lambda1), ("coupling", 0.0))}
        return _Posterior(X, y, **numbers, frozen=False)

    return _JointPosterior(single(*source_data), single(*target_data), jnp.asarray(0.0 if shared else coupling, dtype),
                           shared)


def sample_joint(
    key: PRNGKeyArray,
    source_data: "tuple[Float[Array, 'Ps N0'], Float[Array, ' Ps']]",
    target_data: "tuple[Float[Array, 'Pt N0'], Float[Array, ' Pt']]",
    *,
    width: int,
    temperature: float,
    coupling: float,
    lambda0: float,
    lambda1: float,
    activation: "str | Activation",
    sampler: Langevin,
    X_test: Float[Array, "P0 N0"],
    keep_params: bool = False,
    kernel: bool = False,
) -> "tuple[Samples, Samples]":
    """Sample the joint posterior (module docstring) in `sampler.n_chains` chains.

    The arguments, already checked by the caller (the data cast to one dtype), are those of
    `sample`, for the two tasks; `coupling` = gamma in [0, inf]. Returns (source, target)
    `Samples` of the same chains (same step size, curvature and divergence flags); the
    outputs at `X_test` are the target's (the source's have P0 = 0).
    """
    post = _joint_posterior(source_data, target_data, temperature=temperature, coupling=coupling, lambda0=lambda0,
                            lambda1=lambda1)
    Xs = source_data[0]
    dtype, shared = Xs.dtype, post.shared
    nets, keys = _initialize(key, sampler.n_chains, Xs.shape[1], width, lambda0, lambda1, activation, dtype, shared)
    run = _chains(post, nets, None, keys, sampler, X_test, keep_params=keep_params, kernel=kernel)
    params = run.per_sample.get("params")
    return tuple(
        _samples(run, run.means[side], run.per_sample[side], getattr(run.final, side),
                 None if params is None else getattr(params, side))
        for side in ("source", "target")
    )
