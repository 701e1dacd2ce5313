//! Rate and concurrency limits on job types and queues, as the store keeps them.

use serde::{Deserialize, Serialize};

use super::Micros;

/// What a rate or concurrency limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Every job of one job type, whatever its queue.
    Type,
    /// Every job of one queue, whatever its type.
    Queue,
}

impl LimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Type => "type",
            LimitScope::Queue => "queue",
        }
    }

    pub fn parse(s: &str) -> Option<LimitScope> {
        match s {
            "type" => Some(LimitScope::Type),
            "queue" => Some(LimitScope::Queue),
            _ => None,
        }
    }
}

/// Who set a limit. An operator's limit is never replaced by a plugin's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// `jobhost limits set`.
    Operator,
    /// A plugin's `describe`, with its manifest's overrides, written when a daemon
    /// loads it.
    Plugin,
}

impl LimitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Operator => "operator",
            LimitSource::Plugin => "plugin",
        }
    }

    pub fn parse(s: &str) -> Option<LimitSource> {
        match s {
            "operator" => Some(LimitSource::Operator),
            "plugin" => Some(LimitSource::Plugin),
            _ => None,
        }
    }
}

/// A rate and/or concurrency limit on a job type or a queue, as every claim applies
/// it: see `limits.rs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowLimit {
    pub scope: LimitScope,
    pub name: String,
    /// Jobs that may start per minute, spread evenly; `None`: no rate limit.
    pub rate_per_minute: Option<u32>,
    /// Jobs that may run at once across every daemon; `None`: no concurrency limit.
    pub concurrency: Option<u32>,
    pub source: LimitSource,
    /// The rate's token bucket: what it held at `refilled_at`.
    pub tokens: f64,
    pub refilled_at: Micros,
    pub updated_at: Micros,
}

/// Sets (or replaces) the limit on one job type or queue. At least one of the two
/// limits must be given.
#[derive(Debug, Clone, PartialEq)]
pub struct SetLimit {
    pub scope: LimitScope,
    pub name: String,
    pub rate_per_minute: Option<u32>,
    pub concurrency: Option<u32>,
    pub now: Micros,
}

/// The limits a plugin's job types declare (with its manifest's overrides): see
/// [`Store::set_plugin_limits`](crate::Store::set_plugin_limits). A type with neither
/// limit has its plugin-set row removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimit {
    pub job_type: String,
    pub rate_per_minute: Option<u32>,
    pub concurrency: Option<u32>,
}
