//! The webhook sender Lambda (the FIFO delivery queue).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    let sender = match webhook_sender::Sender::new(&services) {
        Ok(Some(sender)) => sender,
        Ok(None) => {
            eprintln!("invalid configuration: WEBHOOK_QUEUE_URL is required by the webhook sender");
            std::process::exit(1);
        }
        Err(err) => {
            eprintln!("the delivery client could not load trust roots: {err}");
            std::process::exit(1);
        }
    };
    let (sender, sqs) = (&sender, &services.sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(sender.handle_batch(sqs, event.payload).await)
    }))
    .await
}
