//! The path extractor of every handler: axum's `Path` whose rejection is
//! our error shape. Its types are the domain's checked ids
//! ([`service::ids::AccountId`], ...), so a handler gets ids that were
//! parsed once; the router's parameter check has already refused bad ones
//! with the same rule, so a rejection here is a defect, still answered
//! with a 400 that names what failed.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_value",
                None,
                rejection.body_text(),
            )),
        }
    }
}
