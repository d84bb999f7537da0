//! Scans on a schedule: per attachment, an interval or a cron expression
//! (UTC), with jitter. Due attachments carry the due index's keys (shard
//! [`SCHEDULE_SHARD`], at their next run), so the scheduled sweep finds
//! them without a Scan; each run records what it did, or why it skipped.

use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

/// The due-index shard of attachments whose scheduled scan is due.
pub const SCHEDULE_SHARD: &str = "SCANSCHED";
/// The shortest interval (also the test setting).
pub const MIN_INTERVAL_SECONDS: u32 = 60;
/// The longest interval: 30 days.
pub const MAX_INTERVAL_SECONDS: u32 = 30 * 86_400;
/// The most jitter a run may get.
pub const MAX_JITTER_SECONDS: u32 = 3600;

/// When an attachment is scanned on its own. Exactly one of
/// `every_seconds` and `cron`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Seconds between scans: 60 to 2,592,000 (30 days); e.g. 21600 for every 6 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<u32>,
    /// A five-field cron expression, in UTC: `0 3 * * *` is daily at 03:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Up to this many seconds (at most 3,600, and half the interval) are
    /// added at random to each run, so many accounts do not scan at once.
    #[serde(default)]
    pub jitter_seconds: u32,
}

impl Schedule {
    pub fn validate(&self, field: &str) -> Result<()> {
        let invalid =
            |name: &str, message: String| Error::invalid(format!("{field}.{name}"), message);
        match (&self.every_seconds, &self.cron) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::invalid(
                    field,
                    "give a schedule either every_seconds or cron, not both",
                ))
            }
            (Some(every), None) => {
                if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(every) {
                    return Err(invalid(
                        "every_seconds",
                        format!(
                            "every_seconds must be {MIN_INTERVAL_SECONDS}-{MAX_INTERVAL_SECONDS}"
                        ),
                    ));
                }
                if self.jitter_seconds > every / 2 {
                    return Err(invalid(
                        "jitter_seconds",
                        format!(
                            "jitter_seconds may be at most half the interval ({})",
                            every / 2
                        ),
                    ));
                }
            }
            (None, Some(expression)) => {
                parse_cron(expression).map_err(|message| invalid("cron", message))?;
            }
        }
        if self.jitter_seconds > MAX_JITTER_SECONDS {
            return Err(invalid(
                "jitter_seconds",
                format!("jitter_seconds may be at most {MAX_JITTER_SECONDS}"),
            ));
        }
        Ok(())
    }

    /// The run after `after`, with `jitter` (0 to 1) of the jitter added.
    /// `None` for a cron expression that never matches again.
    pub fn next_after(&self, after: Timestamp, jitter: f64) -> Option<Timestamp> {
        let base = match (&self.every_seconds, &self.cron) {
            (Some(every), _) => after.plus(std::time::Duration::from_secs(u64::from(*every))),
            (None, Some(expression)) => {
                let cron = parse_cron(expression).ok()?;
                Timestamp::from_datetime(cron.find_next_occurrence(&after.datetime(), false).ok()?)
            }
            (None, None) => return None,
        };
        let extra = (f64::from(self.jitter_seconds) * jitter.clamp(0.0, 1.0)) as u64;
        Some(base.plus(std::time::Duration::from_secs(extra)))
    }
}

/// A uniform random fraction in [0, 1), from the OS CSPRNG.
pub fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the operating system CSPRNG is unavailable");
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

fn parse_cron(expression: &str) -> std::result::Result<croner::Cron, String> {
    if expression.len() > 128 || expression.split_whitespace().count() != 5 {
        return Err(
            "cron must have five fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"
                .into(),
        );
    }
    croner::Cron::from_str(expression).map_err(|err| {
        format!(
            "'{}' is not a cron expression: {err}",
            crate::validation::echo(expression)
        )
    })
}

/// What a scheduled run did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum RunOutcome {
    Queued,
    Skipped,
}

/// Why a scheduled run was skipped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SkipReason {
    /// The attachment's last scan is still queued or running.
    ScanRunning,
    Archived,
    Departed,
    CredentialNotVerified,
    /// The role lacks what the data source needs.
    MissingPermissions,
    /// The scan could not be queued (retried at the next run).
    QueueFailed,
}

/// The last scheduled run of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduledRun {
    pub at: Timestamp,
    pub outcome: RunOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// Why, in words (skipped), or the scan queued.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(seconds: u32, jitter: u32) -> Schedule {
        Schedule {
            every_seconds: Some(seconds),
            cron: None,
            jitter_seconds: jitter,
        }
    }

    #[test]
    fn schedules_are_one_of_interval_or_cron_within_bounds() {
        assert!(every(60, 0).validate("schedule").is_ok());
        assert!(every(21_600, 600).validate("schedule").is_ok());
        let field = |schedule: Schedule| match schedule.validate("schedule") {
            Err(Error::Invalid { field: Some(f), .. }) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(every(59, 0)), "schedule.every_seconds");
        assert_eq!(
            field(every(MAX_INTERVAL_SECONDS + 1, 0)),
            "schedule.every_seconds"
        );
        assert_eq!(field(every(60, 31)), "schedule.jitter_seconds");
        assert_eq!(field(every(86_400, 3601)), "schedule.jitter_seconds");
        let both = Schedule {
            cron: Some("0 3 * * *".into()),
            ..every(60, 0)
        };
        assert_eq!(field(both), "schedule");
        let cron = |expression: &str| Schedule {
            every_seconds: None,
            cron: Some(expression.into()),
            jitter_seconds: 0,
        };
        assert!(cron("0 3 * * *").validate("schedule").is_ok());
        assert!(cron("*/15 * * * MON-FRI").validate("schedule").is_ok());
        for bad in [
            "0 3 * *",
            "0 0 3 * * *",
            "61 * * * *",
            "not a cron at all",
            "",
        ] {
            assert_eq!(field(cron(bad)), "schedule.cron", "{bad}");
        }
    }

    #[test]
    fn next_runs_follow_interval_cron_and_jitter() {
        let at = Timestamp::parse("2026-12-03T10:15:00Z").unwrap();
        assert_eq!(
            every(60, 0).next_after(at, 0.9).unwrap().to_string(),
            "2026-12-03T10:16:00.000Z"
        );
        assert_eq!(
            every(3600, 600).next_after(at, 0.5).unwrap().to_string(),
            "2026-12-03T11:20:00.000Z"
        );
        let daily = Schedule {
            every_seconds: None,
            cron: Some("0 3 * * *".into()),
            jitter_seconds: 0,
        };
        assert_eq!(
            daily.next_after(at, 0.0).unwrap().to_string(),
            "2026-12-04T03:00:00.000Z"
        );
        let fraction = random_fraction();
        assert!((0.0..1.0).contains(&fraction));
    }
}
