//! The reference order pipeline, one plugin with a job type per step:
//!
//! - `place_order` takes an order and enqueues its `send_order_confirmation`, at high
//!   priority (a customer is waiting for it);
//! - `send_order_confirmation` "mails" the customer and fans out: `generate_invoice` and
//!   `sync_inventory` as follow-ups, and `send_followup_email`, which waits on both
//!   (`after`) and is delayed by the order's `followup_delay_ms` (24 hours when left out);
//! - `generate_invoice` totals the order; `sync_inventory` takes the items off the stock
//!   kept in the plugin's key-value store;
//! - `send_followup_email` asks the customer how it went;
//! - `daily_sales_report` (cron, at midnight) reports the orders and revenue counted since
//!   the last report, and `cleanup_completed_jobs` (cron, at 03:00) forgets the per-order
//!   keys of orders whose follow-up went out (the host's own retention,
//!   `serve --retain-completed`, deletes the completed jobs themselves).
//!
//! Every side effect is recorded in the key-value store, committed with the completion of
//! the job that made it, so a retried job never counts an order twice. No network is
//! granted: "sending" an email is a log line.

use jobhost_plugin_sdk::{
    EnqueueOptions, Job, JobError, JobSpec, enqueue, info, kv_delete, kv_get, kv_set, retry,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The follow-up email goes out a day after the order.
const FOLLOWUP_DELAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Priority of the confirmation: `high`.
const HIGH: i32 = 10;
/// Stock of an item the store has not seen yet.
const INITIAL_STOCK: i64 = 100;

#[derive(Clone, Serialize, Deserialize)]
struct Item {
    sku: String,
    qty: u32,
    /// In cents.
    price: u64,
}

#[derive(Clone, Serialize, Deserialize)]
struct Order {
    order_id: String,
    email: String,
    items: Vec<Item>,
    /// How long after the confirmation the follow-up email waits; 24 hours by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    followup_delay_ms: Option<u64>,
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["order_id", "email", "items"],
        "properties": {
            "order_id": { "type": "string", "minLength": 1 },
            "email": { "type": "string", "pattern": r"^[^@ ]+@[^@ ]+\.[^@ ]+$" },
            "items": {
                "type": "array", "minItems": 1,
                "items": {
                    "type": "object", "required": ["sku", "qty", "price"],
                    "properties": {
                        "sku": { "type": "string", "minLength": 1 },
                        "qty": { "type": "integer", "minimum": 1 },
                        "price": { "type": "integer", "minimum": 0 }
                    }
                }
            },
            "followup_delay_ms": { "type": "integer", "minimum": 0 }
        }
    })
}

fn kv_number(key: &str) -> Result<i64, JobError> {
    Ok(kv_get(key)
        .map_err(retry)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn set_number(key: &str, value: i64) -> Result<(), JobError> {
    kv_set(key, &value.to_string()).map_err(retry)
}

fn follow_up(
    job_type: &str,
    payload: &impl Serialize,
    options: EnqueueOptions,
) -> Result<String, JobError> {
    enqueue(job_type, payload, options)
        .map_err(|e| retry(format!("could not enqueue {job_type}: {e}")))
}

fn place_order(order: Order, _job: &Job) -> Result<Value, JobError> {
    let id = follow_up(
        "send_order_confirmation",
        &order,
        EnqueueOptions::host_defaults().priority(HIGH),
    )?;
    Ok(json!({ "order_id": order.order_id, "confirmation": id }))
}

fn send_order_confirmation(order: Order, _job: &Job) -> Result<Value, JobError> {
    info(&format!(
        "sending the confirmation of order {} to {}",
        order.order_id, order.email
    ));
    let invoice = follow_up("generate_invoice", &order, EnqueueOptions::host_defaults())?;
    let inventory = follow_up("sync_inventory", &order, EnqueueOptions::host_defaults())?;
    let delay = order.followup_delay_ms.unwrap_or(FOLLOWUP_DELAY_MS);
    let followup = follow_up(
        "send_followup_email",
        &order,
        EnqueueOptions::host_defaults()
            .delay_ms(delay)
            .after([invoice.clone(), inventory.clone()]),
    )?;
    Ok(json!({
        "order_id": order.order_id,
        "invoice": invoice,
        "inventory": inventory,
        "followup": followup,
        "followup_delay_ms": delay,
    }))
}

fn generate_invoice(order: Order, _job: &Job) -> Result<Value, JobError> {
    let total: u64 = order.items.iter().map(|i| i.price * u64::from(i.qty)).sum();
    // Counted once per order, whatever the retries: the key commits with the completion.
    let key = format!("invoiced:{}", order.order_id);
    if kv_get(&key).map_err(retry)?.is_none() {
        kv_set(&key, &total.to_string()).map_err(retry)?;
        set_number("sales:orders", kv_number("sales:orders")? + 1)?;
        set_number("sales:revenue", kv_number("sales:revenue")? + total as i64)?;
    }
    Ok(json!({ "order_id": order.order_id, "total_cents": total }))
}

fn sync_inventory(order: Order, _job: &Job) -> Result<Value, JobError> {
    let key = format!("reserved:{}", order.order_id);
    let mut stock = serde_json::Map::new();
    let already = kv_get(&key).map_err(retry)?.is_some();
    for item in &order.items {
        let sku_key = format!("stock:{}", item.sku);
        let current = match kv_get(&sku_key).map_err(retry)? {
            Some(v) => v.parse().unwrap_or(INITIAL_STOCK),
            None => INITIAL_STOCK,
        };
        let left = if already {
            current
        } else {
            current - i64::from(item.qty)
        };
        set_number(&sku_key, left)?;
        stock.insert(item.sku.clone(), json!(left));
    }
    kv_set(&key, "1").map_err(retry)?;
    Ok(json!({ "order_id": order.order_id, "stock": stock }))
}

fn send_followup_email(order: Order, _job: &Job) -> Result<Value, JobError> {
    info(&format!(
        "asking {} how order {} went",
        order.email, order.order_id
    ));
    kv_set(&format!("followed_up:{}", order.order_id), "1").map_err(retry)?;
    Ok(json!({ "order_id": order.order_id, "sent_to": order.email }))
}

#[derive(Deserialize)]
struct Nothing {}

fn daily_sales_report(_: Nothing, _job: &Job) -> Result<Value, JobError> {
    let orders = kv_number("sales:orders")?;
    let revenue = kv_number("sales:revenue")?;
    info(&format!(
        "sales since the last report: {orders} orders, {revenue} cents"
    ));
    set_number("sales:orders", 0)?;
    set_number("sales:revenue", 0)?;
    Ok(json!({ "orders": orders, "revenue_cents": revenue }))
}

#[derive(Deserialize)]
struct Cleanup {
    /// Orders to forget, when given; the cron job runs with `{}` and forgets none.
    #[serde(default)]
    order_ids: Vec<String>,
}

fn cleanup_completed_jobs(cleanup: Cleanup, _job: &Job) -> Result<Value, JobError> {
    let mut forgotten = Vec::new();
    for id in &cleanup.order_ids {
        if kv_get(&format!("followed_up:{id}"))
            .map_err(retry)?
            .is_some()
        {
            for prefix in ["invoiced", "reserved", "followed_up"] {
                kv_delete(&format!("{prefix}:{id}")).map_err(retry)?;
            }
            forgotten.push(id.clone());
        }
    }
    Ok(json!({ "forgotten": forgotten }))
}

jobhost_plugin_sdk::plugin!(
    "orders",
    "1.0.0",
    [
        JobSpec::new("place_order", place_order).schema(order_schema()),
        JobSpec::new("send_order_confirmation", send_order_confirmation).schema(order_schema()),
        JobSpec::new("generate_invoice", generate_invoice).schema(order_schema()),
        JobSpec::new("sync_inventory", sync_inventory).schema(order_schema()),
        JobSpec::new("send_followup_email", send_followup_email).schema(order_schema()),
        JobSpec::new("daily_sales_report", daily_sales_report),
        JobSpec::new("cleanup_completed_jobs", cleanup_completed_jobs),
    ]
);
