//! External scanners report back: pages of findings, then the end.

use crate::auth::ScannerAuth;
use crate::body::{parse, JsonObject};
use crate::error::ApiError;
use crate::path::Path;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::Value;
use service::ids::ScanId;
use service::scanner::{Completion, ResultsPage};
use service::scans::Scan;
use service::usecases::external_scans::UploadReceipt;
use sha2::{Digest, Sha256};

#[utoipa::path(
    post, path = "/v1/scans/{scan_id}/results", tag = "scanners",
    params(("scan_id" = String, Path, description = "The scan_id of the job the scanner received")),
    request_body = ResultsPage,
    responses(
        (status = 200, description = "The page is stored (or was, with these findings: `duplicate`)", body = UploadReceipt),
        (status = 403, description = "An API key, or a scanner credential of another data source", body = crate::error::ErrorResponse),
        (status = 409, description = "The scan takes no more results (finished or timed out), or this page was uploaded with other findings", body = crate::error::ErrorResponse),
    ),
    security(("scanner" = []))
)]
pub async fn upload_results(
    ScannerAuth(credential): ScannerAuth,
    State(state): State<AppState>,
    Path(scan_id): Path<ScanId>,
    JsonObject(body): JsonObject,
) -> Result<Json<UploadReceipt>, ApiError> {
    // The page as parsed (keys sorted), so spacing does not make a repeat differ.
    let fingerprint = hex::encode(Sha256::digest(
        serde_json::to_vec(&body).unwrap_or_default(),
    ));
    let page: ResultsPage = parse(Value::Object(body))?;
    let receipt = state
        .external_scans()
        .upload(&credential, &scan_id, page, fingerprint)
        .await?;
    Ok(Json(receipt))
}

#[utoipa::path(
    post, path = "/v1/scans/{scan_id}/complete", tag = "scanners",
    params(("scan_id" = String, Path, description = "The scan_id of the job the scanner received")),
    request_body = Completion,
    responses(
        (status = 200, description = "The scan as it ended (completing it again the same way answers the same)", body = Scan),
        (status = 403, description = "An API key, or a scanner credential of another data source", body = crate::error::ErrorResponse),
        (status = 409, description = "The scan ended otherwise (or timed out), or pages are missing", body = crate::error::ErrorResponse),
    ),
    security(("scanner" = []))
)]
pub async fn complete_scan(
    ScannerAuth(credential): ScannerAuth,
    State(state): State<AppState>,
    Path(scan_id): Path<ScanId>,
    JsonObject(body): JsonObject,
) -> Result<Json<Scan>, ApiError> {
    let completion: Completion = parse(Value::Object(body))?;
    let scan = state
        .external_scans()
        .complete(&credential, &scan_id, completion)
        .await?;
    Ok(Json(scan))
}
