//! The notifier Lambda (the table's DynamoDB stream).

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    let notifier = notifier::Notifier::new(&services);
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(notifier.handle(event.payload).await)
    }))
    .await
}
