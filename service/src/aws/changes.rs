//! The events of the table's changes, read from the stream: each change of an item
//! (its old and new image) becomes the events it means. Handlers never
//! write events, so no change happens without its events and none is
//! invented; a change that means nothing to a customer (a re-verification
//! that finds what it found before) yields none.
//!
//! An event's id is derived from the stream record's id and the event
//! type, so a stream batch delivered twice yields the same ids and a
//! consumer deduplicates by id.

use crate::account::Account;
use crate::api_key::ApiKey;
use crate::aws::store::keys;
use crate::onboarding::OnboardingLink;
use crate::scans::{Finding, Scan, ScanStatus};
use crate::time::Timestamp;
use crate::webhooks::Webhook;
use crate::Result;
use aws_sdk_dynamodb::types::AttributeValue;
pub use domain::events::{Event, EventType, MAX_EVENT_BYTES};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One item image as the stream carries it.
pub type Image = HashMap<String, AttributeValue>;

/// One change of one item, as a stream record carries it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The stream record's id: unique per change, the same on redelivery.
    pub record_id: String,
    /// The stream record's sequence number: increasing for one item.
    pub sequence: String,
    pub time: Timestamp,
    pub old: Option<Image>,
    pub new: Option<Image>,
}

pub use domain::actors::{ORGANIZATION_SYNC, SCAN_WORKER, VERIFIER};

/// The events of a batch of changes, in stream order. A record whose
/// image cannot be read (an item this version does not know how to
/// decode) is logged and left out: retrying it would fail the same way
/// and hold back every record behind it, every tenant's.
pub fn events_of_all(changes: &[Change]) -> Vec<Event> {
    let mut events = Vec::new();
    for change in changes {
        match events_of(change) {
            Ok(more) => events.extend(more),
            Err(err) => unreadable(change, &err),
        }
    }
    events
}

fn unreadable(change: &Change, err: &crate::Error) {
    tracing::error!(
        record = %change.record_id,
        sequence = %change.sequence,
        error = %err.chain(),
        "a stream record that cannot be read is left out of the events and the ledger"
    );
}

/// What the access log and the verification history keep of a batch
/// (an unreadable record is left out, as from the events).
pub fn ledger_of_all(changes: &[Change]) -> crate::access::Ledger {
    let mut ledger = crate::access::Ledger::default();
    for change in changes {
        let Some(image) = change.new.as_ref() else {
            continue;
        };
        if let (Some(tenant), Some("account")) = (tenant_of(image), text(image, "type")) {
            match (
                decode::<Account>(&change.old),
                decode::<Account>(&change.new),
            ) {
                (Ok(old), Ok(new)) => ledger.add(&tenant, old.as_ref(), new.as_ref()),
                (Err(err), _) | (_, Err(err)) => unreadable(change, &err),
            }
        }
    }
    ledger
}

/// The events a change means, in a stable order.
pub fn events_of(change: &Change) -> Result<Vec<Event>> {
    let image = change.new.as_ref().or(change.old.as_ref());
    let Some(image) = image else {
        return Ok(Vec::new());
    };
    let (Some(tenant), Some(kind)) = (tenant_of(image), text(image, "type")) else {
        return Ok(Vec::new());
    };
    let mut events = Events {
        change,
        tenant,
        reference: reference_of(kind, image),
        out: Vec::new(),
    };
    match kind {
        "account" => {
            let (old, new) = (
                decode::<Account>(&change.old)?,
                decode::<Account>(&change.new)?,
            );
            account_events(&mut events, old.as_ref(), new.as_ref());
        }
        "scan" => {
            let (old, new) = (decode::<Scan>(&change.old)?, decode::<Scan>(&change.new)?);
            scan_events(&mut events, old.as_ref(), new.as_ref());
        }
        "finding" => {
            let (old, new) = (
                decode::<Finding>(&change.old)?,
                decode::<Finding>(&change.new)?,
            );
            finding_events(&mut events, old.as_ref(), new.as_ref());
        }
        "webhook" => {
            let (old, new) = (
                decode::<Webhook>(&change.old)?,
                decode::<Webhook>(&change.new)?,
            );
            webhook_events(&mut events, old.as_ref(), new.as_ref());
        }
        "api_key" => {
            let (old, new) = (
                decode::<ApiKey>(&change.old)?,
                decode::<ApiKey>(&change.new)?,
            );
            api_key_events(&mut events, old.as_ref(), new.as_ref());
        }
        "onboarding_link" => {
            let (old, new) = (
                decode::<OnboardingLink>(&change.old)?,
                decode::<OnboardingLink>(&change.new)?,
            );
            onboarding_link_events(&mut events, old.as_ref(), new.as_ref());
        }
        _ => {}
    }
    Ok(events.out)
}

struct Events<'a> {
    change: &'a Change,
    tenant: String,
    /// What an event too large to send whole carries instead of its data.
    reference: Value,
    out: Vec<Event>,
}

impl Events<'_> {
    /// The request id the API stamped on the new image, when the event's
    /// actor is a caller (a system actor's change carries none of its own).
    fn request_id(&self, actor: &str) -> Option<String> {
        if actor.starts_with("system:") {
            return None;
        }
        self.change
            .new
            .as_ref()
            .and_then(|image| text(image, "request_id"))
            .map(str::to_string)
    }

    /// When the change happened, to the millisecond: the stream gives
    /// whole seconds only, so the time the write itself stamped on the item
    /// (`updated_at`, or a verification's `last_verified_at`) is taken when
    /// it falls in the stream record's second, else the record's time.
    fn time(&self) -> Timestamp {
        let second = self.change.time;
        let within = |at: Timestamp| {
            let delta = at.datetime() - second.datetime();
            (delta >= chrono::Duration::zero() && delta < chrono::Duration::seconds(1))
                .then_some(at)
        };
        let Some(image) = self.change.new.as_ref() else {
            return second;
        };
        let verified = match image.get("credential") {
            Some(AttributeValue::M(credential)) => match credential.get("last_verified_at") {
                Some(AttributeValue::S(at)) => Timestamp::parse(at),
                _ => None,
            },
            _ => None,
        };
        text(image, "updated_at")
            .and_then(Timestamp::parse)
            .into_iter()
            .chain(verified)
            .filter_map(within)
            .max()
            .unwrap_or(second)
    }

    fn push(&mut self, event_type: EventType, account_id: Option<&str>, actor: &str, data: Value) {
        let digest = Sha256::digest(format!(
            "{}\u{1}{}",
            self.change.record_id,
            event_type.as_str()
        ));
        let mut event = Event {
            id: format!("evt_{}", &hex::encode(digest)[..32]),
            event_type,
            tenant: self.tenant.clone(),
            account_id: account_id.map(str::to_string),
            time: self.time(),
            actor: actor.to_string(),
            data,
            request_id: self.request_id(actor),
            sequence: format!("{:0>40}", self.change.sequence),
        };
        let size = serde_json::to_vec(&event).map_or(usize::MAX, |json| json.len());
        if size > MAX_EVENT_BYTES {
            event.data = self.too_large(&event.data, size);
        }
        self.out.push(event);
    }

    /// The data of an event too large to send whole: that it was left
    /// out and why, the names of what changed (when the event has them),
    /// and where to read the resource (`reference`).
    fn too_large(&self, data: &Value, size: usize) -> Value {
        let mut out = json!({
            "truncated": true,
            "reason": format!("the event is {size} bytes of JSON, more than the {MAX_EVENT_BYTES} sent whole; read the resource from reference.href"),
            "reference": self.reference,
        });
        if let Some(changed) = data.get("changed").filter(|c| c.is_array()) {
            out["changed"] = changed.clone();
        }
        out
    }
}

/// Where a receiver reads back the resource of an event sent without its
/// data: its kind, its ids, its version (where it has one) and the API
/// path that returns it. Ids are bounded by their validators, so the
/// reference is small whatever the item holds.
fn reference_of(kind: &str, image: &Image) -> Value {
    let mut reference = json!({ "resource": kind });
    for name in [
        "account_id",
        "organization_id",
        "data_source",
        "scan_id",
        "finding_id",
        "webhook_id",
        "key_id",
        "link_id",
    ] {
        if let Some(value) = text(image, name) {
            reference[name] = json!(value);
        }
    }
    if let Some(version) = match image.get("version") {
        Some(AttributeValue::N(number)) => number.parse::<u64>().ok(),
        _ => None,
    } {
        reference["version"] = json!(version);
    }
    let id = |name: &str| text(image, name).unwrap_or_default();
    let href = match kind {
        "account" => format!("/v1/accounts/{}", id("account_id")),
        "scan" => format!(
            "/v1/accounts/{}/data-sources/{}/scans/{}",
            id("account_id"),
            id("data_source"),
            id("scan_id")
        ),
        "finding" => format!("/v1/accounts/{}/findings", id("account_id")),
        "webhook" => format!("/v1/webhooks/{}", id("webhook_id")),
        "api_key" => "/v1/api-keys".to_string(),
        "onboarding_link" => match text(image, "organization_id") {
            Some(organization) => format!("/v1/organizations/{organization}/onboarding-links"),
            None => format!("/v1/accounts/{}/onboarding-links", id("account_id")),
        },
        _ => String::new(),
    };
    if !href.is_empty() {
        reference["href"] = json!(href);
    }
    reference
}

// Long: a table of an account's changes (archived, departed, role, status, fields) and the event
// each gives.
fn account_events(events: &mut Events<'_>, old: Option<&Account>, new: Option<&Account>) {
    let (old, new) = match (old, new) {
        (None, Some(new)) => {
            let data = json!({ "after": account_view(new) });
            events.push(
                EventType::AccountCreated,
                Some(&new.account_id),
                &new.created_by,
                data,
            );
            return;
        }
        (Some(old), None) => {
            let data = json!({ "before": account_view(old) });
            events.push(
                EventType::AccountDeleted,
                Some(&old.account_id),
                &old.updated_by,
                data,
            );
            return;
        }
        (Some(old), Some(new)) => (old, new),
        (None, None) => return,
    };
    let id = Some(new.account_id.as_str());
    let actor = new.updated_by.as_str();
    let changed = changed_fields(old, new);
    if !changed.is_empty() {
        let before = account_view(old);
        let after = account_view(new);
        let pick = |view: &Value| -> Value {
            changed
                .iter()
                .map(|name| (name.to_string(), view[name].clone()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let data = json!({ "changed": changed, "before": pick(&before), "after": pick(&after) });
        events.push(EventType::AccountUpdated, id, actor, data);
    }
    match (&old.archived_at, &new.archived_at) {
        (None, Some(at)) => events.push(
            EventType::AccountArchived,
            id,
            actor,
            json!({ "archived_at": at }),
        ),
        (Some(_), None) => events.push(EventType::AccountUnarchived, id, actor, json!({})),
        _ => {}
    }
    let organization_id = new
        .organization
        .as_ref()
        .map(|link| link.organization_id.as_str());
    match (&old.departed, &new.departed) {
        (None, Some(departure)) => events.push(
            EventType::AccountDeparted,
            id,
            actor,
            json!({ "organization_id": organization_id, "reason": departure.reason, "departed_at": departure.at }),
        ),
        (Some(_), None) => events.push(
            EventType::AccountReturned,
            id,
            actor,
            json!({ "organization_id": organization_id }),
        ),
        _ => {}
    }
    let (was, is) = (&old.credential, &new.credential);
    if was.verification_status != is.verification_status
        || was.verification_code != is.verification_code
    {
        let data = json!({
            "from": { "status": was.verification_status, "code": was.verification_code },
            "to": { "status": is.verification_status, "code": is.verification_code },
            "message": is.verification_message,
        });
        // Who asked: an API key, the customer's page, or the schedule.
        let by = is.verified_by.as_deref().unwrap_or(VERIFIER);
        events.push(EventType::VerificationChanged, id, by, data);
    }
    match (&old.pending_external_id, &new.pending_external_id) {
        (None, Some(_)) => events.push(EventType::RotationStarted, id, actor, json!({})),
        (Some(_), None) if old.external_id != new.external_id => {
            events.push(EventType::RotationCompleted, id, VERIFIER, json!({}))
        }
        (Some(_), None) => events.push(EventType::RotationCancelled, id, actor, json!({})),
        _ => {}
    }
}

/// An account as events show it: its fields and state, never its
/// external IDs.
fn account_view(account: &Account) -> Value {
    let mut view = serde_json::to_value(&account.fields).unwrap_or_default();
    view["account_id"] = json!(account.account_id);
    view["verification_status"] = json!(account.credential.verification_status);
    view["archived"] = json!(account.archived_at.is_some());
    if let Some(link) = &account.organization {
        view["organization"] = json!(link);
        view["departed"] = json!(account.departed.is_some());
    }
    view
}

/// The names of the caller-set fields that differ, and `organization`
/// when the account's place in its organization changed.
fn changed_fields(old: &Account, new: &Account) -> Vec<String> {
    let (Value::Object(before), Value::Object(after)) = (
        serde_json::to_value(&old.fields).unwrap_or_default(),
        serde_json::to_value(&new.fields).unwrap_or_default(),
    ) else {
        return Vec::new();
    };
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect();
    // Enrolment, a move between OUs or a rename in AWS Organizations.
    if old.organization != new.organization {
        names.push("organization".into());
    }
    names.sort();
    names.dedup();
    names
}

fn scan_events(events: &mut Events<'_>, old: Option<&Scan>, new: Option<&Scan>) {
    let Some(new) = new else { return };
    let id = Some(new.account_id.as_str());
    let summary = || {
        json!({
            "scan_id": new.scan_id,
            "data_source": new.data_source,
            "status": new.status,
            "counts": new.counts,
            "errors": new.errors,
        })
    };
    let Some(old) = old else {
        events.push(EventType::ScanQueued, id, &new.requested_by, summary());
        return;
    };
    if old.status == new.status && old.dead_lettered == new.dead_lettered {
        return;
    }
    match new.status {
        ScanStatus::Succeeded if old.status != ScanStatus::Succeeded => {
            events.push(EventType::ScanSucceeded, id, SCAN_WORKER, summary())
        }
        ScanStatus::Failed if new.dead_lettered && !old.dead_lettered => {
            events.push(EventType::ScanDeadLettered, id, SCAN_WORKER, summary())
        }
        ScanStatus::Failed if old.status != ScanStatus::Failed => {
            events.push(EventType::ScanFailed, id, SCAN_WORKER, summary())
        }
        // `errors` ends with the TIMEOUT that says so.
        ScanStatus::TimedOut if old.status != ScanStatus::TimedOut => {
            events.push(EventType::ScanFailed, id, SCAN_WORKER, summary())
        }
        _ => {}
    }
}

fn finding_events(events: &mut Events<'_>, old: Option<&Finding>, new: Option<&Finding>) {
    let view = |finding: &Finding| {
        json!({
            "finding_id": finding.finding_id,
            "data_source": finding.data_source,
            "rule": finding.rule,
            "title": finding.title,
            "resource_type": finding.resource_type,
            "resource_id": finding.resource_id,
            "severity": finding.severity,
        })
    };
    // Resolved findings stay as items (RESOLVED, then TTL removes them):
    // opened is new or seen again once resolved; resolved is marked so,
    // or removed while open (the account's data purged).
    let open = |finding: &Finding| finding.resolved_at.is_none();
    match (old, new) {
        (old, Some(new)) if open(new) && !old.is_some_and(open) => events.push(
            EventType::FindingOpened,
            Some(&new.account_id),
            SCAN_WORKER,
            view(new),
        ),
        (Some(old), new) if open(old) && !new.is_some_and(open) => events.push(
            EventType::FindingResolved,
            Some(&old.account_id),
            SCAN_WORKER,
            view(old),
        ),
        _ => {}
    }
    // A hand triage, and only one, moves the revision on.
    let (Some(old), Some(new)) = (old, new) else {
        return;
    };
    if new.triage_revision <= old.triage_revision {
        return;
    }
    let by_hand = new
        .suppression
        .as_ref()
        .filter(|held| held.rule_id.is_none());
    match by_hand {
        Some(suppression) => {
            let mut data = view(new);
            data["suppression"] =
                json!({ "reason": suppression.reason, "until": suppression.until });
            events.push(
                EventType::FindingSuppressed,
                Some(&new.account_id),
                &suppression.by,
                data,
            );
        }
        None => {
            let actor = events
                .change
                .new
                .as_ref()
                .and_then(|image| text(image, "updated_by"))
                .unwrap_or("unknown")
                .to_string();
            events.push(
                EventType::FindingUnsuppressed,
                Some(&new.account_id),
                &actor,
                view(new),
            );
        }
    }
}

fn api_key_events(events: &mut Events<'_>, old: Option<&ApiKey>, new: Option<&ApiKey>) {
    let view =
        |key: &ApiKey| json!({ "key_id": key.key_id, "name": key.name, "scopes": key.scopes });
    match (old, new) {
        (None, Some(new)) => {
            events.push(EventType::ApiKeyCreated, None, &new.created_by, view(new))
        }
        (Some(old), Some(new)) if old.revoked_at.is_none() && new.revoked_at.is_some() => {
            let actor = new.revoked_by.as_deref().unwrap_or("unknown");
            events.push(EventType::ApiKeyRevoked, None, actor, view(new))
        }
        _ => {}
    }
}

/// Made and revoked; a dead link deleted as newer ones are made is no
/// event (its revocation or expiry was the change).
fn onboarding_link_events(
    events: &mut Events<'_>,
    old: Option<&OnboardingLink>,
    new: Option<&OnboardingLink>,
) {
    let view = |link: &OnboardingLink| {
        let mut data = json!({ "link_id": link.link_id, "expires_at": link.expires_at });
        if let Some(account) = &link.account_id {
            data["account_id"] = json!(account);
        }
        if let Some(organization) = &link.organization_id {
            data["organization_id"] = json!(organization);
        }
        data
    };
    match (old, new) {
        (None, Some(new)) => events.push(
            EventType::OnboardingLinkCreated,
            new.account_id.as_deref(),
            &new.created_by,
            view(new),
        ),
        (Some(old), Some(new)) if old.revoked_at.is_none() && new.revoked_at.is_some() => {
            let actor = new.revoked_by.as_deref().unwrap_or("unknown");
            events.push(
                EventType::OnboardingLinkRevoked,
                new.account_id.as_deref(),
                actor,
                view(new),
            )
        }
        _ => {}
    }
}

fn webhook_events(events: &mut Events<'_>, old: Option<&Webhook>, new: Option<&Webhook>) {
    // The view never holds a secret; a rotation shows as `signing_secret`
    // among the changed fields.
    // A URL's path and query are often its secret (a chat's incoming
    // webhook): events show its origin only.
    let view = |hook: &Webhook| {
        let mut view = serde_json::to_value(hook.view()).unwrap_or_default();
        view["url"] = json!(crate::webhooks::redacted_url(&hook.url));
        view
    };
    match (old, new) {
        (None, Some(new)) => events.push(
            EventType::WebhookCreated,
            None,
            &new.created_by,
            json!({ "after": view(new) }),
        ),
        (Some(old), None) => events.push(
            EventType::WebhookDeleted,
            None,
            &old.updated_by,
            json!({ "before": view(old) }),
        ),
        (Some(old), Some(new)) if old.version != new.version => {
            if old.enabled && !new.enabled && new.disabled_reason.is_some() {
                let data = json!({
                    "webhook_id": new.webhook_id,
                    "url": crate::webhooks::redacted_url(&new.url),
                    "reason": new.disabled_reason,
                    "failing_since": new.failing_since,
                });
                events.push(EventType::WebhookDisabled, None, &new.updated_by, data);
                return;
            }
            let (before, after) = (view(old), view(new));
            let mut changed: Vec<&str> = ["url", "event_types", "description", "enabled"]
                .into_iter()
                .filter(|name| before.get(*name) != after.get(*name))
                .collect();
            let created = |hook: &Webhook| -> Vec<Timestamp> {
                hook.secrets
                    .iter()
                    .map(|secret| secret.created_at)
                    .collect()
            };
            if created(old) != created(new) {
                changed.push("signing_secret");
            }
            // A write that changed nothing a caller sees is no event.
            if changed.is_empty() {
                return;
            }
            let pick = |view: &Value| -> Value {
                changed
                    .iter()
                    .filter_map(|name| view.get(*name).map(|v| (name.to_string(), v.clone())))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            let data = json!({
                "webhook_id": new.webhook_id,
                "changed": changed,
                "before": pick(&before),
                "after": pick(&after),
            });
            events.push(EventType::WebhookUpdated, None, &new.updated_by, data);
        }
        _ => {}
    }
}

fn tenant_of(image: &Image) -> Option<String> {
    text(image, "pk")?
        .strip_prefix(keys::tenant_pk("").as_str())
        .map(str::to_string)
}

fn text<'a>(image: &'a Image, name: &str) -> Option<&'a str> {
    match image.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

fn decode<T: serde::de::DeserializeOwned>(image: &Option<Image>) -> Result<Option<T>> {
    image
        .as_ref()
        .map(|item| crate::aws::codec::from_item(item.clone()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AccountFields, VerificationStatus};
    use crate::trust::VerificationCode;

    fn account() -> Account {
        Account::register(
            "000000000001".into(),
            AccountFields {
                name: "Payments".into(),
                ..Default::default()
            },
            "key-1",
            Timestamp::now(),
        )
    }

    fn image(account: &Account) -> Image {
        crate::aws::store::account_item("acme", account).unwrap()
    }

    fn change(record_id: &str, old: Option<&Account>, new: Option<&Account>) -> Change {
        Change {
            record_id: record_id.into(),
            sequence: "1".into(),
            time: Timestamp::now(),
            old: old.map(image),
            new: new.map(image),
        }
    }

    fn types(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.event_type.as_str()).collect()
    }

    /// The stream gives whole seconds; an event keeps the milliseconds its
    /// write stamped, and the actor who asked for a verification.
    #[test]
    fn events_keep_milliseconds_and_name_who_asked_for_a_verification() {
        let second = Timestamp::parse("2026-12-04T12:00:00.000Z").unwrap();
        let mut old = account();
        old.updated_at = Timestamp::parse("2026-12-04T11:59:00.000Z").unwrap();
        let mut new = old.clone();
        new.fields.name = "Renamed".into();
        new.updated_at = Timestamp::parse("2026-12-04T12:00:00.734Z").unwrap();
        let at = |new: &Account| {
            events_of(&Change {
                time: second,
                ..change("r9", Some(&old), Some(new))
            })
            .unwrap()[0]
                .time
        };
        assert_eq!(at(&new), new.updated_at);
        // A stamp outside the record's second is not this write's.
        new.updated_at = Timestamp::parse("2026-12-04T11:59:59.900Z").unwrap();
        assert_eq!(at(&new), second);

        let mut verified = old.clone();
        verified.credential.verification_status = VerificationStatus::Fail;
        verified.credential.verification_code = Some(VerificationCode::AccessDenied);
        verified.credential.last_verified_at = Timestamp::parse("2026-12-04T12:00:00.250Z");
        verified.credential.verified_by = Some("onboarding-link:01ABC".into());
        let events = events_of(&Change {
            time: second,
            ..change("r10", Some(&old), Some(&verified))
        })
        .unwrap();
        let event = events
            .iter()
            .find(|e| e.event_type == EventType::VerificationChanged)
            .unwrap();
        assert_eq!(event.actor, "onboarding-link:01ABC");
        assert_eq!(event.time, verified.credential.last_verified_at.unwrap());
    }

    /// A record this version cannot read holds back no other record.
    #[test]
    fn an_unreadable_record_is_left_out_and_the_rest_go_on() {
        let mut broken = image(&account());
        broken.insert("version".into(), AttributeValue::S("not a number".into()));
        let poison = Change {
            new: Some(broken),
            ..change("r1", None, None)
        };
        let fine = change("r2", None, Some(&account()));
        let events = events_of_all(&[poison.clone(), fine]);
        assert_eq!(types(&events), ["account.created"]);
        assert!(ledger_of_all(&[poison]).is_empty());
    }

    /// An event larger than a channel carries keeps its envelope and
    /// carries a reference to read the resource back.
    #[test]
    fn an_event_too_large_to_send_whole_carries_a_reference() {
        let old = account();
        let mut new = old.clone();
        new.fields.resource_regex_ignore_list = (0..100)
            .map(|i| format!("{i}{}", "x".repeat(1020)))
            .collect();
        new.fields.labels = (0..60)
            .map(|i| (format!("k{i}"), "v".repeat(2000)))
            .collect();
        new.version = 7;
        let events = events_of(&change("r3", Some(&old), Some(&new))).unwrap();
        assert_eq!(types(&events), ["account.updated"]);
        let event = &events[0];
        assert!(serde_json::to_vec(event).unwrap().len() <= MAX_EVENT_BYTES);
        assert_eq!(event.data["truncated"], json!(true));
        assert_eq!(
            event.data["changed"],
            json!(["labels", "resource_regex_ignore_list"])
        );
        assert_eq!(
            event.data["reference"],
            json!({"resource": "account", "account_id": "000000000001", "version": 7, "href": "/v1/accounts/000000000001"})
        );
        // A small change is sent whole.
        let mut renamed = old.clone();
        renamed.fields.name = "Renamed".into();
        let events = events_of(&change("r4", Some(&old), Some(&renamed))).unwrap();
        assert_eq!(events[0].data["after"]["name"], "Renamed");
    }

    #[test]
    fn account_lifecycle_events_name_tenant_account_and_actor() {
        let created = account();
        let events = events_of(&change("r1", None, Some(&created))).unwrap();
        assert_eq!(types(&events), ["account.created"]);
        assert_eq!(events[0].tenant, "acme");
        assert_eq!(events[0].account_id.as_deref(), Some("000000000001"));
        assert_eq!(events[0].actor, "key-1");
        assert_eq!(events[0].data["after"]["name"], "Payments");

        let mut renamed = created.clone();
        renamed.fields.name = "Payments EU".into();
        renamed.fields.regions = vec!["eu-west-1".into()];
        renamed.updated_by = "key-2".into();
        let events = events_of(&change("r2", Some(&created), Some(&renamed))).unwrap();
        assert_eq!(types(&events), ["account.updated"]);
        assert_eq!(events[0].data["changed"], json!(["name", "regions"]));
        assert_eq!(events[0].data["before"]["name"], "Payments");
        assert_eq!(events[0].data["after"]["name"], "Payments EU");
        assert_eq!(events[0].actor, "key-2");

        let mut archived = renamed.clone();
        archived.archived_at = Some(Timestamp::now());
        let events = events_of(&change("r3", Some(&renamed), Some(&archived))).unwrap();
        assert_eq!(types(&events), ["account.archived"]);
        let events = events_of(&change("r4", Some(&archived), Some(&renamed))).unwrap();
        assert_eq!(types(&events), ["account.unarchived"]);
        let events = events_of(&change("r5", Some(&renamed), None)).unwrap();
        assert_eq!(types(&events), ["account.deleted"]);
    }

    #[test]
    fn enrolment_departure_and_return_name_the_organization() {
        use crate::account::{Departure, DepartureReason, OrganizationLink};
        let mut enrolled = account();
        enrolled.organization = Some(OrganizationLink {
            organization_id: "01JD0000000000000000000004".into(),
            name: "payments".into(),
            email: "aws+payments@example.com".into(),
            ou_path: vec!["ou-ab12-cdef3456".into()],
            adopted: false,
        });
        let events = events_of(&change("o1", None, Some(&enrolled))).unwrap();
        assert_eq!(types(&events), ["account.created"]);
        assert_eq!(
            events[0].data["after"]["organization"]["organization_id"],
            "01JD0000000000000000000004"
        );
        let mut departed = enrolled.clone();
        departed.departed = Some(Departure {
            at: Timestamp::now(),
            reason: DepartureReason::Suspended,
        });
        let events = events_of(&change("o2", Some(&enrolled), Some(&departed))).unwrap();
        assert_eq!(types(&events), ["account.departed"]);
        assert_eq!(
            events[0].data["organization_id"],
            "01JD0000000000000000000004"
        );
        assert_eq!(events[0].data["reason"], "SUSPENDED");
        let events = events_of(&change("o3", Some(&departed), Some(&enrolled))).unwrap();
        assert_eq!(types(&events), ["account.returned"]);
        let mut moved = enrolled.clone();
        moved.organization.as_mut().unwrap().ou_path = vec!["ou-ab12-99999999".into()];
        let events = events_of(&change("o4", Some(&enrolled), Some(&moved))).unwrap();
        assert_eq!(types(&events), ["account.updated"]);
        assert_eq!(events[0].data["changed"], json!(["organization"]));
        assert_eq!(
            events[0].data["after"]["organization"]["ou_path"],
            json!(["ou-ab12-99999999"])
        );
    }

    #[test]
    fn a_verification_that_changes_nothing_is_no_event() {
        let mut success = account();
        success.credential.verification_status = VerificationStatus::Success;
        success.credential.verification_code = Some(VerificationCode::Ok);
        let mut again = success.clone();
        again.credential.last_verified_at = Some(Timestamp::now());
        again.credential.next_verification_at = Some(Timestamp::now());
        assert!(events_of(&change("r1", Some(&success), Some(&again)))
            .unwrap()
            .is_empty());

        let mut failed = again.clone();
        failed.credential.verification_status = VerificationStatus::Fail;
        failed.credential.verification_code = Some(VerificationCode::AccessDenied);
        failed.credential.verification_message = Some("the role is gone".into());
        let events = events_of(&change("r2", Some(&again), Some(&failed))).unwrap();
        assert_eq!(types(&events), ["credential.verification_changed"]);
        let data = &events[0].data;
        assert_eq!(data["from"]["status"], "SUCCESS");
        assert_eq!(data["to"]["status"], "FAIL");
        assert_eq!(data["to"]["code"], "ACCESS_DENIED");
        assert_eq!(data["message"], "the role is gone");
        assert_eq!(events[0].actor, VERIFIER);
    }

    #[test]
    fn rotations_start_complete_or_cancel_and_never_show_an_external_id() {
        let current = account();
        let mut pending = current.clone();
        pending.pending_external_id = Some("new-external-id-000".into());
        let mut promoted = pending.clone();
        promoted.external_id = "new-external-id-000".into();
        promoted.pending_external_id = None;
        let started = events_of(&change("r1", Some(&current), Some(&pending))).unwrap();
        let completed = events_of(&change("r2", Some(&pending), Some(&promoted))).unwrap();
        let cancelled = events_of(&change("r3", Some(&pending), Some(&current))).unwrap();
        assert_eq!(types(&started), ["external_id.rotation_started"]);
        assert_eq!(types(&completed), ["external_id.rotation_completed"]);
        assert_eq!(types(&cancelled), ["external_id.rotation_cancelled"]);
        let created = events_of(&change("r4", None, Some(&promoted))).unwrap();
        for event in [started, completed, cancelled, created].concat() {
            let text = serde_json::to_string(&event).unwrap();
            assert!(!text.contains(&current.external_id), "{text}");
            assert!(!text.contains("new-external-id-000"), "{text}");
        }
    }

    #[test]
    fn ids_are_stable_per_record_and_type() {
        let created = account();
        let first = events_of(&change("record-7", None, Some(&created))).unwrap();
        let again = events_of(&change("record-7", None, Some(&created))).unwrap();
        let other = events_of(&change("record-8", None, Some(&created))).unwrap();
        assert_eq!(first[0].id, again[0].id, "a redelivered record");
        assert_ne!(first[0].id, other[0].id);
        assert!(first[0].id.starts_with("evt_") && first[0].id.len() == 36);
    }

    fn scan_image(scan: &Scan) -> Image {
        let mut item: Image = crate::aws::codec::to_item(scan).unwrap();
        item.insert("pk".into(), AttributeValue::S(keys::tenant_pk("acme")));
        item.insert("type".into(), AttributeValue::S("scan".into()));
        item
    }

    #[test]
    fn scans_are_queued_then_succeed_or_fail_once() {
        let queued = Scan::queued(
            "000000000001",
            "aws:iam",
            false,
            vec![],
            "key-1",
            Timestamp::now(),
        );
        let scan_change = |record: &str, old: Option<&Scan>, new: &Scan| Change {
            record_id: record.into(),
            sequence: "1".into(),
            time: Timestamp::now(),
            old: old.map(scan_image),
            new: Some(scan_image(new)),
        };
        let events = events_of(&scan_change("r1", None, &queued)).unwrap();
        assert_eq!(types(&events), ["scan.queued"]);
        assert_eq!(events[0].actor, "key-1");
        let mut running = queued.clone();
        running.status = ScanStatus::Running;
        assert!(events_of(&scan_change("r2", Some(&queued), &running))
            .unwrap()
            .is_empty());
        let mut done = running.clone();
        done.status = ScanStatus::Succeeded;
        let events = events_of(&scan_change("r3", Some(&running), &done)).unwrap();
        assert_eq!(types(&events), ["scan.succeeded"]);
        assert_eq!(events[0].data["scan_id"], json!(queued.scan_id));
        let mut dead = running.clone();
        dead.status = ScanStatus::Failed;
        dead.dead_lettered = true;
        let events = events_of(&scan_change("r4", Some(&running), &dead)).unwrap();
        assert_eq!(types(&events), ["scan.dead_lettered"]);
        // Items that are not ours to tell about yield nothing.
        let mut other = scan_image(&queued);
        other.insert("type".into(), AttributeValue::S("attachment".into()));
        let change = Change {
            record_id: "r5".into(),
            sequence: "1".into(),
            time: Timestamp::now(),
            old: None,
            new: Some(other),
        };
        assert!(events_of(&change).unwrap().is_empty());
    }
}

#[cfg(test)]
mod documentation {
    use super::*;

    /// The README's example event is the one the OpenAPI document shows.
    #[test]
    fn the_readme_example_is_the_documented_one() {
        let readme = include_str!("../../../README.md");
        let block = readme
            .split("```json")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .find(|block| block.contains("\"type\": \"credential.verification_changed\""))
            .expect("the README's example event");
        let shown: Value = serde_json::from_str(block).expect("JSON");
        assert_eq!(
            shown,
            serde_json::to_value(EventType::VerificationChanged.example()).unwrap()
        );
    }
}
