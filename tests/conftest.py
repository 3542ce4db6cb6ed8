import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # tests/helpers.py

import pytest

# The long physics checks (networks against theory, the notebooks, finite-difference gradients,
# whole command-line jobs, multi-device sweeps): marked `slow`, left out of the default run
# (`python -m pytest -q`, under 8 minutes) and run by `python -m pytest -q -m slow`.
SLOW = (
    *(f"test_adaptive.py::{n}" for n in ("test_monte_carlo_identity_matches_exact_within_its_error",
                                         "test_monte_carlo_transfer_matches_exact_within_its_error",
                                         "test_gradients_match_finite_differences",
                                         "test_monte_carlo_gradient_matches_finite_differences",
                                         "test_vmap_over_couplings_equals_a_loop",
                                         "test_sweep_and_optimize_serve_the_adaptive_theories",
                                         "test_monte_carlo_error_is_the_spread_over_independent_draws")),
    "test_deep.py::test_gradients_match_finite_differences",
    *(f"test_deep_transfer.py::{n}" for n in ("test_gradients_match_finite_differences",
                                              "test_sweep_serves_the_theory",
                                              "test_closed_form_derivatives_are_those_of_the_potential",
                                              "test_vmap_over_the_coupling_equals_a_loop_and_is_jitted",
                                              "test_zero_coupling_is_the_deep_single_task_of_the_target[identity]",
                                              "test_deep_chains_anchor_the_first_layer_as_the_one_layer_chains_do",
                                              "test_linear_second_layer_of_infinite_width_is_the_one_layer_transfer")),
    "test_deep.py::test_vmap_and_the_sweep_equal_direct_calls",
    "test_deep.py::test_deep_sampler_at_one_layer_is_the_one_layer_sampler",
    "test_deep.py::test_compare_shows_one_row_per_layer_and_bad_arguments_name_themselves",
    "test_deep.py::test_actions_differ_for_erf_and_agree_for_the_identity",
    "test_deep.py::test_full_solution_is_a_minimum_of_the_numpy_action[3]",
    "test_nets.py::test_transfer_theory_and_langevin_agree_within_ten_percent",
    "test_nets.py::test_single_task_theory_and_langevin_agree_within_ten_percent",
    "test_nets.py::test_transfer_without_coupling_is_single_task_on_the_target",
    "test_nets.py::test_transfer_reuses_source_chains_sampled_once",
    "test_nets.py::test_transfer_infinite_coupling_keeps_the_source_first_layer",
    "test_nets.py::test_repr_shows_the_numbers",
    "test_nets.py::test_checkpoints_progress_and_reproducibility",
    "test_nets.py::test_diverging_step_size_is_reported",
    "test_mean_field_nets.py::test_quenched_reading_without_coupling_is_single_task_and_infinite_coupling_keeps_the_source",
    "test_mean_field_nets.py::test_joint_reading_with_infinite_coupling_shares_the_first_layer",
    # every notebook (paper_setting too since 2026-12-05: 40 s, and the transfer solve's compilation grew)
    *(f"test_notebooks.py::test_notebook_runs[{n}]" for n in ("single_task", "transfer", "correlation",
                                                            "gradient_search", "real_data",
                                                            "feature_transfer", "feature_learning", "deep",
                                                            "paper_setting")),
    "test_cli.py::test_compare_job_puts_theory_beside_networks",
    "test_cli.py::test_sweep_job_writes_the_sweep_and_a_figure",
    "test_cli.py::test_optimize_job_writes_the_trajectory",
    "test_cli.py::test_main_job_at_its_defaults_prints_the_readme_table_and_no_alarm",
    "test_cli.py::test_existing_outputs_are_kept_unless_forced",
    "test_optimize.py::test_reaches_the_grid_optimum_with_ten_times_fewer_evaluations",
    "test_optimize.py::test_gradient_step_is_the_derivative_of_the_objective",
    "test_optimize.py::test_gradient_at_a_failed_point_is_nan_not_an_error",
    "test_optimize.py::test_bounds_are_kept",
    "test_transfer.py::test_gradients_match_finite_differences",
    "test_transfer.py::test_gradient_with_respect_to_data",
    "test_transfer.py::test_second_derivative_matches_finite_differences",
    "test_transfer.py::test_vmap_over_parameters_and_pairs_equals_loop",
    "test_sweep.py::test_static_axes",
    "test_sweep.py::test_sharded_over_four_devices_equals_one_device",
    "test_sweep.py::test_chunks_and_axis_order",
    "test_sweep.py::test_source_changed_by_a_swept_knob",
    "test_sweep.py::test_task_pair_and_theory_axes",
    "test_features.py::test_closed_form_covariances_match_monte_carlo[tanh-erf]",
    "test_features.py::test_closed_form_covariances_match_monte_carlo[erf-tanh]",
    "test_features.py::test_implicit_gradients_match_finite_differences[logistic]",
    "test_optimize.py::test_source_temperature_is_optimized_by_its_gradient",
    "test_optimize.py::test_non_convergence_stops_with_a_warning",
    "test_nets.py::test_transfer_samples_the_source_at_its_own_temperature",
    "test_transfer.py::test_zero_coupling_is_the_single_task_target[tanh]",
    "test_transfer.py::test_tanh_root_and_inverse_are_exact",
    "test_transfer.py::test_test_error_is_the_mean_over_the_predictor[tanh-inf]",
    "test_transfer.py::test_zero_coupling_is_the_single_task_target[identity]",
    "test_deep.py::test_full_kernel_far_from_one_is_no_covariance_and_is_reported",
    "test_transfer.py::test_tiny_width_is_physical_or_says_so",
    "test_transfer.py::test_small_width_reaches_the_physical_root",
    "test_transfer.py::test_benefit_map_related_positive_unrelated_negative",
    "test_single_task.py::test_vmap_equals_loop_over_every_parameter_and_over_data_sets",
    "test_sweep.py::test_failed_points_are_kept_marked_and_hold_no_value",
    "test_tasks.py::test_hidden_manifold_overlaps_over_keys",
    "test_tasks.py::test_teacher_overlap_matches_rho_within_sampling_error",
    "test_kernels.py::test_tanh_kernel_gradient_matches_finite_differences",
    "test_tasks.py::test_digits_pair_has_documented_classes_labels_inputs_and_disjoint_sets",
    "test_tasks.py::test_input_overlap_matches_gaussian_population_value",
    "test_feature_transfer.py::test_readout_theory_matches_readouts_fitted_on_hidden_manifold_inputs",
    "test_feature_transfer.py::test_transferred_features_beat_random_ones_on_the_source_task",
    "test_feature_transfer.py::test_learning_curves_equal_sweeps_with_the_seeds_keys",
    "test_feature_transfer.py::test_learning_curves_recompute_what_a_changed_source_needs",
    "test_feature_transfer.py::test_implicit_gradient_of_the_transferred_error_matches_finite_differences",
    "test_sweep.py::test_single_task_through_the_sweep_is_the_transfer_theory_at_zero_coupling",
    "test_transfer.py::test_closed_form_derivatives_are_those_of_the_potential[erf-2.0]",
    "test_transfer.py::test_closed_form_derivatives_are_those_of_the_potential[tanh-0.5]",
    "test_feature_transfer.py::test_optimize_lowers_the_transferred_error_over_a_knob",
    "test_fine_tuning.py::test_wide_network_then_lazy_fine_tuning_matches_the_closed_form",
    # moved from the default run on 2026-12-04 to keep it under 8 minutes (9m09s for 396 tests idle, 8m38s for 382)
    "test_adaptive.py::test_fitted_pair_proposal_keeps_the_draws_effective",
    "test_transfer.py::test_closed_form_derivatives_are_those_of_the_potential[identity-inf]",
    "test_transfer.py::test_relatedness_orders_pairs_like_the_source_benefit",
    "test_transfer.py::test_gradient_in_the_source_temperature_matches_finite_differences",
    "test_transfer.py::test_zero_coupling_is_the_single_task_target[erf]",
    "test_transfer.py::test_renormalized_kernels_and_relatedness_match_numpy[erf-2.0]",
    "test_transfer.py::test_equal_temperatures_are_one_temperature",
    "test_optimize.py::test_single_task_through_the_same_path",
    "test_feature_transfer.py::test_the_theory_needs_sign_labels_and_a_hidden_manifold",
    "test_feature_transfer.py::test_train_lowers_the_objective_and_fits_a_teacher",
    "test_cli.py::test_sweep_job_runs_the_theory_the_config_names",
    "test_features.py::test_vmap_over_samples_ridge_and_covariances_equals_loop",
    "test_mean_field_nets.py::test_joint_reading_without_coupling_is_two_single_task_posteriors",
    "test_nets.py::test_float32_networks_stay_float32",
    "test_transfer.py::test_every_converged_point_is_physical",
    "test_sweep.py::test_source_temperature_follows_the_temperature_unless_given",
    "test_single_task.py::test_implicit_gradients_match_finite_differences[temperature-0.05-1e-06-identity]",
    "test_single_task.py::test_implicit_gradients_match_finite_differences[lambda0-1.3-1e-05-identity]",
    "test_features.py::test_implicit_gradients_match_finite_differences[square]",
    "test_sweep.py::test_grid_matches_transfer[10.0-0.6]",
    "test_nets.py::test_coupled_first_layer_has_the_theory_weight_moments",
    "test_tasks.py::test_digits_standardization_and_determinism",
    "test_adaptive.py::test_feature_learning_raises_the_alignment_and_collapsing_weights_fail",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.nodeid.split("/")[-1]
        if any(name.startswith(s) for s in SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="module")
def _compiled_programs_released_after_each_module():
    """jax.clear_caches() after each test module. XLA's CPU compiler (jaxlib 0.10.2) crashed
    (segmentation fault or abort inside backend_compile_and_load, memory under 5 GB) in one
    long process after some 25 slow tests, at the same test each time, whichever of two
    revisions; every test passes alone, and with the compiled programs released after each
    module the same 32 tests ran through."""
    yield
    import jax

    jax.clear_caches()
