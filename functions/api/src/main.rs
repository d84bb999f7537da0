//! The API Lambda: the axum router behind API Gateway (HTTP API).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::init_json_logs();
    let state = api::AppState::from_env().await;
    lambda_http::run(api::router(state)).await
}
