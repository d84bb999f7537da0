//! The organization sync Lambda (SQS event source, ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    let syncer = organization_sync::Syncer::new(&services);
    let syncer = &syncer;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(syncer.handle_batch(event.payload).await)
    }))
    .await
}
