//! Time as plain numbers, so the model stays free of clocks and time zones.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time: microseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `duration` before this one.
    pub fn minus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration.as_micros()))
    }

    /// The instant `duration` after this one.
    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration.as_micros()))
    }

    /// The time elapsed from `earlier` to this instant; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0).max(0))
    }

    /// Formats the instant as RFC 3339 in UTC with second precision.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A non-negative length of time in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(i64);

impl Duration {
    /// A duration of `micros` microseconds; negative input is clamped to zero.
    pub fn from_micros(micros: i64) -> Self {
        Duration(micros.max(0))
    }

    /// A duration of `secs` seconds.
    pub fn from_secs(secs: i64) -> Self {
        Duration::from_micros(secs.saturating_mul(1_000_000))
    }

    /// The duration in microseconds.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// The duration in whole seconds, rounded down.
    pub fn as_secs(self) -> i64 {
        self.0 / 1_000_000
    }
}

impl fmt::Display for Duration {
    /// Formats the duration in its largest whole unit, as `90d`, `12h`, `30m` or `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.as_secs();
        if secs >= 86_400 && secs % 86_400 == 0 {
            write!(f, "{}d", secs / 86_400)
        } else if secs >= 3600 && secs % 3600 == 0 {
            write!(f, "{}h", secs / 3600)
        } else if secs >= 60 && secs % 60 == 0 {
            write!(f, "{}m", secs / 60)
        } else if secs >= 86_400 {
            write!(f, "{}d{}h", secs / 86_400, (secs % 86_400) / 3600)
        } else {
            write!(f, "{secs}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(1_796_342_400_000_000).to_rfc3339(),
            "2026-12-04T00:00:00Z"
        );
        assert_eq!(
            Timestamp(951_782_400_000_000).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn duration_displays_largest_unit() {
        assert_eq!(Duration::from_secs(90 * 86_400).to_string(), "90d");
        assert_eq!(Duration::from_secs(7200).to_string(), "2h");
        assert_eq!(Duration::from_secs(45).to_string(), "45s");
    }
}

/// The source of the current time, so tests can fix it.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }
}
