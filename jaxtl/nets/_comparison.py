"""Theory against sampled networks, side by side.

A theory's solution (`jaxtl.single_task`, `jaxtl.transfer`, `jaxtl.deep.single_task`) and the
networks' measurement (`Samples`, `TransferSamples`, `DeepSamples`) are compared on the same
test set: test error, bias^2, variance, and every order parameter the networks measure (`Q`
for the single task; `Q_s`, `Q_t`, `Q_st`, `Q_tt` for transfer; the layer norms `norms` of
deep networks, one row per layer), read from the theory by the same name.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..theory._activation import Activation
from ._langevin import Langevin, Samples, sample
from .._repr import Readable
from ..theory._result import TheorySolution
from ..theory._single_task import single_task
from ._transfer_sampling import TransferSamples

# A theory value this small is zero up to rounding (Q_st, Q_tt without coupling): the
# deviation from it is given as an absolute one, not divided by it.
_ZERO = 1e-8


class Comparison(Readable):
    """Theory and networks side by side, one row per observable.

    **Fields:** `names` of the observables; `theory` (the theory's values); `networks`
    (the sampled networks' values) and their standard errors `stderr` over independent
    chains. `str(comparison)` is a table. Where the theory is zero (`absolute`), the
    deviation is absolute, networks - theory, instead of relative.
    """

    names: "tuple[str, ...]" = eqx.field(static=True)
    theory: Float[Array, " n"]
    networks: Float[Array, " n"]
    stderr: Float[Array, " n"]

    @property
    def absolute(self) -> Bool[Array, " n"]:
        """The rows whose theory value is zero up to rounding (|theory| <= 1e-8, e.g. Q_st
        and Q_tt without coupling): their `relative_deviation` is an absolute one."""
        return jnp.abs(self.theory) <= _ZERO

    @property
    def relative_deviation(self) -> Float[Array, " n"]:
        """(networks - theory) / |theory|; networks - theory where the theory is zero (`absolute`)."""
        scale = jnp.where(self.absolute, 1.0, jnp.abs(self.theory))
        return (self.networks - self.theory) / scale

    @property
    def deviation_in_stderr(self) -> Float[Array, " n"]:
        """(networks - theory) / stderr: how many standard errors the two are apart."""
        return (self.networks - self.theory) / self.stderr

    def __getitem__(self, name: str) -> "dict[str, float]":
        """The row `name` as a dict: theory, networks, stderr, relative_deviation, and
        absolute (whether that deviation is an absolute one: the theory is zero)."""
        i = self.names.index(name)
        return {
            "theory": float(self.theory[i]),
            "networks": float(self.networks[i]),
            "stderr": float(self.stderr[i]),
            "relative_deviation": float(self.relative_deviation[i]),
            "absolute": bool(self.absolute[i]),
        }

    def __str__(self) -> str:
        """A table, one row per observable; an absolute deviation (`absolute`) is marked "*"
        and explained under the table."""
        rows = [f"{'':<12}{'theory':>10}{'networks':>10}{'stderr':>10}{'rel. dev.':>11}{'dev./stderr':>13}"]
        for i, name in enumerate(self.names):
            values = (self.theory[i], self.networks[i], self.stderr[i], self.relative_deviation[i], self.deviation_in_stderr[i])
            cells = [f"{float(x):>{w}.4g}" for x, w in zip(values, (10, 10, 10, 11, 13))]
            if self.absolute[i]:
                cells[3] = f"{float(values[3]):>10.4g}*"
            rows.append(f"{name:<12}" + "".join(cells))
        if jnp.any(self.absolute):
            rows.append(f"* absolute deviation, networks - theory: the theory is 0 or tiny (|theory| <= {_ZERO:g})")
        return "\n".join(rows)


def compare(
    theory: TheorySolution,
    networks: "Samples | TransferSamples",
    X_test: Float[ArrayLike, "P0 N0"],
    y_test: Float[ArrayLike, " P0"],
) -> Comparison:
    """Compare a solved theory with sampled networks on the networks' test points.

    `X_test` must be the test inputs the networks were sampled with (their outputs were
    accumulated there); `y_test` the labels. Rows: "test error", "bias^2", "variance", and
    the networks' order parameters (`Q`; or `Q_s`, `Q_t`, `Q_st`, `Q_tt`; or, for deep
    networks, one row per layer "norms[0]", ..., "norms[L]"), each read from the theory as the
    attribute of the same name.
    """
    measured = networks.test_error(y_test)
    predicted = theory.test_error(X_test, y_test)
    names = ["test error", "bias^2", "variance"]
    rows = [(getattr(predicted, f), getattr(measured.mean, f), getattr(measured.stderr, f)) for f in ("total", "bias2", "variance")]
    for name, estimate in networks.order_parameters.items():
        values = jnp.broadcast_arrays(getattr(theory, name), estimate.mean, estimate.stderr)
        if values[0].ndim == 0:
            names.append(name)
            rows.append(values)
        else:  # one row per entry, e.g. "norms[0]", ..., "norms[L]" of deep networks
            names.extend(f"{name}[{i}]" for i in range(values[0].shape[0]))
            rows.extend(zip(*values))
    theory_values, network_values, stderr = (jnp.asarray(np.array(column, float)) for column in zip(*rows))
    return Comparison(tuple(names), theory_values, network_values, stderr)


def compare_single_task(
    key: PRNGKeyArray,
    X: Float[ArrayLike, "P N0"],
    y: Float[ArrayLike, " P"],
    X_test: Float[ArrayLike, "P0 N0"],
    y_test: Float[ArrayLike, " P0"],
    *,
    width: int,
    temperature: float,
    lambda0: float = 1.0,
    lambda1: float = 1.0,
    activation: "str | Activation" = "erf",
    sampler: Langevin = Langevin(),
) -> Comparison:
    """The single-task theory (`jaxtl.single_task`) and Langevin-sampled networks (`sample`)
    on the same data and parameters, compared on (X_test, y_test) (see `compare`)."""
    params = dict(width=width, temperature=temperature, lambda0=lambda0, lambda1=lambda1, activation=activation)
    theory = single_task(X, y, **params)
    networks = sample(key, X, y, sampler=sampler, X_test=X_test, **params)
    return compare(theory, networks, X_test, y_test)
