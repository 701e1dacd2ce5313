//! The OpenAPI 3.1 description of the API, served at `/openapi.json`. Written by hand
//! beside the routes it describes; a test checks every route is in it.

use serde_json::{Value, json};

fn dead_id() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

fn query(name: &str, description: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": kind } })
}

fn answer(description: &str) -> Value {
    json!({
        "200": { "description": description, "content": { "application/json": {} } },
        "400": { "$ref": "#/components/responses/Error" },
        "401": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" }
    })
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "jobhost admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operations of the jobhost CLI, as JSON. Times are microseconds \
                            since the Unix epoch. Off loopback every request needs \
                            `Authorization: Bearer TOKEN`."
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
            "/openapi.json": { "get": { "summary": "This document", "responses": answer("OpenAPI") } },
            "/stats": { "get": {
                "summary": "Counts, rates over the last hour, p50/p99 duration and fuel by type",
                "responses": answer("The report, as `jobhost --json stats` prints it")
            } },
            "/health": { "get": {
                "summary": "healthy, degraded or unhealthy with the reasons (default thresholds); \
                            503 when unhealthy",
                "responses": answer("The verdict, as `jobhost --json health` prints it")
            } },
            "/jobs/{id}": { "get": {
                "summary": "A job and its attempts", "parameters": [dead_id()],
                "responses": answer("`{job, attempts}`")
            } },
            "/dlq": { "get": {
                "summary": "Dead letters, newest first",
                "parameters": [
                    query("type", "only this job type", "string"),
                    query("reason", "only this reason (timeout, crashed, ...)", "string"),
                    query("since", "failed at or after: an age (2h) or an RFC 3339 time", "string"),
                    query("until", "failed before: an age or an RFC 3339 time", "string"),
                    query("reviewed", "true or false", "boolean"),
                    query("limit", "at most this many (default 50)", "integer"),
                    query("after_failed_at", "next page: the last row's failed_at", "integer"),
                    query("after_id", "next page: the last row's id", "string")
                ],
                "responses": answer("A list of dead-letter rows")
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
                        "keep_attempts": { "type": "boolean" }
                    }
                } } } },
                "responses": answer("`{id, replayed}`: the new job's id")
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
    #[test]
    fn every_route_is_described() {
        let doc = super::document();
        let source = include_str!("routes.rs");
        for line in source
            .lines()
            .filter(|l| l.trim_start().starts_with(".route(\""))
        {
            let path = line.split('"').nth(1).unwrap();
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} is not in openapi.json"
            );
        }
    }
}
