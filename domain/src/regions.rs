//! The AWS regions we accept, in every partition.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Region {
    pub id: &'static str,
    pub name: &'static str,
    /// `aws`, `aws-us-gov` or `aws-cn`.
    pub partition: &'static str,
}

const fn region(id: &'static str, name: &'static str, partition: &'static str) -> Region {
    Region {
        id,
        name,
        partition,
    }
}

pub const REGIONS: &[Region] = &[
    region("us-east-1", "US East (N. Virginia)", "aws"),
    region("us-east-2", "US East (Ohio)", "aws"),
    region("us-west-1", "US West (N. California)", "aws"),
    region("us-west-2", "US West (Oregon)", "aws"),
    region("af-south-1", "Africa (Cape Town)", "aws"),
    region("ap-east-1", "Asia Pacific (Hong Kong)", "aws"),
    region("ap-east-2", "Asia Pacific (Taipei)", "aws"),
    region("ap-south-1", "Asia Pacific (Mumbai)", "aws"),
    region("ap-south-2", "Asia Pacific (Hyderabad)", "aws"),
    region("ap-southeast-1", "Asia Pacific (Singapore)", "aws"),
    region("ap-southeast-2", "Asia Pacific (Sydney)", "aws"),
    region("ap-southeast-3", "Asia Pacific (Jakarta)", "aws"),
    region("ap-southeast-4", "Asia Pacific (Melbourne)", "aws"),
    region("ap-southeast-5", "Asia Pacific (Malaysia)", "aws"),
    region("ap-southeast-6", "Asia Pacific (New Zealand)", "aws"),
    region("ap-southeast-7", "Asia Pacific (Thailand)", "aws"),
    region("ap-northeast-1", "Asia Pacific (Tokyo)", "aws"),
    region("ap-northeast-2", "Asia Pacific (Seoul)", "aws"),
    region("ap-northeast-3", "Asia Pacific (Osaka)", "aws"),
    region("ca-central-1", "Canada (Central)", "aws"),
    region("ca-west-1", "Canada West (Calgary)", "aws"),
    region("eu-central-1", "Europe (Frankfurt)", "aws"),
    region("eu-central-2", "Europe (Zurich)", "aws"),
    region("eu-west-1", "Europe (Ireland)", "aws"),
    region("eu-west-2", "Europe (London)", "aws"),
    region("eu-west-3", "Europe (Paris)", "aws"),
    region("eu-south-1", "Europe (Milan)", "aws"),
    region("eu-south-2", "Europe (Spain)", "aws"),
    region("eu-north-1", "Europe (Stockholm)", "aws"),
    region("il-central-1", "Israel (Tel Aviv)", "aws"),
    region("me-south-1", "Middle East (Bahrain)", "aws"),
    region("me-central-1", "Middle East (UAE)", "aws"),
    region("mx-central-1", "Mexico (Central)", "aws"),
    region("sa-east-1", "South America (Sao Paulo)", "aws"),
    region("us-gov-east-1", "AWS GovCloud (US-East)", "aws-us-gov"),
    region("us-gov-west-1", "AWS GovCloud (US-West)", "aws-us-gov"),
    region("cn-north-1", "China (Beijing)", "aws-cn"),
    region("cn-northwest-1", "China (Ningxia)", "aws-cn"),
];

pub fn find(id: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|region| region.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_is_present_and_ids_are_unique() {
        for partition in ["aws", "aws-us-gov", "aws-cn"] {
            assert!(REGIONS.iter().any(|r| r.partition == partition));
        }
        let mut ids: Vec<_> = REGIONS.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), REGIONS.len());
        assert_eq!(find("cn-north-1").unwrap().partition, "aws-cn");
        assert!(find("us-east-9").is_none());
    }
}
