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
