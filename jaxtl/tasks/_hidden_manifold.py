"""Task pairs from the correlated hidden manifold model.

F. Gerace, L. Saglietti, S. Sarao Mannelli, A. Saxe, L. Zdeborova, "Probing transfer learning
with a model of synthetic correlated datasets", Mach. Learn.: Sci. Technol. 3, 015030 (2022),
arXiv:2106.05418; built on the hidden manifold model of S. Goldt, M. Mezard, F. Krzakala,
L. Zdeborova, Phys. Rev. X 10, 041044 (2020).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .. import _checks
from ..theory._activation import Activation, get_activation
from ._overlap import cosine, input_overlap
from ._task_pair import TaskPair
from ._teacher import teacher_labels


def hidden_manifold_pair(
    key: PRNGKeyArray,
    *,
    Ps: int,
    Pt: int,
    P0: int,
    N0: int,
    D: int,
    feature_perturbation: Float[ArrayLike, ""] = 0.0,
    replaced_fraction: Float[ArrayLike, ""] = 0.0,
    teacher_perturbation: Float[ArrayLike, ""] = 0.0,
    activation: "str | Activation" = "erf",
    readout: "str | Activation" = "tanh",
    gain: Float[ArrayLike, ""] = 1.0,
    noise: Float[ArrayLike, ""] = 0.0,
) -> TaskPair:
    """Source and target tasks on two correlated hidden manifolds (Gerace et al. 2022).

    Each task has inputs on a D-dimensional manifold in R^N0 and labels from a teacher acting
    on the latent coordinates:

        x = activation(F^T c / sqrt(D)),   y = readout(gain theta . c / sqrt(D)) + noise eta,

    c ~ N(0, I_D) per point, eta ~ N(0, 1), F (D, N0) the feature matrix (row k is the k-th
    feature, a direction in input space), theta (D,) the teacher. The source has F_s and
    theta_s with i.i.d. N(0, 1) entries. The target is derived from the source by three
    independent knobs, each 0 for "unchanged":

    1. Replace a fraction f = `replaced_fraction` of the features: row k of F_s is rotated
       towards a fresh Gaussian row G_k by the angle (pi/2) m_k, m_k = clip(f D - k, 0, 1),
       F'_k = cos((pi/2) m_k) F_s,k + sin((pi/2) m_k) G_k. When f D is an integer this is
       the discrete substitution of the first f D rows (rows are i.i.d., so the first are as
       good as random ones); in between, one row is part way. The data are thus continuous
       and piecewise smooth in f (kinks at integer f D, where JAX returns the mean of the
       one-sided derivatives), and each row keeps its N(0, 1) statistics.
    2. Perturb the feature matrix by delta_F = `feature_perturbation`:
       F_t = (F' + delta_F Z) / sqrt(1 + delta_F^2), Z i.i.d. N(0, 1).
    3. Perturb the teacher by delta_theta = `teacher_perturbation`:
       theta_t = (theta_s + delta_theta xi) / sqrt(1 + delta_theta^2), xi ~ N(0, I_D).

    The normalizations keep every entry of F_t and theta_t N(0, 1), so the target alone is a
    hidden manifold model of the same statistics as the source; only the correlation between
    the two changes. Expected overlaps: features (1 - f) / sqrt(1 + delta_F^2) (f D integer),
    teacher 1 / sqrt(1 + delta_theta^2). Target test labels y0 carry no noise.

    **What we matched in the paper, and what we could not.** Only the abstract was at hand,
    not the text. Matched from the issue and the hidden manifold model: the generative form
    x = sigma(F^T c / sqrt(D)) with labels from a teacher on c, and the three kinds of
    relation (feature perturbation, feature substitution, teacher perturbation). Not
    verified: the exact normalization of the perturbations (ours keep unit variances), which
    rows are substituted, whether the paper also adds or removes latent dimensions (not
    implemented), its sigma and label function (it studies binary classification: sign labels
    are the limit of a large `gain`; our defaults erf / tanh are our choice), and its
    scalings of D and N0.

    **Arguments:**
    - `key`: a `jax.random` key; the same key gives the same pair.
    - `Ps`, `Pt`, `P0`: numbers of source training, target training and target test points;
      `N0`: input dimension; `D`: latent dimension (static integers >= 1).
    - `feature_perturbation`: delta_F >= 0.
    - `replaced_fraction`: f in [0, 1].
    - `teacher_perturbation`: delta_theta >= 0.
    - `activation`: sigma, the input nonlinearity ("erf", "tanh", "identity" or an
      `Activation`).
    - `readout`, `gain`, `noise`: the teacher's output nonlinearity, the gain on its field (> 0)
      and the label noise standard deviation (>= 0), as in `teacher_pair`; `readout="sign"`
      gives the binary labels sign(theta . c) of the feature-transfer theory.

    **Returns:** a `TaskPair` with `overlaps` "teacher" (cosine of theta_s and theta_t),
    "features" (cosine of F_s and F_t as vectors of D N0 entries) and "input", and `params`
    with the knobs, "activation", "readout", "F_s", "F_t" (D, N0), "theta_s", "theta_t" (D,),
    and "network_key", the data (`jax.random.key_data`) of a key independent of the data, for
    what is built on the pair (the initial weights of the feature-transfer theory's networks).

    For a fixed key the data are differentiable in `feature_perturbation`,
    `teacher_perturbation`, `gain` and `noise`, and piecewise so in `replaced_fraction`. Runs
    under jit with the sizes and the two activations static.
    """
    Ps, Pt, P0, N0, D = (
        _checks.count(n, v) for n, v in (("Ps", Ps), ("Pt", Pt), ("P0", P0), ("N0", N0), ("D", D))
    )
    delta_F = _checks.interval("feature_perturbation", feature_perturbation, 0.0, jnp.inf)
    f = _checks.interval("replaced_fraction", replaced_fraction, 0.0, 1.0)
    delta_theta = _checks.interval("teacher_perturbation", teacher_perturbation, 0.0, jnp.inf)
    activation = get_activation(activation, "activation")
    readout = get_activation(readout, "readout")
    gain = _checks.positive("gain", gain)
    noise = _checks.interval("noise", noise, 0.0, jnp.inf)

    k = jax.random.split(key, 10)
    F_s = jax.random.normal(k[0], (D, N0))
    angle = (jnp.pi / 2) * jnp.clip(f * D - jnp.arange(D), 0.0, 1.0)[:, None]
    F_replaced = jnp.cos(angle) * F_s + jnp.sin(angle) * jax.random.normal(k[1], (D, N0))
    F_t = (F_replaced + delta_F * jax.random.normal(k[2], (D, N0))) / jnp.sqrt(1 + delta_F**2)
    theta_s = jax.random.normal(k[3], (D,))
    theta_t = (theta_s + delta_theta * jax.random.normal(k[4], (D,))) / jnp.sqrt(1 + delta_theta**2)
    c_s, c_t, c_0 = (jax.random.normal(kk, (P, D)) for kk, P in zip(k[5:8], (Ps, Pt, P0)))

    def inputs(c, F):
        return activation(c @ F / jnp.sqrt(D))

    Xs, Xt, X0 = inputs(c_s, F_s), inputs(c_t, F_t), inputs(c_0, F_t)
    ys = teacher_labels(readout, gain, c_s @ theta_s / jnp.sqrt(D), noise, jax.random.normal(k[8], (Ps,)))
    yt = teacher_labels(readout, gain, c_t @ theta_t / jnp.sqrt(D), noise, jax.random.normal(k[9], (Pt,)))
    y0 = readout(gain * c_0 @ theta_t / jnp.sqrt(D))
    return TaskPair(
        Xs,
        ys,
        Xt,
        yt,
        X0,
        y0,
        overlaps={
            "teacher": cosine(theta_s, theta_t),
            "features": cosine(F_s, F_t),
            "input": input_overlap(Xs, Xt),
        },
        params=dict(
            feature_perturbation=delta_F,
            replaced_fraction=f,
            teacher_perturbation=delta_theta,
            activation=activation,
            readout=readout,
            gain=gain,
            noise=noise,
            F_s=F_s,
            F_t=F_t,
            theta_s=theta_s,
            theta_t=theta_t,
            network_key=jax.random.key_data(jax.random.fold_in(key, 1)),
        ),
    )
