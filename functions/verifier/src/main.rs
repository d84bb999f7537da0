//! The verifier Lambda (EventBridge schedule).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<EventBridgeEvent>| async move {
            Ok::<_, Error>(verifier::handle_schedule(event.payload).await)
        },
    ))
    .await
}
