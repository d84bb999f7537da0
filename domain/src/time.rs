//! Timestamps: UTC, millisecond precision, always the same width, so their
//! string form sorts in time order (used as index sort keys).

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now().trunc_subsecs(3))
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Timestamp(at.trunc_subsecs(3))
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// This time plus `delay` (a delay too large for a date is a day).
    pub fn plus(&self, delay: std::time::Duration) -> Self {
        Timestamp::from_datetime(
            self.0 + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1)),
        )
    }

    /// Parse any RFC 3339 time, normalised to UTC milliseconds.
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| Timestamp::from_datetime(at.with_timezone(&Utc)))
    }
}

/// What is left of `items` beyond the newest `keep`, newest first, by
/// `made` (when each was made, and its id to break a tie): what a bounded
/// history (dead links, dead keys) deletes as something new is added.
pub fn beyond_newest<T>(
    mut items: Vec<&T>,
    keep: usize,
    made: impl Fn(&T) -> (Timestamp, &str),
) -> Vec<&T> {
    items.sort_by(|a, b| made(b).cmp(&made(a)));
    items.split_off(items.len().min(keep))
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format(FORMAT))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            // In the future for years, so an example expiry is one a
            // server accepts (API keys refuse a past expires_at).
            .examples(["2030-06-01T12:00:00.000Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_and_sortable() {
        let early = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        let late = Timestamp::parse("2026-01-02T03:04:05.120+00:00").unwrap();
        assert_eq!(early.to_string(), "2026-01-02T03:04:05.000Z");
        assert_eq!(late.to_string(), "2026-01-02T03:04:05.120Z");
        assert!(early.to_string() < late.to_string());
    }

    #[test]
    fn offsets_normalised_to_utc() {
        let at = Timestamp::parse("2026-01-02T05:04:05.5+02:00").unwrap();
        assert_eq!(at.to_string(), "2026-01-02T03:04:05.500Z");
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
