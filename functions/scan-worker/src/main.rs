//! The scan worker Lambda (SQS event source, ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    let runner = service::usecases::scan_run::ScanRunner::new(&services);
    let runner = &runner;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let deadline =
            service::usecases::scan_run::Deadline::from_epoch_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(
            scan_worker::handle_batch(runner, event.payload, deadline).await,
        )
    }))
    .await
}
