//! Reading a customer role's trust policy for weaknesses the STS checks
//! cannot see: a role can be assumed with its external ID and refused
//! without it, and still trust the whole world under a `StringLike`
//! wildcard, or other accounts, or keep sessions for twelve hours.
//!
//! Pure: the policy comes from `iam:GetRole` (which the role calls on
//! itself); each finding carries what to change. Only `Allow` statements
//! that grant `sts:AssumeRole` to an AWS principal are weighed: service
//! and federated principals are the customer's own business.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The longest session the service asks for is 15 minutes (Lambda's
/// limit); a role allowing more than AWS's default hour gives a leaked
/// session more time than anyone needs.
pub const MAX_SESSION_SECONDS: i32 = 3600;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum TrustFindingCode {
    /// `Principal: "*"` (or `AWS: "*"`): any AWS account may try.
    PrincipalWildcard,
    /// An AWS principal outside the vendor's account.
    PrincipalOtherAccount,
    /// The vendor's whole account where its one role would do.
    PrincipalWholeAccount,
    /// An Allow for the vendor without an `sts:ExternalId` condition.
    ExternalIdNotRequired,
    /// `StringLike` on `sts:ExternalId` with `*` or `?`.
    ExternalIdWildcard,
    /// `MaxSessionDuration` beyond [`MAX_SESSION_SECONDS`].
    SessionDurationTooLong,
    /// `iam:GetRole` on the role itself was denied: the policy was not read.
    TrustPolicyUnreadable,
    /// Neither the policy simulator nor the role's own policies could be
    /// read: the data sources' permissions were not checked.
    PermissionsUnchecked,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingSeverity {
    High,
    Medium,
    /// Worth fixing; nothing is open today.
    Low,
    /// Not a weakness of the role, but something could not be checked.
    Warning,
}

/// One weakness of a role's trust policy and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustFinding {
    pub code: TrustFindingCode,
    pub severity: FindingSeverity,
    /// What is wrong, naming the statement or value.
    pub message: String,
    /// What to change, in the customer's IAM console or template.
    pub fix: String,
}

/// Who the customer's role should trust: the vendor's account and, when
/// the service runs as a named role or user, that principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorPrincipal {
    pub account_id: String,
    /// A role or user ARN; `None` when the service trusts its account root.
    pub arn: Option<String>,
}

impl VendorPrincipal {
    /// From the configured principal (`VENDOR_PRINCIPAL`) or, without one,
    /// the service's own account.
    pub fn new(configured: Option<&str>, own_account: &str) -> Self {
        match configured {
            Some(principal) => {
                // A bare account id, or its root, is the whole account.
                let bare_account = principal.chars().all(|c| c.is_ascii_digit());
                VendorPrincipal {
                    account_id: if bare_account {
                        principal
                    } else {
                        principal.split(':').nth(4).unwrap_or(own_account)
                    }
                    .to_string(),
                    arn: (!bare_account && !principal.ends_with(":root"))
                        .then(|| principal.to_string()),
                }
            }
            None => VendorPrincipal {
                account_id: own_account.to_string(),
                arn: None,
            },
        }
    }

    /// What the trust policy should name.
    pub fn display(&self, partition: &str) -> String {
        self.arn
            .clone()
            .unwrap_or_else(|| format!("arn:{partition}:iam::{}:root", self.account_id))
    }

    fn account_of(entry: &str) -> Option<&str> {
        if entry.len() == 12 && entry.chars().all(|c| c.is_ascii_digit()) {
            return Some(entry);
        }
        entry
            .split(':')
            .nth(4)
            .filter(|account| !account.is_empty())
    }
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn strings(value: &Value) -> Vec<String> {
    as_list(value)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

fn grants_assume_role(statement: &Value) -> bool {
    strings(statement.get("Action").unwrap_or(&Value::Null))
        .iter()
        .any(|action| wildmatch::WildMatch::new(&action.to_lowercase()).matches("sts:assumerole"))
}

/// The AWS principals of a statement; `["*"]` for `Principal: "*"`.
fn aws_principals(statement: &Value) -> Vec<String> {
    match statement.get("Principal") {
        Some(Value::String(star)) if star == "*" => vec!["*".into()],
        Some(Value::Object(map)) => map.get("AWS").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The `sts:ExternalId` values a statement's conditions require, by
/// operator (`StringEquals`, `StringLike`, ...).
fn external_id_conditions(statement: &Value) -> Vec<(String, Vec<String>)> {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return Vec::new();
    };
    operators
        .iter()
        .filter_map(|(operator, clauses)| {
            let Value::Object(clauses) = clauses else {
                return None;
            };
            clauses
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("sts:ExternalId"))
                .map(|(_, values)| (operator.clone(), strings(values)))
        })
        .collect()
}

/// Findings of a role's trust policy (`document`, JSON or URL-encoded
/// JSON as `iam:GetRole` returns it) and its `max_session_seconds`.
// Long: one pass over the policy's statements applying each trust rule to the statement parsed
// once.
pub fn lint(
    role_arn: &str,
    document: &str,
    max_session_seconds: Option<i32>,
    vendor: &VendorPrincipal,
) -> Vec<TrustFinding> {
    let partition = role_arn.split(':').nth(1).unwrap_or("aws");
    let policy = crate::permissions::document(document);
    let vendor_arn = vendor.display(partition);
    let mut findings = Vec::new();
    for (index, statement) in as_list(policy.get("Statement").unwrap_or(&Value::Null))
        .into_iter()
        .enumerate()
    {
        let label = statement
            .get("Sid")
            .and_then(Value::as_str)
            .map(|sid| format!("statement '{sid}'"))
            .unwrap_or_else(|| format!("statement {}", index + 1));
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow")
            || !grants_assume_role(statement)
        {
            continue;
        }
        let principals = aws_principals(statement);
        if principals.is_empty() {
            continue;
        }
        let wildcard = principals.iter().any(|p| p == "*");
        if wildcard {
            findings.push(TrustFinding {
                code: TrustFindingCode::PrincipalWildcard,
                severity: FindingSeverity::High,
                message: format!("{label} lets any AWS principal (\"*\") assume the role; only the external ID stands between it and everyone else"),
                fix: format!("Replace the principal with {vendor_arn}."),
            });
        }
        let others: Vec<&String> = principals
            .iter()
            .filter(|p| *p != "*")
            .filter(|p| VendorPrincipal::account_of(p) != Some(vendor.account_id.as_str()))
            .collect();
        if !others.is_empty() {
            let names = others
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            findings.push(TrustFinding {
                code: TrustFindingCode::PrincipalOtherAccount,
                severity: FindingSeverity::Medium,
                message: format!("{label} also trusts {names}, outside the vendor's account {}", vendor.account_id),
                fix: format!("Remove {names} from this role's trust policy (give them a role of their own if they need one)."),
            });
        }
        if let Some(arn) = &vendor.arn {
            let whole: Vec<&String> = principals
                .iter()
                .filter(|p| {
                    VendorPrincipal::account_of(p) == Some(vendor.account_id.as_str())
                        && (p.ends_with(":root") || p.as_str() == vendor.account_id)
                })
                .collect();
            if let Some(entry) = whole.first() {
                findings.push(TrustFinding {
                    code: TrustFindingCode::PrincipalWholeAccount,
                    severity: FindingSeverity::Low,
                    message: format!("{label} trusts the vendor's whole account ({entry}), where its one role would do"),
                    fix: format!("Replace {entry} with {arn}."),
                });
            }
        }
        let conditions = external_id_conditions(statement);
        let requires = conditions.iter().any(|(operator, values)| {
            !values.is_empty()
                && (operator.contains("StringEquals") || operator.contains("StringLike"))
                && !operator.contains("IfExists")
        });
        if !requires {
            findings.push(TrustFinding {
                code: TrustFindingCode::ExternalIdNotRequired,
                severity: FindingSeverity::High,
                message: format!("{label} allows sts:AssumeRole without requiring sts:ExternalId, so anyone who learns the role's ARN can make the vendor act on it (the confused-deputy attack)"),
                fix: "Add to that statement: Condition: {StringEquals: {sts:ExternalId: <this account's external_id>}}.".into(),
            });
        }
        for (operator, values) in &conditions {
            let patterns: Vec<&String> = values
                .iter()
                .filter(|v| v.contains('*') || v.contains('?'))
                .collect();
            if operator.contains("StringLike") && !patterns.is_empty() {
                let shown = patterns
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                findings.push(TrustFinding {
                    code: TrustFindingCode::ExternalIdWildcard,
                    severity: FindingSeverity::High,
                    message: format!("{label} accepts external IDs matching {shown} ({operator}), not one exact value"),
                    fix: "Use StringEquals with this account's exact external_id.".into(),
                });
            }
        }
    }
    if let Some(seconds) = max_session_seconds.filter(|s| *s > MAX_SESSION_SECONDS) {
        findings.push(TrustFinding {
            code: TrustFindingCode::SessionDurationTooLong,
            severity: FindingSeverity::Low,
            message: format!("the role allows sessions of {seconds} s; the service never needs more than {MAX_SESSION_SECONDS} s"),
            fix: format!("Set the role's MaxSessionDuration to {MAX_SESSION_SECONDS}."),
        });
    }
    findings.sort_by_key(|f| (f.severity, f.code));
    findings.dedup_by(|a, b| a.code == b.code && a.message == b.message);
    findings
}

/// The finding for a role that may not read itself.
pub fn unreadable(role_arn: &str) -> TrustFinding {
    TrustFinding {
        code: TrustFindingCode::TrustPolicyUnreadable,
        severity: FindingSeverity::Warning,
        message: "the role could not read its own trust policy (iam:GetRole was denied), so it was not checked for weaknesses, and scheduled verifications still try AssumeRole without the external ID".into(),
        fix: format!("Add to the role's permissions: {{\"Effect\": \"Allow\", \"Action\": \"iam:GetRole\", \"Resource\": \"{role_arn}\"}}."),
    }
}

/// The finding for a role that may neither simulate nor read its policies.
pub fn permissions_unchecked(role_arn: &str) -> TrustFinding {
    TrustFinding {
        code: TrustFindingCode::PermissionsUnchecked,
        severity: FindingSeverity::Warning,
        message: "the role may neither ask IAM's policy simulator about itself nor read its own policies, so the permissions its data sources need were not checked".into(),
        fix: format!("Add to the role's permissions: {{\"Effect\": \"Allow\", \"Action\": \"iam:SimulatePrincipalPolicy\", \"Resource\": \"{role_arn}\"}}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::111122223333:role/Audit";

    fn vendor() -> VendorPrincipal {
        VendorPrincipal::new(None, "123456789012")
    }

    fn policy(principal: Value, condition: Option<Value>) -> String {
        let mut statement = json!({"Effect": "Allow", "Principal": principal, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]});
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
    }

    fn exact() -> Option<Value> {
        Some(json!({"StringEquals": {"sts:ExternalId": "x".repeat(40)}}))
    }

    fn codes(findings: &[TrustFinding]) -> Vec<TrustFindingCode> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_clean_role_has_no_findings() {
        let document = policy(json!({"AWS": "arn:aws:iam::123456789012:root"}), exact());
        assert!(lint(ROLE, &document, Some(3600), &vendor()).is_empty());
        // URL-encoded, as GetRole returns it.
        let encoded: String = form_urlencoded::byte_serialize(document.as_bytes()).collect();
        assert!(lint(ROLE, &encoded, None, &vendor()).is_empty());
    }

    #[test]
    fn each_weakness_yields_exactly_its_finding() {
        let cases = [
            (
                policy(json!("*"), exact()),
                TrustFindingCode::PrincipalWildcard,
            ),
            (
                policy(json!({"AWS": "*"}), exact()),
                TrustFindingCode::PrincipalWildcard,
            ),
            (
                policy(
                    json!({"AWS": ["arn:aws:iam::123456789012:root", "arn:aws:iam::999988887777:root"]}),
                    exact(),
                ),
                TrustFindingCode::PrincipalOtherAccount,
            ),
            (
                policy(json!({"AWS": "arn:aws:iam::123456789012:root"}), None),
                TrustFindingCode::ExternalIdNotRequired,
            ),
            (
                policy(
                    json!({"AWS": "123456789012"}),
                    Some(json!({"StringLike": {"sts:ExternalId": "abc*"}})),
                ),
                TrustFindingCode::ExternalIdWildcard,
            ),
        ];
        for (document, code) in cases {
            let findings = lint(ROLE, &document, Some(3600), &vendor());
            assert_eq!(codes(&findings), vec![code], "{document}");
            assert!(!findings[0].fix.is_empty() && !findings[0].message.is_empty());
        }
        let long = lint(
            ROLE,
            &policy(json!({"AWS": "123456789012"}), exact()),
            Some(43_200),
            &vendor(),
        );
        assert_eq!(codes(&long), vec![TrustFindingCode::SessionDurationTooLong]);
        assert!(long[0].fix.contains("3600"));
    }

    #[test]
    fn a_vendor_role_makes_the_whole_account_a_finding() {
        let vendor = VendorPrincipal::new(Some("arn:aws:iam::123456789012:role/Onboarding"), "0");
        assert_eq!(vendor.account_id, "123456789012");
        let whole = policy(json!({"AWS": "arn:aws:iam::123456789012:root"}), exact());
        let findings = lint(ROLE, &whole, None, &vendor);
        assert_eq!(
            codes(&findings),
            vec![TrustFindingCode::PrincipalWholeAccount]
        );
        assert!(findings[0].fix.contains("role/Onboarding"));
        let named = policy(
            json!({"AWS": "arn:aws:iam::123456789012:role/Onboarding"}),
            exact(),
        );
        assert!(lint(ROLE, &named, None, &vendor).is_empty());
        // Trusting the root is what a root principal asks for.
        let root = VendorPrincipal::new(Some("arn:aws:iam::123456789012:root"), "0");
        assert!(root.arn.is_none());
        assert!(lint(ROLE, &whole, None, &root).is_empty());
    }

    #[test]
    fn other_statements_are_not_ours_to_judge() {
        let document = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:TagSession"},
            {"Sid": "Vendor", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:*",
             "Condition": {"StringEquals": {"sts:externalid": ["a", "b"]}}},
        ]})
        .to_string();
        assert!(lint(ROLE, &document, None, &vendor()).is_empty());
        // IfExists does not require the key.
        let if_exists = policy(
            json!({"AWS": "123456789012"}),
            Some(json!({"StringEqualsIfExists": {"sts:ExternalId": "x"}})),
        );
        assert_eq!(
            codes(&lint(ROLE, &if_exists, None, &vendor())),
            vec![TrustFindingCode::ExternalIdNotRequired]
        );
        // An unreadable document has nothing to judge.
        assert!(lint(ROLE, "not json", None, &vendor()).is_empty());
    }

    #[test]
    fn the_unreadable_warning_names_the_permission() {
        let finding = unreadable(ROLE);
        assert_eq!(finding.severity, FindingSeverity::Warning);
        assert!(finding.fix.contains("iam:GetRole") && finding.fix.contains(ROLE));
    }
}
