import csv
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxtl
from jaxtl.cli import _jobs
from jaxtl.cli._main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_main_job_writes_the_width_table(tmp_path, capsys):
    out = tmp_path / "table.csv"
    args = ["--output", str(out), "--widths", "20,80,inf", "--P", "40", "--P0", "30", "--N0", "20", "--seed", "3"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out)))
    assert [float(r["N1"]) for r in rows] == [20.0, 80.0, np.inf]
    printed = capsys.readouterr().out
    assert "NNGP error" in printed and printed.count("True") == 3
    # The table holds what the library computes for the same task.
    pair = jaxtl.tasks.teacher_pair(jax.random.key(3), Ps=40, Pt=1, P0=30, N0=20, gain=2.0, noise=0.1)
    for r in rows:
        sol = jaxtl.single_task(pair.Xs, pair.ys, width=float(r["N1"]), temperature=0.05)
        np.testing.assert_allclose(float(r["Q"]), sol.Q, rtol=1e-10)
        np.testing.assert_allclose(float(r["test_error"]), sol.test_error(pair.X0, pair.y0).total, rtol=1e-10)
    assert float(rows[-1]["Q"]) == 1.0
    assert float(rows[-1]["test_error"]) == pytest.approx(float(rows[0]["nngp_test_error"]), rel=1e-12)


@pytest.mark.parametrize("args, match", [
    (["--temperature", "-1"], "temperature must lie in"),
    (["--widths", "10,-3"], "--widths must lie in"),
    (["--widths", "ten"], "--widths must be comma-separated"),
    (["--activation", "relu"], "activation must be one of"),
])
def test_bad_arguments_are_reported(tmp_path, capsys, args, match):
    assert main(["--output", str(tmp_path / "t.csv"), "--P", "10", "--P0", "5", "--N0", "5", *args]) == 2
    assert match in capsys.readouterr().err


def test_main_job_at_its_defaults_prints_the_readme_table_and_no_alarm(tmp_path):
    """The first command a user runs: at the default sizes (P = 200, P0 = 1000) closed-over
    data made XLA print a "Constant folding an instruction is taking > 1s" error line."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "jaxtl", "--output", str(tmp_path / "x.csv")], env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    assert "Constant folding" not in run.stderr
    assert not [line for line in run.stderr.splitlines() if re.match(r"E\d{4}", line) or "error" in line.lower()]
    readme = (ROOT / "README.md").read_text()
    table = readme.split("The main job prints:\n\n```\n")[1].split("```")[0].splitlines()
    assert run.stdout.splitlines() == table[:-1] + [f"wrote {tmp_path / 'x.csv'}"]


def test_help_lists_the_jobs(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for job, line in _jobs.DESCRIPTIONS.items():
        assert re.search(rf"^  {job} +{re.escape(line)}$", out, re.MULTILINE)
    assert "--force" in out


def test_an_unknown_job_names_the_jobs(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["swep", "x.toml"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "unknown job 'swep' (did you mean sweep?)" in err and "sweep, optimize, compare" in err
    assert "unrecognized arguments" not in err


# The jobs on TOML configurations: jaxtl sweep | optimize | compare CONFIG

SMALL = """
task = "teacher_pair"
seed = 2
output = "{output}"
[parameters]
Ps = 40
Pt = 15
P0 = 30
N0 = 10
width = {width}
temperature = 0.1
"""


def write(tmp_path, text, name="job"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def test_sweep_job_writes_the_sweep_and_a_figure(tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "grid_T0.1"  # the files are grid_T0.1.nc and grid_T0.1.png, not grid_T0.nc
    config = SMALL.format(output=out, width=30.0) + "rho = {linspace = [0.0, 1.0, 3]}\ncoupling = [0.0, 3.0, inf]\n"
    assert main(["sweep", write(tmp_path, config), "--no-progress"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid_T0.1.nc", "grid_T0.1.png", "job.toml"]
    ds = xr.load_dataset(tmp_path / "grid_T0.1.nc")
    assert (tmp_path / "grid_T0.1.png").stat().st_size > 10_000
    assert ds.attrs["seed"] == 2 and ds.attrs["jaxtl_version"] == importlib.metadata.version("jaxtl")
    expected = jaxtl.sweep(jaxtl.tasks.teacher_pair, key=jax.random.key(2), Ps=40, Pt=15, P0=30, N0=10, width=30.0,
                           temperature=0.1, rho=[0.0, 0.5, 1.0], coupling=[0.0, 3.0, np.inf], progress=False)
    np.testing.assert_allclose(ds.benefit.values, expected.benefit.values, rtol=1e-12)
    assert "9 points, 9 converged" in capsys.readouterr().out


def test_sweep_job_runs_the_theory_the_config_names(tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "widths"
    config = 'theory = "single_task"\n' + SMALL.format(output=out, width="[20.0, 40.0]")
    assert main(["sweep", write(tmp_path, config + '[sweep]\nvariable = "Q"\n'), "--no-progress"]) == 0
    ds = xr.load_dataset(out.with_suffix(".nc"))
    expected = jaxtl.sweep(jaxtl.tasks.teacher_pair, theory="single_task", key=jax.random.key(2), Ps=40, Pt=15, P0=30,
                           N0=10, width=[20.0, 40.0], temperature=0.1, progress=False)
    assert ds.attrs["theory"] == "single_task"
    np.testing.assert_allclose(ds.Q.values, expected.Q.values, rtol=1e-12)
    assert "2 points, 2 converged" in capsys.readouterr().out


def test_sweep_summary_counts_failures_and_takes_no_value_from_them():
    """Failed points are counted by kind and their values (here made huge on purpose, as an
    unphysical root's would be) never enter the minimum or the maximum."""
    import xarray as xr
    from jaxtl._problem import STATUS

    status = np.array([0, 0, STATUS.index("overlap_not_psd"), STATUS.index("overlap_not_psd"),
                       STATUS.index("nonlinear_max_steps_reached")])
    ds = xr.Dataset({"benefit": ("rho", [0.01, -0.02, 6.9e7, -1.8e4, 3.0]), "converged": ("rho", status == 0),
                     "status": ("rho", status, {"flag_meanings": " ".join(STATUS)})}, coords={"rho": np.arange(5.0)})
    line = _jobs.summary(ds, "benefit")
    assert line.startswith("5 points, 2 converged, 2 without a physical stationary point, 1 not converged")
    assert "overlap_not_psd: 2" in line and line.endswith("min -0.02, max 0.01")
    none = _jobs.summary(ds.assign(converged=ds.converged & False), "benefit")
    assert none.endswith("benefit: no value")


def test_optimize_job_writes_the_trajectory(tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "search"
    config = SMALL.format(output=out, width=30.0) + "coupling = 1.0\n[optimize]\nover = {coupling = [0.1, 100.0]}\nsteps = 3\n"
    assert main(["optimize", write(tmp_path, config), "--no-progress"]) == 0
    ds = xr.load_dataset(out.with_suffix(".nc"))
    assert ds.attrs["seed"] == 2 and ds.attrs["jaxtl_version"] == importlib.metadata.version("jaxtl")
    assert ds.sizes["step"] == 4 and ds.attrs["evaluations"] == 4 and ds.attrs["objective"] == "benefit"
    np.testing.assert_allclose(float(ds.coupling[0]), 1.0, rtol=1e-12)
    assert out.with_suffix(".png").is_file() and "4 evaluations" in capsys.readouterr().out


def test_compare_job_puts_theory_beside_networks(tmp_path, capsys, monkeypatch):
    import xarray as xr

    from jaxtl.nets import _transfer_sampling

    runs = []  # keep_params of every Langevin run: True for the source chains

    def sample(*args, **kwargs):
        runs.append(kwargs.get("keep_params", False))
        return real_sample(*args, **kwargs)

    real_sample = _transfer_sampling.sample
    monkeypatch.setattr(_transfer_sampling, "sample", sample)
    out = tmp_path / "cmp"
    config = SMALL.format(output=out, width=20) + "coupling = [0.0, 10.0, inf]\n" + (
        "[compare]\nsource_chains = 2\nsource_burn_in = 50\nsource_samples = 1\nsource_thin = 10\n"
        "target_chains = 2\ntarget_burn_in = 50\ntarget_samples = 5\ntarget_thin = 5\n"
    )
    assert main(["compare", write(tmp_path, config), "--no-progress"]) == 0
    assert runs == [True, False, False, False]  # the source chains sampled once, for all couplings
    printed = capsys.readouterr().out
    assert "inf " not in printed.replace("coupling = inf", "") and "e+" not in printed
    assert "* absolute deviation" in printed  # Q_st and Q_tt are 0 at coupling = 0
    ds = xr.load_dataset(out.with_suffix(".nc"))
    assert ds.attrs["seed"] == 2 and ds.attrs["jaxtl_version"] == importlib.metadata.version("jaxtl")
    assert list(ds.quantity.values) == ["test_error", "bias2", "variance", "Q_s", "Q_t", "Q_st", "Q_tt"]
    pair = jaxtl.tasks.teacher_pair(jax.random.split(jax.random.key(2))[0], Ps=40, Pt=15, P0=30, N0=10)
    sol = jaxtl.transfer((pair.Xs, pair.ys), (pair.Xt, pair.yt), width=20.0, temperature=0.1, coupling=10.0)
    np.testing.assert_allclose(float(ds.theory.sel(coupling=10.0, quantity="test_error")),
                               float(sol.test_error(pair.X0, pair.y0).total), rtol=1e-6)
    assert np.all(np.isfinite(ds.networks.values)) and np.all(ds.stderr.values > 0)
    assert out.with_suffix(".png").is_file()


@pytest.mark.parametrize("job", ["sweep", "optimize", "compare"])
def test_examples_are_complete_valid_configs(tmp_path, capsys, monkeypatch, job):
    from jaxtl.cli import _config

    monkeypatch.chdir(tmp_path)  # the example's output is in the working directory
    assert main([job, "--example"]) == 0
    text = capsys.readouterr().out
    config = _config.load(write(tmp_path, text), job)
    assert config["output"] == f"jaxtl_{job}" and config["parameters"]["width"] > 0
    assert "--force" in text


def test_out_of_range_values_are_named(tmp_path, capsys):
    path = write(tmp_path, SMALL.format(output=tmp_path / "x", width=20.0) + "coupling = -1.0\n")
    assert main(["sweep", path, "--no-progress"]) == 2
    assert capsys.readouterr().err == f"jaxtl sweep: error: {path}: coupling must lie in [0, +inf], got -1.0\n"


def test_missing_config_file_and_section(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nowhere.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["sweep", write(tmp_path, 'task = "teacher_pair"\n')]) == 2
    assert "[parameters]" in capsys.readouterr().err


def never(*args, **kwargs):
    raise AssertionError("the job ran")


@pytest.mark.parametrize("job, extra, match", [
    ("sweep", 'colour = "red"\n', "'colour'"),
    ("sweep", "coupling = 1.0\n[sweep]\nchunks = 3\n", "'chunks'"),
    ("sweep", "coupling = {geomspace = [1, 2, 3]}\n", "parameters.coupling"),
    ("sweep", "coupling = 1.0\n[sweep]\nchunk_size = \"big\"\n", "sweep.chunk_size"),
    ("optimize", "coupling = 1.0\n[optimize]\nsteps = 2.5\n", "optimize.steps"),
    ("optimize", "coupling = 1.0\n[optimize]\nobjective = \"speed\"\n", "optimize.objective must be one of"),
    ("compare", "coupling = [0.0, 1.0]\nrho = [0.0, 1.0]\n", "at most one list"),
    ("sweep", 'width = "30"\n', "parameters.width must be a number"),
    ("sweep", 'coupling = [0.0, "1"]\n', "parameters.coupling must be a number"),
    ("sweep", "coupling = 1.0\nactivation = 2\n", "parameters.activation must be a string"),
    ("sweep", 'coupling = {linspace = ["0", 1, 3]}\n', "parameters.coupling.linspace"),
    ("sweep", "gamma = 1.0\n", "'gamma'"),
    ("sweep", 'coupling = 1.0\n[sweep]\nvariable = "speed"\n', "sweep.variable"),
    ("sweep", "coupling = 1.0\n[sweep]\nchunk_size = -1\n", "sweep.chunk_size"),
    ("optimize", 'coupling = 1.0\n[optimize]\nover = {coupling = ["0.1", 10.0]}\n', "optimize.over.coupling"),
    ("compare", "coupling = 1.0\nwidth = [20, 20.5]\n", "width must be a whole number"),
    ("compare", "coupling = [0.0, -1.0]\n", "coupling must lie in"),
    ("compare", 'coupling = 1.0\nactivation = ["erf", "tanh"]\n', "activation cannot be a list"),
    ("compare", "coupling = 1.0\n[compare]\ntarget_chains = 1\n", "compare.target_chains must be an integer >= 2"),
    ("sweep", 'theory = "mean_field"\ncoupling = 1.0\n', "theory must be one of transfer, single_task"),
    ("sweep", 'theory = "single_task"\ncoupling = 1.0\n', "unknown parameter 'coupling' for the single_task theory"),
    ("optimize", 'theory = "single_task"\n[optimize]\nover = {temperature = [0.01, 1.0]}\n',
     "optimize.objective must be one of test_error, bias2, variance"),
    ("compare", 'theory = "single_task"\n', 'theory must be "transfer"'),
])
def test_bad_configs_name_the_key_before_the_job_runs(tmp_path, capsys, monkeypatch, job, extra, match):
    """Every value is checked when the configuration is read: the job never starts."""
    monkeypatch.setitem(_jobs._JOBS, job, never)
    text = SMALL.format(output=tmp_path / "x", width=20.0).replace("width = 20.0\n", "" if "width" in extra else "width = 20.0\n")
    if extra.startswith("theory"):  # a top-level key, before [parameters]
        top, extra = extra.split("\n", 1)
        text = top + "\n" + text
    path = write(tmp_path, extra + text if extra.startswith("colour") else text + extra)
    assert main([job, path]) == 2
    err = capsys.readouterr().err
    assert match in err and err.startswith(f"jaxtl {job}: error: {path}: ") and err.count(path) == 1


@pytest.mark.parametrize("output, match", [
    ("nowhere/x", "'{tmp}/nowhere' is not an existing folder"),
    ("job.toml/x", "'{tmp}/job.toml' is not an existing folder"),
    ("", "output must name a file"),
])
def test_output_must_be_a_file_in_a_folder(tmp_path, capsys, monkeypatch, output, match):
    monkeypatch.setitem(_jobs._JOBS, "sweep", never)
    path = write(tmp_path, SMALL.format(output=f"{tmp_path}/{output}", width=20.0) + "coupling = 1.0\n")
    assert main(["sweep", path]) == 2
    assert match.format(tmp=tmp_path) in capsys.readouterr().err


def test_output_folder_must_be_writable(tmp_path, capsys, monkeypatch):
    from jaxtl.cli import _config

    monkeypatch.setitem(_jobs._JOBS, "sweep", never)
    monkeypatch.setattr(_config.os, "access", lambda path, mode: pathlib.Path(path) != tmp_path)
    assert main(["sweep", write(tmp_path, SMALL.format(output=tmp_path / "x", width=20.0) + "coupling = 1.0\n")]) == 2
    assert f"the folder '{tmp_path}' is not writable" in capsys.readouterr().err


def test_existing_outputs_are_kept_unless_forced(tmp_path, capsys, monkeypatch):
    config = write(tmp_path, SMALL.format(output=tmp_path / "x", width=20.0) + "coupling = 1.0\n")
    (tmp_path / "x.png").write_text("a figure from an earlier run")
    with monkeypatch.context() as m:
        m.setitem(_jobs._JOBS, "sweep", never)
        assert main(["sweep", config]) == 2
    assert f"'{tmp_path / 'x.png'}' exists already; pass --force" in capsys.readouterr().err
    assert (tmp_path / "x.png").read_text() == "a figure from an earlier run" and not (tmp_path / "x.nc").exists()
    assert main(["sweep", config, "--force", "--no-progress"]) == 0
    assert (tmp_path / "x.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "x.nc").is_file()


def test_compare_figure_shows_infinite_coupling():
    import xarray as xr

    values = np.array([[0.30, 0.31, 0.01], [0.25, 0.26, 0.01], [0.28, 0.27, 0.02]])  # theory, networks, stderr
    ds = xr.Dataset({f: (("coupling", "quantity"), values[:, [i]]) for i, f in enumerate(("theory", "networks", "stderr"))},
                    coords={"coupling": [0.0, 1.0, np.inf], "quantity": ["test_error"]})
    ax = _jobs.compare_figure(ds, "coupling").axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "theory, coupling = inf" in labels and "networks, coupling = inf" in labels
    assert any(np.allclose(line.get_ydata(), 0.28) for line in ax.lines)
    only_inf = _jobs.compare_figure(ds.isel(coupling=[2]), "coupling").axes[0]
    assert [t.get_text() for t in only_inf.get_legend().get_texts()] == ["theory, coupling = inf", "networks, coupling = inf"]
