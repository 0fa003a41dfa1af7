"""Experiments from Python: runs over seeds and factors, statistics, resume, run specs."""

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

import peershare
from peershare import Experiment, ScenarioError

GOSSIP = """
seed = 1
duration = "8s"

[network]
latency = { model = "log-normal", median = "40ms", sigma = 0.5 }

[[groups]]
name = "peers"
count = 40
plugin = "gossip"
bootstrap = { strategy = "random", count = 4 }

[groups.config]
interval_ms = 500
max_peers = 8

[[workload]]
op = "request"
request = "max"
rate = 5.0
start = "2s"
"""

EXPERIMENT = """
scenario = "gossip.toml"
seeds = 4
baseline = "loss=0.0"
metrics = ["delivery_rate", "messages_per_node_per_s"]

[[factors]]
name = "loss"
path = "network.loss"
values = [0.0, 0.4]
"""


@pytest.fixture()
def experiment(tmp_path):
    (tmp_path / "gossip.toml").write_text(GOSSIP)
    return Experiment.from_toml(EXPERIMENT, base=tmp_path, origin="loss.toml", name="loss")


def test_an_experiment_has_its_grid_and_seeds(experiment):
    assert experiment.name == "loss"
    assert experiment.variants == ["loss=0.0", "loss=0.4"]
    assert experiment.baseline == "loss=0.0"
    assert experiment.seeds == [1, 2, 3, 4]
    assert experiment.factors == ["loss"]
    specs = experiment.run_specs()
    assert [(s["variant"], s["seed"]) for s in specs] == [(v, seed) for v in experiment.variants for seed in range(1, 5)]


def test_running_gives_tidy_tables_statistics_and_a_verdict(experiment, tmp_path):
    results = experiment.run(tmp_path / "out", jobs=2, progress=False)
    runs = results.runs_table()
    assert list(runs.columns) == ["variant", "loss", "seed", "metric", "value"]
    # Every run keeps every metric; the experiment's choice is what it analyses.
    assert {"delivery_rate", "messages_per_node_per_s"} < set(runs["metric"])
    assert runs.groupby(["variant", "seed"]).size().nunique() == 1
    assert len(runs[runs.metric == "delivery_rate"]) == 2 * 4
    rate = runs[runs.metric == "delivery_rate"].groupby("variant")["value"].mean()
    assert rate["loss=0.4"] < rate["loss=0.0"], "40 % loss delivers less"
    stats = results.stats_table()
    assert set(stats["variant"]) == set(experiment.variants)
    assert set(stats["metric"]) == {"delivery_rate", "messages_per_node_per_s"}
    mean = stats[(stats.metric == "delivery_rate") & (stats.variant == "loss=0.4")]["mean"].item()
    assert mean == pytest.approx(rate["loss=0.4"])
    comparisons = results.comparisons_table()
    row = comparisons[comparisons.metric == "delivery_rate"].iloc[0]
    assert row["variant"] == "loss=0.4" and row["baseline"] == "loss=0.0" and bool(row["paired"])
    assert row["difference"] == pytest.approx(rate["loss=0.4"] - rate["loss=0.0"])
    assert row["difference_ci.lo"] <= row["difference"] <= row["difference_ci.hi"]
    assert isinstance(row["verdict"], str) and row["verdict"]
    assert results.failures() == []
    report = results.report()
    assert "delivery_rate" in report and report._repr_markdown_() == str(report)
    assert "delivery_rate" in results.table()
    plots = results.plots()
    assert plots and all(p.spec["$schema"].endswith("v5.json") for p in plots.values())
    written = results.write(tmp_path / "written")
    assert any(p.endswith("runs.csv") for p in written)
    from_csv = pd.read_csv(tmp_path / "written" / "runs.csv")
    assert len(from_csv) == len(runs)


def test_a_second_run_reuses_every_result_and_load_reads_them(experiment, tmp_path):
    first = experiment.run(tmp_path / "out", jobs=2, progress=False)
    again = experiment.run(tmp_path / "out", jobs=2, progress=False)
    assert again.runs == first.runs, "the same results, read back"
    loaded = experiment.load(tmp_path / "out")
    assert loaded.runs_table().equals(first.runs_table())
    with pytest.raises(ScenarioError, match="holds 0 of the 8 runs"):
        experiment.load(tmp_path / "elsewhere")


def test_a_run_spec_gives_the_same_metrics_anywhere(experiment, tmp_path):
    results = experiment.run(tmp_path / "out", jobs=1, progress=False)
    spec = experiment.run_specs()[5]
    alone = peershare.run_spec(spec)
    assert alone["status"] == "ok"
    assert alone["metrics"] == results.runs[5]["metrics"]
    with pytest.raises(peershare.SimError, match="not a run spec"):
        peershare.run_spec({"nothing": 1})


def test_an_exception_in_the_progress_callback_stops_the_experiment_and_it_resumes(experiment, tmp_path):
    native = experiment._exp
    calls = []

    def stop_after_two(finished, total, failed):
        calls.append(finished)
        if finished >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        native.run(str(tmp_path / "out"), 1, stop_after_two)
    saved = list((tmp_path / "out" / "runs").glob("*.json"))
    assert 2 <= len(saved) < 8, "the runs that ended are saved, the rest never started"
    finished = []
    results = native.run(str(tmp_path / "out"), 1, lambda f, t, x: finished.append(f))
    assert finished[0] == len(saved), "the saved runs are reused"
    assert len(json.loads(results.runs_json())) == 8


def test_a_head_to_head_compares_plugins_on_one_scenario(tmp_path):
    (tmp_path / "gossip.toml").write_text(GOSSIP)
    exp = Experiment.head_to_head(tmp_path / "gossip.toml", ["gossip", "flood"], seeds=2, metrics=["messages_per_node_per_s"])
    assert exp.variants == ["gossip", "flood"] and exp.baseline == "gossip"
    results = exp.run(tmp_path / "h2h", progress=False)
    table = results.runs_table()
    assert set(table["variant"]) == {"gossip", "flood"}
    assert len(results.comparisons) == 1


def test_a_wrong_experiment_file_names_the_line_and_field(tmp_path):
    (tmp_path / "gossip.toml").write_text(GOSSIP)
    with pytest.raises(ScenarioError) as caught:
        Experiment.from_toml(EXPERIMENT.replace('path = "network.loss"', 'path = "network.nothing"'), base=tmp_path, origin="bad.toml")
    assert caught.value.file == "bad.toml"
    assert caught.value.line is not None
