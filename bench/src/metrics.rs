//! cordond's and the portal's Prometheus metrics, scraped with curl inside
//! the lab's gateway namespace (where both listen on 127.0.0.1).

use std::time::Duration;

use anyhow::{Result, bail};
use cordon_lab::Host;

/// Where the lab's cordond serves metrics.
const URL: &str = "http://127.0.0.1:9464/metrics";

/// One scrape of the exposition text.
#[derive(Debug, Clone, Default)]
pub struct Scrape(String);

impl Scrape {
    /// Fetches cordond's metrics from inside `gateway`'s namespace.
    pub fn fetch(gateway: &Host) -> Result<Scrape> {
        Self::fetch_from(gateway, URL)
    }

    /// Fetches the metrics at `url` from inside `gateway`'s namespace (the
    /// portal's, say).
    pub fn fetch_from(gateway: &Host, url: &str) -> Result<Scrape> {
        let out = gateway.exec_within(
            "curl",
            &["-sS", "--max-time", "5", url],
            Duration::from_secs(10),
        )?;
        if !out.status.success() {
            bail!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(Scrape(String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// The sum of every sample of `name` (all label sets; 0 when absent).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples(name).map(|(_, v)| v).sum()
    }

    /// The sum of the samples of `name` whose labels include `label`
    /// (as written in the exposition, e.g. `counted="true"`).
    pub fn sum_with(&self, name: &str, label: &str) -> f64 {
        self.samples(name)
            .filter(|(labels, _)| labels.split(',').any(|l| l == label))
            .map(|(_, v)| v)
            .sum()
    }

    /// `(labels, value)` of every sample named exactly `name`.
    fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        self.0.lines().filter_map(move |l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
                let (labels, v) = r.split_once('}')?;
                (labels, v)
            } else if rest.starts_with(' ') {
                ("", rest)
            } else {
                return None;
            };
            Some((labels, value.split_whitespace().next()?.parse().ok()?))
        })
    }

    /// A histogram's cumulative buckets: `(upper bound, count)`, ascending.
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut v: Vec<(f64, f64)> = self
            .samples(&bucket)
            .filter_map(|(labels, count)| {
                let le = labels.split(',').find_map(|l| l.strip_prefix("le="))?;
                let le = le.trim_matches('"');
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, count))
            })
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }
}

/// The buckets observed between two scrapes.
pub fn bucket_delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(le, n)| {
            let was = before
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c);
            (le, n - was)
        })
        .collect()
}

/// Two sets of cumulative buckets added up, bound by bound (an empty `a`
/// is none yet).
pub fn bucket_sum(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if a.is_empty() {
        return b.to_vec();
    }
    a.iter()
        .map(|&(le, n)| {
            (
                le,
                n + b.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1),
            )
        })
        .collect()
}

/// The `q` quantile (0..1) of cumulative buckets, interpolated linearly
/// inside the bucket as Prometheus' `histogram_quantile` does; `None` with
/// no observations. A quantile in the `+Inf` bucket is the last finite bound.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<Duration> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(Duration::from_secs_f64(lower.0));
            }
            let inside = count - lower.1;
            let frac = if inside > 0.0 {
                (rank - lower.1) / inside
            } else {
                1.0
            };
            return Some(Duration::from_secs_f64(lower.0 + (le - lower.0) * frac));
        }
        lower = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE cordon_detections counter
cordon_detections_total{signal=\"smtp_attempts\",action=\"enforce\"} 3
cordon_detections_total{signal=\"smtp_destinations\",action=\"enforce\"} 2
cordon_detection_latency_seconds_sum 0.1
cordon_detection_latency_seconds_count 4
cordon_detection_latency_seconds_bucket{le=\"0.001\"} 0
cordon_detection_latency_seconds_bucket{le=\"0.002\"} 2
cordon_detection_latency_seconds_bucket{le=\"0.004\"} 4
cordon_detection_latency_seconds_bucket{le=\"+Inf\"} 4
";

    #[test]
    fn buckets_of_several_runs_add_up() {
        let a = [(0.001, 1.0), (f64::INFINITY, 2.0)];
        let b = [(0.001, 3.0), (f64::INFINITY, 5.0)];
        assert_eq!(bucket_sum(&[], &a), a.to_vec());
        assert_eq!(bucket_sum(&a, &b), vec![(0.001, 4.0), (f64::INFINITY, 7.0)]);
    }

    #[test]
    fn sums_labelled_samples_and_reads_buckets() {
        let s = Scrape(TEXT.into());
        assert_eq!(s.sum("cordon_detections_total"), 5.0);
        assert_eq!(s.sum("cordon_detection_latency_seconds_count"), 4.0);
        let b = s.buckets("cordon_detection_latency_seconds");
        assert_eq!(b.len(), 4);
        assert_eq!(quantile(&b, 0.5), Some(Duration::from_secs_f64(0.002)));
        let p75 = quantile(&b, 0.75).unwrap_or_default().as_secs_f64();
        assert!((p75 - 0.003).abs() < 1e-9, "{p75}");
        assert_eq!(quantile(&bucket_delta(&b, &b), 0.5), None);
    }
}
