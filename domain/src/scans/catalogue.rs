//! The data source catalogue: which scanners exist, what they need.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use utoipa::ToSchema;

/// The built-in IAM scanner.
pub const IAM_DATA_SOURCE: &str = "aws:iam";
/// The built-in SQS scanner: regional, one job per region.
pub const SQS_DATA_SOURCE: &str = "aws:sqs";

static DATA_SOURCE_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[a-z0-9][a-z0-9-]{0,30}:[a-z0-9][a-z0-9-]{0,62}$").unwrap()
});
static IAM_ACTION: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9-]{1,40}:[A-Za-z0-9*]{1,100}$").unwrap());

/// One entry of the data source catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataSource {
    /// `<provider>:<name>`, e.g. `aws:iam`.
    #[schema(example = "aws:iam")]
    pub name: String,
    pub description: String,
    /// The highest score a finding of this source can have.
    pub max_score: f64,
    /// Built in (run by the scan worker) or external (forwarded to a queue).
    #[serde(default)]
    pub built_in: bool,
    /// The IAM actions its scanner calls with the account's role; each
    /// verification reports those the role lacks.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Minutes an external scanner has to complete a scan (default 60);
    /// a scan not completed by then is TIMED_OUT.
    #[serde(default = "default_deadline_minutes")]
    pub deadline_minutes: u32,
    /// Scanned region by region: a built-in regional source gets one job
    /// per region, each region's status, timing and error its own.
    #[serde(default)]
    pub regional: bool,
    /// Where jobs of an external data source go. Never shown to callers.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub queue_url: Option<String>,
}

fn default_deadline_minutes() -> u32 {
    60
}

/// The IAM actions the built-in `aws:iam` scanner calls.
pub const IAM_SCANNER_ACTIONS: [&str; 4] = [
    "iam:GetAccountAuthorizationDetails",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListMFADevices",
];

/// The IAM actions the built-in `aws:sqs` scanner calls, in each region.
pub const SQS_SCANNER_ACTIONS: [&str; 2] = ["sqs:ListQueues", "sqs:GetQueueAttributes"];

impl DataSource {
    /// The IAM actions its scanner needs, with its name; none without any.
    pub fn requirement(&self) -> Option<(String, Vec<String>)> {
        (!self.actions.is_empty()).then(|| (self.name.clone(), self.actions.clone()))
    }
}

/// The data sources this deployment offers: `aws:iam`, plus those of the
/// `DATA_SOURCES` setting (a JSON list of `{name, description, max_score,
/// queue_url}`).
#[derive(Debug, Clone)]
pub struct Catalogue {
    sources: Vec<DataSource>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue {
            sources: vec![
                DataSource {
                    name: IAM_DATA_SOURCE.into(),
                    description: "IAM posture: users without MFA, access keys older than 90 days or unused for 90 days, principals with administrator access".into(),
                    max_score: 10.0,
                    built_in: true,
                    // What the built-in IAM scanner calls (scan-worker's iam.rs).
                    actions: IAM_SCANNER_ACTIONS.iter().map(|a| a.to_string()).collect(),
                    deadline_minutes: default_deadline_minutes(),
                    regional: false,
                    queue_url: None,
                },
                DataSource {
                    name: SQS_DATA_SOURCE.into(),
                    description: "SQS queues, region by region: queues without server-side encryption, queues whose policy lets anyone in".into(),
                    max_score: 10.0,
                    built_in: true,
                    // What scan-worker's sqs.rs calls in each region.
                    actions: SQS_SCANNER_ACTIONS.iter().map(|a| a.to_string()).collect(),
                    deadline_minutes: default_deadline_minutes(),
                    regional: true,
                    queue_url: None,
                },
            ],
        }
    }
}

impl Catalogue {
    /// The built-in sources plus the external ones described by `json`.
    pub fn with_external(json: &str) -> Result<Self> {
        let mut catalogue = Catalogue::default();
        if json.trim().is_empty() {
            return Ok(catalogue);
        }
        let invalid = |message: String| Error::invalid("DATA_SOURCES", message);
        let external: Vec<DataSource> = serde_json::from_str(json).map_err(|err| {
            invalid(format!(
                "DATA_SOURCES must be a JSON list of {{name, description, max_score, queue_url}}: {err}"
            ))
        })?;
        for mut source in external {
            if !DATA_SOURCE_NAME.is_match(&source.name) {
                return Err(invalid(format!(
                    "data source name '{}' must look like 'aws:guard-duty'",
                    source.name
                )));
            }
            if catalogue.get(&source.name).is_some() {
                return Err(invalid(format!(
                    "data source '{}' is defined twice (or shadows a built-in one)",
                    source.name
                )));
            }
            if source.queue_url.as_deref().unwrap_or("").is_empty() {
                return Err(invalid(format!(
                    "data source '{}' needs a queue_url for its external scanner",
                    source.name
                )));
            }
            if let Some(bad) = source.actions.iter().find(|a| !IAM_ACTION.is_match(a)) {
                return Err(invalid(format!(
                    "data source '{}': '{bad}' is not an IAM action like 'guardduty:ListFindings'",
                    source.name
                )));
            }
            if !(1..=10_080).contains(&source.deadline_minutes) {
                return Err(invalid(format!(
                    "data source '{}': deadline_minutes must be 1-10080 (a week)",
                    source.name
                )));
            }
            if !(source.max_score > 0.0 && source.max_score <= 100.0) {
                return Err(invalid(format!(
                    "data source '{}': max_score must be in (0, 100]",
                    source.name
                )));
            }
            source.built_in = false;
            catalogue.sources.push(source);
        }
        Ok(catalogue)
    }

    /// From the `DATA_SOURCES` environment variable.
    pub fn all(&self) -> &[DataSource] {
        &self.sources
    }

    pub fn get(&self, name: &str) -> Option<&DataSource> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// The external source `name` (forwarded to a queue, its scanner
    /// reporting back with a scanner credential), or why there is none:
    /// a credential for any other could never report.
    pub fn external(&self, name: &str) -> Result<&DataSource> {
        let external: Vec<&DataSource> = self
            .sources
            .iter()
            .filter(|source| source.queue_url.is_some())
            .collect();
        external
            .iter()
            .find(|source| source.name == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = external.iter().map(|s| s.name.as_str()).collect();
                Error::invalid(
                    "data_source",
                    format!(
                        "{name} is not an external data source of this deployment (DATA_SOURCES); its external ones: {}",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                )
            })
    }

    /// The source named `name`, or a 404 that lists the catalogue.
    pub fn require(&self, name: &str) -> Result<&DataSource> {
        self.get(name).ok_or_else(|| Error::UnknownDataSource {
            name: name.to_string(),
            offered: self
                .sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
