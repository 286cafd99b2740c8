//! Wall-clock time as Flower writes it: `datetime.now(timezone.utc).isoformat()`
//! (`2026-12-04T05:35:28.123456+00:00`) for request signatures, and Unix seconds as `f64`
//! for message metadata.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as Flower's `created_at`.
#[must_use]
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The current UTC time in ISO 8601 with microseconds and `+00:00`.
#[must_use]
pub fn now_iso8601() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    iso8601(since.as_secs() as i64, since.subsec_micros())
}

/// Formats Unix seconds (may be negative) and microseconds.
#[must_use]
pub fn iso8601(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        // datetime.fromtimestamp(1796362528.123456, timezone.utc).isoformat()
        assert_eq!(
            iso8601(1_796_362_528, 123_456),
            "2026-12-04T05:35:28.123456+00:00"
        );
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(951_782_400, 1), "2000-02-29T00:00:00.000001+00:00");
    }
}
