//! Request bodies and query strings, with errors that name the field.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The largest CSV body accepted (10,000 rows fit; API Gateway's own limit is 10 MB).
pub const MAX_CSV_BYTES: usize = 10 << 20;

/// A JSON object body. Checks the media type (415), the size (413) and the
/// syntax (400) before any handler code runs.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match JsonBody::from_request(request, state).await?.0 {
            Value::Object(object) => Ok(JsonObject(object)),
            _ => Err(ApiError::bad_request(
                "invalid_body",
                None,
                "the body must be a JSON object",
            )),
        }
    }
}

/// A JSON body of any kind (an array: Carbon Black's bulk requests),
/// checked as [`JsonObject`] checks it.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (content_type, media) = media_type(request.headers());
        if !media.as_ref().is_some_and(MediaType::is_json) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "expected a JSON body with Content-Type: application/json (or application/merge-patch+json for PATCH), got '{content_type}'"
                ),
            ));
        }
        let bytes = read_bytes(request, state, MAX_BODY_BYTES).await?;
        Ok(JsonBody(parse_json(&bytes)?))
    }
}

/// A JSON object body that may be left out: no body at all (and no
/// Content-Type) is `{}`, so the documented defaults apply; a body is
/// checked as [`JsonObject`] checks it.
pub struct OptionalJsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers();
        let empty = !headers.contains_key(header::CONTENT_TYPE)
            && headers
                .get(header::CONTENT_LENGTH)
                .is_none_or(|length| length.as_bytes() == b"0")
            && !headers.contains_key(header::TRANSFER_ENCODING);
        if empty {
            return Ok(OptionalJsonObject(Map::new()));
        }
        Ok(OptionalJsonObject(
            JsonObject::from_request(request, state).await?.0,
        ))
    }
}

/// Parse a JSON document, refusing a key repeated within one object (which
/// would otherwise let the last one win silently) with a 400 naming it.
/// Nesting is bounded by serde_json's recursion limit (128 levels), so no
/// body can exhaust the stack here or in any later walk of the value.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<UniqueKeys, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(UniqueKeys(value)) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = inner.to_string();
            if message.starts_with(DUPLICATE_KEY) {
                let key = message.split('`').nth(1).map(str::to_string);
                return Err(ApiError::bad_request(
                    "duplicate_key",
                    service::validation::join_path(&path, key),
                    format!("{message}: give each key once"),
                ));
            }
            return Err(ApiError::bad_request(
                "invalid_json",
                None,
                format!("the body is not valid JSON: {message}"),
            ));
        }
    };
    deserializer.end().map_err(|err| {
        ApiError::bad_request(
            "invalid_json",
            None,
            format!("the body is not valid JSON: {err}"),
        )
    })?;
    Ok(value)
}

const DUPLICATE_KEY: &str = "duplicate key";

/// A JSON value whose objects have no repeated keys.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has one number type, and JSON Schema's `integer` admits
        // 10.0: read a whole number written with a fraction as the integer
        // (exactly, within ±2^53), so an integer field takes it.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if v.fract() == 0.0 && v.abs() <= EXACT {
            return Ok(Value::from(v as i64));
        }
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(UniqueKeys(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{DUPLICATE_KEY} `{}`",
                    service::validation::echo(&key)
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The Content-Type as sent, and its media type (`None` when the header
/// is malformed, which no body type accepts).
pub fn media_type(headers: &axum::http::HeaderMap) -> (String, Option<MediaType>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let media = MediaType::parse(&content_type);
    (content_type, media)
}

/// A Content-Type parsed as RFC 9110 writes it: `type/subtype`, then
/// `; name=value` parameters (a token or a quoted string), with optional
/// white space around the semicolons. Anything else (`application/json;=`,
/// a parameter without a value, a stray quote) is malformed: it is not
/// read as the media type it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower-cased.
    pub essence: String,
}

impl MediaType {
    pub fn parse(text: &str) -> Option<MediaType> {
        let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        let token = |text: &str| !text.is_empty() && text.chars().all(is_tchar);
        let (essence, mut rest) = match text.find(';') {
            Some(at) => (&text[..at], &text[at..]),
            None => (text, ""),
        };
        let essence = essence.trim_end_matches([' ', '\t']);
        let (kind, subtype) = essence.split_once('/')?;
        if !token(kind) || !token(subtype) {
            return None;
        }
        // Each parameter: OWS ";" OWS [ name "=" value ].
        while !rest.is_empty() {
            rest = rest.trim_start_matches([' ', '\t']).strip_prefix(';')?;
            rest = rest.trim_start_matches([' ', '\t']);
            if rest.is_empty() || rest.starts_with(';') {
                continue;
            }
            let (name, after) = rest.split_once('=')?;
            if !token(name) {
                return None;
            }
            rest = if let Some(quoted) = after.strip_prefix('"') {
                let mut escaped = false;
                let mut end = None;
                for (index, c) in quoted.char_indices() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(index);
                            break;
                        }
                        c if c.is_control() && c != '\t' => return None,
                        _ => {}
                    }
                }
                &quoted[end? + 1..]
            } else {
                let value_end = after.find([';', ' ', '\t']).unwrap_or(after.len());
                if !token(&after[..value_end]) {
                    return None;
                }
                &after[value_end..]
            };
        }
        Some(MediaType {
            essence: essence.to_ascii_lowercase(),
        })
    }

    /// A JSON body (a merge patch included).
    pub fn is_json(&self) -> bool {
        self.essence == "application/json" || self.essence == "application/merge-patch+json"
    }

    /// A CSV import's body.
    pub fn is_csv(&self) -> bool {
        self.essence == "text/csv" || self.essence == "application/csv"
    }
}

fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

/// A whole body outside an extractor (the idempotency layer reads it once
/// to fingerprint the request), at most `limit` bytes (413 beyond).
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let text = err.to_string();
        let over = std::error::Error::source(&err)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over {
            payload_too_large(limit)
        } else if is_timeout(&text) {
            body_timeout()
        } else {
            ApiError::bad_request("invalid_body", None, "the body could not be read")
        }
    })
}

fn body_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the body did not arrive in time; send it at once, or retry",
    )
}

/// The body, at most `limit` bytes (413 beyond).
async fn read_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || payload_too_large(limit);
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else if is_timeout(&rejection.body_text()) {
                body_timeout()
            } else {
                ApiError::bad_request("invalid_body", None, rejection.body_text())
            }
        })?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A body read cut short by the server's body timeout (the dev server's
/// tower-http layer says "...within the designated timeout").
fn is_timeout(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("timeout") || text.contains("timed out")
}

/// A CSV body (`text/csv`), at most [`MAX_CSV_BYTES`].
pub struct CsvBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (content_type, media) = media_type(request.headers());
        if !media.as_ref().is_some_and(MediaType::is_csv) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: text/csv, got '{content_type}'"),
            ));
        }
        Ok(CsvBody(read_bytes(request, state, MAX_CSV_BYTES).await?))
    }
}

/// Deserialise a JSON value into `T`, naming the failing field
/// ([`service::validation::from_json`]).
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    Ok(service::validation::from_json(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_with_a_fraction_reads_as_an_integer() {
        let value = parse_json(br#"{"days": 10.0, "score": 1.5, "big": 1e300}"#).unwrap();
        assert_eq!(value["days"].as_u64(), Some(10));
        assert_eq!(value["score"].as_f64(), Some(1.5));
        assert!(value["big"].as_i64().is_none());
    }

    #[test]
    fn media_types_are_parsed_as_rfc_9110_writes_them() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"utf-8\"",
            "application/json ; charset=utf-8 ; q=1",
            "text/csv;header=present",
            "application/json;",
        ] {
            assert!(MediaType::parse(good).is_some(), "{good}");
        }
        assert_eq!(
            MediaType::parse("Application/JSON; charset=utf-8")
                .unwrap()
                .essence,
            "application/json"
        );
        for bad in [
            "application/json;;;;=;",
            "application/json;=",
            "application/json; charset",
            "application/json; charset=",
            "application/json; charset=\"utf-8",
            "application/json; char set=utf-8",
            "application/json x",
            "application/",
            "/json",
            "json",
            "",
        ] {
            assert!(MediaType::parse(bad).is_none(), "{bad}");
        }
    }

    fn error_of(text: &str) -> ApiError {
        parse_json(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn repeated_keys_are_refused_by_name() {
        let err = error_of(r#"{"account_id":"111111111113","account_id":"111111111114"}"#);
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("duplicate_key", Some("account_id"))
        );
        let err = error_of(r#"{"name":"x","labels":{"team":"a","team":"b"}}"#);
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("duplicate_key", Some("labels.team"))
        );
        let err = error_of(r#"{"rows":[{"a":1,"a":2}]}"#);
        assert_eq!(err.code, "duplicate_key");
        assert!(
            parse_json(br#"{"a":{"b":1},"b":{"a":1}}"#).is_ok(),
            "same key in different objects"
        );
        assert_eq!(error_of(r#"{"a":1} x"#).code, "invalid_json");
    }

    /// The worst shapes a 1 MiB body can take, on a small stack: nesting is
    /// refused at serde_json's limit, never followed down the stack.
    #[test]
    fn deep_bodies_are_refused_within_a_small_stack() {
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(|| {
                let depth = MAX_BODY_BYTES / 2;
                for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                    let text = format!(
                        "{}1{}",
                        open.repeat(depth / open.len()),
                        close.repeat(depth / open.len())
                    );
                    let text = &text[..text.len().min(MAX_BODY_BYTES)];
                    assert_eq!(error_of(text).code, "invalid_json");
                }
                // Just inside the limit: parsed, walked by merge patch, dropped.
                let mut nested = serde_json::json!(1);
                let text = format!("{}1{}", "{\"a\":".repeat(126), "}".repeat(126));
                let parsed = parse_json(text.as_bytes()).unwrap();
                json_patch::merge(&mut nested, &parsed);
                json_patch::merge(&mut nested, &parsed);
                assert!(nested.is_object());
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
