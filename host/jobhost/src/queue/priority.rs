//! Priorities: higher runs first. Names for the usual levels, numbers for the rest.

pub const HIGH: i32 = 10;
pub const NORMAL: i32 = 0;
pub const LOW: i32 = -10;

/// Reads `high`, `normal`, `low` or a whole number.
pub fn parse(text: &str) -> Result<i32, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "high" => Ok(HIGH),
        "normal" => Ok(NORMAL),
        "low" => Ok(LOW),
        other => other.parse().map_err(|_| {
            format!("priority {text:?} is neither high, normal, low nor a whole number")
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_numbers() {
        assert_eq!(super::parse("HIGH"), Ok(10));
        assert_eq!(super::parse("low"), Ok(-10));
        assert_eq!(super::parse("-3"), Ok(-3));
        assert!(super::parse("urgent").unwrap_err().contains("urgent"));
    }
}
