//! Time as the data layer stores it: integer milliseconds since the Unix epoch (portable
//! across SQLite and PostgreSQL through sqlx's `Any` driver), shown as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn ms_to_rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp from a client into milliseconds.
pub fn rfc3339_to_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_through_rfc3339() {
        let ms = 1_700_000_000_123;
        assert_eq!(rfc3339_to_ms(&ms_to_rfc3339(ms)), Some(ms));
        assert_eq!(ms_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
