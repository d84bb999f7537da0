//! CloudFormation templates for the customer's cross-account role, and the
//! console link that pre-fills a stack with them.
//!
//! Values are written as JSON strings, which YAML reads as the same scalars,
//! so nothing a caller supplies can break out of its place in the template.

use crate::{Error, Result};

const DEFAULT_POLICY: &str = "SecurityAudit";
const MAX_POLICIES: usize = 10;
/// What [`managed_policies`] accepts, written out (1-10 names).
pub const MANAGED_POLICIES_PATTERN: &str =
    r"^[A-Za-z0-9+=.@_/-]{1,128}(?:,[A-Za-z0-9+=.@_/-]{1,128}){0,9}$";

/// A value as a JSON string, which YAML reads as the same scalar.
pub fn quoted(value: &str) -> String {
    serde_json::to_string(value).expect("strings serialise")
}

/// AWS managed policy names from `a,b,c` (default `SecurityAudit`).
pub fn managed_policies(text: Option<&str>) -> Result<Vec<String>> {
    let names: Vec<String> = text
        .unwrap_or(DEFAULT_POLICY)
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() || names.len() > MAX_POLICIES {
        return Err(Error::invalid(
            "managed_policies",
            format!("give 1-{MAX_POLICIES} AWS managed policy names, comma-separated, e.g. SecurityAudit,ReadOnlyAccess"),
        ));
    }
    for name in &names {
        let valid = name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        if !valid {
            return Err(Error::invalid(
                "managed_policies",
                format!("'{name}' is not an AWS managed policy name (letters, digits and +=,.@_-/ only)"),
            ));
        }
    }
    Ok(names)
}

/// A role's trust policy (YAML, at a role's property indentation): the
/// vendor `principal` may assume it only with `sts:ExternalId` equal to
/// `external_ids` (a value, or YAML list items), and name its sessions
/// with a SourceIdentity (`sts:SetSourceIdentity`, which AWS requires of
/// every AssumeRole that sets one). Every template's role trusts the
/// vendor this way, and only this way.
pub fn trust_policy(principal: &str, external_ids: &str) -> String {
    format!(
        r#"      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: {principal}
            Action:
              - sts:AssumeRole
              - sts:SetSourceIdentity
            Condition:
              StringEquals:
                sts:ExternalId: {external_ids}
"#
    )
}

/// A statement of the role's inline policy (YAML list item, at a
/// statement list's indentation): the role may read itself
/// (`iam:GetRole`, `iam:SimulatePrincipalPolicy`), so verification can
/// check its trust policy and session limit without probing, and what its
/// data sources need without guessing.
pub const SELF_READ_STATEMENT: &str = r#"              - Sid: VendorReadsThisRole
                Effect: Allow
                Action:
                  - iam:GetRole
                  - iam:SimulatePrincipalPolicy
                Resource: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"
"#;

/// The role resource and its output, shared by both templates: trust of
/// `principal` only with `sts:ExternalId` equal to `external_ids`, and the
/// managed policies `policy_arns` (each already YAML).
pub fn role_resource(
    principal: &str,
    external_ids: &str,
    policy_arns: &str,
    extra_statements: &str,
) -> String {
    format!(
        r#"Resources:
  VendorRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Ref RoleName
{trust}      ManagedPolicyArns: {policy_arns}
      Policies:
        - PolicyName: VendorSelfRead
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
{self_read}{extra_statements}Outputs:
  RoleArn:
    Description: Register this ARN as the account's role_arn
    Value: !GetAtt VendorRole.Arn
"#,
        trust = trust_policy(principal, external_ids),
        self_read = SELF_READ_STATEMENT,
    )
}

/// The role template for one account: trusts `vendor_principal` only with
/// one of `external_ids` (two during a rotation), and grants the IAM
/// `actions` its attached data sources declare.
pub fn account_template(
    account_id: &str,
    vendor_principal: &str,
    external_ids: &[&str],
    policies: &[String],
    role_name: &str,
    actions: &[String],
) -> String {
    let ids = external_ids
        .iter()
        .map(|id| format!("\n                  - {}", quoted(id)))
        .collect::<String>();
    let arns = managed_policy_arns(policies);
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: {description}
Parameters:
  RoleName:
    Type: String
    Default: {role_name}
    Description: Name of the role to create
{resource}"#,
        description = quoted(&format!("Cross-account role for account {account_id}, assumable by the vendor only with the external ID")),
        role_name = quoted(role_name),
        resource = role_resource(
            &quoted(vendor_principal),
            &ids,
            &arns,
            &data_source_statement(actions)
        ),
    )
}

/// A statement granting the data sources' actions (YAML list item), or
/// nothing without any.
fn data_source_statement(actions: &[String]) -> String {
    if actions.is_empty() {
        return String::new();
    }
    let items: String = actions
        .iter()
        .map(|action| format!("                  - {}\n", quoted(action)))
        .collect();
    format!(
        "              - Sid: VendorDataSources\n                Effect: Allow\n                Action:\n{items}                Resource: \"*\"\n"
    )
}

/// The YAML list items of AWS managed policies, in the role's partition.
pub fn managed_policy_arns(policies: &[String]) -> String {
    policies
        .iter()
        .map(|name| {
            format!(
                "\n        - !Sub {}",
                quoted(&format!("arn:${{AWS::Partition}}:iam::aws:policy/{name}"))
            )
        })
        .collect()
}

/// The same role with everything as parameters: the template behind the
/// console quick-create link (upload it to S3 and set `ROLE_TEMPLATE_URL`).
pub fn generic_template(vendor_principal: &str, role_name: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: Cross-account role assumable by the vendor only with the external ID
Parameters:
  ExternalId:
    Type: String
    MinLength: 2
    MaxLength: 1224
    AllowedPattern: "[\\w+=,.@:/-]*"
    Description: The external ID the vendor gave you for this account
  VendorPrincipal:
    Type: String
    Default: {principal}
    Description: The vendor principal to trust
  RoleName:
    Type: String
    Default: {role_name}
  ManagedPolicyArns:
    Type: CommaDelimitedList
    Default: arn:aws:iam::aws:policy/SecurityAudit
{resource}"#,
        principal = quoted(vendor_principal),
        role_name = quoted(role_name),
        resource = role_resource(
            "!Ref VendorPrincipal",
            "!Ref ExternalId",
            "!Ref ManagedPolicyArns",
            ""
        ),
    )
}

/// A CloudFormation quick-create link that pre-fills the stack.
pub fn console_url(
    partition: &str,
    template_url: &str,
    role_name: &str,
    external_id: &str,
    vendor_principal: &str,
) -> String {
    let host = match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    let query = serde_urlencoded::to_string([
        ("templateURL", template_url),
        ("stackName", role_name),
        ("param_RoleName", role_name),
        ("param_ExternalId", external_id),
        ("param_VendorPrincipal", vendor_principal),
    ])
    .expect("pairs of strings encode");
    format!("https://{host}/cloudformation/home#/stacks/quickcreate?{query}")
}

/// A [`console_url`] that opens the console in `region` (the stack's).
pub fn in_region(console_url: &str, region: &str) -> String {
    let query =
        serde_urlencoded::to_string([("region", region)]).expect("a pair of strings encodes");
    console_url.replacen(
        "/cloudformation/home#",
        &format!("/cloudformation/home?{query}#"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_default_and_validation() {
        assert_eq!(managed_policies(None).unwrap(), ["SecurityAudit"]);
        assert_eq!(
            managed_policies(Some("SecurityAudit, ReadOnlyAccess"))
                .unwrap()
                .len(),
            2
        );
        assert!(managed_policies(Some("Bad\"Name")).is_err());
        assert!(managed_policies(Some(",")).is_err());
    }

    #[test]
    fn values_are_quoted() {
        let template = account_template(
            "123456789012",
            "arn:aws:iam::111:root",
            &["a\"b"],
            &["SecurityAudit".into()],
            "R",
            &["iam:ListMFADevices".into()],
        );
        assert!(template.contains("- \"iam:ListMFADevices\""));
        assert!(template.contains(r#"- "a\"b""#));
        assert!(template.contains("arn:${AWS::Partition}:iam::aws:policy/SecurityAudit"));
    }

    #[test]
    fn console_link_is_encoded() {
        let url = console_url(
            "aws-cn",
            "https://b.s3.amazonaws.com/t.yaml",
            "Role",
            "abc",
            "arn:aws-cn:iam::1:root",
        );
        assert!(url
            .starts_with("https://console.amazonaws.cn/cloudformation/home#/stacks/quickcreate?"));
        assert!(url.contains("templateURL=https%3A%2F%2Fb.s3.amazonaws.com%2Ft.yaml"));
        assert!(url.contains("param_ExternalId=abc"));
        assert!(in_region(&url, "cn-north-1").starts_with(
            "https://console.amazonaws.cn/cloudformation/home?region=cn-north-1#/stacks/quickcreate?"
        ));
    }
}
