//! The adapters: every call to AWS (and the only code that names an AWS
//! SDK type). The use cases call them through narrow functions; the domain
//! never sees them.
//!
//! - DynamoDB, the one table: [`store`] (its layout in [`schema`]);
//! - STS AssumeRole and the IAM reads that check a role: [`verification`];
//! - AWS Organizations: [`discovery`];
//! - the built-in scanners' reads of a customer's IAM and SQS: [`scanners`];
//! - the scan and webhook SQS queues: [`jobs`] and [`deliveries`];
//! - EventBridge: [`bus`];
//! - the table's stream images, decoded into typed changes: [`changes`];
//! - items to and from our types, SDK errors to ours: [`codec`], [`errors`].

pub mod bus;
pub mod capacity;
pub mod changes;
pub mod codec;
pub mod deliveries;
pub mod discovery;
pub mod errors;
pub mod jobs;
pub mod scanners;
pub mod schema;
pub mod store;
pub mod verification;
