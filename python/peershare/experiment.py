"""Experiments from Python: many runs of a scenario over seeds and factors,
their metrics, and statistics that compare the variants with the baseline
(paired by seed, with intervals, tests and effect sizes).

::

    import peershare

    exp = peershare.Experiment.head_to_head("examples/compare/kademlia.toml", ["kademlia", "chord"], seeds=10)
    results = exp.run("out/compare")          # on every core; Ctrl-C stops, running again resumes
    results.runs_table()                      # tidy: variant, factors, seed, metric, value
    results.comparisons_table()               # difference, interval, p-values, verdict
    results.report()                          # Markdown, rendered in a notebook
    results.plots()["..."]                    # Vega-Lite

An experiment's runs are :meth:`Experiment.run_specs`: small dicts that
:func:`run_spec` carries out anywhere (another process, another machine)
with the same result.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Optional, Union

from . import _native
from .vega import VegaLite

__all__ = ["Experiment", "Results", "Markdown", "run_spec"]


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Carries out one run spec (from :meth:`Experiment.run_specs`) and
    returns its result: ``status`` ("ok" or "failed" with a ``reason``),
    ``metrics``, ``wall_s``. The same spec gives the same metrics anywhere."""
    return json.loads(_native.run_spec(json.dumps(spec)))


class Experiment:
    """A grid of variants of one scenario, each run on the same seeds."""

    def __init__(self, native: _native.Experiment):
        """Wraps a native experiment; use the class methods."""
        self._exp = native

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "Experiment":
        """The experiment an experiment file describes (see
        ``examples/experiments/``). Raises :class:`peershare.ScenarioError`
        with the file, line and field that are wrong."""
        return cls(_native.Experiment.from_file(os.fspath(path)))

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        base: Union[str, os.PathLike] = ".",
        origin: str = "<toml>",
        name: str = "experiment",
    ) -> "Experiment":
        """The experiment an experiment file's text describes; its paths
        (the scenario, plugins) start at ``base``."""
        return cls(_native.Experiment.from_toml(text, origin, os.fspath(base), name))

    @classmethod
    def head_to_head(
        cls,
        scenario: Union[str, os.PathLike],
        plugins: Iterable[str],
        *,
        seeds: int = 30,
        metrics: Iterable[str] = (),
    ) -> "Experiment":
        """Plugins (built-in names or ``.wasm`` paths) head to head on one
        scenario, every group running each in turn, on seeds 1 to
        ``seeds``; the first plugin is the baseline (``peershare compare``)."""
        return cls(_native.Experiment.head_to_head(os.fspath(scenario), list(plugins), seeds, list(metrics)))

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self._exp.name

    @property
    def variants(self) -> list[str]:
        """The variants' labels, in grid order."""
        return list(self._exp.variants)

    @property
    def baseline(self) -> str:
        """The label of the variant the others are compared with."""
        return self._exp.baseline

    @property
    def seeds(self) -> list[int]:
        """The seeds every variant runs."""
        return list(self._exp.seeds)

    @property
    def factors(self) -> list[str]:
        """The factors' names (columns of the runs table)."""
        return list(self._exp.factors)

    def run_specs(self) -> list[dict[str, Any]]:
        """Every run (one variant on one seed) as a spec for :func:`run_spec`."""
        return json.loads(self._exp.runs_json())

    def run(
        self,
        out: Union[str, os.PathLike],
        *,
        jobs: Optional[int] = None,
        progress: bool = True,
    ) -> "Results":
        """Carries out every run whose result is not already in ``out``
        (one file per run under ``out/runs/``, written as it ends), ``jobs``
        at a time (default: every core), and returns all results with
        their statistics. Ctrl-C stops it once the runs under way end;
        running again resumes. A run that fails by itself is a result
        (``failures()``), not an exception."""
        jobs = jobs or os.cpu_count() or 1
        bar = _runs_bar(len(self.variants) * len(self.seeds)) if progress else None

        def heard(finished: int, total: int, failed: int) -> None:
            if bar is not None:
                bar.n = finished
                bar.set_postfix_str(f"{failed} failed" if failed else "", refresh=False)
                bar.refresh()

        try:
            native = self._exp.run(os.fspath(out), jobs, heard)
        finally:
            if bar is not None:
                bar.close()
        return Results(native, self)

    def load(self, out: Union[str, os.PathLike]) -> "Results":
        """The results an earlier :meth:`run` wrote into ``out``, without
        running anything; an error says how many runs are missing."""
        return Results(self._exp.load(os.fspath(out)), self)

    def __repr__(self) -> str:
        return f"<peershare.Experiment {self.name}: {len(self.variants)} variants x {len(self.seeds)} seeds>"


class Markdown(str):
    """Markdown text that a notebook renders."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Results:
    """Every run of an experiment and the statistics over them."""

    def __init__(self, native: _native.Results, experiment: Experiment):
        self._results = native
        self.experiment = experiment
        self._runs = json.loads(native.runs_json())
        self._analysis = json.loads(native.analysis_json())

    @property
    def runs(self) -> list[dict[str, Any]]:
        """Every run's result in the experiment's order: ``spec``
        (variant, levels, seed, ...), ``status``, ``metrics``, ``wall_s``."""
        return self._runs

    @property
    def analysis(self) -> dict[str, Any]:
        """The statistics as ``stats.json`` holds them: ``cells`` (each
        metric of each variant: n, mean, interval, quantiles) and
        ``comparisons`` with the baseline."""
        return self._analysis

    def runs_table(self) -> Any:
        """The tidy table of ``runs.csv`` as a pandas DataFrame: one row per
        run and metric, columns ``variant``, the factors, ``seed``,
        ``metric``, ``value``. Failed runs are in :meth:`failures`."""
        import pandas

        factors = self.experiment.factors
        rows = []
        for run in self._runs:
            if run["status"] != "ok":
                continue
            spec = run["spec"]
            levels = dict(spec["levels"])
            for metric, value in run["metrics"].items():
                rows.append(
                    {"variant": spec["variant"], **{f: levels.get(f) for f in factors}, "seed": spec["seed"], "metric": metric, "value": value}
                )
        return pandas.DataFrame(rows, columns=["variant", *factors, "seed", "metric", "value"])

    def failures(self) -> list[dict[str, Any]]:
        """The runs that failed by themselves: variant, seed, reason."""
        return [
            {"variant": r["spec"]["variant"], "seed": r["spec"]["seed"], "reason": r["reason"]}
            for r in self._runs
            if r["status"] != "ok"
        ]

    def stats_table(self) -> Any:
        """Each metric of each variant over its runs, as a pandas DataFrame
        (``metric``, ``variant`` and the description's statistics)."""
        import pandas

        rows = [{"metric": c["metric"], "variant": c["variant"], **_flat(c["description"])} for c in self._analysis["cells"]]
        return pandas.DataFrame(rows)

    def comparisons_table(self) -> Any:
        """Every variant against the baseline on every metric, as a pandas
        DataFrame: difference and its interval, relative difference,
        t-test and rank test p-values (Holm-corrected), effect sizes,
        ``significant`` and the ``verdict`` in words."""
        import pandas

        return pandas.DataFrame([_flat(c) for c in self._analysis["comparisons"]])

    @property
    def comparisons(self) -> list[dict[str, Any]]:
        """The comparisons with the baseline, as dicts."""
        return list(self._analysis["comparisons"])

    def report(self) -> Markdown:
        """The report (how to reproduce, the verdicts, one table per metric)
        as Markdown, rendered in a notebook."""
        return Markdown(self._results.report(f"peershare.Experiment {self.experiment.name!r} from Python"))

    def table(self) -> str:
        """The comparison table as ``peershare experiment`` prints it."""
        return self._results.text_table()

    def plots(self) -> dict[str, VegaLite]:
        """The experiment's plots (per metric, by variant), by file name."""
        return {name: VegaLite(spec) for name, spec in json.loads(self._results.plots_json()).items()}

    def write(self, out: Union[str, os.PathLike]) -> list[str]:
        """Writes runs.csv, stats.csv/json, report.md and plots/ into ``out``."""
        return [os.fspath(p) for p in self._results.write(os.fspath(out), f"peershare.Experiment {self.experiment.name!r}")]

    def __repr__(self) -> str:
        return f"<peershare.Results {self.experiment.name}: {len(self._runs)} runs, {len(self.failures())} failed>"


def _flat(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of ``a.b`` keys (intervals, tests)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _runs_bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="run", desc="runs", delay=1.0, leave=False)
