//! The verifier: on its schedule, re-verifies the credentials that are due.
//!
//! This crate parses the schedule event and reports its sweep; verification
//! itself arrives with the trust issue.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::Serialize;

/// What one sweep did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub verified: usize,
    pub failed: usize,
}

pub async fn handle_schedule(event: EventBridgeEvent) -> SweepReport {
    tracing::info!(
        source = %event.source,
        detail_type = %event.detail_type,
        time = ?event.time,
        "verification sweep started"
    );
    SweepReport::default()
}
