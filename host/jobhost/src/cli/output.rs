//! How the CLI prints: a table for people, `--json` for scripts, times in RFC 3339.

use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use jobhost_store::Micros;
use serde::Serialize;

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    table
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn time(micros: Micros) -> String {
    let t = UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn time_opt(micros: Option<Micros>) -> String {
    micros.map_or_else(|| "-".to_string(), time)
}

/// A span of microseconds, rounded for people: `3m 12s`.
pub fn span(micros: Micros) -> String {
    let d = Duration::from_secs((micros.max(0) / 1_000_000) as u64);
    if d.is_zero() {
        return format!("{}ms", micros.max(0) / 1_000);
    }
    humantime::format_duration(d).to_string()
}

/// Cuts long text (payloads, errors) for a table cell.
pub fn short(text: &str, max: usize) -> String {
    let flat = text.replace('\n', " ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
