//! Job type `send_email`. The payload is checked against a JSON Schema when it is
//! enqueued. No network is granted to this plugin, so "sending" is a log line; the
//! addresses `*@bounce.invalid` and `*@tempfail.invalid` stand for a mailbox that does not
//! exist (a permanent failure) and a busy mail server (a retryable one).
//!
//! It takes its jobs in batches of up to [`BATCH_SIZE`]: a real sender would open one
//! connection to the mail server for the batch. Each email of a batch still ends on its
//! own: a bounced one fails, a busy one is retried, the rest are delivered.

use jobhost_plugin_batch::{Job, JobError, JobSpec};
use jobhost_plugin_sdk::{fail, info, retry};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Emails sent in one call.
const BATCH_SIZE: u32 = 10;

/// Something@something.something, without spaces: enough to refuse obvious typos.
/// (Spelled with a plain space, not `\s`: the validator quotes the pattern in its
/// message, and `\s` expands to a wall of Unicode whitespace there.)
const EMAIL_PATTERN: &str = r"^[^@ ]+@[^@ ]+\.[^@ ]+$";

#[derive(Deserialize)]
struct Email {
    to: String,
    subject: String,
}

#[derive(Serialize)]
struct Receipt {
    delivered_to: String,
    message_id: String,
}

fn send_email(email: Email, job: &Job) -> Result<Receipt, JobError> {
    if email.to.ends_with("@bounce.invalid") {
        return Err(fail(format!("mailbox does not exist: {}", email.to)));
    }
    if email.to.ends_with("@tempfail.invalid") {
        return Err(retry("mail server busy, try later"));
    }
    info(&format!("sending email to {}: {}", email.to, email.subject));
    Ok(Receipt {
        message_id: format!("<{}@jobhost.example>", job.id),
        delivered_to: email.to,
    })
}

fn send_batch(jobs: Vec<Job>) -> Vec<Result<String, JobError>> {
    info(&format!(
        "one connection for a batch of {} emails",
        jobs.len()
    ));
    jobhost_plugin_batch::each(&jobs, send_email)
}

jobhost_plugin_batch::batch_plugin!(
    "send_email",
    "1.1.0",
    [JobSpec::new("send_email", send_email)
        .batch_size(BATCH_SIZE)
        .schema(json!({
            "type": "object",
            "required": ["to", "subject"],
            "properties": {
                "to": { "type": "string", "pattern": EMAIL_PATTERN },
                "subject": { "type": "string", "minLength": 1 },
                "body": { "type": "string" }
            },
            "additionalProperties": false
        })),],
    run_batch: send_batch,
);
