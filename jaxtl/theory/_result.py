"""The result types shared by every theory: predictions and test errors."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .. import _checks
from .._repr import Readable
from ._solve import RESULTS


class Prediction(Readable):
    """Predictor statistics on test points: `mean` and `variance` of the network output f(x0),
    each of shape (P0,), in the units of the labels (variance: labels squared)."""

    mean: Float[Array, " P0"]
    variance: Float[Array, " P0"]

    def only_if(self, converged: Bool[Array, ""]) -> "Prediction":
        """This prediction where `converged`, NaN elsewhere: a failed or unphysical solve gives
        no value (so no test error, benefit or map entry either), and NaN derivatives."""
        return jax.tree.map(lambda a: a * jnp.where(converged, 1.0, jnp.nan), self)


class TestError(Readable):
    """Generalization error averaged over the test points, in labels squared.

    total = bias2 + variance, with bias2 = mean over x0 of (y0 - E f(x0))^2 and variance =
    mean over x0 of Var f(x0) (README.md in this folder, section 3.2).
    """

    __test__ = False  # not a pytest test class

    total: Float[Array, ""]
    bias2: Float[Array, ""]
    variance: Float[Array, ""]

    @classmethod
    def of(cls, prediction: Prediction, y0: Float[Array, " P0"]) -> "TestError":
        """The test error of a predictor's statistics on labels y0, shape (P0,)."""
        bias2 = jnp.mean((y0 - prediction.mean) ** 2)
        variance = jnp.mean(prediction.variance)
        return cls(bias2 + variance, bias2, variance)


class TheorySolution(Readable):
    """What every theory returns: order parameters (in the subclass), how the solve ended,
    and the predictor. Subclasses define `predict`; `test_error` follows from it."""

    result: eqx.AbstractVar[RESULTS]
    num_steps: eqx.AbstractVar[Int[Array, ""]]

    @property
    def converged(self) -> Bool[Array, ""]:
        """True where the order-parameter equations were solved and their solution is
        physical (`jaxtl.RESULTS`: every other outcome names what failed)."""
        return self.result == RESULTS.successful

    @abc.abstractmethod
    def predict(self, X0: Float[ArrayLike, "P0 N0"]) -> Prediction:
        """Mean and variance of the network output on test inputs X0."""

    def test_error(self, X0: Float[ArrayLike, "P0 N0"], y0: Float[ArrayLike, " P0"]) -> TestError:
        """Test error on (X0, y0): mean over x0 of (y0 - mean)^2 + variance."""
        pred = self.predict(X0)
        y0 = _checks.finite("y0", y0)
        _checks.shape("y0", y0, pred.mean.shape, "(P0,)")
        return TestError.of(pred, y0)
