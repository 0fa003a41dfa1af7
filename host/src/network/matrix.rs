//! Latency matrices: measured one-way latencies between regions, from CSV.

use crate::time::SimDuration;
use std::path::Path;

/// One-way latencies between named regions, as in the measured Internet
/// latency data sets that DHT papers use. Nodes are placed in regions by
/// their group's `region` (the group's name by default).
///
/// The CSV file has a header row naming the regions (its first cell is
/// ignored) and one row per region: the region's name, then its latency in
/// milliseconds to each region of the header, in order:
///
/// ```text
/// from\to,eu,us,asia
/// eu,5,45,120
/// us,45,8,90
/// asia,120,90,10
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMatrix {
    regions: Vec<String>,
    latencies: Vec<SimDuration>,
}

/// Why a latency matrix could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The file could not be read.
    #[error("cannot read latency matrix {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not well-formed.
    #[error("latency matrix {path}, line {line}: {message}")]
    Format {
        /// The file.
        path: String,
        /// The 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl LatencyMatrix {
    /// Reads a matrix from a CSV file.
    pub fn load(path: &Path) -> Result<Self, MatrixError> {
        let text = std::fs::read_to_string(path).map_err(|source| MatrixError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Reads a matrix from CSV text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, MatrixError> {
        let fail = |line: usize, message: String| MatrixError::Format { path: origin.to_string(), line, message };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| fail(i + 1, e.to_string()))?;
            rows.push((record.position().map_or(i + 1, |p| p.line() as usize), record));
        }
        let Some((_, header)) = rows.first() else {
            return Err(fail(1, "the file is empty".into()));
        };
        let regions: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        if regions.is_empty() {
            return Err(fail(1, "the header row names no regions".into()));
        }
        let n = regions.len();
        if rows.len() - 1 != n {
            return Err(fail(rows.len(), format!("expected {n} rows (one per region in the header), found {}", rows.len() - 1)));
        }
        let mut latencies = vec![SimDuration::ZERO; n * n];
        for (row_index, (line, row)) in rows.iter().skip(1).enumerate() {
            let name = row.get(0).unwrap_or_default();
            if name != regions[row_index] {
                return Err(fail(
                    *line,
                    format!(
                        "row {} is named {name:?} but the header's region {} is {:?}",
                        row_index + 1,
                        row_index + 1,
                        regions[row_index]
                    ),
                ));
            }
            if row.len() != n + 1 {
                return Err(fail(*line, format!("expected {} cells, found {}", n + 1, row.len())));
            }
            for (col, cell) in row.iter().skip(1).enumerate() {
                let ms: f64 = cell
                    .parse()
                    .map_err(|_| fail(*line, format!("cell {:?} (to {}) is not a number of milliseconds", cell, regions[col])))?;
                if !ms.is_finite() || ms < 0.0 {
                    return Err(fail(*line, format!("latency to {} must be a finite number >= 0, got {ms}", regions[col])));
                }
                latencies[row_index * n + col] = SimDuration::from_secs_f64(ms / 1000.0);
            }
        }
        Ok(LatencyMatrix { regions, latencies })
    }

    /// The regions, in the file's order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Position of a region by name.
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r == name)
    }

    /// The latency from region `from` to region `to` (by position).
    pub fn latency(&self, from: usize, to: usize) -> SimDuration {
        self.latencies[from * self.regions.len() + to]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_matrix() {
        let m = LatencyMatrix::parse("x,eu,us\neu,5,45.5\nus,45,8\n", "t.csv").unwrap();
        assert_eq!(m.regions(), ["eu", "us"]);
        assert_eq!(m.latency(0, 1), SimDuration::from_micros(45_500));
        assert_eq!(m.latency(1, 1), SimDuration::from_millis(8));
    }

    #[test]
    fn errors_name_the_line() {
        let e = LatencyMatrix::parse("x,eu,us\neu,5,45\nus,oops,8\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv, line 3") && e.contains("oops"), "{e}");
        let e = LatencyMatrix::parse("x,eu,us\neu,5,45\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("expected 2 rows"), "{e}");
        let e = LatencyMatrix::parse("x,eu,us\neu,5,45\nasia,1,2\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("asia"), "{e}");
    }
}
