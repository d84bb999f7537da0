//! The test kit: what AWS does around the functions, done on this machine.
//!
//! On AWS the template creates the table, queues and bus, Lambda's event
//! source mappings feed the stream and the queues to the functions. The dev
//! server, the integration tests and the benchmarks do it with these, so
//! no production function links the DynamoDB Streams SDK or a poller.

pub mod provision;
pub mod scan_pump;
pub mod sqs_pump;
pub mod stream;
pub mod webhook_pump;
// Endpoints that answer as AWS does, at a rate and a size moto cannot:
// the benchmarks and the capacity budget of an organization sync.
pub mod organizations_endpoint;
pub mod sts_endpoint;
