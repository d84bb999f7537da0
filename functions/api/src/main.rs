//! The API Lambda: the axum router behind API Gateway (HTTP API).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    model::telemetry::init(model::telemetry::LogFormat::Json);
    let services = model::config::Services::from_env_or_exit().await;
    lambda_http::run(api::router(api::AppState::from_services(&services))).await
}
