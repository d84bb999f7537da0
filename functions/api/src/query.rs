//! Query strings, read into typed structs: one struct per endpoint, which
//! is also the endpoint's documented parameter list (utoipa `IntoParams`).
//! Unknown parameters are refused by name, a parameter given twice where
//! one is allowed is refused, and a bad value names its parameter.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use service::listing::{DEFAULT_LIMIT, MAX_LIMIT};
use utoipa::IntoParams;

/// A typed query string; repeated keys fill `Vec` fields.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Read `raw` into `T`, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let deserializer = serde_html_form::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        // A repeated parameter's path has an index (`account_id[0]`); the
        // caller knows the parameter by its name.
        let path = err.path().to_string();
        let path = path.split('[').next().unwrap_or(&path).to_string();
        let inner = err.into_inner().to_string();
        let named = inner.split('`').nth(1).unwrap_or(&path).to_string();
        if inner.starts_with("unknown field") {
            let accepted = inner
                .split_once("expected ")
                .map(|(_, list)| list.replace("one of ", "").replace('`', ""))
                .unwrap_or_default();
            ApiError::bad_request(
                "unknown_parameter",
                Some(named.clone()),
                format!("unknown query parameter '{named}'; accepted: {accepted}"),
            )
        } else if inner.starts_with("missing field") {
            ApiError::bad_request(
                "missing_parameter",
                Some(named.clone()),
                format!("the query parameter '{named}' is required"),
            )
        } else if inner == "unsupported value" || inner.starts_with("duplicate field") {
            ApiError::bad_request(
                "invalid_value",
                Some(named.clone()),
                format!("'{named}' may be given only once"),
            )
        } else {
            ApiError::bad_request(
                "invalid_value",
                Some(path.clone()),
                format!("{path}: {inner}"),
            )
        }
    })
}

/// `limit`: 1-1000, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub usize);

impl Default for Limit {
    fn default() -> Self {
        Limit(DEFAULT_LIMIT)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .map(Limit)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "'{}' is not a valid limit; use a whole number from 1 to {MAX_LIMIT}",
                    service::validation::echo(&text)
                ))
            })
    }
}

/// Paging of a listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-1000, default 100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    /// next_cursor of the previous page.
    pub cursor: Option<String>,
}

/// A `true`/`false` flag, false when absent.
pub fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "'{}' is not a valid flag; use true or false",
            service::validation::echo(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        limit: Limit,
        cursor: Option<String>,
        #[serde(default)]
        tag: Vec<String>,
        #[serde(default, deserialize_with = "flag")]
        all: bool,
    }

    fn error(raw: &str) -> (&'static str, Option<String>, String) {
        let err = parse_query::<Sample>(raw).unwrap_err();
        (err.code, err.field, err.message)
    }

    #[test]
    fn typed_queries_name_what_is_wrong() {
        let ok: Sample = parse_query("limit=5&tag=a&tag=b&cursor=x&all=true").unwrap();
        assert_eq!(
            (ok.limit, ok.tag, ok.cursor.as_deref(), ok.all),
            (
                Limit(5),
                vec!["a".to_string(), "b".to_string()],
                Some("x"),
                true
            )
        );
        let empty: Sample = parse_query("").unwrap();
        assert_eq!((empty.limit, empty.all), (Limit(DEFAULT_LIMIT), false));
        let (code, field, message) = error("colour=red");
        assert_eq!(
            (code, field.as_deref()),
            ("unknown_parameter", Some("colour"))
        );
        assert!(
            message.contains("accepted: limit, cursor, tag, all"),
            "{message}"
        );
        let (code, field, message) = error("cursor=a&cursor=b");
        assert_eq!((code, field.as_deref()), ("invalid_value", Some("cursor")));
        assert!(message.contains("only once"), "{message}");
        for bad in ["limit=0", "limit=1001", "limit=ten"] {
            let (code, field, message) = error(bad);
            assert_eq!(
                (code, field.as_deref()),
                ("invalid_value", Some("limit")),
                "{bad}"
            );
            assert!(message.contains("1 to 1000"), "{message}");
        }
        assert_eq!(error("all=yes").1.as_deref(), Some("all"));
    }
}
