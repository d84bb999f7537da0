//! Publishing jobs (scans, organization syncs) to SQS.

use crate::error::store_error;
use crate::scans::ScanJob;
use crate::{Error, Result};

/// The scan queue (and, for the worker, the queues of external scanners).
#[derive(Clone, Debug)]
pub struct JobQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl JobQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        JobQueue {
            sqs,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    pub async fn send_job(&self, job: &ScanJob) -> Result<()> {
        self.send_json(job).await
    }

    /// Send jobs ten to a SendMessageBatch; any entry refused fails the
    /// whole (a retry of the request queues a new scan).
    pub async fn send_jobs(&self, jobs: &[ScanJob]) -> Result<()> {
        if let [job] = jobs {
            return self.send_job(job).await;
        }
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (index, job) in chunk.iter().enumerate() {
                entries.push(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(serde_json::to_string(job).map_err(store_error)?)
                        .build()
                        .map_err(store_error)?,
                );
            }
            let sent = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| Error::unavailable_because("SQS SendMessageBatch failed", err))?;
            if let Some(failed) = sent.failed.first() {
                return Err(Error::unavailable(format!(
                    "SQS SendMessageBatch refused a job: {} ({})",
                    failed.message.as_deref().unwrap_or(""),
                    failed.code
                )));
            }
        }
        Ok(())
    }

    /// Send any job as its JSON.
    pub async fn send_json<T: serde::Serialize>(&self, job: &T) -> Result<()> {
        let body = serde_json::to_string(job).map_err(store_error)?;
        send(&self.sqs, &self.url, body).await
    }
}

/// Send one message body to the queue at `url` (also an external
/// scanner's queue); a failure is retryable.
pub async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: String) -> Result<()> {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| Error::unavailable_because("SQS SendMessage failed", err))
}
