//! Data sources, their attachments to accounts, scans, findings and the
//! per-region inventory status (the RISKEN and Carbon Black models).
//!
//! A data source is a scanner. `aws:iam` is built in and runs in the scan
//! worker; others come from configuration and name an SQS queue where an
//! external scanner picks up their jobs.
//!
//! One file per concept: the catalogue, attachments, scan runs, an
//! attempt's decisions, findings and their triage, and the inventory; their items are all named from here.

mod attachment;
mod attempt;
mod catalogue;
mod findings;
mod inventory;
mod runs;
mod triage;

pub use attachment::*;
pub use attempt::*;
pub use catalogue::*;
pub use findings::*;
pub use inventory::*;
pub use runs::*;
pub use triage::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::{Error, Result};

    #[test]
    fn only_an_external_source_takes_a_scanner_credential() {
        let catalogue = Catalogue::with_external(
            r#"[{"name": "aws:guard-duty", "description": "d", "max_score": 10, "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}]"#,
        )
        .unwrap();
        assert_eq!(
            catalogue.external("aws:guard-duty").unwrap().name,
            "aws:guard-duty"
        );
        let built_in = catalogue.external("aws:iam").unwrap_err().to_string();
        assert!(
            built_in.contains("external ones: aws:guard-duty"),
            "{built_in}"
        );
        let none = Catalogue::default()
            .external("aws:guard-duty")
            .unwrap_err()
            .to_string();
        assert!(none.contains("external ones: none"), "{none}");
    }

    #[test]
    fn catalogue_reads_external_sources() {
        let catalogue = Catalogue::with_external(
            r#"[{"name":"aws:guard-duty","description":"GuardDuty","max_score":10,"queue_url":"http://q"}]"#,
        )
        .unwrap();
        assert!(catalogue.get(IAM_DATA_SOURCE).unwrap().built_in);
        let guard = catalogue.get("aws:guard-duty").unwrap();
        assert!(!guard.built_in);
        assert_eq!(guard.queue_url.as_deref(), Some("http://q"));
        // The queue URL stays inside.
        assert!(!serde_json::to_string(guard).unwrap().contains("http://q"));
    }

    #[test]
    fn catalogue_refuses_bad_entries() {
        for json in [
            r#"[{"name":"aws:iam","description":"x","max_score":1,"queue_url":"q"}]"#,
            r#"[{"name":"Bad Name","description":"x","max_score":1,"queue_url":"q"}]"#,
            r#"[{"name":"aws:x","description":"x","max_score":1}]"#,
            r#"[{"name":"aws:x","description":"x","max_score":0,"queue_url":"q"}]"#,
            "{",
        ] {
            assert!(Catalogue::with_external(json).is_err(), "{json}");
        }
    }

    #[test]
    fn attach_keeps_external_id_while_the_role_stays() {
        let now = Timestamp::now();
        let account_role = "arn:aws:iam::111111111111:role/Audit";
        let own = "arn:aws:iam::111111111111:role/Other";
        let request = |role: Option<&str>| AttachRequest {
            role_arn: role.map(str::to_string),
            ..Default::default()
        };
        let first = request(Some(own)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            None,
            "k",
            now,
        );
        let id = first
            .external_id
            .clone()
            .expect("own role gets an external id");
        assert_eq!(id.len(), 40);
        let again = request(Some(own)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            Some(&first),
            "k",
            now,
        );
        assert_eq!(again.external_id.as_deref(), Some(id.as_str()));
        let same_as_account = request(Some(account_role)).apply(
            "111111111111",
            Some(account_role),
            "aws:iam",
            Some(&first),
            "k",
            now,
        );
        assert_eq!(same_as_account.role_arn, None);
        assert_eq!(same_as_account.external_id, None);
        assert_eq!(same_as_account.status, AttachmentStatus::Configured);
    }

    #[test]
    fn scan_regions_respects_the_ignore_list() {
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let ignored = vec!["eu-west-1".to_string()];
        assert_eq!(
            scan_regions(&regions, &ignored, None, "regions").unwrap(),
            ["us-east-1"]
        );
        assert!(scan_regions(&regions, &ignored, Some(&["eu-west-1".into()]), "regions").is_err());
        assert!(scan_regions(&regions, &ignored, Some(&["us-west-2".into()]), "regions").is_err());
    }

    #[test]
    fn ignore_lists_match_type_or_pattern() {
        let lists = IgnoreLists::new(&["AWS.IAM.Role".into()], &["user/tmp-".into()]).unwrap();
        assert!(lists.ignores("AWS.IAM.Role", "arn:aws:iam::1:role/x"));
        assert!(lists.ignores("AWS.IAM.User", "arn:aws:iam::1:user/tmp-1"));
        assert!(!lists.ignores("AWS.IAM.User", "arn:aws:iam::1:user/alice"));
    }

    #[test]
    fn suppressions_are_checked_and_expire() {
        let now = Timestamp::parse("2026-12-03T10:00:00Z").unwrap();
        let ask = |reason: &str, until: Option<&str>| {
            SuppressRequest {
                reason: reason.into(),
                until: until.map(str::to_string),
            }
            .suppression("key", now)
        };
        let field = |result: Result<Suppression>| match result {
            Err(Error::Invalid { field, .. }) => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(ask(" ", None)), "reason");
        assert_eq!(field(ask(&"x".repeat(501), None)), "reason");
        assert_eq!(field(ask("ok", Some("soon"))), "until");
        assert_eq!(field(ask("ok", Some("2026-12-03T10:00:00Z"))), "until");
        assert_eq!(field(ask("ok", Some("2028-01-01T00:00:00Z"))), "until");
        let held = ask("ok", Some("2026-12-04T00:00:00Z")).unwrap();
        assert!(held.holds_at(now));
        assert!(!held.holds_at(Timestamp::parse("2026-12-04T00:00:00Z").unwrap()));
        assert!(ask("ok", None).unwrap().holds_at(now));
    }

    #[test]
    fn the_summary_counts_held_suppressions_apart() {
        let mut attachment: Attachment = serde_json::from_value(serde_json::json!({
            "account_id": "000000000001", "data_source": "aws:iam", "status": "OK",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "created_by": "key", "updated_by": "key",
            "findings": {"total": 3, "critical": 1, "high": 2, "medium": 0, "low": 0},
        }))
        .unwrap();
        let now = Timestamp::parse("2026-12-03T10:00:00Z").unwrap();
        attachment.suppressed.insert(
            "a".into(),
            SuppressedFinding {
                severity: Severity::High,
                until: None,
            },
        );
        attachment.suppressed.insert(
            "b".into(),
            SuppressedFinding {
                severity: Severity::Critical,
                until: Timestamp::parse("2026-12-03T09:00:00Z"),
            },
        );
        let counts = attachment.findings_as_of(now);
        assert_eq!(
            (counts.open.total, counts.open.critical, counts.open.high),
            (2, 1, 1)
        );
        assert_eq!((counts.suppressed.total, counts.suppressed.high), (1, 1));
    }

    #[test]
    fn severity_bands() {
        assert_eq!(Severity::of_score(9.5), Severity::Critical);
        assert_eq!(Severity::of_score(7.0), Severity::High);
        assert_eq!(Severity::of_score(4.0), Severity::Medium);
        assert_eq!(Severity::of_score(1.0), Severity::Low);
        assert_eq!(Finding::id_of("R", "arn").len(), 32);
        assert_ne!(Finding::id_of("R", "a"), Finding::id_of("S", "a"));
    }

    #[test]
    fn a_cursor_resumes_inside_the_range_its_status_reads() {
        use FindingStatus::{Open, Resolved, Suppressed};
        let (open, resolved) = ("1#000000000001#aws:iam#x", "9#000000000001#aws:iam#y");
        assert_eq!(ResumeAt::of(None, None), ResumeAt::Start);
        assert_eq!(ResumeAt::of(Some(Open), None), ResumeAt::Start);
        for status in [None, Some(Open), Some(Suppressed)] {
            assert_eq!(ResumeAt::of(status, Some(open)), ResumeAt::After(open));
        }
        assert_eq!(
            ResumeAt::of(None, Some(resolved)),
            ResumeAt::After(resolved)
        );
        assert_eq!(
            ResumeAt::of(Some(Resolved), Some(resolved)),
            ResumeAt::After(resolved)
        );
        // An open page's cursor starts the resolved range afresh; a
        // resolved page's cursor ends an open listing.
        assert_eq!(ResumeAt::of(Some(Resolved), Some(open)), ResumeAt::Start);
        assert_eq!(
            ResumeAt::of(Some(Open), Some(resolved)),
            ResumeAt::PastTheEnd
        );
        assert_eq!(
            ResumeAt::of(Some(Suppressed), Some("9")),
            ResumeAt::PastTheEnd
        );
    }
}
