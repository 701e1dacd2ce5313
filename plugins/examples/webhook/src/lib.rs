//! Job type `webhook`: POSTs `body` as JSON to `url`, signed with HMAC-SHA256 of the body
//! under the `WEBHOOK_SECRET` secret (header `x-jobhost-signature: sha256=<hex>`).
//! A 2xx completes the job, a 5xx or a network error retries it, a 4xx fails it for good.
//!
//! The plugin needs two grants in its manifest, `webhook.toml`:
//! `[capabilities] http = ["hooks.example.com"]` and `secrets = ["WEBHOOK_SECRET"]`.

mod http;

use hmac::{Hmac, Mac};
use jobhost_plugin_sdk::{Handler, Job, JobError, Limits, PluginInfo, job_type, payload};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::http::{Delivery, post};

const SECRET: &str = "WEBHOOK_SECRET";

#[derive(Deserialize)]
struct Webhook {
    url: String,
    body: serde_json::Value,
}

struct WebhookPlugin;

impl Handler for WebhookPlugin {
    fn describe() -> PluginInfo {
        let schema = json!({
            "type": "object",
            "properties": {
                "url": { "type": "string", "pattern": "^https?://[^/ ]+(/[^ ]*)?$" },
                "body": {}
            },
            "required": ["url", "body"],
            "additionalProperties": false
        });
        PluginInfo {
            schedules: Vec::new(),
            name: "webhook".into(),
            version: "1.0.0".into(),
            job_types: vec![job_type("webhook", Some(schema), Limits::host_defaults())],
        }
    }

    fn run(job: Job) -> Result<String, JobError> {
        let hook: Webhook = payload(&job)?;
        let secret = std::env::var(SECRET).map_err(|_| {
            JobError::Fail(format!(
                "the {SECRET} secret is not granted to this plugin \
                 (its manifest needs [capabilities] secrets = [\"{SECRET}\"])"
            ))
        })?;
        let body = hook.body.to_string();
        let signature = format!("sha256={}", sign(secret.as_bytes(), body.as_bytes()));
        let length = body.len().to_string();
        let headers = [
            ("content-type", "application/json"),
            ("content-length", length.as_str()),
            ("x-jobhost-signature", signature.as_str()),
            ("x-jobhost-job-id", job.id.as_str()),
        ];
        match post(&hook.url, &headers, body.as_bytes()) {
            Delivery::Answered(status) if (200..300).contains(&status) => {
                Ok(json!({ "status": status }).to_string())
            }
            Delivery::Answered(status) if status >= 500 => Err(JobError::Retry(format!(
                "{} answered {status}; will try again",
                hook.url
            ))),
            Delivery::Answered(status) => Err(JobError::Fail(format!(
                "{} answered {status}; the request will not get better by retrying",
                hook.url
            ))),
            Delivery::Refused(reason) => Err(JobError::Fail(reason)),
            Delivery::Failed(reason) => Err(JobError::Retry(reason)),
        }
    }
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

jobhost_plugin_sdk::export!(WebhookPlugin);
