//! The organization sync function: each message of the sync queue names
//! one organization whose sync was asked for (on demand by the API, or by
//! the verifier's schedule); [`service::usecases::organizations::run_sync_job`]
//! claims it, so a duplicate message runs nothing, and syncs. A sync that
//! fails is recorded on the organization and retried by the schedule, so
//! only a message that cannot be read or a store that cannot be reached
//! sends the message back to the queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use service::aws::store::Store;
use service::aws::verification::{RoleVerifier, VerificationSettings};
use service::organizations::SyncJob;
use service::usecases::organizations::{run_sync_job, SyncJobOutcome, SyncSchedule};
use std::future::Future;
use std::sync::Arc;

#[derive(Clone)]
pub struct Syncer {
    pub store: Store,
    pub verifier: RoleVerifier,
    pub settings: Arc<VerificationSettings>,
    pub schedule: SyncSchedule,
}

/// Why a message goes back to the queue.
#[derive(Debug, PartialEq)]
pub enum Retry {
    /// Not a sync job (after maxReceiveCount it is dead-lettered).
    Malformed(String),
    /// The claim or the record could not be written.
    Store(String),
}

impl Syncer {
    /// Built from the composition root.
    pub fn new(services: &service::runtime::config::Services) -> Self {
        Syncer {
            store: services.store.clone(),
            verifier: services.verifier.clone(),
            settings: services.verification.clone(),
            schedule: SyncSchedule::from_config(&services.config),
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_one_by_one(event, |body| self.handle_message(body)).await
    }

    /// One message: read its job, then run it.
    pub async fn handle_message(&self, body: String) -> Result<(), Retry> {
        let job: SyncJob = serde_json::from_str(&body).map_err(|err| {
            tracing::warn!(error = %err, "not an organization sync job");
            Retry::Malformed(err.to_string())
        })?;
        let span = tracing::info_span!("organization_sync", tenant = %job.tenant, organization_id = %job.organization_id);
        let outcome = tracing::Instrument::instrument(
            run_sync_job(
                &self.store,
                &self.verifier,
                &self.settings,
                self.schedule,
                &job,
            ),
            span.clone(),
        )
        .await;
        span.in_scope(|| match &outcome {
            Ok(SyncJobOutcome::Synced(summary)) => tracing::info!(
                status = ?summary.status,
                members = summary.members,
                accounts_written = summary.accounts_written,
                "organization synced"
            ),
            Ok(SyncJobOutcome::Skipped) => {
                tracing::info!("nothing to run: already synced or another worker holds it")
            }
            Err(service::Error::NotFound { .. }) => {
                tracing::info!("the organization was deleted")
            }
            Err(err) => tracing::warn!(error = %err, "sync job will be delivered again"),
        });
        match outcome {
            Ok(_) | Err(service::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(Retry::Store(err.to_string())),
        }
    }
}

/// Run each message's body through `handle`, one after another (syncs of
/// one tenant's organizations share its member accounts), and report the
/// failed ones so SQS delivers only those again.
pub async fn handle_one_by_one<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), Retry>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if handle(message.body.unwrap_or_default()).await.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bodies: &[(&str, &str)]) -> SqsEvent {
        let json = serde_json::json!({
            "Records": bodies.iter().map(|(id, body)| serde_json::json!({
                "messageId": id, "receiptHandle": "h", "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:q", "awsRegion": "us-east-1",
            })).collect::<Vec<_>>()
        });
        serde_json::from_value(json).unwrap()
    }

    #[tokio::test]
    async fn only_the_failed_messages_come_back() {
        let batch = event(&[("m1", "ok"), ("m2", "bad"), ("m3", "ok")]);
        let response = handle_one_by_one(batch, |body| async move {
            match body.as_str() {
                "ok" => Ok(()),
                _ => Err(Retry::Store("unreachable".into())),
            }
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m2"]);
    }

    /// The sample event of `events/` (for `cargo lambda invoke`) is one
    /// job of the sync queue.
    #[tokio::test]
    async fn the_sample_event_is_one_sync_job() {
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/organization-sync-job.json"))
                .unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let response = handle_one_by_one(event, |body| {
            let job: SyncJob = serde_json::from_str(&body).unwrap();
            seen.lock().unwrap().push(job);
            async { Ok(()) }
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].tenant, "default");
    }

    #[test]
    fn a_job_is_read_strictly() {
        let job: SyncJob = serde_json::from_str(
            r#"{"tenant":"acme","organization_id":"01JD0000000000000000000004"}"#,
        )
        .unwrap();
        assert_eq!(job.tenant, "acme");
        assert!(serde_json::from_str::<SyncJob>(r#"{"tenant":"acme"}"#).is_err());
        assert!(serde_json::from_str::<SyncJob>(
            r#"{"tenant":"acme","organization_id":"x","extra":1}"#
        )
        .is_err());
    }
}
