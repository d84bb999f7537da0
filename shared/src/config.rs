//! Runtime configuration from the environment.
//!
//! Endpoints of the local emulators come through the SDK's own variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`, ...), so the code
//! that runs locally is exactly the code that runs in Lambda.

use aws_config::{BehaviorVersion, SdkConfig};

pub const DEFAULT_TABLE_NAME: &str = "accounts";

/// The AWS configuration: region, credentials and endpoints.
pub async fn aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Name of the single table, from `TABLE_NAME`.
pub fn table_name() -> String {
    std::env::var("TABLE_NAME").unwrap_or_else(|_| DEFAULT_TABLE_NAME.to_string())
}
