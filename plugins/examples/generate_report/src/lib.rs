//! Job type `generate_report`: summarises `rows` rows of a synthetic series (seeded by
//! the report's name, so the same payload always gives the same report) and, when
//! `notify` names an address, enqueues a `send_email` follow-up with the summary. The
//! follow-up exists only if this job completes.

use jobhost_plugin_sdk::{
    EnqueueOptions, Handler, Job, JobError, Limits, PluginInfo, enqueue, job_type, payload, result,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

struct GenerateReport;

#[derive(Deserialize)]
struct Request {
    report: String,
    rows: u32,
    notify: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    report: String,
    rows: u32,
    total: u64,
    mean: f64,
    max: u64,
}

/// A deterministic series: xorshift seeded with a hash of the report name.
fn series(seed_text: &str, rows: u32) -> impl Iterator<Item = u64> {
    let mut state = seed_text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    (0..rows).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % 10_000
    })
}

fn summarise(request: &Request) -> Summary {
    let (mut total, mut max) = (0u64, 0u64);
    for value in series(&request.report, request.rows) {
        total += value;
        max = max.max(value);
    }
    Summary {
        report: request.report.clone(),
        rows: request.rows,
        total,
        mean: total as f64 / request.rows as f64,
        max,
    }
}

impl Handler for GenerateReport {
    fn describe() -> PluginInfo {
        let schema = json!({
            "type": "object",
            "required": ["report", "rows"],
            "properties": {
                "report": { "type": "string", "minLength": 1 },
                // Up to 10 million: the crash tests need reports that take a while.
                "rows": { "type": "integer", "minimum": 1, "maximum": 10_000_000 },
                "notify": { "type": "string", "pattern": r"^[^@ ]+@[^@ ]+\.[^@ ]+$" }
            }
        });
        PluginInfo {
            schedules: Vec::new(),
            name: "generate_report".into(),
            version: "1.0.0".into(),
            job_types: vec![job_type(
                "generate_report",
                Some(schema),
                Limits::host_defaults(),
            )],
        }
    }

    fn run(job: Job) -> Result<String, JobError> {
        let request: Request = payload(&job)?;
        let summary = summarise(&request);
        if let Some(to) = &request.notify {
            let email = json!({
                "to": to,
                "subject": format!("Report {} is ready", summary.report),
                "body": format!("{} rows, total {}, mean {:.2}, max {}",
                    summary.rows, summary.total, summary.mean, summary.max),
            });
            enqueue("send_email", &email, EnqueueOptions::host_defaults())
                .map_err(|e| JobError::Retry(format!("could not enqueue the email: {e}")))?;
        }
        result(&summary)
    }
}

jobhost_plugin_sdk::export!(GenerateReport);
