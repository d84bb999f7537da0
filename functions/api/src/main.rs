//! The API Lambda: the axum router behind API Gateway (HTTP API).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Json);
    let services = service::runtime::config::Services::from_env_or_exit().await;
    lambda_http::run(api::router(api::AppState::from_services(&services))).await
}
