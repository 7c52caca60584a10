//! Summaries of samples and the printed comparison table.

use std::time::Duration;

use serde::Serialize;

use crate::exec::Sample;

/// Latency/CPU/RSS summary of one operation of one implementation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Failed executions.
    pub failures: usize,
    /// Latency, milliseconds.
    pub min_ms: f64,
    /// Median latency, milliseconds.
    pub median_ms: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
    /// Maximum latency, milliseconds.
    pub max_ms: f64,
    /// Median CPU time of the process tree, milliseconds.
    pub cpu_median_ms: f64,
    /// Peak RSS over all samples, KiB.
    pub max_rss_kib: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Median of unsorted values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

impl Summary {
    /// Summarise samples (each sample may be a sum over a chain of plugins).
    pub fn of(samples: &[Sample]) -> Summary {
        let mut lat: Vec<f64> = samples.iter().map(|s| ms(s.wall)).collect();
        lat.sort_by(f64::total_cmp);
        let cpu: Vec<f64> = samples.iter().map(|s| ms(s.cpu)).collect();
        Summary {
            n: samples.len(),
            failures: samples.iter().filter(|s| !s.ok).count(),
            min_ms: lat.first().copied().unwrap_or(0.0),
            median_ms: quantile(&lat, 0.5),
            p95_ms: quantile(&lat, 0.95),
            max_ms: lat.last().copied().unwrap_or(0.0),
            cpu_median_ms: median(&cpu),
            max_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
        }
    }
}

/// One row of the report: an operation of a scenario, ours vs baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Operation (ADD, DEL, CHECK, ...).
    pub op: String,
    /// Our numbers.
    pub ours: Summary,
    /// Baseline numbers, if a baseline ran.
    pub baseline: Option<Summary>,
    /// Free-form extra facts (growth ratios, rule counts, wall time...).
    pub notes: Vec<String>,
}

impl Row {
    /// ours.median / baseline.median.
    pub fn ratio(&self) -> Option<f64> {
        let b = self.baseline.as_ref()?;
        (b.median_ms > 0.0).then(|| self.ours.median_ms / b.median_ms)
    }
}

fn cell(s: &Summary) -> String {
    format!(
        "{:>7.2} {:>7.2} {:>7.2} {:>8.2} {:>6.2} {:>6}",
        s.min_ms,
        s.median_ms,
        s.p95_ms,
        s.max_ms,
        s.cpu_median_ms,
        s.max_rss_kib / 1024
    )
}

/// Print the table: one line per implementation per row, ratio last.
pub fn print(rows: &[Row]) {
    println!(
        "{:<22} {:<6} {:<5} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>5} {:>7}",
        "scenario", "op", "impl", "min", "median", "p95", "max", "cpu", "rssMB", "fail", "ratio"
    );
    for r in rows {
        println!(
            "{:<22} {:<6} {:<5} {} {:>5} {:>7}",
            r.scenario,
            r.op,
            "ours",
            cell(&r.ours),
            r.ours.failures,
            r.ratio().map(|x| format!("{x:.2}")).unwrap_or_default()
        );
        if let Some(b) = &r.baseline {
            println!(
                "{:<22} {:<6} {:<5} {} {:>5}",
                "",
                "",
                "base",
                cell(b),
                b.failures
            );
        }
        for n in &r.notes {
            println!("{:<22}   {n}", "");
        }
    }
    println!(
        "(latencies and cpu in ms; cpu = median user+sys of the process tree; ratio = ours/base median)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
