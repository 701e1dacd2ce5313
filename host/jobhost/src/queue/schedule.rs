//! Cron expressions: five fields (minute, hour, day of month, month, day of week), or
//! six with seconds first, read by `croner` in a schedule's IANA time zone (`chrono-tz`;
//! UTC by default). A schedule fires at each time its expression names on the wall
//! clock of its zone, across daylight-saving changes: `0 9 * * *` in `Europe/Paris` is
//! 08:00 UTC in winter and 07:00 UTC in summer. After downtime it fires once for
//! everything it missed, then goes on from the present.

use chrono::TimeZone;
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jobhost_store::Micros;

/// The zone a schedule is read in when none is named.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A parsed cron expression, in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

/// Reads an IANA time zone name, such as `Europe/Paris` or `UTC`.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "{name:?} is not a time zone: give an IANA name such as UTC, Europe/Paris or \
             America/New_York"
        )
    })
}

impl Schedule {
    /// An expression read in UTC.
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        Schedule::parse_in(expr, DEFAULT_TIMEZONE)
    }

    /// An expression read in the time zone `timezone` names.
    pub fn parse_in(expr: &str, timezone: &str) -> Result<Schedule, String> {
        let zone = parse_timezone(timezone)?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| {
                format!(
                    "{expr:?} is not a cron expression ({e}): give 5 fields, minute hour \
                     day-of-month month day-of-week (e.g. \"0 3 * * *\" for 03:00 daily), \
                     or 6 with seconds first"
                )
            })?;
        Ok(Schedule { cron, zone })
    }

    /// The first firing strictly after `after`; `None` when there is none (an
    /// expression such as 30 February never matches).
    pub fn next_after(&self, after: Micros) -> Option<Micros> {
        let after = self.zone.timestamp_micros(after).single()?;
        self.cron
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
    fn a_zoned_schedule_keeps_its_wall_clock_time_across_daylight_saving() {
        // Paris moves from UTC+1 to UTC+2 at 02:00 on 29 March 2026, and back at 03:00
        // on 25 October 2026.
        let nine = Schedule::parse_in("0 9 * * *", "Europe/Paris").unwrap();
        assert_eq!(
            nine.next_after(at("2026-03-28T00:00:00Z")),
            Some(at("2026-03-28T08:00:00Z"))
        );
        assert_eq!(
            nine.next_after(at("2026-03-28T08:00:00Z")),
            Some(at("2026-03-29T07:00:00Z"))
        );
        assert_eq!(
            nine.next_after(at("2026-10-24T12:00:00Z")),
            Some(at("2026-10-25T08:00:00Z"))
        );
    }

    #[test]
    fn a_time_the_clocks_skip_or_repeat_fires_once() {
        // 02:30 does not exist in Paris on 29 March 2026 and happens twice on 25 October.
        let half_past_two = Schedule::parse_in("30 2 * * *", "Europe/Paris").unwrap();
        let spring = half_past_two
            .next_after(at("2026-03-28T12:00:00Z"))
            .unwrap();
        let after_spring = half_past_two.next_after(spring).unwrap();
        assert!(spring > at("2026-03-28T12:00:00Z"));
        assert!(
            after_spring - spring >= 22 * 3_600_000_000,
            "{spring} {after_spring}"
        );
        let autumn = half_past_two
            .next_after(at("2026-10-24T12:00:00Z"))
            .unwrap();
        let after_autumn = half_past_two.next_after(autumn).unwrap();
        assert_eq!(
            after_autumn,
            at("2026-10-26T01:30:00Z"),
            "one firing on the 25th"
        );
    }

    #[test]
    fn a_bad_expression_or_zone_says_what_a_good_one_looks_like() {
        for bad in ["", "every day", "61 * * * *", "* * * * * * 2026"] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains("5 fields"), "{bad}: {err}");
        }
        let err = Schedule::parse_in("0 3 * * *", "Europe/Pariss").unwrap_err();
        assert!(err.contains("IANA"), "{err}");
    }
}
