//! `metrics`: where cordond serves Prometheus metrics.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Where `/metrics` is served; loopback by default.
    #[serde(default = "default_metrics_listen")]
    pub listen: Option<SocketAddr>,
}

fn default_metrics_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: default_metrics_listen(),
        }
    }
}
