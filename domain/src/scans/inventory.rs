//! The per-region inventory status (Carbon Black's model).

use super::Scan;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Status of a region's inventory sync (Carbon Black's values). Named
/// apart in the OpenAPI document from an organization's sync outcome: two
/// schemas of one name would overwrite each other there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = InventorySyncStatus)]
pub enum SyncStatus {
    NotStarted,
    InProgress,
    Success,
    Fail,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InventorySync {
    pub status: SyncStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `scan:<scan id>` of the scan that synced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Timestamp>,
}

impl Scan {
    /// Each region of this scan with one inventory sync, as of `at`.
    pub fn region_results(
        &self,
        status: SyncStatus,
        message: &str,
        code: &str,
        at: Timestamp,
    ) -> Vec<(String, InventorySync)> {
        let sync = InventorySync {
            status,
            message: Some(message.to_string()),
            code: Some(code.to_string()),
            synced_by: Some(format!("scan:{}", self.scan_id)),
            last_sync_time: Some(at),
        };
        self.regions
            .iter()
            .map(|region| (region.clone(), sync.clone()))
            .collect()
    }
}

impl SyncStatus {
    /// The code a region's inventory sync carries for this status.
    pub fn code(self) -> &'static str {
        match self {
            SyncStatus::NotStarted => "NOT_STARTED",
            SyncStatus::InProgress => "IN_PROGRESS",
            SyncStatus::Success => "OK",
            SyncStatus::Fail => "FAIL",
            SyncStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl InventorySync {
    pub fn not_started() -> Self {
        InventorySync {
            status: SyncStatus::NotStarted,
            message: None,
            code: None,
            synced_by: None,
            last_sync_time: None,
        }
    }
}

/// When a region joined the account's list, and who added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionAdded {
    pub at: Timestamp,
    pub by: String,
}

/// One region of an account, as `GET /v1/accounts/{id}/regions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegionStatus {
    pub id: String,
    pub name: String,
    /// In the account's region_ignore_list: never scanned.
    pub ignored: bool,
    pub inventory_sync: InventorySync,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}
