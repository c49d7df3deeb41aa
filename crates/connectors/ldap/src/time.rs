//! LDAP GeneralizedTime values, as the ppolicy overlay writes them to `pwdChangedTime`.

use enact_model::Timestamp;

/// Parses a GeneralizedTime in UTC, `YYYYMMDDHHMMSSZ` with an optional fraction of a second
/// after the seconds (`YYYYMMDDHHMMSS.ffffffZ`). slapd 2.5 writes `pwdChangedTime` in whole
/// seconds. Returns `None` for any other form, including times with a zone offset.
pub(crate) fn parse_generalized_time(text: &str) -> Option<Timestamp> {
    let body = text.strip_suffix('Z')?;
    let (whole, fraction) = match body.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (body, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| whole.get(range)?.parse::<i64>().ok();
    let year = field(0..4)?;
    let month = field(4..6)?;
    let day = field(6..8)?;
    let hour = field(8..10)?;
    let minute = field(10..12)?;
    let second = field(12..14)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second, which GeneralizedTime allows.
    if second > 60 {
        return None;
    }
    let micros = match fraction {
        None => 0,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            // Only the first six digits fit in microseconds; the rest are dropped.
            let kept: String = digits.chars().take(6).collect();
            let scale = 10_i64.pow(6 - kept.len() as u32);
            kept.parse::<i64>().ok()? * scale
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(Timestamp(seconds * 1_000_000 + micros))
}

/// Converts a proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_seconds() {
        let parsed = parse_generalized_time("20261204211926Z");
        assert_eq!(
            parsed.map(Timestamp::to_rfc3339).as_deref(),
            Some("2026-12-04T21:19:26Z")
        );
        assert_eq!(
            parse_generalized_time("19700101000000Z"),
            Some(Timestamp(0))
        );
        assert_eq!(
            parse_generalized_time("20000229120000Z")
                .map(Timestamp::to_rfc3339)
                .as_deref(),
            Some("2000-02-29T12:00:00Z")
        );
    }

    #[test]
    fn parses_fractions_of_a_second() {
        assert_eq!(
            parse_generalized_time("19700101000001.5Z"),
            Some(Timestamp(1_500_000))
        );
        assert_eq!(
            parse_generalized_time("19700101000000.123456789Z"),
            Some(Timestamp(123_456))
        );
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "20261204211926",
            "20261204211926+0100",
            "2026120421192Z",
            "20261304211926Z",
            "20261204241926Z",
            "20261204211926.Z",
            "000001010000Z",
        ] {
            assert_eq!(parse_generalized_time(bad), None, "{bad}");
        }
    }
}
