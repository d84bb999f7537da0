//! The identifiers a request can carry in its path, checked before any of
//! them reaches DynamoDB (whose key values must stay under 1,024 bytes):
//! a malformed one is a 400 naming the parameter, never a 500.

use crate::{Error, Result};

/// Longest value accepted for a path parameter without a rule of its own.
pub const MAX_PATH_PARAMETER: usize = 128;

fn is_ulid(value: &str) -> bool {
    value.len() == 26 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A data source name: `aws:iam`, `aws:guard-duty`, ...
pub fn is_data_source_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-".contains(&b))
}

/// Check one path parameter by its name in the route template. Every
/// route's parameters pass through here (a router layer), so a route added
/// later cannot forget it; a name without a rule of its own is still held
/// to [`MAX_PATH_PARAMETER`] bytes.
pub fn path_parameter(name: &str, value: &str) -> Result<()> {
    let (valid, what) = match name {
        "account_id" => {
            return crate::validation::account_id(name, value);
        }
        "key_id" => (is_ulid(value), "an API key id is the 26-character id returned when the key was issued"),
        "scan_id" => (is_ulid(value), "scan_id is the 26-character id returned when the scan was queued"),
        "data_source" => (is_data_source_name(value), "a data source name is 1-64 characters of letters, digits and :._- (GET /v1/data-sources lists them)"),
        _ => (
            !value.is_empty() && value.len() <= MAX_PATH_PARAMETER,
            "this path parameter is 1-128 bytes long",
        ),
    };
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(name, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_bounded() {
        let long = "1".repeat(1021);
        for name in ["account_id", "key_id", "scan_id", "data_source", "anything"] {
            let err = path_parameter(name, &long).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: Some(f), .. } if f == name),
                "{name}: {err:?}"
            );
        }
        assert!(path_parameter("account_id", "123456789012").is_ok());
        assert!(path_parameter("key_id", "01JABCDEFGHJKMNPQRSTVWXYZ0").is_ok());
        assert!(path_parameter("data_source", "aws:iam").is_ok());
        assert!(path_parameter("data_source", "aws iam").is_err());
        assert!(path_parameter("anything", "x").is_ok());
    }
}
