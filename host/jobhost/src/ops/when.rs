//! Times and ages as people type them: `--since 2h` (that long ago), or an RFC 3339
//! time (`2026-11-24T18:00:00Z`); `--older-than 7d`.

use std::time::{Duration, UNIX_EPOCH};

use jobhost_store::{Micros, now_micros};

/// A moment: an age (`90m`, `2h`, `7d`: that long before now) or an RFC 3339 time.
pub fn parse_moment(text: &str) -> Result<Micros, String> {
    parse_moment_at(text, now_micros())
}

fn parse_moment_at(text: &str, now: Micros) -> Result<Micros, String> {
    if let Ok(age) = humantime::parse_duration(text) {
        return Ok(now - micros(age));
    }
    match humantime::parse_rfc3339_weak(text) {
        Ok(time) => {
            let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
            Ok(micros(since_epoch))
        }
        Err(_) => Err(format!(
            "{text:?} is neither an age (like 30m, 2h, 7d) nor an RFC 3339 time \
             (like 2026-11-24T18:00:00Z)"
        )),
    }
}

/// An age: `30m`, `2h`, `7d`; must be more than zero.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let age = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not an age like 30m, 12h or 7d: {e}"))?;
    if age.is_zero() {
        return Err("the age must be more than zero".into());
    }
    Ok(age)
}

pub fn micros(d: Duration) -> Micros {
    Micros::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_800_000_000_000_000;

    #[test]
    fn an_age_counts_back_from_now_and_a_time_is_taken_as_written() {
        assert_eq!(parse_moment_at("2h", NOW), Ok(NOW - 7_200_000_000));
        assert_eq!(
            parse_moment_at("2026-11-24T18:00:00Z", NOW),
            Ok(1_795_543_200_000_000)
        );
        let err = parse_moment_at("yesterday", NOW).unwrap_err();
        assert!(err.contains("RFC 3339") && err.contains("2h"), "{err}");
    }

    #[test]
    fn an_age_must_be_positive_and_well_formed() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_age("0s").is_err());
        assert!(parse_age("seven days").unwrap_err().contains("7d"));
    }
}
