//! AWS partitions beyond the commercial one (`aws-us-gov`, `aws-cn`): each
//! has its own accounts, its own IAM and STS, and needs its own vendor
//! principal. The service trusts and calls a partition only when its
//! operator configured one (`PARTITIONS`); a role in another is refused at
//! registration, naming `role_arn`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The commercial partition: its principal is `VENDOR_PRINCIPAL` (or this
/// service's own account) and its STS the process's.
pub const COMMERCIAL: &str = "aws";

/// Every partition this service knows, with its home region: where its
/// global IAM endpoint sits, and its STS endpoint when none is configured.
pub const KNOWN: [(&str, &str); 3] = [
    ("aws", "us-east-1"),
    ("aws-us-gov", "us-gov-west-1"),
    ("aws-cn", "cn-north-1"),
];

/// The home region of `partition` (`aws`'s for an unknown one).
pub fn home_region(partition: &str) -> &'static str {
    KNOWN
        .iter()
        .find(|(name, _)| *name == partition)
        .map_or(KNOWN[0].1, |(_, region)| region)
}

/// One partition's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionSetting {
    /// `aws-us-gov` or `aws-cn`.
    pub partition: String,
    /// The principal customer roles in this partition trust, an ARN of the
    /// partition (e.g. `arn:aws-us-gov:iam::123456789012:role/Onboarding`).
    pub vendor_principal: String,
    /// The STS regional endpoint's region (default: us-gov-west-1, cn-north-1).
    #[serde(default)]
    pub sts_region: Option<String>,
    /// An S3 copy of the generic role template in this partition, for its
    /// quick-create links (default: this API's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_template_url: Option<String>,
}

impl PartitionSetting {
    /// The region of this partition's STS endpoint.
    pub fn sts_region(&self) -> String {
        self.sts_region
            .clone()
            .unwrap_or_else(|| home_region(&self.partition).to_string())
    }
}

/// `PARTITIONS`: a JSON list of [`PartitionSetting`], each checked: a
/// known partition other than `aws`, once; a principal ARN and an STS
/// region of that partition.
pub fn parse(text: &str) -> Result<Vec<PartitionSetting>, String> {
    let settings: Vec<PartitionSetting> = serde_json::from_str(text)
        .map_err(|err| format!("a JSON list of {{partition, vendor_principal, sts_region?, role_template_url?}}: {err}"))?;
    let mut seen = Vec::new();
    for setting in &settings {
        let name = setting.partition.as_str();
        if name == COMMERCIAL {
            return Err("aws is configured by VENDOR_PRINCIPAL, not here".into());
        }
        if !KNOWN.iter().any(|(known, _)| *known == name) {
            return Err(format!(
                "'{name}' is not a partition: use aws-us-gov or aws-cn"
            ));
        }
        if seen.contains(&name) {
            return Err(format!("{name} is listed twice"));
        }
        seen.push(name);
        let principal_partition = setting.vendor_principal.split(':').nth(1);
        if !setting.vendor_principal.starts_with("arn:") || principal_partition != Some(name) {
            return Err(format!(
                "the vendor_principal of {name} must be an ARN of that partition (arn:{name}:iam::<account>:...)"
            ));
        }
        let region = setting.sts_region();
        if crate::regions::find(&region).map(|r| r.partition) != Some(name) {
            return Err(format!("sts_region '{region}' is not a region of {name}"));
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let good = r#"[{"partition": "aws-us-gov", "vendor_principal": "arn:aws-us-gov:iam::123456789012:root"}]"#;
        let settings = parse(good).unwrap();
        assert_eq!(settings[0].sts_region(), "us-gov-west-1");
        for (bad, says) in [
            (
                r#"[{"partition": "aws", "vendor_principal": "arn:aws:iam::1:root"}]"#,
                "VENDOR_PRINCIPAL",
            ),
            (
                r#"[{"partition": "aws-iso", "vendor_principal": "arn:aws-iso:iam::1:root"}]"#,
                "not a partition",
            ),
            (
                r#"[{"partition": "aws-cn", "vendor_principal": "arn:aws:iam::1:root"}]"#,
                "of that partition",
            ),
            (
                r#"[{"partition": "aws-cn", "vendor_principal": "arn:aws-cn:iam::1:root", "sts_region": "us-east-1"}]"#,
                "not a region of aws-cn",
            ),
            (
                r#"[{"partition": "aws-cn", "vendor_principal": "arn:aws-cn:iam::1:root"}, {"partition": "aws-cn", "vendor_principal": "arn:aws-cn:iam::1:root"}]"#,
                "twice",
            ),
            (
                r#"[{"partition": "aws-cn", "principal": "x"}]"#,
                "JSON list",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
