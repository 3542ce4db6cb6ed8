"""Transferred features on the correlated hidden manifold model (README.md in this folder,
section 10): a two-layer network trained on the source task, its first layer W frozen and
transferred, a readout learned on the target's Pt points; its exact learning curve, against
random features and against networks trained on the target.

The theory's shared part trains the source network once (it reads only the source side of
the pair); each point then evaluates, on the pair's target task:

- TF and RF by theory: the readout theory (`jaxtl.features.learning_curve`) on the features
  phi(W x / sqrt(N0)) of the transferred layer W and of a random layer with the same norm,
  their covariances in closed form by Gaussian equivalence (`feature_covariances`);
- the same two readouts fitted on the pair's Pt target points (the theory's check), and two
  networks trained on them: from scratch (2L) and fine-tuned from the source network (FT);
  all four tested on the pair's P0 test points.

Gradients (e.g. of the TF error with respect to the generator's knobs, by `jaxtl.optimize`)
hold the trained networks fixed: they flow through the target's manifold and teacher into
the covariances and the readout theory, whose solve is differentiated implicitly; the
simulated errors carry no gradient.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import _checks
from ..nets._network import Network
from ..nets._training import classification_error, fit_readout, train
from ._activation import Sign, get_activation
from ._feature_covariances import _closed_form
from ._protocol import Evaluation, Number, Option, Output, Theory
from ._readout import LOSSES, _solve as _readout
from ._solve import first_failure


class SourceFeatures(eqx.Module):
    """The feature-transfer theory's shared part: `network`, the two-layer network trained on
    the source task (its first layer `network.W` (K, N0) is the transferred one), and
    `random_layer` (K, N0), i.i.d. Gaussian with the same Frobenius norm as `network.W`."""

    network: Network
    random_layer: jax.Array


def _width(value) -> int:
    return _checks.count("width", value)


def _steps(value) -> int:
    return _checks.count("training_steps", value, minimum=0)


def _weight_decay(value) -> float:
    return float(_checks.interval("weight_decay", value, 0.0, jnp.inf))


def _training_rate(value) -> float:
    return float(_checks.positive("training_rate", value))


def _loss(value) -> str:
    return _checks.choice("loss", value, LOSSES)


def _target(pair):
    """The target's hidden manifold (F_t, theta_t, sigma) from a `hidden_manifold_pair` with
    sign labels, or a ValueError saying what the theory needs."""
    params = pair.params
    if not all(k in params for k in ("F_t", "theta_t", "activation", "readout", "network_key")):
        raise ValueError("the feature_transfer theory needs a jaxtl.tasks.hidden_manifold_pair "
                         "(its params F_t, theta_t, activation, readout, network_key)")  # fmt: skip
    if not isinstance(params["readout"], Sign):
        raise ValueError("the feature_transfer theory describes binary labels: build the pair with "
                         "hidden_manifold_pair(..., readout='sign', noise=0.0)")  # fmt: skip
    return params["F_t"], params["theta_t"], params["activation"]


class FeatureTransfer(Theory):
    """The feature-transfer theory (module docstring; README.md in this folder, section 10).

    Parameters: `width` K (hidden units), `ridge` lambda of the readout (a number: vmapped in
    sweeps, differentiable), the training recipe of the networks (`loss`, also the readout's;
    `weight_decay`; `training_rate` and `training_steps`, the learning rate and steps of
    `jaxtl.nets.train`) and `activation` phi. The recipe is static (one compiled program per
    value): the trained networks enter the outputs without a gradient, so it cannot be
    optimized by gradient. The data's nonlinearity sigma is the
    generator's (`functools.partial(hidden_manifold_pair, activation=...)` sets it). Outputs:
    classification errors on the target task (fractions of test points misclassified).
    """

    name = "feature_transfer"
    parameters = (
        Option("width", "K, hidden units of the two-layer network (the transferred layer's rows)", None, _width),
        Number("ridge", "(0, inf)", "ridge lambda of the readout on frozen features", 0.1),
        Option("weight_decay", "weight decay of the trained networks (>= 0)", 1e-3, _weight_decay),
        Option("training_rate", "Adam learning rate of the trained networks (> 0)", 1e-2, _training_rate),
        Option("training_steps", "full-batch Adam steps of each trained network", 2000, _steps),
        Option("loss", "loss of the readout and the networks: 'square' or 'logistic'", "square", _loss),
        Option("activation", "phi, the network's activation", "erf", get_activation),
    )
    outputs = (
        Output("transferred_error", "TF: error of the readout on transferred features (theory)", "1", "lower"),
        Output("random_error", "RF: error of the readout on random features (theory)", "1", "lower"),
        Output("transferred_readout_error", "TF readout fitted on the target points (simulation)", "1"),
        Output("random_readout_error", "RF readout fitted on the target points (simulation)", "1"),
        Output("scratch_error", "2L: two-layer network trained from scratch on the target", "1"),
        Output("fine_tuned_error", "FT: source network fine-tuned on the target", "1"),
        Output("advantage_over_random", "RF - TF error (theory): > 0 where transferred features win", "1"),
        Output("advantage_over_scratch", "2L - TF error: > 0 where transferred features win", "1"),
    )
    objective = "transferred_error"

    def shared(self, pair, parameters):
        _target(pair)
        key_network, key_random = jax.random.split(_network_key(pair))
        start = Network.from_prior(key_network, pair.Xs.shape[1], parameters["width"],
                                   activation=parameters["activation"])  # fmt: skip
        source = train(start, pair.Xs, pair.ys, **_recipe(parameters))
        G = jax.random.normal(key_random, source.W.shape, source.W.dtype)
        random_layer = G * jnp.linalg.norm(source.W) / jnp.linalg.norm(G)
        return jax.lax.stop_gradient(SourceFeatures(network=source, random_layer=random_layer))

    def evaluate(self, pair, parameters, shared: SourceFeatures):
        F, theta, sigma = _target(pair)
        phi, ridge, loss = parameters["activation"], parameters["ridge"], parameters["loss"]
        Pt, N0 = pair.Xt.shape
        Xt, yt, X0, y0 = jax.lax.stop_gradient((pair.Xt, pair.yt, pair.X0, pair.y0))  # simulations: no gradient
        curves, simulated = [], []
        for W in (shared.network.W, shared.random_layer):
            covariances = _closed_form(W, F, sigma, phi)
            curves.append(_readout(covariances.Omega, covariances.Phi, theta, samples=jnp.asarray(Pt, float),
                                   ridge=ridge, loss=loss))  # fmt: skip
            features = lambda X: phi(X @ W.T / jnp.sqrt(N0))  # noqa: E731
            w = fit_readout(features(Xt), yt, ridge=jax.lax.stop_gradient(ridge), loss=loss)
            simulated.append(classification_error(y0, features(X0) @ w))
        start = Network.from_prior(jax.random.fold_in(_network_key(pair), 1), N0, parameters["width"],
                                   activation=phi)  # fmt: skip
        trained = [train(net, Xt, yt, **_recipe(parameters)) for net in (start, shared.network)]
        scratch, fine_tuned = (classification_error(y0, net(X0)) for net in trained)
        tf, rf = (c.classification_error for c in curves)
        values = dict(
            transferred_error=tf,
            random_error=rf,
            transferred_readout_error=simulated[0],
            random_readout_error=simulated[1],
            scratch_error=scratch,
            fine_tuned_error=fine_tuned,
            advantage_over_random=rf - tf,
            advantage_over_scratch=scratch - tf,
        )
        result = first_failure(curves[0].result, [(curves[1].converged, curves[1].result)])
        return Evaluation(values, result, curves[0].num_steps + curves[1].num_steps)


def _network_key(pair):
    """The key of the pair's networks (`hidden_manifold_pair`'s params["network_key"])."""
    return jax.random.wrap_key_data(pair.params["network_key"])


def _recipe(parameters):
    """The keyword arguments of `jaxtl.nets.train` from the theory's parameters."""
    return dict(loss=parameters["loss"], weight_decay=parameters["weight_decay"],
                learning_rate=parameters["training_rate"], steps=parameters["training_steps"])  # fmt: skip
