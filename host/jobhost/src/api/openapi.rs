//! The OpenAPI 3.1 description of the API, served at `/openapi.json`. Written by hand
//! beside the routes it describes; a test checks every route is in it.

use serde_json::{Value, json};

fn dead_id() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

fn query(name: &str, description: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": kind } })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

fn answer(description: &str) -> Value {
    json!({
        "200": { "description": description, "content": { "application/json": {} } },
        "400": { "$ref": "#/components/responses/Error" },
        "401": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" },
        "413": { "$ref": "#/components/responses/Error" }
    })
}

/// An answer that is not JSON.
fn answer_as(description: &str, media: &str) -> Value {
    json!({
        "200": { "description": description, "content": { media: {} } },
        "401": { "$ref": "#/components/responses/Error" }
    })
}

/// A JSON request body with these properties.
fn body(required: bool, properties: Value, needed: &[&str]) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": {
        "type": "object", "properties": properties, "required": needed,
        "additionalProperties": false
    } } } })
}

fn dead_filters() -> Vec<Value> {
    vec![
        query("type", "only this job type", "string"),
        query(
            "reason",
            "only this reason (timeout, crashed, ...)",
            "string",
        ),
        query(
            "since",
            "failed at or after: an age (2h) or an RFC 3339 time",
            "string",
        ),
        query(
            "until",
            "failed before: an age or an RFC 3339 time",
            "string",
        ),
        query("reviewed", "true or false", "boolean"),
    ]
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "jobhost admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operations of the jobhost CLI, as JSON. Times are microseconds \
                            since the Unix epoch. Off loopback every request but the dashboard \
                            page needs `Authorization: Bearer TOKEN`. Errors are \
                            `{\"error\": \"...\"}`: 400 bad input, 401 no token, 404 unknown \
                            id or route, 409 refused by the state of things, 413 a body over \
                            `serve --http-max-body` (default 1 MiB)."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "What was wrong: `{\"error\": \"...\"}`",
                    "content": { "application/json": {} }
                }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/": { "get": {
                "summary": "The live dashboard (HTML); needs no token, asks for it",
                "security": [],
                "responses": answer_as("The page", "text/html")
            } },
            "/dashboard": { "get": {
                "summary": "The live dashboard, as at /",
                "security": [],
                "responses": answer_as("The page", "text/html")
            } },
            "/openapi.json": { "get": { "summary": "This document", "responses": answer("OpenAPI") } },
            "/metrics": { "get": {
                "summary": "Prometheus metrics: attempts, durations and fuel by type and outcome \
                            (this daemon's), jobs by state, queue depth, dead letters (the store's)",
                "responses": answer_as("OpenMetrics text", "application/openmetrics-text")
            } },
            "/stats": { "get": {
                "summary": "Counts, rates over the last hour, p50/p99 duration and fuel by type",
                "responses": answer("The report, as `jobhost --json stats` prints it")
            } },
            "/stats/history": { "get": {
                "summary": "The last hour sampled every 10 s by this daemon: pending, scheduled, \
                            running, dead, attempts finished so far",
                "responses": answer("`{interval_ms, samples: [{at, pending, scheduled, running, dead, attempts}]}`")
            } },
            "/health": { "get": {
                "summary": "healthy, degraded or unhealthy with the reasons; 503 when unhealthy. \
                            Thresholds as `jobhost health` takes them, same defaults",
                "parameters": [
                    query("pending_degraded", "due jobs waiting", "integer"),
                    query("pending_unhealthy", "due jobs waiting", "integer"),
                    query("oldest_degraded", "the oldest due job's wait (5m)", "string"),
                    query("oldest_unhealthy", "the oldest due job's wait (30m)", "string"),
                    query("dlq_degraded", "unreviewed dead letters", "integer"),
                    query("dlq_unhealthy", "unreviewed dead letters", "integer"),
                    query("failure_rate_degraded", "0 to 1", "number"),
                    query("failure_rate_unhealthy", "0 to 1", "number")
                ],
                "responses": answer("The verdict, as `jobhost --json health` prints it")
            } },
            "/jobs": {
                "get": {
                    "summary": "Jobs, newest first",
                    "parameters": [
                        query("status", "pending, running, completed or cancelled", "string"),
                        query("type", "only this job type", "string"),
                        query("queue", "only this queue", "string"),
                        query("limit", "at most this many (default 50)", "integer")
                    ],
                    "responses": answer("A list of jobs, as `jobhost --json jobs list` prints it")
                },
                "post": {
                    "summary": "Enqueue a job, checked against its type's payload schema. 201 \
                                `{id, created: true}`; with a unique_key that a pending or running \
                                job holds, 200 `{id, created: false}` and nothing new. An unknown \
                                type is refused unless allow_unknown_type",
                    "requestBody": body(true, json!({
                        "type": { "type": "string" },
                        "payload": { "description": "any JSON document; default {}" },
                        "priority": { "description": "a number, or high, normal, low" },
                        "delay": { "type": "string", "description": "30s, 24h" },
                        "at": { "type": "string", "description": "RFC 3339" },
                        "max_attempts": { "type": "integer" },
                        "queue": { "type": "string" },
                        "unique_key": { "type": "string" },
                        "unique_for": { "type": "string", "description": "e.g. 1h: keep the key reserved this long after completion" },
                        "after": { "type": "array", "items": { "type": "string" }, "description": "ids of jobs to wait for" },
                        "allow_unknown_type": { "type": "boolean" }
                    }), &["type"]),
                    "responses": answer("`{id, created}`")
                }
            },
            "/jobs/batch": { "post": {
                "summary": "Bulk enqueue: one job per payload, the other fields shared. Every \
                            payload is checked first; a bad one (named by index) leaves \
                            nothing enqueued. Written 1,000 to a transaction. 201 `{enqueued}`",
                "requestBody": body(true, json!({
                    "type": { "type": "string" }, "payloads": { "type": "array" },
                    "priority": {}, "delay": { "type": "string" }, "at": { "type": "string" },
                    "max_attempts": { "type": "integer" }, "queue": { "type": "string" },
                    "allow_unknown_type": { "type": "boolean" }
                }), &["type", "payloads"]),
                "responses": answer("`{enqueued}`")
            } },
            "/jobs/purge": { "post": {
                "summary": "Delete completed jobs that finished longer ago than older_than (7d, 12h)",
                "requestBody": body(true, json!({
                    "older_than": { "type": "string" }, "dry_run": { "type": "boolean" }
                }), &["older_than"]),
                "responses": answer("`{deleted, dry_run}`")
            } },
            "/jobs/{id}": { "get": {
                "summary": "A job and its attempts", "parameters": [dead_id()],
                "responses": answer("`{job, attempts}`")
            } },
            "/jobs/{id}/cancel": { "post": {
                "summary": "Cancel a pending job, or ask its daemon to interrupt a running one; \
                            409 if it has ended",
                "parameters": [dead_id()],
                "responses": answer("`{id, outcome}`: cancelled or requested")
            } },
            "/limits": {
                "get": {
                    "summary": "Every rate and concurrency limit, an operator's or a plugin's",
                    "responses": answer("`[{scope, name, rate_per_minute, concurrency, source, ...}]`")
                },
                "post": {
                    "summary": "Set an operator's limit on a job type or a queue (replaces it)",
                    "requestBody": body(true, json!({
                        "scope": { "type": "string", "enum": ["type", "queue"] },
                        "name": { "type": "string" },
                        "rate": { "type": "string", "description": "120/m, 2/s, 600/h" },
                        "concurrency": { "type": "integer", "minimum": 1 },
                    }), &["scope", "name"]),
                    "responses": answer("201 `{scope, name, rate_per_minute, concurrency}`")
                }
            },
            "/limits/{scope}/{name}": { "delete": {
                "summary": "Lift the limit on a job type or queue",
                "parameters": [path_param("scope"), path_param("name")],
                "responses": answer("`{removed, scope}`; 404 when there is none")
            } },
            "/workers": { "get": {
                "summary": "Every daemon on the database: host, pid, start, heartbeat, running jobs",
                "responses": answer("`[{id, host, pid, started_at, heartbeat_at, running}]`")
            } },
            "/queues": { "get": {
                "summary": "Queues with pending or running jobs, and paused ones",
                "responses": answer("`[{queue, pending, running, paused, paused_at}]`")
            } },
            "/queues/{queue}/pause": { "post": {
                "summary": "Stop every daemon starting jobs of this queue",
                "parameters": [path_param("queue")],
                "responses": answer("`{queue, changed}`")
            } },
            "/queues/{queue}/resume": { "post": {
                "summary": "Let daemons start jobs of this queue again",
                "parameters": [path_param("queue")],
                "responses": answer("`{queue, changed}`")
            } },
            "/cron": {
                "get": {
                    "summary": "Cron schedules with their next run",
                    "responses": answer("As `jobhost --json cron list` prints them")
                },
                "post": {
                    "summary": "Add a schedule (UTC; 5 fields, or 6 with seconds); its job is \
                                checked as an enqueue would be. 201 with the schedule, 409 if \
                                the name is taken",
                    "requestBody": body(true, json!({
                        "name": { "type": "string" }, "expr": { "type": "string" },
                        "timezone": { "type": "string", "description": "IANA name; UTC when absent" },
                        "type": { "type": "string" }, "payload": {},
                        "priority": { "type": "integer" }, "max_attempts": { "type": "integer" },
                        "queue": { "type": "string" },
                        "allow_unknown_type": { "type": "boolean" }
                    }), &["name", "expr", "type"]),
                    "responses": answer("The schedule")
                }
            },
            "/cron/{name}": { "delete": {
                "summary": "Remove a schedule (the jobs it enqueued stay)",
                "parameters": [path_param("name")],
                "responses": answer("`{removed}`")
            } },
            "/cron/{name}/pause": { "post": {
                "summary": "Stop a schedule firing until it is resumed",
                "parameters": [path_param("name")],
                "responses": answer("`{paused}`")
            } },
            "/cron/{name}/resume": { "post": {
                "summary": "Let a paused schedule fire again, from its next time after now",
                "parameters": [path_param("name")],
                "responses": answer("`{resumed, next_run_at}`")
            } },
            "/plugins": { "get": {
                "summary": "The plugins this daemon serves (name, version, digest, job types) \
                            and every version daemons loaded",
                "responses": answer("`{loaded, history}`")
            } },
            "/dlq": { "get": {
                "summary": "Dead letters, newest first",
                "parameters": ([dead_filters(), vec![
                    query("limit", "at most this many (default 50)", "integer"),
                    query("after_failed_at", "next page: the last row's failed_at", "integer"),
                    query("after_id", "next page: the last row's id", "string")
                ]].concat()),
                "responses": answer("A list of dead-letter rows")
            } },
            "/dlq/export": { "get": {
                "summary": "Every row the filters select, newest first, streamed page by page",
                "parameters": ([dead_filters(), vec![
                    query("format", "json (JSON lines, the default) or csv", "string"),
                    query("limit", "at most this many (default: all)", "integer")
                ]].concat()),
                "responses": answer_as("JSON lines or CSV with a header line", "application/x-ndjson")
            } },
            "/dlq/replay": { "post": {
                "summary": "Replay every row the filters select (or all: true); rows replayed \
                            before are left out unless include_replayed. dry_run: what would \
                            happen. More than 100 rows need yes: true (409 otherwise)",
                "requestBody": body(true, json!({
                    "type": { "type": "string" }, "reason": { "type": "string" },
                    "since": { "type": "string" }, "until": { "type": "string" },
                    "reviewed": { "type": "boolean" }, "all": { "type": "boolean" },
                    "include_replayed": { "type": "boolean" },
                    "max_attempts": { "type": "integer" }, "queue": { "type": "string" },
                    "priority": { "type": "integer" }, "keep_attempts": { "type": "boolean" },
                    "dry_run": { "type": "boolean" }, "yes": { "type": "boolean" }
                }), &[]),
                "responses": answer("`{replayed, skipped}`, or for a dry run \
                                     `{would_replay, first, skipped, options}`")
            } },
            "/dlq/cleanup": { "post": {
                "summary": "Delete the dead letters that failed more than `days` days ago",
                "requestBody": body(true, json!({
                    "days": { "type": "integer", "minimum": 1 },
                    "dry_run": { "type": "boolean" }
                }), &["days"]),
                "responses": answer("`{deleted, dry_run, days}`")
            } },
            "/dlq/stats": { "get": {
                "summary": "Total, unreviewed, by reason, by type, the oldest",
                "parameters": [query("hours", "only rows failed in the last N hours", "integer")],
                "responses": answer("The summary")
            } },
            "/dlq/{id}": {
                "get": {
                    "summary": "Everything kept about a dead letter, every attempt's error",
                    "parameters": [dead_id()],
                    "responses": answer("`{dead_letter, attempts}`")
                },
                "delete": {
                    "summary": "Delete a dead letter and its attempts",
                    "parameters": [dead_id()],
                    "responses": answer("`{deleted}`")
                }
            },
            "/dlq/{id}/replay": { "post": {
                "summary": "A new job from the row; the row counts the replay",
                "parameters": [dead_id()],
                "requestBody": { "required": false, "content": { "application/json": { "schema": {
                    "type": "object",
                    "properties": {
                        "max_attempts": { "type": "integer" },
                        "queue": { "type": "string" },
                        "priority": { "type": "integer" },
                        "keep_attempts": { "type": "boolean" },
                        "dry_run": { "type": "boolean" }
                    }
                } } } },
                "responses": answer("`{id, replayed}`: the new job's id; for a dry run \
                                     `{would_replay: [id], options}`")
            } },
            "/dlq/{id}/review": { "post": {
                "summary": "Mark reviewed, with a note",
                "parameters": [dead_id()],
                "requestBody": { "required": false, "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "note": { "type": "string" } }
                } } } },
                "responses": answer("`{reviewed}`")
            } }
        }
    })
}

#[cfg(test)]
mod tests {
    /// Every route in `routes.rs`, with each method it takes, is in the document, and
    /// the document has no path the router lacks.
    #[test]
    fn every_route_and_method_is_described_and_nothing_else() {
        let doc = super::document();
        let source = include_str!("routes.rs");
        let source = &source[..source.find(".fallback(").unwrap()];
        let mut described = 0;
        for chunk in source.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap();
            let entry = doc["paths"]
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
            for method in ["get", "post", "delete"] {
                let routed = chunk.contains(&format!(" {method}("))
                    || chunk.contains(&format!("({method}("))
                    || chunk.contains(&format!(".{method}("));
                assert_eq!(
                    routed,
                    entry.get(method).is_some(),
                    "{method} {path}: routed {routed}, but openapi.json says otherwise"
                );
            }
            described += 1;
        }
        assert_eq!(described, doc["paths"].as_object().unwrap().len());
    }
}
