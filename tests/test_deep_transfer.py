"""jaxtl.deep.transfer (two hidden layers, the first coupled): gamma = 0 against
jaxtl.deep.single_task, a linear second layer at N2 -> inf against jaxtl.transfer with
lambda1 -> lambda1 lambda2, the closed-form derivatives against automatic differentiation of V,
the elimination of Q_t2 against the potential in all four order parameters, vmap, the sweep
and implicit gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtl
from jaxtl.tasks import teacher_pair
from jaxtl.theory._transfer import (
    _gradient_and_jacobian, _potential, _source_overlap, _target_inverse, _target_matrix,
)  # fmt: skip

KW = dict(widths=(30.0, 20.0), temperature=0.05)


@pytest.fixture(scope="module")
def pair():
    return teacher_pair(jax.random.key(3), Ps=40, Pt=25, P0=60, N0=15, rho=0.8)


def solve(pair, **kw):
    return jaxtl.deep.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), **(KW | kw))


@pytest.mark.parametrize("activation", ["erf", "identity"])
def test_zero_coupling_is_the_deep_single_task_of_the_target(pair, activation):
    lambdas = (0.9, 1.2, 0.8)
    sol = solve(pair, coupling=0.0, activation=activation, lambdas=lambdas)
    alone = jaxtl.deep.single_task(pair.Xt, pair.yt, **KW, lambdas=lambdas, activation=activation)
    np.testing.assert_allclose([sol.Q_t1, sol.Q_t2], alone.Q, rtol=1e-10)
    assert abs(sol.Q_tt) < 1e-14 and abs(sol.Q_st) < 1e-14
    mine, ref = sol.test_error(pair.X0, pair.y0), alone.test_error(pair.X0, pair.y0)
    np.testing.assert_allclose([mine.total, mine.bias2, mine.variance], [ref.total, ref.bias2, ref.variance], rtol=1e-10)
    assert abs(sol.benefit(pair.X0, pair.y0).total) < 1e-12


def test_linear_second_layer_of_infinite_width_is_the_one_layer_transfer(pair):
    """Identity activation, N2 -> inf: jaxtl.transfer with lambda1 -> lambda1 lambda2 (the
    effective readout W_2^T v / sqrt(N2) of the first layer has precision lambda1 lambda2). At
    N2 = 1e8 the second layer's order parameters differ from 1 by about P/N2 = 1e-7."""
    for coupling in (0.5, 4.0):
        sol = solve(pair, widths=(30.0, 1e8), coupling=coupling, activation="identity", lambdas=(1.1, 0.7, 1.3))
        one = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=30.0, temperature=0.05, coupling=coupling,
                             lambda0=1.1, lambda1=0.7 * 1.3, activation="identity")  # fmt: skip
        np.testing.assert_allclose([sol.Q_s1, sol.Q_t1, sol.Q_tt, sol.Q_st], [one.Q_s, one.Q_t, one.Q_tt, one.Q_st],
                                   rtol=1e-6)  # fmt: skip
        np.testing.assert_allclose([sol.Q_s2, sol.Q_t2], 1.0, atol=1e-6)
        mine, ref = sol.benefit(pair.X0, pair.y0), one.benefit(pair.X0, pair.y0)
        np.testing.assert_allclose([mine.total, mine.prior, mine.source], [ref.total, ref.prior, ref.source], rtol=1e-5)
        assert abs(one.Q_st) > 1e-2 and abs(ref.source) > 1e-4


def test_closed_form_derivatives_are_those_of_the_potential(pair):
    """With a second layer (width_ratio N1/N2 = 1.5), `_gradient_and_jacobian` against jax.grad
    and jax.hessian of V, the readout term included, Q_st eliminated."""
    state = solve(pair, coupling=2.0).state
    assert state.width_ratio == 1.5
    for D, Q_tt in [(0.8, 0.1), (1.3, 0.4)]:
        Q_st, V_qq = _source_overlap(_target_inverse(D, Q_tt, state), D, state)
        x = jnp.array([jnp.log(D), Q_tt, Q_st])
        full, hessian = jax.grad(_potential)(x, state), jax.hessian(_potential)(x, state)
        gradient, jacobian = _gradient_and_jacobian(x[:2], state)
        np.testing.assert_allclose(gradient, full[:2], rtol=1e-9, atol=1e-12)
        schur = hessian[:2, :2] - jnp.outer(hessian[:2, 2], hessian[2, :2]) / hessian[2, 2]
        np.testing.assert_allclose(jacobian, schur, rtol=1e-9, atol=1e-11)


def test_solution_is_stationary_in_all_four_order_parameters(pair):
    """V of jaxtl/theory/README.md section 12.3 written out in (Q_t1, Q_tt, Q_st, Q_t2), without
    eliminating Q_t2, with dense matrices: its gradient vanishes at the solution."""
    sol = solve(pair, coupling=1.5)
    s = sol.state
    r, k, K_rep, u, B = s.width_ratio, s.eigenvalues, s.replica_kernel, s.source_field, s.source_covariance

    def V(q):
        Q_t1, Q_tt, Q_st, Q_t2 = q
        M = Q_t2 * (Q_t1 * jnp.diag(k) - Q_tt * K_rep) + s.temperature * jnp.eye(k.size)
        g = jnp.sqrt(Q_t2) * Q_st
        rr = s.labels - g * u
        S = Q_t2 * Q_tt * K_rep - g**2 * B
        data = jnp.linalg.slogdet(M)[1] + rr @ jnp.linalg.solve(M, rr) + jnp.trace(jnp.linalg.solve(M, S))
        D = Q_t1 - Q_tt
        return (Q_t1 - jnp.log(D) - (Q_tt - Q_st**2 / s.Q_s) / D + (Q_t2 - jnp.log(Q_t2)) / r
                + s.inv_width * data)  # fmt: skip

    q = jnp.array([sol.Q_t1, sol.Q_tt, sol.Q_st, sol.Q_t2])
    assert sol.converged and sol.Q_st > 1e-2 and abs(sol.Q_t2 - 1) > 1e-3
    np.testing.assert_allclose(jax.grad(V)(q), 0.0, atol=1e-9)


def test_vmap_over_the_coupling_equals_a_loop_and_is_jitted(pair):
    couplings = jnp.array([0.3, 3.0, jnp.inf])
    error = jax.jit(lambda g: solve(pair, coupling=g, throw=False).test_error(pair.X0, pair.y0).total)
    np.testing.assert_allclose(jax.vmap(error)(couplings), [error(g) for g in couplings], rtol=1e-10)


def test_bad_arguments_name_themselves(pair):
    with pytest.raises(ValueError, match="widths"):
        solve(pair, widths=(30.0, 30.0, 30.0), coupling=1.0)
    with pytest.raises(ValueError, match="lambdas"):
        solve(pair, coupling=1.0, lambdas=(1.0, 1.0))
    with pytest.raises(ValueError, match="action"):
        solve(pair, coupling=1.0, action="nested")
    with pytest.raises(ValueError, match="coupling"):
        solve(pair, coupling=-1.0)


def test_sweep_serves_the_theory(pair):
    ds = jaxtl.sweep(teacher_pair, theory="deep_transfer", Ps=40, Pt=25, P0=60, N0=15, rho=0.8, width=30.0,
                     temperature=0.05, coupling=[0.0, 2.0], progress=False, key=jax.random.key(3))  # fmt: skip
    sol = solve(pair, widths=(30.0, 30.0), coupling=2.0)
    np.testing.assert_allclose(ds.test_error.sel(coupling=2.0), sol.test_error(pair.X0, pair.y0).total, rtol=1e-10)
    np.testing.assert_allclose(ds.benefit.sel(coupling=2.0), sol.benefit(pair.X0, pair.y0).total, rtol=1e-8)
    np.testing.assert_allclose(ds.Q_st.sel(coupling=2.0), sol.Q_st, rtol=1e-10)


def test_gradients_match_finite_differences(pair):
    base = dict(coupling=1.5, temperature=0.05, width=30.0, lambda2=1.1)

    def error(v):
        sol = solve(pair, widths=jnp.stack([v["width"], 20.0]), temperature=v["temperature"], coupling=v["coupling"],
                    lambdas=jnp.stack([1.0, 1.0, v["lambda2"]]))  # fmt: skip
        return sol.test_error(pair.X0, pair.y0).total

    grads = jax.grad(error)({k: jnp.asarray(v) for k, v in base.items()})
    for name, value in base.items():
        h = 1e-5 * value
        fd = (error(base | {name: value + h}) - error(base | {name: value - h})) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-10, err_msg=name)


def test_deep_chains_anchor_the_first_layer_as_the_one_layer_chains_do():
    """`sample_deep` with an anchor: gamma = 0 ignores it (the same chains as without), gamma = inf
    holds W_1 at it while the deeper layers move, and the transfer protocol anchors each target
    chain to its source sample's W_1."""
    from jaxtl import nets

    pair = teacher_pair(jax.random.key(0), Ps=12, Pt=8, P0=5, N0=6)
    sampler = nets.Langevin(n_chains=2, burn_in=20, n_samples=3, thin=5)
    common = dict(widths=(5, 4), temperature=0.1, sampler=sampler, keep_params=True)
    anchor = jax.random.normal(jax.random.key(1), (5, 6))
    free = nets.sample_deep(jax.random.key(2), pair.Xt, pair.yt, **common)
    zero = nets.sample_deep(jax.random.key(2), pair.Xt, pair.yt, **common, anchor=anchor, coupling=0.0)
    np.testing.assert_array_equal(free.params.layers[1], zero.params.layers[1])
    held = nets.sample_deep(jax.random.key(2), pair.Xt, pair.yt, **common, anchor=anchor, coupling=np.inf)
    np.testing.assert_array_equal(held.params.layers[0], jnp.broadcast_to(anchor, held.params.layers[0].shape))
    assert not np.allclose(held.params.layers[1][:, 0], held.params.layers[1][:, -1])
    run = nets.deep_transfer(jax.random.key(3), pair, widths=(5, 4), temperature=0.1, coupling=np.inf,
                             source_sampler=sampler, target_sampler=sampler)  # fmt: skip
    W_source = run.source.params.layers[0].reshape(-1, 5, 6)  # (chains x samples) source first layers
    np.testing.assert_array_equal(run.target.final.layers[0], jnp.repeat(W_source, 2, axis=0))
    assert set(run.order_parameters) == {"Q_s", "Q_t", "Q_st", "Q_tt", "second_layer_overlap"}
    with pytest.raises(ValueError, match="widths"):
        nets.deep_transfer(jax.random.key(3), pair, widths=(5,), temperature=0.1, coupling=1.0, source_sampler=sampler,
                           target_sampler=sampler)  # fmt: skip
