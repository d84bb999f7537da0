//! Field validators. Each returns an [`Error::Invalid`] naming the field and
//! saying what to fix.

use crate::regions;
use crate::{Error, Result};
use regex::Regex;
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

// The patterns below are written in the subset that Rust's regex, Python's
// re and ECMA-262 read alike, because the OpenAPI document states them as
// they are (functions/api/src/constraints.rs): a client checks what the
// server checks.
pub const ACCOUNT_ID_PATTERN: &str = r"^[0-9]{12}$";
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
/// IAM's names and paths are ASCII: `\w` would admit any letter.
pub const ROLE_ARN_PATTERN: &str = r"^arn:(aws|aws-us-gov|aws-cn):iam::([0-9]{12}):role/((?:[A-Za-z0-9_+=,.@-]+/)*)([A-Za-z0-9_+=,.@-]{1,64})$";
/// [`ROLE_ARN_PATTERN`] for roles in `partitions` only.
pub fn role_arn_pattern(partitions: &[&str]) -> String {
    ROLE_ARN_PATTERN.replacen(
        "(aws|aws-us-gov|aws-cn)",
        &format!("({})", partitions.join("|")),
        1,
    )
}
pub const RESOURCE_TYPE_PATTERN: &str = r"^AWS\.[A-Za-z0-9]+\.[A-Za-z0-9]+$";
pub const EXTERNAL_ID_PATTERN: &str = r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$";

static ACCOUNT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(ACCOUNT_ID_PATTERN).unwrap());
static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(EMAIL_PATTERN).unwrap());
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| Regex::new(ROLE_ARN_PATTERN).unwrap());
static RESOURCE_TYPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(RESOURCE_TYPE_PATTERN).unwrap());
static TENANT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,62}$").unwrap());

/// Read a JSON value into `T`, naming the failing field: `missing_field`
/// and `unknown_field` name the field itself, `invalid_type` is a JSON
/// value of the wrong type, and `invalid_value` a value of the right type
/// that a variant list or one of the domain's parsed types refuses.
pub fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // serde names missing and unknown fields in backticks; report that
        // field rather than its parent object.
        let named = inner.split('`').nth(1).map(str::to_string);
        let (code, field) = if inner.starts_with("missing field") {
            ("missing_field", join_path(&path, named))
        } else if inner.starts_with("unknown field") {
            // The path already ends with the unknown field itself.
            ("unknown_field", Some(path))
        } else if inner.starts_with("invalid type") || inner.starts_with("invalid length") {
            ("invalid_type", Some(path))
        } else {
            ("invalid_value", Some(path))
        };
        Error::Invalid {
            code,
            field,
            message: inner,
        }
    })
}

/// `parent.child` (`child` alone at the root), or `parent` without a child.
pub fn join_path(parent: &str, child: Option<String>) -> Option<String> {
    match (parent, child) {
        (".", Some(child)) => Some(child),
        (parent, Some(child)) => Some(format!("{parent}.{child}")),
        (parent, None) => Some(parent.to_string()),
    }
}

pub const MAX_LIST_ENTRIES: usize = 100;
pub const MAX_LABELS: usize = 50;
pub const MAX_REGEX_LEN: usize = 1024;
/// Names of things a caller labels (an account, its owner, an API key, a
/// scanner credential) and the keys of labels and settings.
pub const MAX_NAME_LEN: usize = 128;
pub const MAX_LABEL_VALUE_LEN: usize = 256;
pub const MAX_EMAIL_LEN: usize = 254;

pub fn account_id(field: &str, value: &str) -> Result<()> {
    if ACCOUNT_ID.is_match(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "'{}' is not an AWS account id: use exactly 12 digits, leading zeros included",
                echo(value)
            ),
        ))
    }
}

/// An external ID as STS accepts it: 2-1224 of `[\w+=,.@:/-]`.
pub fn external_id(field: &str, value: &str) -> Result<()> {
    static EXTERNAL_ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(EXTERNAL_ID_PATTERN).unwrap());
    if EXTERNAL_ID.is_match(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "an external ID is 2-1224 characters of letters, digits and _+=,.@:/-",
        ))
    }
}

pub fn tenant(value: &str) -> Result<()> {
    if TENANT.is_match(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            "tenant",
            "tenant names are 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
        ))
    }
}

/// A trimmed, non-empty string of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<()> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(Error::invalid(field, format!("{field} must not be empty")));
    }
    if value.trim() != value {
        return Err(Error::invalid(
            field,
            format!("{field} must not start or end with white space"),
        ));
    }
    if chars > max {
        return Err(Error::invalid(
            field,
            format!("{field} is {chars} characters long; the limit is {max}"),
        ));
    }
    clean(field, value)
}

/// Characters refused in every stored text (the one text policy): control
/// characters, line and paragraph separators, and every invisible format
/// character: the bidirectional marks, overrides and isolates that make a
/// name display as something other than what it is, and the zero-width
/// ones (spaces, joiners, BOM, soft hyphen, fillers) that make two names
/// that look the same differ.
pub fn is_forbidden_char(c: char) -> bool {
    FORBIDDEN_CHARS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// The ranges [`is_forbidden_char`] refuses: the control characters
/// (Unicode's Cc) first, then the invisible and bidirectional ones.
pub const FORBIDDEN_CHARS: &[(char, char)] = &[
    ('\u{0000}', '\u{001F}'),
    ('\u{007F}', '\u{009F}'),
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// The ranges of [`FORBIDDEN_CHARS`] as the inside of a regular expression
/// character class, in the `\uXXXX` form ECMA-262, Python and Rust read
/// alike. That form reaches only the Basic Multilingual Plane, so the two
/// astral ranges (musical formatting and tag characters) are left out: a
/// pattern built on it admits them and the server still refuses them.
fn forbidden_class() -> String {
    FORBIDDEN_CHARS
        .iter()
        .filter(|(_, last)| u32::from(*last) <= 0xFFFF)
        .map(|(first, last)| {
            if first == last {
                format!("\\u{:04X}", u32::from(*first))
            } else {
                format!("\\u{:04X}-\\u{:04X}", u32::from(*first), u32::from(*last))
            }
        })
        .collect()
}

/// What [`text`] accepts, as a pattern (the length stated apart): no white
/// space at either end and no forbidden character.
pub fn text_pattern() -> String {
    let forbidden = forbidden_class();
    format!("^[^\\s{forbidden}](?:[^{forbidden}]*[^\\s{forbidden}])?$")
}

/// What [`clean`] accepts, as a pattern.
pub fn clean_pattern() -> String {
    format!("^[^{}]*$", forbidden_class())
}

/// A caller's value free of [`is_forbidden_char`]s (for texts with their
/// own shape: patterns, tag keys and values).
pub fn clean(field: &str, value: &str) -> Result<()> {
    match value.chars().find(|c| is_forbidden_char(*c)) {
        None => Ok(()),
        Some(c) => Err(Error::invalid(
            field,
            format!(
                "{field} must not contain control, invisible or bidirectional-override characters (found {})",
                c.escape_unicode()
            ),
        )),
    }
}

/// A name a customer is shown (an account's, an organization's, the
/// vendor's product name): a [`text`] in one script. A name that mixes
/// scripts, such as "Аmazon" with a Cyrillic А, is how a look-alike
/// passes for what it is not; digits, punctuation and the scripts that
/// write one language together (Japanese's, say) count as one.
pub fn display_name(field: &str, value: &str, max: usize) -> Result<()> {
    text(field, value, max)?;
    if !is_single_script(value) {
        return Err(Error::Invalid {
            code: "mixed_script",
            field: Some(field.to_string()),
            message: format!(
                "'{}' mixes writing systems (e.g. a Cyrillic or Greek letter among Latin ones), which lets a look-alike pass for another name; write it in one script",
                echo(value)
            ),
        });
    }
    Ok(())
}

/// Whether `value` is written in one script (Unicode TR 39's sense).
pub fn is_single_script(value: &str) -> bool {
    use unicode_security::MixedScript;
    value.is_single_script()
}

/// Longest part of a caller's value quoted back in an error message.
const ECHO_CHARS: usize = 64;

/// A caller's value as an error message quotes it: at most 64 characters,
/// with control and bidirectional-override characters escaped, so an
/// error never carries a large or deceptive payload back to the caller or
/// into the logs.
pub fn echo(value: &str) -> String {
    let mut out = String::new();
    for (index, c) in value.chars().enumerate() {
        if index == ECHO_CHARS {
            out.push('…');
            break;
        }
        if is_forbidden_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn email(field: &str, value: &str) -> Result<()> {
    if value.len() <= MAX_EMAIL_LEN && EMAIL.is_match(value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "'{}' is not a valid email address (expected name@example.com)",
                echo(value)
            ),
        ))
    }
}

/// Parsed parts of an IAM role ARN.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub partition: &'a str,
    pub account_id: &'a str,
    pub role_name: &'a str,
}

/// The longest role ARN IAM makes: a path of up to 512 characters and a
/// name of up to 64 after the partition and account.
pub const MAX_ROLE_ARN_LEN: usize = 640;

pub fn role_arn<'a>(field: &str, value: &'a str) -> Result<RoleArn<'a>> {
    if value.len() > MAX_ROLE_ARN_LEN {
        return Err(Error::invalid(
            field,
            format!(
                "a role ARN is at most {MAX_ROLE_ARN_LEN} characters (IAM's paths are up to 512, names up to 64); this one is {}",
                value.len()
            ),
        ));
    }
    let captures = ROLE_ARN.captures(value).ok_or_else(|| {
        Error::invalid(
            field,
            format!("'{}' is not an IAM role ARN: expected arn:aws:iam::<12-digit account>:role/<name> (partition aws, aws-us-gov or aws-cn)", echo(value)),
        )
    })?;
    Ok(RoleArn {
        partition: captures.get(1).unwrap().as_str(),
        account_id: captures.get(2).unwrap().as_str(),
        role_name: captures.get(4).unwrap().as_str(),
    })
}

/// Known region ids, no duplicates. Returns the partition they share.
pub fn regions(field: &str, values: &[String]) -> Result<Option<&'static str>> {
    list_size(field, values)?;
    let mut seen = HashSet::new();
    let mut partition = None;
    for (index, id) in values.iter().enumerate() {
        let path = format!("{field}[{index}]");
        let region = regions::find(id).ok_or_else(|| {
            Error::invalid(
                &path,
                format!("'{}' is not a known AWS region id (for example us-east-1, us-gov-west-1, cn-north-1); GET /v1/cloud-providers/aws lists them", echo(id)),
            )
        })?;
        if !seen.insert(id.as_str()) {
            return Err(Error::invalid(
                &path,
                format!("region '{id}' is listed twice"),
            ));
        }
        match partition {
            None => partition = Some(region.partition),
            Some(first) if first != region.partition => {
                return Err(Error::invalid(
                    &path,
                    format!("'{id}' is in partition {} but the other regions are in {first}: one account lives in one partition", region.partition),
                ))
            }
            _ => {}
        }
    }
    Ok(partition)
}

/// The longest resource type name (CloudFormation's names stay well
/// below it: `AWS::` plus a service and a type of up to 64 each).
pub const MAX_RESOURCE_TYPE_LEN: usize = 256;

pub fn resource_types(field: &str, values: &[String]) -> Result<()> {
    list_size(field, values)?;
    for (index, value) in values.iter().enumerate() {
        if value.len() > MAX_RESOURCE_TYPE_LEN {
            return Err(Error::invalid(
                format!("{field}[{index}]"),
                format!(
                    "a resource type is at most {MAX_RESOURCE_TYPE_LEN} characters; this one is {}",
                    value.len()
                ),
            ));
        }
        if !RESOURCE_TYPE.is_match(value) {
            return Err(Error::invalid(
                format!("{field}[{index}]"),
                format!("'{}' is not a resource type: use the form AWS.<Service>.<Type>, e.g. AWS.S3.Bucket", echo(value)),
            ));
        }
    }
    Ok(())
}

pub fn regexes(field: &str, values: &[String]) -> Result<()> {
    list_size(field, values)?;
    for (index, value) in values.iter().enumerate() {
        let path = format!("{field}[{index}]");
        clean(&path, value)?;
        if value.is_empty() || value.len() > MAX_REGEX_LEN {
            return Err(Error::invalid(
                &path,
                format!("a pattern must be 1-{MAX_REGEX_LEN} bytes long"),
            ));
        }
        regex::RegexBuilder::new(value)
            .size_limit(1 << 20)
            .build()
            .map_err(|err| {
                Error::invalid(
                    &path,
                    format!("'{}' is not a valid regular expression: {err}", echo(value)),
                )
            })?;
    }
    Ok(())
}

pub fn labels(field: &str, values: &BTreeMap<String, String>) -> Result<()> {
    if values.len() > MAX_LABELS {
        return Err(Error::invalid(
            field,
            format!(
                "at most {MAX_LABELS} labels are allowed, got {}",
                values.len()
            ),
        ));
    }
    for (key, value) in values {
        let path = format!("{field}.{}", echo(key));
        text(&path, key, MAX_NAME_LEN).map_err(|_| {
            Error::invalid(
                &path,
                "label keys are 1-128 characters, no surrounding white space, control or bidirectional-override characters",
            )
        })?;
        // A bare key (empty value) is a label too, as with AWS tags.
        let length = value.chars().count();
        if length > MAX_LABEL_VALUE_LEN || value.chars().any(is_forbidden_char) {
            return Err(Error::invalid(
                &path,
                "label values are 0-256 characters, without control or bidirectional-override characters",
            ));
        }
    }
    Ok(())
}

/// The host part of `url` as its author wrote it: after the scheme and
/// any credentials, before the path and the port (brackets kept for IPv6).
pub fn written_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(host, _)| &authority[..host.len() + 1]);
    }
    authority
        .split_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Refuse `value` when its JSON is larger than `budget` bytes, naming its
/// largest top-level field (prefixed with `field`, when given) and its
/// size. Each field has its own bound; this one bounds their sum, so that
/// an item built from a caller's body always fits DynamoDB's 400 KB, with
/// room for what the service adds, and is refused before any write.
pub fn within_budget<T: serde::Serialize>(
    field: Option<&str>,
    value: &T,
    budget: usize,
) -> Result<()> {
    let json = serde_json::to_value(value).map_err(|err| Error::Invalid {
        code: "invalid_value",
        field: field.map(str::to_string),
        message: err.to_string(),
    })?;
    let total = json.to_string().len();
    if total <= budget {
        return Ok(());
    }
    let largest = match &json {
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string().len()))
            .max_by_key(|(_, size)| *size),
        _ => None,
    };
    let (path, detail) = match (field, largest) {
        (Some(field), Some((name, size))) => (
            Some(format!("{field}.{name}")),
            format!("; {name} is the largest at {size} bytes"),
        ),
        (None, Some((name, size))) => (
            Some(name.clone()),
            format!("; {name} is the largest at {size} bytes"),
        ),
        (field, None) => (field.map(str::to_string), String::new()),
    };
    Err(Error::Invalid {
        code: "too_large",
        field: path,
        message: format!(
            "these fields are {total} bytes of JSON together; the limit is {budget}{detail}: store less (e.g. shorter or fewer entries)"
        ),
    })
}

fn list_size(field: &str, values: &[String]) -> Result<()> {
    if values.len() > MAX_LIST_ENTRIES {
        return Err(Error::invalid(
            field,
            format!(
                "at most {MAX_LIST_ENTRIES} entries are allowed, got {}",
                values.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    /// The patterns the OpenAPI document states agree with the checks,
    /// character by character over the Basic Multilingual Plane.
    #[test]
    fn stated_patterns_agree_with_the_checks() {
        let text_pattern = Regex::new(&text_pattern()).unwrap();
        let clean_pattern = Regex::new(&clean_pattern()).unwrap();
        for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
            for value in [format!("a{c}b"), c.to_string(), format!("{c}b")] {
                assert_eq!(
                    text_pattern.is_match(&value),
                    text("f", &value, 3).is_ok(),
                    "text and its pattern differ on {value:?}"
                );
                assert_eq!(
                    clean_pattern.is_match(&value),
                    clean("f", &value).is_ok(),
                    "clean and its pattern differ on {value:?}"
                );
            }
        }
        assert!(!text_pattern.is_match(""));
        // The astral ranges are refused by the server alone.
        assert!(text("f", "a\u{E0041}", 3).is_err());
    }

    #[test]
    fn account_ids() {
        assert!(account_id("a", "012345678901").is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            " 123456789012",
        ] {
            assert!(account_id("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_arns_in_every_partition() {
        let arn = role_arn("r", "arn:aws-cn:iam::123456789012:role/path/to/Reader").unwrap();
        assert_eq!(arn.partition, "aws-cn");
        assert_eq!(arn.account_id, "123456789012");
        assert_eq!(arn.role_name, "Reader");
        assert!(role_arn("r", "arn:aws-us-gov:iam::123456789012:role/R").is_ok());
        for bad in [
            "arn:aws:iam::123456789012:user/R",
            "arn:aws-iso:iam::123456789012:role/R",
            "arn:aws:iam::12345678901:role/R",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:s3:::bucket",
        ] {
            assert!(role_arn("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(email("e", "ops.team+aws@example.co.uk").is_ok());
        for bad in [
            "",
            "no-at",
            "a@b",
            "a b@example.com",
            "@example.com",
            "a@-x.com",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_known_unique_one_partition() {
        assert_eq!(
            regions("r", &strings(&["us-east-1", "eu-west-1"])).unwrap(),
            Some("aws")
        );
        assert_eq!(regions("r", &[]).unwrap(), None);
        let err = regions("r", &strings(&["us-east-1", "us-east-1"])).unwrap_err();
        assert!(matches!(err, Error::Invalid { field: Some(ref f), .. } if f == "r[1]"));
        assert!(regions("r", &strings(&["mars-1"])).is_err());
        assert!(regions("r", &strings(&["us-east-1", "cn-north-1"])).is_err());
    }

    #[test]
    fn resource_types_and_patterns() {
        assert!(resource_types("t", &strings(&["AWS.S3.Bucket", "AWS.EC2.NetworkACL"])).is_ok());
        assert!(resource_types("t", &strings(&["S3.Bucket"])).is_err());
        assert!(regexes("x", &strings(&["^arn:aws:s3:::logs-.*$"])).is_ok());
        assert!(regexes("x", &strings(&["(unclosed"])).is_err());
        assert!(regexes("x", &strings(&[""])).is_err());
    }

    #[test]
    fn bounded_resource_types_and_arns() {
        let long = format!("AWS.S3.{}", "B".repeat(MAX_RESOURCE_TYPE_LEN));
        let err = resource_types("t", &[long]).unwrap_err();
        assert!(matches!(err, Error::Invalid { field: Some(ref f), .. } if f == "t[0]"));
        let path = "p/".repeat(400);
        assert!(role_arn("r", &format!("arn:aws:iam::123456789012:role/{path}R")).is_err());
        assert!(role_arn("r", "arn:aws:iam::123456789012:role/a/b/R").is_ok());
    }

    #[test]
    fn a_budget_names_the_largest_field() {
        let value = serde_json::json!({"small": "x", "big": "y".repeat(500)});
        assert!(within_budget(None, &value, 1000).is_ok());
        let err = within_budget(Some("filters"), &value, 100).unwrap_err();
        match err {
            Error::Invalid {
                code,
                field,
                message,
            } => {
                assert_eq!(code, "too_large");
                assert_eq!(field.as_deref(), Some("filters.big"));
                assert!(message.contains("limit is 100"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Issue 25 #11: one text policy; names shown to customers in one script.
    #[test]
    fn invisible_characters_and_mixed_scripts_are_refused() {
        for hidden in [
            "a\u{200B}b",
            "a\u{FEFF}",
            "a\u{2060}b",
            "a\u{2028}b",
            "x\u{00AD}y",
            "a\u{E0041}",
        ] {
            assert!(text("name", hidden, 128).is_err(), "{hidden:?}");
            assert!(clean("x", hidden).is_err(), "{hidden:?}");
        }
        assert!(regexes("r", &strings(&["^a\nb$"])).is_err());
        let err = display_name("name", "\u{0410}mazon", 128).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "mixed_script",
                ..
            }
        ));
        for fine in [
            "Amazon Web Services 2",
            "Ελληνικά",
            "日本語のテスト",
            "Zürich – Büro",
            "Payments (EU)",
        ] {
            assert!(display_name("name", fine, 128).is_ok(), "{fine}");
        }
    }

    #[test]
    fn texts_and_labels() {
        assert!(text("name", "Prod", 128).is_ok());
        assert!(text("name", "", 128).is_err());
        assert!(text("name", " padded", 128).is_err());
        assert!(text("name", &"x".repeat(129), 128).is_err());
        let mut map = BTreeMap::new();
        map.insert("team".to_string(), "core".to_string());
        assert!(labels("labels", &map).is_ok());
        // A bare key is a label (a product rule, as with AWS tags).
        map.insert("empty".to_string(), "".to_string());
        assert!(labels("labels", &map).is_ok());
        map.insert("long".to_string(), "x".repeat(257));
        assert!(labels("labels", &map).is_err());
        map.remove("long");
        map.remove("empty");
        map.insert("bad\u{7}".to_string(), "x".to_string());
        assert!(labels("labels", &map).is_err());
    }
}
