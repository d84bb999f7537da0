//! The scan worker Lambda (SQS event source, ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    let worker = scan_worker::Worker::new(&services);
    let worker = &worker;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let deadline = scan_worker::Deadline::from_epoch_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(worker.handle_batch(event.payload, deadline).await)
    }))
    .await
}
