//! The table and queues, as `template.yaml` declares them.
//!
//! The dev environment and the tests create their resources from these
//! definitions; a test parses `template.yaml` and fails if the two drift.

use crate::listing::SortField;
use aws_sdk_dynamodb::types::StreamViewType;

/// The table's stream: every change with its before and after images, the
/// one source of domain events (as in template.yaml).
pub const STREAM_VIEW: StreamViewType = StreamViewType::NewAndOldImages;

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";

/// The sparse global index of accounts whose verification is due. Only
/// accounts with a role carry its keys. Spread over shards so no partition
/// of the index gets hot; the verifier queries each shard.
pub const DUE_INDEX: &str = "due-index";
pub const DUE_SHARD: &str = "due_shard";
pub const DUE_AT: &str = "due_at";
pub const DUE_SHARDS: u32 = 8;

/// The due shard of an account: stable, spread by hash.
pub fn due_shard(tenant: &str, account_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{tenant}/{account_id}").as_bytes());
    due_shard_key(u32::from(digest[0]) % DUE_SHARDS)
}

/// The due index's partition key of shard `shard` (0 to [`DUE_SHARDS`]).
pub fn due_shard_key(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// A local secondary index: the tenant partition, another sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIndex {
    pub name: &'static str,
    pub sort_key: &'static str,
}

/// Linked accounts by payer: sort key `<parent id>\u{1}<account id>`,
/// present only on accounts with a parent.
/// Sparse global indexes that serve search criteria, one partition per
/// tenant and value, sorted by the table's own sort key (so by account id,
/// like the partition itself): a selective search reads what it returns.
pub const ENVIRONMENT_INDEX: &str = "by-environment";
pub const ENVIRONMENT_KEY: &str = "gsi_environment";
pub const STATUS_INDEX: &str = "by-status";
pub const STATUS_KEY: &str = "gsi_status";

/// The `by-environment` partition of a tenant's accounts in `environment`.
pub fn environment_partition(tenant: &str, environment: crate::account::Environment) -> String {
    format!("{tenant}#{}", environment.as_str())
}

/// The `by-status` partition of a tenant's accounts with `status`.
pub fn status_partition(tenant: &str, status: crate::account::VerificationStatus) -> String {
    format!("{tenant}#{}", status.as_str())
}

/// The criteria indexes: name and partition-key attribute.
pub const CRITERIA_INDEXES: [(&str, &str); 2] = [
    (ENVIRONMENT_INDEX, ENVIRONMENT_KEY),
    (STATUS_INDEX, STATUS_KEY),
];

/// Every finding of a tenant in severity order (critical first, then by
/// score, highest first): the tenant-wide findings query reads it.
pub const FINDINGS_INDEX: &str = "findings-by-severity";
pub const FINDINGS_PARTITION: &str = "gsi_findings";
pub const FINDINGS_ORDER: &str = "gsi_severity";
/// One account's findings in the same order (its partition is
/// `T#<tenant>#<account>`): the account's findings listing reads it.
pub const ACCOUNT_FINDINGS_INDEX: &str = "findings-by-account";
pub const ACCOUNT_FINDINGS_PARTITION: &str = "gsi_account_findings";

pub const PARENT_INDEX: &str = "by-parent";
pub const PARENT_KEY: &str = "lsi_parent";

pub fn local_indexes() -> Vec<LocalIndex> {
    let mut indexes: Vec<LocalIndex> = SortField::ALL
        .iter()
        .copied()
        .filter_map(SortField::index)
        .map(|(name, sort_key)| LocalIndex { name, sort_key })
        .collect();
    indexes.push(LocalIndex {
        name: PARENT_INDEX,
        sort_key: PARENT_KEY,
    });
    indexes
}

/// The global indexes, in `template.yaml`'s order: (name, partition key,
/// sort key), each projecting every attribute.
pub fn global_indexes() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut indexes = vec![(DUE_INDEX, DUE_SHARD, DUE_AT)];
    indexes.extend(
        CRITERIA_INDEXES
            .into_iter()
            .map(|(name, partition_key)| (name, partition_key, SORT_KEY)),
    );
    indexes.push((FINDINGS_INDEX, FINDINGS_PARTITION, FINDINGS_ORDER));
    indexes.push((
        ACCOUNT_FINDINGS_INDEX,
        ACCOUNT_FINDINGS_PARTITION,
        FINDINGS_ORDER,
    ));
    indexes
}

/// Every key attribute of the table and its indexes (all strings).
pub fn key_attributes() -> Vec<&'static str> {
    let mut attributes = vec![PARTITION_KEY, SORT_KEY];
    attributes.extend(local_indexes().iter().map(|index| index.sort_key));
    attributes.extend([DUE_SHARD, DUE_AT]);
    attributes.extend(CRITERIA_INDEXES.map(|(_, key)| key));
    attributes.extend([
        FINDINGS_PARTITION,
        FINDINGS_ORDER,
        ACCOUNT_FINDINGS_PARTITION,
    ]);
    attributes
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDefinition {
    /// Logical id in `template.yaml`.
    pub logical_id: &'static str,
    pub dead_letter_logical_id: &'static str,
    /// Seconds; at least six times the consuming function's timeout.
    pub visibility_timeout: u32,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// Seconds the dead-letter queue keeps messages (14 days).
    pub dead_letter_retention: u32,
    /// A FIFO queue (and dead-letter queue): names end in `.fifo`.
    pub fifo: bool,
}

impl QueueDefinition {
    /// The queue's name under `prefix` (the template lets CloudFormation
    /// name them; the dev server and the tests use these).
    pub fn name(&self, prefix: &str, logical_id: &str) -> String {
        let suffix = if self.fifo { ".fifo" } else { "" };
        format!("{prefix}-{logical_id}{suffix}")
    }
}

pub const SCAN_QUEUE: QueueDefinition = QueueDefinition {
    logical_id: "ScanQueue",
    dead_letter_logical_id: "ScanDeadLetterQueue",
    visibility_timeout: 5400,
    max_receive_count: 5,
    dead_letter_retention: 1_209_600,
    fifo: false,
};

/// Webhook deliveries: FIFO, so one account's events reach an endpoint
/// in order, deduplicated by endpoint and event. The sender moves a job
/// to the dead-letter queue itself after its last attempt; the redrive
/// policy only catches a message that can never be handled.
pub const WEBHOOK_QUEUE: QueueDefinition = QueueDefinition {
    logical_id: "WebhookQueue",
    dead_letter_logical_id: "WebhookDeadLetterQueue",
    visibility_timeout: 60,
    max_receive_count: 100,
    dead_letter_retention: 1_209_600,
    fifo: true,
};

/// Organization syncs, one message per sync asked for (on demand or by
/// the schedule); the consumer's claim makes a duplicate a no-op.
/// Visibility: six times the function's 300 s timeout.
pub const ORGANIZATION_SYNC_QUEUE: QueueDefinition = QueueDefinition {
    logical_id: "OrganizationSyncQueue",
    dead_letter_logical_id: "OrganizationSyncDeadLetterQueue",
    visibility_timeout: 1800,
    max_receive_count: 5,
    dead_letter_retention: 1_209_600,
    fifo: false,
};

pub const QUEUES: [QueueDefinition; 3] = [SCAN_QUEUE, WEBHOOK_QUEUE, ORGANIZATION_SYNC_QUEUE];

/// The due-index shard of organizations whose scheduled sync is due (the
/// accounts' shards are `DUE#0`..`DUE#7`, so neither sweep sees the other's).
pub const ORGANIZATION_SYNC_SHARD: &str = "ORGSYNC";
