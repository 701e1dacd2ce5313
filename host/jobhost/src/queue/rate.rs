//! Rates as operators type them (`120/m`, `2/s`, `600/h`), kept as starts per minute:
//! the unit of every rate limit, in the database and in the plugin contract.

/// A rate limit's rate, in starts per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
}

/// `N/s`, `N/m` (or `N/min`), `N/h`; the result must be a whole number a minute, at
/// least one.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let bad = || {
        format!(
            "{text:?} is not a rate: give starts per unit of time, such as 120/m, 2/s or \
             600/h"
        )
    };
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    let per_minute = match unit.trim() {
        "s" | "sec" | "second" => count.checked_mul(60).ok_or_else(bad)?,
        "m" | "min" | "minute" => count,
        "h" | "hour" => {
            if !count.is_multiple_of(60) {
                return Err(format!(
                    "{text:?} is not a whole number of starts a minute: rates are kept per \
                     minute, so give a multiple of 60 per hour, or N/m"
                ));
            }
            count / 60
        }
        _ => return Err(bad()),
    };
    if per_minute == 0 {
        return Err(format!(
            "{text:?} would never start a job: to stop a queue, `jobhost queues pause`"
        ));
    }
    let per_minute = u32::try_from(per_minute).map_err(|_| bad())?;
    Ok(Rate { per_minute })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_in_any_unit_and_kept_per_minute() {
        for (text, per_minute) in [("120/m", 120), ("2/s", 120), ("600/h", 10), ("5/min", 5)] {
            assert_eq!(parse_rate(text).unwrap().per_minute, per_minute, "{text}");
        }
    }

    #[test]
    fn a_bad_rate_says_what_a_good_one_looks_like() {
        for bad in ["", "120", "x/m", "3/d", "0/m"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("30/h").unwrap_err().contains("multiple of 60"));
    }
}
