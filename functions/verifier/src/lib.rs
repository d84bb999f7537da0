//! The verifier: on its EventBridge schedule, runs the scheduled sweep
//! (`service::usecases::sweep`). This crate is the adapter: it logs what
//! started it and hands the sweep the invocation's remaining time.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use service::usecases::sweep::{SweepReport, Sweeper};

/// The Lambda entry: one scheduled run in the `remaining` time.
pub async fn handle_schedule(
    sweeper: &Sweeper,
    event: EventBridgeEvent,
    remaining: std::time::Duration,
) -> SweepReport {
    tracing::info!(source = %event.source, detail_type = %event.detail_type, "verification sweep started");
    // Boxed: the run's future type is deep enough to trip the compiler's
    // layout recursion limit when inlined into the Lambda's handler.
    Box::pin(sweeper.run_scheduled(remaining)).await
}
