//! The HTTP admin API through the real daemon (`serve --http 127.0.0.1:0`): every
//! operation the CLI has, answered as JSON and checked against what the CLI and the
//! store then say; bad input answered 4xx with `{"error": ...}` naming the problem and
//! leaving nothing written; the token; the Prometheus scrape after real jobs ran.

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};

use crate::operations::{api_addr, dead_letters_through_the_store, wait_dead_count};
use crate::support::{Daemon, World, count, wait_until};

const MINUTE: Duration = Duration::from_secs(60);

/// A client for one daemon's API (ureq, TLS off): answers are `(status, JSON)`,
/// whatever the status.
pub struct Api {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Api {
    pub fn of(daemon: &Daemon) -> Api {
        Api::at(&api_addr(daemon))
    }

    pub fn at(addr: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Api {
            base: format!("http://{addr}"),
            agent,
            token: None,
        }
    }

    pub fn with_token(mut self, token: &str) -> Api {
        self.token = Some(token.to_string());
        self
    }

    /// `(status, content type, body text)`.
    pub fn raw(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" | "DELETE" => {
                let mut request = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            _ => {
                let mut request = self.agent.post(&url).content_type("application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(body.unwrap_or(""))
            }
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map_or(String::new(), |v| v.to_str().unwrap().to_string());
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .read_to_string(&mut text)
            .unwrap();
        (status, content_type, text)
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, _, text) = self.raw(method, path, body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {status}, not JSON ({e}): {text}")
        });
        (status, value)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.json("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.json("POST", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.json("DELETE", path, None)
    }

    /// A 4xx with `{"error": ...}` containing `needle`.
    fn refused(&self, method: &str, path: &str, body: &str, status: u16, needle: &str) {
        let (got, answer) = self.json(method, path, Some(body));
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            got == status && error.contains(needle),
            "{method} {path} {body:.80}: expected {status} naming {needle:?}, got {got}: {answer}"
        );
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

const EMAIL: &str = r#"{"to":"ada@example.com","subject":"hi"}"#;

#[test]
fn jobs_queues_cron_and_plugins_are_operated_over_http_as_from_the_cli() {
    let world = World::new();
    world.install_plugin("send_email");
    world.install_plugin("echo");
    world.cli_ok(&["cron", "add", "nightly", "0 3 1 1 *", "echo", r#"{"n":1}"#]);
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);

    let (status, plugins) = api.get("/plugins");
    assert_eq!(status, 200);
    let email = plugins["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == "send_email.wasm")
        .unwrap_or_else(|| panic!("send_email is not loaded: {plugins}"));
    assert!(email["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(email["job_types"][0]["name"], "send_email");
    assert!(plugins["history"].as_array().unwrap().len() >= 2);

    let (status, cron) = api.get("/cron");
    assert_eq!((status, &cron[0]["name"]), (200, &Value::from("nightly")));
    assert!(cron[0]["next_run_at"].as_i64().unwrap() > 0);

    // Paused, so what is enqueued waits where it can be counted.
    let (status, paused) = api.post("/queues/mail/pause", "");
    assert_eq!((status, &paused["changed"]), (200, &Value::from(true)));
    assert_eq!(api.post("/queues/mail/pause", "").1["changed"], false);
    let body =
        |extra: &str| format!(r#"{{"type":"send_email","payload":{EMAIL},"queue":"mail"{extra}}}"#);
    let (status, first) = api.post("/jobs", &body(r#","priority":"high""#));
    assert_eq!(
        (status, &first["created"]),
        (201, &Value::from(true)),
        "{first}"
    );
    let first = first["id"].as_str().unwrap().to_string();
    let job = &world.job(&first)["job"];
    assert_eq!(
        (&job["status"], &job["priority"]),
        (&Value::from("pending"), &Value::from(10))
    );

    let (status, keyed) = api.post(
        "/jobs",
        &body(r#","unique_key":"order-7","max_attempts":2"#),
    );
    assert_eq!(status, 201);
    let (status, again) = api.post("/jobs", &body(r#","unique_key":"order-7""#));
    assert_eq!(
        (status, &again["id"], &again["created"]),
        (200, &keyed["id"], &Value::from(false)),
        "the unique key holds: the first job's id, nothing new"
    );
    assert_eq!(
        world.job(keyed["id"].as_str().unwrap())["job"]["max_attempts"],
        2
    );

    let (_, pending) = api.get("/jobs?status=pending&queue=mail");
    assert_eq!(ids(&pending).len(), 2);
    assert_eq!(ids(&api.get("/jobs?type=send_email&limit=1").1).len(), 1);
    let (_, queues) = api.get("/queues");
    let mail = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "mail")
        .unwrap()
        .clone();
    assert_eq!(
        (&mail["pending"], &mail["paused"]),
        (&Value::from(2), &Value::from(true))
    );

    let (status, cancelled) = api.post(&format!("/jobs/{first}/cancel"), "");
    assert_eq!(
        (status, &cancelled["outcome"]),
        (200, &Value::from("cancelled"))
    );
    assert_eq!(world.job(&first)["job"]["status"], "cancelled");
    api.refused(
        "POST",
        &format!("/jobs/{first}/cancel"),
        "",
        409,
        "already cancelled",
    );
    api.refused(
        "POST",
        "/jobs/nope/cancel",
        "",
        404,
        "no job has the id nope",
    );
    api.refused("GET", "/jobs/nope", "", 404, "no job with id nope");

    let (status, _) = api.post("/queues/mail/resume", "");
    assert_eq!(status, 200);
    let keyed = keyed["id"].as_str().unwrap().to_string();
    wait_until("the keyed job completed", MINUTE, || {
        world.job(&keyed)["job"]["status"] == "completed"
    });
    let (status, shown) = api.get(&format!("/jobs/{keyed}"));
    assert_eq!(
        (status, shown["attempts"].as_array().map(Vec::len)),
        (200, Some(1))
    );

    let (status, later) = api.post("/jobs", r#"{"type":"echo","delay":"1h"}"#);
    assert_eq!(status, 201);
    let later = &world.job(later["id"].as_str().unwrap())["job"];
    assert!(
        later["run_at"].as_i64().unwrap() > later["created_at"].as_i64().unwrap() + 3_500_000_000
    );
    assert_eq!(count(&world.stats(), "scheduled"), 1);
}

#[test]
fn bad_input_is_a_4xx_naming_the_problem_and_writes_nothing() {
    let world = World::new();
    world.install_plugin("send_email");
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0", "--http-max-body", "1KiB"]);
    let api = Api::of(&daemon);
    let big = format!(
        r#"{{"type":"send_email","payload":{{"to":"a@example.com","subject":"{}"}}}}"#,
        "x".repeat(4096)
    );
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        (
            "POST",
            "/jobs",
            r#"{"type": "send_email","#,
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","payload":{]}"#,
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"no_such_type"}"#,
            400,
            "no plugin declares job type \"no_such_type\"",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","max_attempts":"three"}"#,
            400,
            "invalid type: string \"three\"",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":7}"#,
            400,
            "invalid type: integer `7`",
        ),
        (
            "POST",
            "/jobs",
            r#"{"payload":{}}"#,
            400,
            "missing field `type`",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","colour":"red"}"#,
            400,
            "unknown field `colour`",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","payload":{"to":"not-an-address","subject":"hi"}}"#,
            400,
            "does not match the schema",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","priority":"urgent"}"#,
            400,
            "priority \"urgent\"",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","delay":"soon"}"#,
            400,
            "delay",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","at":"tomorrow"}"#,
            400,
            "RFC 3339",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send_email","unique_key":""}"#,
            400,
            "1 to 512 bytes",
        ),
        (
            "POST",
            "/jobs",
            &format!(r#"{{"type":"send_email","payload":{EMAIL},"max_attempts":0}}"#),
            400,
            "at least 1",
        ),
        (
            "POST",
            "/jobs",
            r#"{"type":"send email"}"#,
            400,
            "not a valid name",
        ),
        ("POST", "/jobs", &big, 413, "limit of 1024 bytes"),
        ("GET", "/jobs?limit=lots", "", 400, "limit"),
        ("GET", "/jobs?status=dead", "", 400, "not a job state"),
        ("GET", "/jobs?colour=red", "", 400, "unknown field `colour`"),
        ("GET", "/dlq?reason=bored", "", 400, "not a reason; one of"),
        ("GET", "/dlq?reviewed=maybe", "", 400, "reviewed"),
        (
            "GET",
            "/dlq/export?format=xml",
            "",
            400,
            "unknown variant `xml`",
        ),
        ("POST", "/dlq/replay", "{}", 400, "ask for all of them"),
        (
            "POST",
            "/dlq/replay",
            r#"{"all":"yes"}"#,
            400,
            "invalid type",
        ),
        ("POST", "/dlq/cleanup", "{}", 400, "missing field `days`"),
        ("POST", "/dlq/cleanup", r#"{"days":0}"#, 400, "at least 1"),
        (
            "POST",
            "/dlq/cleanup",
            r#"{"days":-1}"#,
            400,
            "invalid value",
        ),
        (
            "POST",
            "/dlq/nope/replay",
            "",
            404,
            "no dead-lettered job with id nope",
        ),
        (
            "POST",
            "/dlq/nope/review",
            r#"{"note":5}"#,
            400,
            "invalid type",
        ),
        (
            "GET",
            "/health?pending_degraded=10&pending_unhealthy=5",
            "",
            400,
            "must be the lower one",
        ),
        (
            "GET",
            "/health?failure_rate_degraded=2",
            "",
            400,
            "between 0 and 1",
        ),
        (
            "GET",
            "/health?oldest_degraded=ages",
            "",
            400,
            "is not an age",
        ),
        ("GET", "/nowhere", "", 404, "no route GET /nowhere"),
        ("DELETE", "/jobs", "", 405, "does not take DELETE"),
    ];
    for (method, path, body, status, needle) in cases {
        api.refused(method, path, body, *status, needle);
    }
    // Nothing of it was written.
    assert!(ids(&api.get("/jobs").1).is_empty());
    let stats = world.stats();
    assert_eq!(
        (count(&stats, "pending"), count(&stats, "scheduled")),
        (0, 0)
    );
    // And a good request still goes through, just under the limit.
    let (status, _) = api.post(
        "/jobs",
        &format!(r#"{{"type":"send_email","payload":{EMAIL}}}"#),
    );
    assert_eq!(status, 201);
}

#[test]
fn off_loopback_every_operation_but_the_page_needs_the_token() {
    let world = World::new();
    world.install_plugin("send_email");
    let token = "s3cret-for-the-api";
    let daemon = world.start_daemon(&["--http", "0.0.0.0:0", "--http-token", token]);
    let port = api_addr(&daemon).rsplit(':').next().unwrap().to_string();
    let open = Api::at(&format!("127.0.0.1:{port}"));
    let email = format!(r#"{{"type":"send_email","payload":{EMAIL}}}"#);
    for (method, path) in [
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/metrics"),
        ("POST", "/dlq/replay"),
        ("GET", "/dlq/export"),
        ("POST", "/queues/default/pause"),
    ] {
        open.refused(method, path, &email, 401, "Authorization: Bearer");
    }
    assert_eq!(count(&world.stats(), "pending"), 0, "nothing got through");
    assert!(
        world
            .cli_json(&["queues", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, kind, page) = open.raw("GET", "/", None);
    assert_eq!(status, 200);
    assert!(
        kind.starts_with("text/html") && page.contains("jobhost"),
        "{kind}"
    );

    let api = Api::at(&format!("127.0.0.1:{port}")).with_token(token);
    assert_eq!(api.post("/jobs", &email).0, 201);
    assert_eq!(api.raw("GET", "/metrics", None).0, 200);
}

/// Dead letters in bulk over HTTP: dry run, the yes above 100 rows, replay, streamed
/// export in both formats, cleanup.
fn dead_letters_in_bulk(world: &World) {
    dead_letters_through_the_store(world, 2_500);
    // Paused, so replayed jobs wait (no plugin would run them) where they can be counted.
    world.cli_ok(&["queues", "pause", "default"]);
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);

    let (status, dry) = api.post("/dlq/replay", r#"{"type":"mail","dry_run":true}"#);
    assert_eq!(
        (status, &dry["would_replay"]),
        (200, &Value::from(1_250)),
        "{dry}"
    );
    assert_eq!(dry["first"].as_array().unwrap().len(), 20);
    api.refused(
        "POST",
        "/dlq/replay",
        r#"{"type":"mail"}"#,
        409,
        "\"yes\": true",
    );
    assert_eq!(
        count(&world.stats(), "pending"),
        0,
        "neither replayed anything"
    );

    let (status, done) = api.post("/dlq/replay", r#"{"type":"mail","yes":true,"priority":5}"#);
    assert_eq!(status, 200);
    let replayed = done["replayed"].as_array().unwrap();
    assert_eq!(replayed.len(), 1_250);
    assert_eq!(count(&world.stats(), "pending"), 1_250);
    let new_job = replayed[0]["new_job_id"].as_str().unwrap();
    assert_eq!(world.job(new_job)["job"]["priority"], 5);
    let (_, again) = api.post("/dlq/replay", r#"{"type":"mail","yes":true}"#);
    assert_eq!(again["replayed"], json!([]), "replayed rows are left out");

    let (status, kind, csv_text) = api.raw("GET", "/dlq/export?format=csv&type=report", None);
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "id");
    let rows: Vec<_> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1_250);
    assert!(rows.iter().all(|r| &r[1] == "report"));
    let (_, _, lines) = api.raw("GET", "/dlq/export", None);
    let mut seen = std::collections::HashSet::new();
    for line in lines.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        assert!(seen.insert(row["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen.len(), 2_500, "every row once, across pages");
    assert_eq!(
        api.raw("GET", "/dlq/export?limit=3", None)
            .2
            .lines()
            .count(),
        3
    );

    let (status, dry) = api.post("/dlq/job-000001/replay", r#"{"dry_run":true,"queue":"q"}"#);
    assert_eq!(
        (status, &dry["would_replay"][0]),
        (200, &Value::from("job-000001"))
    );
    assert_eq!(
        world.dead("job-000001")["dead_letter"]["resurrection_count"],
        0
    );
    api.refused(
        "POST",
        "/dlq/job-000001/replay",
        r#"{"keep_attempts":true}"#,
        400,
        "--max-attempts above 1",
    );
    assert_eq!(api.delete("/dlq/job-000001").0, 200);
    assert_eq!(api.delete("/dlq/job-000001").0, 404);
    // The rows failed in 2023: all are more than a day old.
    let (_, dry) = api.post("/dlq/cleanup", r#"{"days":1,"dry_run":true}"#);
    assert_eq!(
        (&dry["deleted"], &dry["dry_run"]),
        (&Value::from(2_499), &Value::from(true))
    );
    assert_eq!(count(&world.stats(), "dead"), 2_499);
    let (_, done) = api.post("/dlq/cleanup", r#"{"days":1}"#);
    assert_eq!(done["deleted"], 2_499);
    assert_eq!(count(&world.stats(), "dead"), 0);
}

#[test]
fn dead_letters_are_replayed_in_bulk_exported_and_cleaned_up_over_http() {
    dead_letters_in_bulk(&World::new());
}

#[test]
fn dead_letters_over_http_work_the_same_on_postgres() {
    dead_letters_in_bulk(&World::on_postgres());
}

/// The value of one sample line of a scrape, e.g. `jobhost_dead_letters`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in the scrape:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_count_the_attempts_that_ran_and_read_the_queue_when_scraped() {
    let world = World::new();
    world.install_plugin("echo");
    world.install_plugin("reject");
    world.cli_ok(&["queues", "pause", "later"]);
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);
    for n in 0..5 {
        world.enqueue("echo", &format!(r#"{{"n":{n}}}"#), &[]);
    }
    for _ in 0..2 {
        world.enqueue("reject", "{}", &[]);
    }
    for _ in 0..3 {
        world.enqueue("echo", "{}", &["--queue", "later"]);
    }
    wait_dead_count(&world, 2);
    wait_until("5 completed", MINUTE, || {
        count(&world.stats(), "completed") == 5
    });

    let (status, kind, text) = api.raw("GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let echo = r#"{job_type="echo",outcome="completed"}"#;
    let reject = r#"{job_type="reject",outcome="permanent_failure"}"#;
    assert_eq!(sample(&text, &format!("jobhost_attempts_total{echo}")), 5.0);
    assert_eq!(
        sample(&text, &format!("jobhost_attempts_total{reject}")),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("jobhost_attempt_duration_seconds_count{echo}")
        ),
        5.0
    );
    assert!(
        sample(
            &text,
            &format!("jobhost_attempt_duration_seconds_sum{echo}")
        ) > 0.0
    );
    let fuel = sample(&text, &format!("jobhost_fuel_consumed_total{echo}"));
    assert!(fuel > 0.0);
    assert_eq!(
        sample(&text, r#"jobhost_attempt_fuel_sum{job_type="echo"}"#),
        fuel,
        "the histogram and the counter saw the same fuel"
    );
    assert_eq!(sample(&text, r#"jobhost_jobs{state="completed"}"#), 5.0);
    assert_eq!(sample(&text, r#"jobhost_jobs{state="pending"}"#), 3.0);
    assert_eq!(
        sample(
            &text,
            r#"jobhost_queue_depth{queue="later",state="pending"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            r#"jobhost_queue_depth{queue="later",state="running"}"#
        ),
        0.0
    );
    assert_eq!(sample(&text, "jobhost_dead_letters"), 2.0);
    assert_eq!(sample(&text, "jobhost_dead_letters_unreviewed"), 2.0);
    assert!(text.ends_with("# EOF\n"));
    // The dashboard's samples: the first is taken as the daemon starts.
    let (status, history) = api.get("/stats/history");
    assert_eq!(
        (status, &history["interval_ms"]),
        (200, &Value::from(10_000))
    );
    let first = &history["samples"][0];
    assert!(
        first["at"].as_i64().unwrap() > 0 && first["pending"].is_u64(),
        "{history}"
    );
    assert!(first["attempts"].as_u64().unwrap() <= 7);
    let (status, health) = api.get("/health?dlq_degraded=1&dlq_unhealthy=2");
    assert_eq!(
        (status, &health["status"]),
        (503, &Value::from("unhealthy"))
    );
    assert!(
        health["reasons"][0]
            .as_str()
            .unwrap()
            .contains("2 dead letters are unreviewed")
    );

    // The gauges follow the store: a resumed queue drains, a reviewed row leaves the
    // unreviewed count.
    world.cli_ok(&["queues", "resume", "later"]);
    wait_until("8 completed", MINUTE, || {
        count(&world.stats(), "completed") == 8
    });
    let dead = world.cli_json(&["dlq", "list"]);
    world.cli_ok(&["dlq", "review", dead[0]["id"].as_str().unwrap()]);
    let (_, _, text) = api.raw("GET", "/metrics", None);
    assert_eq!(sample(&text, &format!("jobhost_attempts_total{echo}")), 8.0);
    assert_eq!(sample(&text, "jobhost_dead_letters_unreviewed"), 1.0);
    assert!(
        !text.contains(r#"queue="later""#),
        "an emptied queue is no longer reported"
    );
}

#[test]
fn bulk_enqueue_purge_and_cron_changes_over_http_as_from_the_cli() {
    let world = World::new();
    world.install_plugin("send_email");
    world.install_plugin("echo");
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);
    api.post("/queues/mail/pause", "");

    // One bad payload of 1,500: refused by index, nothing enqueued.
    let payloads: Vec<String> = (0..1_500)
        .map(|n| {
            let to = if n == 1_234 {
                "nobody".to_string()
            } else {
                format!("u{n}@example.com")
            };
            format!(r#"{{"to":"{to}","subject":"hi"}}"#)
        })
        .collect();
    let batch = |payloads: &[String]| {
        format!(
            r#"{{"type":"send_email","queue":"mail","payloads":[{}]}}"#,
            payloads.join(",")
        )
    };
    api.refused(
        "POST",
        "/jobs/batch",
        &batch(&payloads),
        400,
        "payload 1234",
    );
    assert_eq!(count(&world.stats(), "pending"), 0);
    let mut good = payloads.clone();
    good[1_234] = EMAIL.to_string();
    let (status, done) = api.post("/jobs/batch", &batch(&good));
    assert_eq!((status, &done["enqueued"]), (201, &Value::from(1_500)));
    assert_eq!(count(&world.stats(), "pending"), 1_500);

    world.enqueue("echo", "{}", &[]);
    wait_until("the echo job completed", MINUTE, || {
        count(&world.stats(), "completed") == 1
    });
    let (_, dry) = api.post("/jobs/purge", r#"{"older_than":"1ms","dry_run":true}"#);
    assert_eq!(
        (&dry["deleted"], &dry["dry_run"]),
        (&Value::from(1), &Value::from(true))
    );
    assert_eq!(count(&world.stats(), "completed"), 1);
    assert_eq!(
        api.post("/jobs/purge", r#"{"older_than":"1ms"}"#).1["deleted"],
        1
    );
    assert_eq!(count(&world.stats(), "completed"), 0);
    api.refused(
        "POST",
        "/jobs/purge",
        r#"{"older_than":"forever"}"#,
        400,
        "is not an age",
    );

    let add = r#"{"name":"yearly","expr":"0 3 1 1 *","type":"echo","payload":{"n":2}}"#;
    let (status, added) = api.post("/cron", add);
    assert_eq!(
        (status, &added["name"]),
        (201, &Value::from("yearly")),
        "{added}"
    );
    assert_eq!(
        world.cli_json(&["cron", "list"])[0]["payload"],
        r#"{"n":2}"#
    );
    api.refused("POST", "/cron", add, 409, "exists already");
    api.refused(
        "POST",
        "/cron",
        r#"{"name":"x","expr":"every day","type":"echo"}"#,
        400,
        "cron",
    );
    api.refused(
        "POST",
        "/cron",
        r#"{"name":"x","expr":"0 3 * * *","type":"send_email"}"#,
        400,
        "schema",
    );
    assert_eq!(api.post("/cron/yearly/pause", "").0, 200);
    assert_eq!(world.cli_json(&["cron", "list"])[0]["paused"], true);
    let (status, resumed) = api.post("/cron/yearly/resume", "");
    assert_eq!(status, 200);
    assert!(resumed["next_run_at"].as_i64().unwrap() > 0);
    assert_eq!(world.cli_json(&["cron", "list"])[0]["paused"], false);
    assert_eq!(api.delete("/cron/yearly").0, 200);
    assert!(
        world
            .cli_json(&["cron", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    api.refused("DELETE", "/cron/yearly", "", 404, "no schedule is named");
    api.refused("POST", "/cron/nope/resume", "", 404, "no schedule is named");
}

#[test]
fn limits_and_workers_over_http_as_from_the_cli() {
    let world = World::new();
    world.install_plugin("echo");
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);

    let (status, set) = api.post(
        "/limits",
        r#"{"scope":"type","name":"echo","rate":"2/s","concurrency":3}"#,
    );
    assert_eq!(status, 201, "{set}");
    assert_eq!(set["rate_per_minute"], 120);
    // The CLI sees what the API set, and the other way round.
    let listed = world.cli_json(&["limits", "list"]);
    let echo = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "echo")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(echo["concurrency"], 3);
    assert_eq!(echo["source"], "operator");
    world.cli_ok(&["limits", "set", "--queue", "bulk", "--concurrency", "1"]);
    let (status, limits) = api.get("/limits");
    assert_eq!(status, 200);
    assert_eq!(limits.as_array().unwrap().len(), 2, "{limits}");

    for (body, needle) in [
        (r#"{"scope":"type","name":"echo"}"#, "give a rate"),
        (
            r#"{"scope":"type","name":"echo","concurrency":0}"#,
            "never start",
        ),
        (r#"{"scope":"host","name":"echo","concurrency":1}"#, "scope"),
        (
            r#"{"scope":"type","name":"echo","rate":"fast"}"#,
            "not a rate",
        ),
    ] {
        let (status, answer) = api.post("/limits", body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{answer}"
        );
    }
    let (_, after) = api.get("/limits");
    assert_eq!(after, limits, "a refused limit changed nothing");

    assert_eq!(api.delete("/limits/queue/bulk").0, 200);
    assert_eq!(api.delete("/limits/queue/bulk").0, 404);
    assert_eq!(api.get("/limits").1.as_array().unwrap().len(), 1);

    let (status, workers) = api.get("/workers");
    assert_eq!(status, 200);
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0]["pid"], daemon.child.id());
    assert_eq!(workers[0]["running"], 0);
}
