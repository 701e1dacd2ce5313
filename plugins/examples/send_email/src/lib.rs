//! Job type `send_email`. The payload is checked against a JSON Schema when it is
//! enqueued. No network is granted to this plugin, so "sending" is a log line; the
//! addresses `*@bounce.invalid` and `*@tempfail.invalid` stand for a mailbox that does not
//! exist (a permanent failure) and a busy mail server (a retryable one).

use jobhost_plugin_sdk::{
    Handler, Job, JobError, Limits, PluginInfo, info, job_type, payload, result,
};
use serde::Deserialize;
use serde_json::json;

struct SendEmail;

/// Something@something.something, without spaces: enough to refuse obvious typos.
/// (Spelled with a plain space, not `\s`: the validator quotes the pattern in its
/// message, and `\s` expands to a wall of Unicode whitespace there.)
const EMAIL_PATTERN: &str = r"^[^@ ]+@[^@ ]+\.[^@ ]+$";

#[derive(Deserialize)]
struct Email {
    to: String,
    subject: String,
}

impl Handler for SendEmail {
    fn describe() -> PluginInfo {
        let schema = json!({
            "type": "object",
            "required": ["to", "subject"],
            "properties": {
                "to": { "type": "string", "pattern": EMAIL_PATTERN },
                "subject": { "type": "string", "minLength": 1 },
                "body": { "type": "string" }
            },
            "additionalProperties": false
        });
        PluginInfo {
            name: "send_email".into(),
            version: "1.0.0".into(),
            job_types: vec![job_type(
                "send_email",
                Some(schema),
                Limits::host_defaults(),
            )],
        }
    }

    fn run(job: Job) -> Result<String, JobError> {
        let email: Email = payload(&job)?;
        if email.to.ends_with("@bounce.invalid") {
            return Err(JobError::Fail(format!(
                "mailbox does not exist: {}",
                email.to
            )));
        }
        if email.to.ends_with("@tempfail.invalid") {
            return Err(JobError::Retry("mail server busy, try later".into()));
        }
        info(&format!("sending email to {}: {}", email.to, email.subject));
        let message_id = format!("<{}@jobhost.example>", job.id);
        result(&json!({ "delivered_to": email.to, "message_id": message_id }))
    }
}

jobhost_plugin_sdk::export!(SendEmail);
