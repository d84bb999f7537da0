//! Which IAM actions a role's own policies allow: the fallback when the
//! role may not ask IAM's policy simulator (`iam:SimulatePrincipalPolicy`)
//! but may read its policies. Deliberately simple, and generous where it
//! cannot know: an Allow counts whatever its Resource and Condition (the
//! scanners act on `*`), a Deny only when it has neither; `NotAction`
//! is honoured.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn as_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn matches(pattern: &str, action: &str) -> bool {
    wildmatch::WildMatch::new(&pattern.to_ascii_lowercase()).matches(&action.to_ascii_lowercase())
}

/// Whether a statement names `action` (by `Action`, or by leaving it out of `NotAction`).
fn names(statement: &Value, action: &str) -> bool {
    let actions = as_list(statement.get("Action"));
    if !actions.is_empty() {
        return actions.iter().any(|pattern| matches(pattern, action));
    }
    let not_actions = as_list(statement.get("NotAction"));
    !not_actions.is_empty() && !not_actions.iter().any(|pattern| matches(pattern, action))
}

/// A policy document as IAM returns it: JSON, or URL-encoded JSON.
pub fn document(text: &str) -> Value {
    serde_json::from_str(text)
        .or_else(|_| {
            let decoded: String =
                form_urlencoded::parse(format!("d={}", text.replace('&', "%26")).as_bytes())
                    .next()
                    .map(|(_, value)| value.into_owned())
                    .unwrap_or_default();
            serde_json::from_str(&decoded)
        })
        .unwrap_or(Value::Null)
}

/// The actions of `wanted` that `documents` allow.
pub fn allowed<'a>(documents: &[Value], wanted: &[&'a str]) -> BTreeSet<&'a str> {
    let statements: Vec<&Value> = documents
        .iter()
        .flat_map(|doc| match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => Vec::new(),
        })
        .collect();
    wanted
        .iter()
        .copied()
        .filter(|action| {
            let with_effect = |name: &'static str| {
                statements.iter().filter(move |s| {
                    s.get("Effect").and_then(Value::as_str) == Some(name) && names(s, action)
                })
            };
            let denied = with_effect("Deny").any(|s| {
                s.get("Condition").is_none() && as_list(s.get("Resource")).iter().any(|r| r == "*")
            });
            !denied && with_effect("Allow").next().is_some()
        })
        .collect()
}

/// Per data source, the actions it needs that `allowed` lacks (sources
/// lacking none are left out).
pub fn missing(
    required: &[(String, Vec<String>)],
    allowed: &BTreeSet<&str>,
) -> BTreeMap<String, Vec<String>> {
    required
        .iter()
        .filter_map(|(source, actions)| {
            let lacking: Vec<String> = actions
                .iter()
                .filter(|action| !allowed.contains(action.as_str()))
                .cloned()
                .collect();
            (!lacking.is_empty()).then(|| (source.clone(), lacking))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allows_by_action_wildcard_and_not_action_and_denies_win() {
        let documents = vec![
            json!({"Statement": [{"Effect": "Allow", "Action": ["iam:List*", "iam:GetAccountAuthorizationDetails"], "Resource": "*"}]}),
            json!({"Statement": {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}}),
            json!({"Statement": [{"Effect": "Deny", "Action": "iam:ListMFADevices", "Resource": "*"}]}),
        ];
        let wanted = [
            "iam:ListAccessKeys",
            "iam:GetAccountAuthorizationDetails",
            "iam:ListMFADevices",
            "ec2:DescribeInstances",
            "s3:GetObject",
        ];
        let got = allowed(&documents, &wanted);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![
                "ec2:DescribeInstances",
                "iam:GetAccountAuthorizationDetails",
                "iam:ListAccessKeys"
            ]
        );
    }

    #[test]
    fn a_conditional_deny_is_not_counted_and_nothing_allows_nothing() {
        let documents = vec![
            json!({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]}),
        ];
        assert_eq!(allowed(&documents, &["iam:ListUsers"]).len(), 1);
        assert!(allowed(&[], &["iam:ListUsers"]).is_empty());
        let encoded: String =
            form_urlencoded::byte_serialize(documents[0].to_string().as_bytes()).collect();
        assert_eq!(document(&encoded), documents[0]);
    }

    #[test]
    fn missing_lists_each_source_lacking_something() {
        let required = vec![
            (
                "aws:iam".to_string(),
                vec![
                    "iam:ListUsers".to_string(),
                    "iam:ListMFADevices".to_string(),
                ],
            ),
            ("aws:other".to_string(), vec!["iam:ListUsers".to_string()]),
        ];
        let allowed = BTreeSet::from(["iam:ListUsers"]);
        let lacking = missing(&required, &allowed);
        assert_eq!(lacking.len(), 1);
        assert_eq!(lacking["aws:iam"], ["iam:ListMFADevices"]);
    }
}
