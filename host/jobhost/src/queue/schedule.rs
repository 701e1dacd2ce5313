//! Cron expressions: five fields (minute, hour, day of month, month, day of week), or
//! six with seconds first, read in UTC by `croner`. A schedule fires at each time its
//! expression names; after downtime it fires once for everything it missed, then goes
//! on from the present.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jobhost_store::Micros;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Schedule(Cron);

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map(Schedule)
            .map_err(|e| {
                format!(
                    "{expr:?} is not a cron expression ({e}): give 5 fields, minute hour \
                     day-of-month month day-of-week (e.g. \"0 3 * * *\" for 03:00 UTC daily), \
                     or 6 with seconds first"
                )
            })
    }

    /// The first firing strictly after `after`; `None` when there is none (an
    /// expression such as 30 February never matches).
    pub fn next_after(&self, after: Micros) -> Option<Micros> {
        let after = chrono::DateTime::from_timestamp_micros(after)?;
        self.0
            .find_next_occurrence(&after, false)
            .ok()
            .map(|t| t.timestamp_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Micros {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn five_fields_fire_on_the_minute_in_utc() {
        let daily = Schedule::parse("0 3 * * *").unwrap();
        assert_eq!(
            daily.next_after(at("2026-11-24T18:00:00Z")),
            Some(at("2026-11-25T03:00:00Z"))
        );
        // Strictly after: a firing time itself moves on to the next one.
        assert_eq!(
            daily.next_after(at("2026-11-25T03:00:00Z")),
            Some(at("2026-11-26T03:00:00Z"))
        );
    }

    #[test]
    fn six_fields_start_with_seconds() {
        let every_ten = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(
            every_ten.next_after(at("2026-11-24T18:00:03.5Z")),
            Some(at("2026-11-24T18:00:10Z"))
        );
    }

    #[test]
    fn a_bad_expression_says_what_a_good_one_looks_like() {
        for bad in ["", "every day", "61 * * * *", "* * * * * * 2026"] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains("5 fields"), "{bad}: {err}");
        }
    }
}
