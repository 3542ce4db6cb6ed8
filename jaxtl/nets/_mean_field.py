"""Mean-field (muP) two-layer networks sampled from their posterior: the ground truth of the
adaptive-kernel theory.

The network, with feature-learning strength gamma0 > 0, N hidden units and D inputs:

    f(x) = 1/(gamma0 N) sum_i w_i phi(h_i(x)),   h_i(x) = W_i . x / sqrt(D),   W_i in R^D,

and its posterior at temperature T (the likelihood at inverse temperature N gamma0^2 / T):

    p(W, w) ∝ exp(-(N gamma0^2 / (2T)) sum_mu (f(x_mu) - y_mu)^2 - lambda0/2 |W|^2 - lambda1/2 |w|^2).

Its summary statistic is the feature kernel Phi(x, x') = (1/N) sum_i phi(h_i(x)) phi(h_i(x')).

**The rescaling identity.** `Network` is the standard parametrization
f_std(x) = N^{-1/2} w . phi(W x / sqrt(D)), with the same weights, so f = f_std / (gamma0 sqrt(N)).
Then

    (N gamma0^2 / T) (f - y)^2 = (N gamma0^2 / T) (f_std / (gamma0 sqrt N) - y)^2
                               = (f_std - gamma0 sqrt(N) y)^2 / T,

so -log p = L~/T + lambda0/2 |W|^2 + lambda1/2 |w|^2 + const with L~ = 1/2 sum_mu
(y~_mu - f_std(x_mu))^2, y~ = gamma0 sqrt(N) y: the posterior of `sample` on the rescaled labels
y~ at the same temperature T (and the same priors; the first layer, hence h and Phi, is not
rescaled). The functions here sample that posterior with `sample` (and `transfer`,
`_joint_sampling.sample_joint`) and rescale the outputs back: f = f_std / (gamma0 sqrt N),
posterior variances by 1 / (gamma0^2 N). At fixed T the likelihood's weight grows like N: the
posterior of f concentrates as N grows (its variance is O(T / (gamma0^2 N))).

**Transfer** adds the elastic coupling delta/2 |W_t - W_s|^2 of the first layers (readouts
uncoupled) to -log p, not divided by T; W is not rescaled, so delta is the same number in both
parametrizations. Quenched: source samples W_s first, then target chains of
p(W_t, w_t | W_s) (`transfer`). Joint: one chain over (W_s, w_s, W_t, w_t) with both
likelihoods, both priors and the coupling (`_joint_sampling`); delta = inf shares W.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from .._repr import Readable
from ..tasks._task_pair import TaskPair
from ..theory._activation import Activation
from ..theory._result import Prediction, TestError
from ._estimate import Estimate, jackknife, prediction, test_error
from ._joint_sampling import sample_joint
from ._langevin import Langevin, Samples, sample
from ._transfer_sampling import _SOURCE_SAMPLER, transfer


class MeanFieldSamples(Readable):
    """What a mean-field run measured, in mean-field units, with error bars over independent units.

    The chains are grouped into `units` consecutive groups of equal size (the independent
    units: the chains themselves, or in the quenched transfer a source chain with all target
    chains on its samples); each estimate averages within a unit, then jackknifes over units.

    **Fields:**
    - `samples`: the `Samples` of the equivalent standard-parametrization run (module
      docstring): labels y~ = gamma0 sqrt(N) y, outputs f_std, losses in those units, the
      kernel averages per chain (`mean_kernel`, `mean_kernel_test`), the last networks.
    - `feature_strength`: gamma0.
    - `preactivations`: h_i(x) = W_i . x / sqrt(D) of all N neurons of every chain's last
      kept sample, at K probe inputs: the first training point and (if there are test points)
      the first test point; shape (chains, K, N). Over chains and neurons, a sample of the
      preactivation's posterior distribution at each probe (for histograms; neurons of one
      network are exchangeable, and nearly independent at large N).
    - `units`: the number of independent units.

    The measurements (properties and methods) are `Estimate`s: `kernel`, `kernel_test`,
    `train_loss`, `predict()`, `test_error(y_test)`.
    """

    samples: Samples
    feature_strength: float
    preactivations: Float[Array, "chains K N"]
    units: int = eqx.field(static=True)
    _shown = ("train_loss", "feature_strength", "width", "units", "step_size")

    @property
    def width(self) -> int:
        """N hidden units."""
        return self.samples.final.W.shape[-2]

    @property
    def step_size(self) -> float:
        return self.samples.step_size

    @property
    def scale(self) -> float:
        """gamma0 sqrt(N): f_std = scale f, y~ = scale y."""
        return self.feature_strength * float(np.sqrt(self.width))

    def _per_unit(self, x: Float[Array, "chains ..."]) -> Float[Array, "units ..."]:
        return x.reshape(self.units, -1, *x.shape[1:]).mean(1)

    @property
    def kernel(self) -> Estimate:
        """Posterior mean of the feature kernel Phi on the training points, shape (P, P)."""
        if self.samples.mean_kernel is None:
            raise ValueError("this run did not measure the feature kernel")
        return jackknife(lambda k: k, self._per_unit(self.samples.mean_kernel))

    @property
    def kernel_test(self) -> Estimate:
        """Posterior mean of Phi(x0, x_mu) on (test, training) pairs, shape (P0, P)."""
        if self.samples.mean_kernel_test is None:
            raise ValueError("this run did not measure the feature kernel")
        return jackknife(lambda k: k, self._per_unit(self.samples.mean_kernel_test))

    @property
    def train_loss(self) -> Estimate:
        """Posterior mean of 1/2 sum_mu (y_mu - f(x_mu))^2 on the training set, mean-field units."""
        return jackknife(lambda l: l, self._per_unit(self.samples.loss.mean(1)) / self.scale**2)

    def _moments(self) -> "tuple[Float[Array, 'units P0'], Float[Array, 'units P0']]":
        s = self.samples
        return self._per_unit(s.mean_output) / self.scale, self._per_unit(s.mean_output_sq) / self.scale**2

    def predict(self) -> Estimate[Prediction]:
        """Posterior mean and variance of the mean-field f(x0) at the test points, shape (P0,) each."""
        return prediction(*self._moments())

    def test_error(self, y_test: Float[ArrayLike, " P0"]) -> Estimate[TestError]:
        """Test error (total, bias2, variance) of the mean-field f at the test points against
        labels `y_test` (mean-field units, the units of y)."""
        y_test = _checks.finite("y_test", y_test).astype(self.samples.mean_output.dtype)
        _checks.shape("y_test", y_test, self.samples.mean_output.shape[1:], "(P0,)")
        return test_error(*self._moments(), y_test)


class MeanFieldTransferSamples(Readable):
    """What a mean-field transfer run measured (see `transfer_mean_field`).

    **Fields:**
    - `source`, `target`: the `MeanFieldSamples` of the source and target networks; the
      target's outputs are at the test points; the source's kernel is on its training points.
      Quenched: `target` chains are ordered (source chain, source sample, target chain), its
      units are the source chains. Joint: chain c of `source` and of `target` is one chain.
    - `reading`: "quenched" or "joint". `coupling`: delta.
    """

    source: MeanFieldSamples
    target: MeanFieldSamples
    reading: str = eqx.field(static=True)
    coupling: float
    _shown = ("reading", "coupling", "source", "target")

    def predict(self) -> Estimate[Prediction]:
        """The target's `MeanFieldSamples.predict`."""
        return self.target.predict()

    def test_error(self, y_test: Float[ArrayLike, " P0"]) -> Estimate[TestError]:
        """The target's test error (`MeanFieldSamples.test_error`)."""
        return self.target.test_error(y_test)


def _data(X, y, inputs: str, labels: str, rows: str, n0: "int | None" = None):
    """(X, y) checked (finite, shapes, D = n0 if given) and cast to X's float dtype."""
    X = jnp.asarray(X) if hasattr(X, "dtype") else _checks.real(inputs, X)
    X = _checks.finite(inputs, X).astype(jnp.result_type(X, float))
    _checks.inputs(inputs, X, rows)
    if n0 is not None:
        _checks.shape(inputs, X, (X.shape[0], n0), f"({rows}, D)")
    y = _checks.finite(labels, y).astype(X.dtype)
    _checks.shape(labels, y, X.shape[:1], f"({rows},)")
    return X, y


def _test_inputs(X_test, n0: int, dtype) -> Float[Array, "P0 D"]:
    if X_test is None:
        return jnp.zeros((0, n0), dtype)
    X_test = _checks.finite("X_test", X_test).astype(dtype)
    _checks.inputs("X_test", X_test, "P0", empty=True)
    _checks.shape("X_test", X_test, (X_test.shape[0], n0), "(P0, D)")
    return X_test


def _result(samples: Samples, gamma0: float, probes: Float[Array, "K D"], units: int) -> MeanFieldSamples:
    W = samples.final.W  # (chains, N, D)
    h = jnp.einsum("cnd,kd->ckn", W, probes.astype(W.dtype)) / np.sqrt(W.shape[-1])
    return MeanFieldSamples(samples, gamma0, h, units)


def _common(feature_strength, temperature, width, lambda0, lambda1):
    gamma0 = float(_checks.positive("feature_strength", feature_strength))
    _checks.positive("temperature", temperature)
    _checks.positive("lambda0", lambda0)
    _checks.positive("lambda1", lambda1)
    width = _checks.count("width", width)
    return gamma0, width, gamma0 * float(np.sqrt(width))


def sample_mean_field(
    key: PRNGKeyArray,
    X: Float[ArrayLike, "P D"],
    y: Float[ArrayLike, " P"],
    *,
    feature_strength: float,
    temperature: float,
    width: int,
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    sampler: Langevin = Langevin(),
    X_test: "Float[ArrayLike, 'P0 D'] | None" = None,
) -> MeanFieldSamples:
    """Sample the posterior of the mean-field network (module docstring) by Langevin dynamics.

    Runs `sample` on the rescaled labels y~ = gamma0 sqrt(N) y at temperature T, measuring the
    feature kernel during the run (no parameters are kept: (P + P0) x P numbers per chain).

    **Arguments:**
    - `key`: JAX PRNG key.
    - `X`, `y`: P training inputs (rows of dimension D) and their labels, in mean-field units.
      The dtype follows `X` as in `sample` (float64 unless `X` is float32).
    - `feature_strength`: gamma0 > 0 (small: lazy, NNGP-like; O(1): feature learning).
    - `temperature`: T > 0, the likelihood's temperature (inverse temperature N gamma0^2 / T).
    - `width`: N hidden units. `lambda0`, `lambda1`: prior precisions of W and w.
    - `activation`: phi, "erf", "identity", "tanh" or an `Activation`.
    - `sampler`: a `Langevin` (chains, burn-in, samples, thinning, step size). The default
      step is 0.1 / (largest curvature of the standard-units potential), as in `sample`.
    - `X_test`: P0 test inputs at which f and Phi(x0, x_mu) are measured.

    **Returns:** a `MeanFieldSamples`, one unit per chain: `kernel` (P, P), `kernel_test`
    (P0, P), `predict()` and `test_error(y0)` in mean-field units, `preactivations`.
    """
    gamma0, width, scale = _common(feature_strength, temperature, width, lambda0, lambda1)
    X, y = _data(X, y, "X", "y", "P")
    X_test = _test_inputs(X_test, X.shape[1], X.dtype)
    samples = sample(key, X, scale * y, width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1,
                     activation=activation, sampler=sampler, X_test=X_test, kernel=True)
    return _result(samples, gamma0, jnp.concatenate([X[:1], X_test[:1]]), sampler.n_chains)


_READINGS = ("quenched", "joint")


def transfer_mean_field(
    key: PRNGKeyArray,
    source_data: "tuple[Float[ArrayLike, 'Ps D'], Float[ArrayLike, ' Ps']]",
    target_data: "tuple[Float[ArrayLike, 'Pt D'], Float[ArrayLike, ' Pt']]",
    *,
    feature_strength: float,
    coupling: float,
    temperature: float,
    width: int,
    reading: str = "quenched",
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    X_test: "Float[ArrayLike, 'P0 D'] | None" = None,
    sampler: Langevin = Langevin(),
    source_sampler: Langevin = _SOURCE_SAMPLER,
    target_sampler: Langevin = Langevin(n_chains=2),
    source: "MeanFieldSamples | None" = None,
) -> MeanFieldTransferSamples:
    """Transfer between two mean-field networks coupled by delta/2 |W_t - W_s|^2 (module docstring).

    Both networks have the same gamma0, N, priors, activation and temperature T; the coupling
    acts on the first layers only and enters -log p as delta/2 |W_t - W_s|^2 (not divided by T).

    - `reading="quenched"` (sequential): source chains of the source posterior first
      (`source_sampler`; its `n_samples` kept samples per chain, `thin` steps apart, are the
      anchors W_s), then `target_sampler.n_chains` (>= 2) target chains per source sample of
      p(W_t, w_t | W_s) ∝ exp(-(N gamma0^2/(2T)) sum_mu (f_t - y_t)^2 - lambda0/2 |W_t|^2
      - lambda1/2 |w_t|^2 - delta/2 |W_t - W_s|^2) (`transfer` on rescaled labels). delta = inf
      holds W_t = W_s and samples w_t alone. Error bars: over source chains.
    - `reading="joint"` (annealed): `sampler.n_chains` chains of
      p(W_s, w_s, W_t, w_t) ∝ exp(-(N gamma0^2/(2T)) [sum_s (f_s - y_s)^2 + sum_t (f_t - y_t)^2]
      - lambda0/2 (|W_s|^2 + |W_t|^2) - lambda1/2 (|w_s|^2 + |w_t|^2) - delta/2 |W_t - W_s|^2),
      both networks moving together. delta = inf: one shared first layer W carrying both
      priors, lambda0 |W|^2 (the limit delta -> inf of this posterior). Error bars: over chains.

    **Arguments:**
    - `key`: JAX PRNG key.
    - `source_data`, `target_data`: the pairs (Xs, ys) and (Xt, yt), inputs of one dimension D,
      labels in mean-field units. The dtype follows Xs (see `sample`).
    - `feature_strength` (gamma0 > 0), `temperature` (T > 0), `width` (N), `lambda0`,
      `lambda1`, `activation`: as in `sample_mean_field`, shared by both networks.
    - `coupling`: delta in [0, inf].
    - `reading`: "quenched" or "joint".
    - `X_test`: P0 target test inputs (outputs and Phi(x0, x_mu) of the target are measured there).
    - `sampler`: the joint reading's chains. `source_sampler`, `target_sampler`: the quenched
      reading's (as in `transfer`). The samplers of the other reading are unused.
    - `source`: quenched only: the `source` of an earlier quenched `transfer_mean_field` result
      on the same source data, gamma0, N, T, priors and activation, reused instead of sampling
      new source chains (e.g. for several couplings; `source_sampler` is then unused).

    **Returns:** a `MeanFieldTransferSamples` with the `source` (kernel on Xs) and `target`
    (kernel on Xt and on (X_test, Xt), predictions, test error) measurements.
    """
    gamma0, width, scale = _common(feature_strength, temperature, width, lambda0, lambda1)
    Xs, ys = _data(*_checks.pair("source_data", source_data, "(Xs, ys)"), "Xs", "ys", "Ps")
    Xt, yt = _data(*_checks.pair("target_data", target_data, "(Xt, yt)"), "Xt", "yt", "Pt", Xs.shape[1])
    Xt = Xt.astype(Xs.dtype)
    yt = yt.astype(Xs.dtype)
    X_test = _test_inputs(X_test, Xs.shape[1], Xs.dtype)
    coupling = float(_checks.interval("coupling", coupling, 0.0, np.inf, allow_inf=True))
    reading = _checks.choice("reading", reading, _READINGS)
    common = dict(width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1, activation=activation)
    source_probes, target_probes = Xs[:1], jnp.concatenate([Xt[:1], X_test[:1]])

    if reading == "joint":
        if source is not None:
            raise ValueError("source (earlier source chains) can only be reused by reading='quenched'")
        s, t = sample_joint(key, (Xs, scale * ys), (Xt, scale * yt), coupling=coupling, sampler=sampler, X_test=X_test,
                            kernel=True, **common)
        chains = sampler.n_chains
        return MeanFieldTransferSamples(_result(s, gamma0, source_probes, chains), _result(t, gamma0, target_probes, chains),
                                        reading, coupling)

    if source is not None:
        if not isinstance(source, MeanFieldSamples) or source.samples.params is None:
            raise ValueError("source must be the `source` of an earlier quenched transfer_mean_field result")
        if source.feature_strength != gamma0:
            raise ValueError(f"source was sampled with feature_strength = {source.feature_strength}, not {gamma0}")
        source_samples = source.samples
    else:
        source_samples = None
    pair = TaskPair(Xs, scale * ys, Xt, scale * yt, X_test, jnp.zeros(X_test.shape[0], Xs.dtype))
    t = transfer(key, pair, coupling=coupling, source_sampler=source_sampler, target_sampler=target_sampler,
                 source=source_samples, kernel=True, **common)
    units = t.source.readout_norm.shape[0]
    source_result = source if source is not None else _result(t.source, gamma0, source_probes, units)
    return MeanFieldTransferSamples(source_result, _result(t.target, gamma0, target_probes, units), reading, coupling)
