//! `peershare._native.Experiment` and `Results`: many runs of a scenario
//! over seeds and factors, their metrics and statistics, driven from
//! Python. The runs go on worker threads without the GIL; the progress
//! callback takes it back for a moment after every run, and an exception
//! it raises (Ctrl-C) stops the experiment once the runs under way end
//! (their results are saved, so running again resumes).

use crate::errors::{file_error, sim_message};
use peershare::experiment::{self, Experiment as RustExperiment, Progress, RunOptions, RunSpec};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// An experiment: a grid of variants of one scenario, each on the same seeds.
#[pyclass(module = "peershare._native", frozen)]
pub struct Experiment {
    experiment: RustExperiment,
}

/// The results of every run of an experiment, with their statistics.
#[pyclass(module = "peershare._native", frozen)]
pub struct Results {
    results: experiment::Results,
    analysis: experiment::Analysis,
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("experiment values serialise")
}

#[pymethods]
impl Experiment {
    /// The experiment an experiment file describes.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Self> {
        Ok(Experiment { experiment: RustExperiment::load(&path).map_err(file_error)? })
    }

    /// The experiment an experiment file's text describes; relative paths
    /// start at `base`.
    #[staticmethod]
    fn from_toml(text: &str, origin: &str, base: PathBuf, name: &str) -> PyResult<Self> {
        Ok(Experiment { experiment: RustExperiment::parse(text, origin, &base, name).map_err(file_error)? })
    }

    /// Plugins head to head on one scenario, on seeds 1 to `seeds`.
    #[staticmethod]
    fn head_to_head(scenario: PathBuf, plugins: Vec<String>, seeds: u64, metrics: Vec<String>) -> PyResult<Self> {
        Ok(Experiment { experiment: RustExperiment::plugins_head_to_head(&scenario, &plugins, seeds, &metrics).map_err(file_error)? })
    }

    /// The experiment's name.
    #[getter]
    fn name(&self) -> &str {
        &self.experiment.name
    }

    /// The variants' labels, in grid order.
    #[getter]
    fn variants(&self) -> Vec<String> {
        self.experiment.variants.iter().map(|v| v.label.clone()).collect()
    }

    /// The baseline variant's label.
    #[getter]
    fn baseline(&self) -> &str {
        &self.experiment.baseline
    }

    /// The seeds every variant runs.
    #[getter]
    fn seeds(&self) -> Vec<u64> {
        self.experiment.seeds.clone()
    }

    /// The factors' names.
    #[getter]
    fn factors(&self) -> Vec<String> {
        self.experiment.factors.clone()
    }

    /// Every run's spec (one variant on one seed), as JSON objects in a
    /// list: the unit of work, for running elsewhere with `run_spec`.
    fn runs_json(&self) -> String {
        json_text(&self.experiment.runs())
    }

    /// Carries out every run whose result is not already in `out`, `jobs`
    /// at a time, calling `progress(finished, total, failed)` after each.
    #[pyo3(signature = (out, jobs, progress=None))]
    fn run(&self, py: Python<'_>, out: PathBuf, jobs: usize, progress: Option<Py<PyAny>>) -> PyResult<Results> {
        let stop = Arc::new(AtomicBool::new(false));
        let options = RunOptions { jobs: jobs.max(1), stop: Some(stop.clone()), ..RunOptions::default() };
        let mut raised: Option<PyErr> = None;
        let outcome = py.detach(|| {
            let mut hear = |p: &Progress| {
                if raised.is_some() {
                    return;
                }
                Python::attach(|py| {
                    let heard = match &progress {
                        Some(callback) => callback.call1(py, (p.reused + p.done, p.total, p.failed)).map(drop),
                        None => py.check_signals(),
                    };
                    if let Err(e) = heard {
                        stop.store(true, Ordering::Relaxed);
                        raised = Some(e);
                    }
                });
            };
            experiment::run(&self.experiment, &out, &options, &mut hear)
        });
        if let Some(e) = raised {
            return Err(e);
        }
        let results = outcome.map_err(file_error)?;
        let analysis = results.analyse();
        Ok(Results { results, analysis })
    }

    /// The results an earlier run wrote into `out`, without running anything.
    fn load(&self, out: PathBuf) -> PyResult<Results> {
        let results = experiment::Results::load(&self.experiment, &out).map_err(file_error)?;
        let analysis = results.analyse();
        Ok(Results { results, analysis })
    }
}

/// Carries out one run spec (JSON, from `Experiment.runs_json`) and
/// returns its result as JSON: what a worker on another machine does.
#[pyfunction]
pub fn run_spec(py: Python<'_>, spec: &str) -> PyResult<String> {
    let spec: RunSpec = serde_json::from_str(spec).map_err(|e| sim_message(format!("not a run spec: {e}")))?;
    Ok(py.detach(|| json_text(&experiment::run_one(&spec, &[]))))
}

#[pymethods]
impl Results {
    /// Every run's result (spec, status, metrics), as a JSON list in the
    /// experiment's order.
    fn runs_json(&self) -> String {
        json_text(&self.results.runs)
    }

    /// The statistics (per metric and variant; comparisons with the
    /// baseline and their verdicts), as `stats.json` holds them.
    fn analysis_json(&self) -> String {
        json_text(&self.analysis)
    }

    /// The report in Markdown; `command` is how it says to reproduce it.
    fn report(&self, command: &str) -> String {
        experiment::output::report_markdown(&self.results, &self.analysis, command)
    }

    /// The experiment's plots, as a JSON object of Vega-Lite specs by file name.
    fn plots_json(&self) -> String {
        let plots: serde_json::Map<String, serde_json::Value> =
            experiment::output::plots(&self.results, &self.analysis).into_iter().collect();
        json_text(&plots)
    }

    /// The comparison table, as the command line prints it.
    fn text_table(&self) -> String {
        experiment::output::text_table(&self.analysis)
    }

    /// Writes every table, the report and the plots into `out`; the files written.
    fn write(&self, out: PathBuf, command: &str) -> PyResult<Vec<PathBuf>> {
        experiment::output::write_all(&self.results, &self.analysis, &out, command).map_err(file_error)
    }
}
