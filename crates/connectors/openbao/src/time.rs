//! Parsing the RFC 3339 timestamps that OpenBao returns, such as
//! `2026-12-04T20:40:46.179973749Z`.

use enact_model::Timestamp;

/// Parses an RFC 3339 timestamp with optional fractional seconds and a `Z` or `±hh:mm` offset,
/// rounding down to microseconds. Returns `None` for anything else.
pub(crate) fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let year = digits(text, 0, 4)?;
    let month = digits(text, 5, 7)?;
    let day = digits(text, 8, 10)?;
    let hour = digits(text, 11, 13)?;
    let minute = digits(text, 14, 16)?;
    let second = digits(text, 17, 19)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second (60) is accepted and counted as the next second.
    if second > 60 {
        return None;
    }

    let mut rest = text.get(19..)?;
    let mut micros: i64 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return None;
        }
        let kept = fraction.get(..length.min(6))?;
        micros = kept.parse::<i64>().ok()? * 10_i64.pow(6 - kept.len() as u32);
        rest = fraction.get(length..)?;
    }

    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let hours = digits(rest, 1, 3)?;
            let minutes = digits(rest, 4, 6)?;
            sign * (hours * 3600 + minutes * 60)
        }
    };

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(Timestamp(secs.checked_mul(1_000_000)?.checked_add(micros)?))
}

/// The decimal number in `text[start..end]`, which must be all ASCII digits.
fn digits(text: &str, start: usize, end: usize) -> Option<i64> {
    let part = text.get(start..end)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nanoseconds_as_micros() {
        let parsed = parse_rfc3339("2026-12-04T20:40:46.179973749Z");
        assert_eq!(parsed, Some(Timestamp(1_796_416_846_179_973)));
    }

    #[test]
    fn round_trips_model_formatting() {
        for micros in [0, 951_782_400_000_000, 1_796_342_400_000_000] {
            let text = Timestamp(micros).to_rfc3339();
            assert_eq!(parse_rfc3339(&text), Some(Timestamp(micros)), "{text}");
        }
    }

    #[test]
    fn applies_offsets() {
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:00+01:00"),
            Some(Timestamp(0))
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:30:00-00:30"),
            Some(Timestamp(0))
        );
    }

    #[test]
    fn reads_zero_time_as_year_one() {
        // OpenBao writes Go's zero time for "never expires".
        let parsed = parse_rfc3339("0001-01-01T00:00:00Z");
        assert_eq!(parsed, Some(Timestamp(-62_135_596_800_000_000)));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2026-12-04",
            "2026-12-04T20:40:46",
            "2026-13-04T20:40:46Z",
            "2026-12-04T20:40:46.Z",
            "2026-12-04T20:40:46+0100",
            "2026-12-04T20:40:46Zjunk",
            "2026-12-04X20:40:46Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
