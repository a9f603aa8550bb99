//! `logging`: how cordond and the portal write their logs.

use serde::{Deserialize, Serialize};

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}
