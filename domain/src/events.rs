//! Domain events: what the service tells about a change (its type, actor,
//! time and data), the same whether it reaches a webhook, the event bus or
//! the audit log. Which changes mean which events is read from the table's
//! stream in `service::aws::changes`.

use crate::actors::{ORGANIZATION_SYNC, SCAN_WORKER, VERIFIER};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The largest event, as JSON, that the service sends whole. Every
/// channel carries it with room to spare: an SQS message (256 KiB, with
/// the delivery job around it), an EventBridge entry (256 KB, with its
/// source and detail-type), an audit item (400 KB). A larger event keeps
/// its envelope and carries a [`reference`](Event::data) instead of its
/// data, which the receiver reads back through the API: an event is never
/// a failure, whatever a tenant stored.
pub const MAX_EVENT_BYTES: usize = 192 * 1024;

/// What the service tells about a change.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
pub enum EventType {
    #[serde(rename = "account.created")]
    #[strum(serialize = "account.created")]
    AccountCreated,
    #[serde(rename = "account.updated")]
    #[strum(serialize = "account.updated")]
    AccountUpdated,
    #[serde(rename = "account.deleted")]
    #[strum(serialize = "account.deleted")]
    AccountDeleted,
    #[serde(rename = "account.archived")]
    #[strum(serialize = "account.archived")]
    AccountArchived,
    #[serde(rename = "account.unarchived")]
    #[strum(serialize = "account.unarchived")]
    AccountUnarchived,
    /// An enrolled account left its AWS Organization (or its filters).
    #[serde(rename = "account.departed")]
    #[strum(serialize = "account.departed")]
    AccountDeparted,
    /// A departed account is active and covered by its organization again.
    #[serde(rename = "account.returned")]
    #[strum(serialize = "account.returned")]
    AccountReturned,
    #[serde(rename = "credential.verification_changed")]
    #[strum(serialize = "credential.verification_changed")]
    VerificationChanged,
    #[serde(rename = "external_id.rotation_started")]
    #[strum(serialize = "external_id.rotation_started")]
    RotationStarted,
    #[serde(rename = "external_id.rotation_completed")]
    #[strum(serialize = "external_id.rotation_completed")]
    RotationCompleted,
    #[serde(rename = "external_id.rotation_cancelled")]
    #[strum(serialize = "external_id.rotation_cancelled")]
    RotationCancelled,
    #[serde(rename = "scan.queued")]
    #[strum(serialize = "scan.queued")]
    ScanQueued,
    #[serde(rename = "scan.succeeded")]
    #[strum(serialize = "scan.succeeded")]
    ScanSucceeded,
    #[serde(rename = "scan.failed")]
    #[strum(serialize = "scan.failed")]
    ScanFailed,
    #[serde(rename = "scan.dead_lettered")]
    #[strum(serialize = "scan.dead_lettered")]
    ScanDeadLettered,
    #[serde(rename = "finding.opened")]
    #[strum(serialize = "finding.opened")]
    FindingOpened,
    #[serde(rename = "finding.resolved")]
    #[strum(serialize = "finding.resolved")]
    FindingResolved,
    /// Suppressed by hand (or its suppression changed).
    #[serde(rename = "finding.suppressed")]
    #[strum(serialize = "finding.suppressed")]
    FindingSuppressed,
    /// A hand suppression was lifted.
    #[serde(rename = "finding.unsuppressed")]
    #[strum(serialize = "finding.unsuppressed")]
    FindingUnsuppressed,
    #[serde(rename = "api_key.created")]
    #[strum(serialize = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    #[strum(serialize = "api_key.revoked")]
    ApiKeyRevoked,
    /// An onboarding link was made (never its token).
    #[serde(rename = "onboarding_link.created")]
    #[strum(serialize = "onboarding_link.created")]
    OnboardingLinkCreated,
    #[serde(rename = "onboarding_link.revoked")]
    #[strum(serialize = "onboarding_link.revoked")]
    OnboardingLinkRevoked,
    #[serde(rename = "webhook.created")]
    #[strum(serialize = "webhook.created")]
    WebhookCreated,
    #[serde(rename = "webhook.updated")]
    #[strum(serialize = "webhook.updated")]
    WebhookUpdated,
    #[serde(rename = "webhook.deleted")]
    #[strum(serialize = "webhook.deleted")]
    WebhookDeleted,
    /// The service disabled an endpoint whose deliveries kept failing.
    #[serde(rename = "webhook.disabled")]
    #[strum(serialize = "webhook.disabled")]
    WebhookDisabled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The scope that reads events of this type: the scope that reads the
    /// resource it describes. API keys and webhook endpoints are read with
    /// `admin` (`/v1/api-keys`, `/v1/webhooks`), so are their events; the
    /// rest describe what `read` lists.
    pub fn read_scope(self) -> crate::api_key::Scope {
        match self {
            EventType::ApiKeyCreated
            | EventType::ApiKeyRevoked
            | EventType::WebhookCreated
            | EventType::WebhookUpdated
            | EventType::WebhookDeleted
            | EventType::WebhookDisabled => crate::api_key::Scope::Admin,
            _ => crate::api_key::Scope::Read,
        }
    }
}

/// One domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// `evt_` and 32 hex digits; the same change always has the same id.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// When the change was written.
    pub time: Timestamp,
    /// The API key id that made the change, or `system:verifier`,
    /// `system:scan-worker`.
    pub actor: String,
    /// What changed; `before`/`after` where it helps. No secret and no
    /// external ID ever appears here.
    pub data: Value,
    /// The API request that made the change (its `x-request-id`); absent
    /// for changes the service made itself and for deletions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The change's position in the stream (zero-padded), which orders
    /// events written within the same second.
    #[serde(skip)]
    pub sequence: String,
}

impl EventType {
    /// What an event of this type says, in a sentence (the OpenAPI
    /// document's webhooks section and the README).
    pub fn summary(self) -> &'static str {
        match self {
            EventType::AccountCreated => "An account was registered.",
            EventType::AccountUpdated => "Fields of an account changed; `data.changed` names them.",
            EventType::AccountDeleted => "An account was deleted, with its scans and findings.",
            EventType::AccountArchived => "An account was archived: no scans, no verification.",
            EventType::AccountUnarchived => "An archived account is active again.",
            EventType::AccountDeparted => {
                "An enrolled account left its organization (suspended, closing, removed or filtered out): no scans, no verification."
            }
            EventType::AccountReturned => {
                "A departed account is active in its organization and covered by its filters again."
            }
            EventType::VerificationChanged => {
                "A verification found another status or code than the last one."
            }
            EventType::RotationStarted => {
                "A new external ID was issued; both are accepted until it is verified."
            }
            EventType::RotationCompleted => {
                "The new external ID verified and replaced the old one."
            }
            EventType::RotationCancelled => "A pending external ID was withdrawn.",
            EventType::ScanQueued => "A scan was queued.",
            EventType::ScanSucceeded => "A scan finished.",
            EventType::ScanFailed => "A scan failed; `data.errors` says why.",
            EventType::ScanDeadLettered => {
                "A scan's job failed every attempt and was dead-lettered."
            }
            EventType::FindingOpened => "A scan found something new.",
            EventType::FindingResolved => "A finding is no longer found.",
            EventType::FindingSuppressed => {
                "A finding was suppressed by hand (or its suppression changed); `data.suppression` says why and until when."
            }
            EventType::FindingUnsuppressed => {
                "A hand suppression was lifted: the finding is open again."
            }
            EventType::ApiKeyCreated => "An API key was issued.",
            EventType::ApiKeyRevoked => "An API key was revoked.",
            EventType::OnboardingLinkCreated => {
                "An onboarding link was made for an account or an organization (its token is never shown again)."
            }
            EventType::OnboardingLinkRevoked => {
                "An onboarding link was revoked: its page answers 410 from then on."
            }
            EventType::WebhookCreated => "A webhook endpoint was registered.",
            EventType::WebhookUpdated => {
                "A webhook endpoint changed (`signing_secret`: it was rotated)."
            }
            EventType::WebhookDeleted => "A webhook endpoint was removed.",
            EventType::WebhookDisabled => {
                "The service disabled an endpoint whose deliveries kept failing."
            }
        }
    }

    /// A realistic event of this type, as a receiver gets it.
    // Long: a table, one realistic event per event type.
    pub fn example(self) -> Event {
        let account = json!({
            "account_id": "210987654321", "name": "Payments", "environment": "production",
            "regions": ["eu-west-1"], "verification_status": "SUCCESS", "archived": false,
        });
        let scan = |status: &str, errors: Value| {
            json!({
                "scan_id": "01JD0000000000000000000000", "data_source": "aws:iam",
                "status": status, "counts": {"findings": 3}, "errors": errors,
            })
        };
        let finding = json!({
            "finding_id": "f3a1c2", "data_source": "aws:iam", "rule": "iam.user.no_mfa",
            "title": "IAM user without MFA", "resource_type": "AWS::IAM::User",
            "resource_id": "alice", "severity": "HIGH",
        });
        let key = json!({"key_id": "01JD0000000000000000000001", "name": "ci", "scopes": ["read"]});
        let hook = json!({
            "webhook_id": "01JD0000000000000000000002", "url": "https://hooks.example.com/onboarding",
            "event_types": ["credential.verification_changed"], "enabled": true,
        });
        let (account_id, actor, data) = match self {
            EventType::AccountCreated => (
                true,
                "01JD0000000000000000000001",
                json!({"after": account}),
            ),
            EventType::AccountUpdated => (
                true,
                "01JD0000000000000000000001",
                json!({"changed": ["name"], "before": {"name": "Payments"}, "after": {"name": "Payments EU"}}),
            ),
            EventType::AccountDeleted => (
                true,
                "01JD0000000000000000000001",
                json!({"before": account}),
            ),
            EventType::AccountArchived => (
                true,
                "01JD0000000000000000000001",
                json!({"archived_at": "2026-11-23T16:01:02.000Z"}),
            ),
            EventType::AccountDeparted => (
                true,
                ORGANIZATION_SYNC,
                json!({"organization_id": "01JD0000000000000000000004", "reason": "SUSPENDED", "departed_at": "2026-11-23T16:01:02.000Z"}),
            ),
            EventType::AccountReturned => (
                true,
                ORGANIZATION_SYNC,
                json!({"organization_id": "01JD0000000000000000000004"}),
            ),
            EventType::AccountUnarchived
            | EventType::RotationStarted
            | EventType::RotationCancelled => (true, "01JD0000000000000000000001", json!({})),
            EventType::RotationCompleted => (true, VERIFIER, json!({})),
            EventType::VerificationChanged => (
                true,
                VERIFIER,
                json!({
                    "from": {"status": "SUCCESS", "code": "OK"},
                    "to": {"status": "FAIL", "code": "ACCESS_DENIED"},
                    "message": "AssumeRole was denied: the role no longer trusts the vendor principal",
                }),
            ),
            EventType::ScanQueued => (
                true,
                "01JD0000000000000000000001",
                scan("QUEUED", json!([])),
            ),
            EventType::ScanSucceeded => (true, SCAN_WORKER, scan("SUCCEEDED", json!([]))),
            EventType::ScanFailed | EventType::ScanDeadLettered => (
                true,
                SCAN_WORKER,
                scan(
                    "FAILED",
                    json!([{"code": "ACCESS_DENIED", "message": "iam:ListUsers was denied"}]),
                ),
            ),
            EventType::FindingOpened | EventType::FindingResolved => (true, SCAN_WORKER, finding),
            EventType::FindingSuppressed => {
                let mut data = finding;
                data["suppression"] = json!({
                    "reason": "accepted risk: break-glass user",
                    "until": "2027-01-31T00:00:00.000Z",
                });
                (true, "01JD0000000000000000000001", data)
            }
            EventType::FindingUnsuppressed => (true, "01JD0000000000000000000001", finding),
            EventType::ApiKeyCreated | EventType::ApiKeyRevoked => {
                (false, "01JD0000000000000000000003", key)
            }
            EventType::OnboardingLinkCreated | EventType::OnboardingLinkRevoked => (
                true,
                "01JD0000000000000000000001",
                json!({
                    "link_id": "01JD0000000000000000000005", "account_id": "210987654321",
                    "expires_at": "2026-11-30T16:01:02.000Z",
                }),
            ),
            EventType::WebhookCreated => {
                (false, "01JD0000000000000000000003", json!({"after": hook}))
            }
            EventType::WebhookDeleted => {
                (false, "01JD0000000000000000000003", json!({"before": hook}))
            }
            EventType::WebhookUpdated => (
                false,
                "01JD0000000000000000000003",
                json!({"webhook_id": hook["webhook_id"], "changed": ["signing_secret"], "before": {}, "after": {}}),
            ),
            EventType::WebhookDisabled => (
                false,
                crate::actors::WEBHOOK_SENDER,
                json!({
                    "webhook_id": hook["webhook_id"], "url": hook["url"],
                    "reason": "every delivery since 2026-11-20T16:01:02.000Z failed; fix the endpoint, then enable it and redeliver what failed",
                    "failing_since": "2026-11-20T16:01:02.000Z",
                }),
            ),
        };
        Event {
            id: "evt_4f2d0c8a9b1e4c7d8e6f5a4b3c2d1e0f".into(),
            event_type: self,
            tenant: "acme".into(),
            account_id: account_id.then(|| "210987654321".to_string()),
            time: Timestamp::parse("2026-11-23T16:01:02Z").expect("a valid time"),
            actor: actor.into(),
            data,
            request_id: (!actor.starts_with("system:"))
                .then(|| "01JD0000000000000000000009".to_string()),
            sequence: String::new(),
        }
    }
}
