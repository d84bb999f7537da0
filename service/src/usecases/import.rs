//! Import accounts from a CSV file: the row checks, the mode's policy, and
//! one write per 100 accounts.

use crate::aws::store::Store;
use crate::aws::verification::VerificationSettings;
use crate::csv_io::{self, RowError};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// What an import does with invalid rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// One bad row rejects the file; nothing is written.
    #[default]
    AllOrNothing,
    /// Good rows are imported; bad ones are reported.
    BestEffort,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    pub mode: ImportMode,
    /// Account ids created.
    pub created: Vec<String>,
    /// Account ids updated.
    pub updated: Vec<String>,
    /// Rows not imported (best_effort), and accounts that changed during the import.
    pub failed: Vec<RowError>,
}

/// Import `csv` into the tenant's accounts.
pub async fn import_accounts(
    store: &Store,
    settings: &VerificationSettings,
    tenant: &str,
    actor: &str,
    mode: ImportMode,
    csv: &[u8],
) -> Result<ImportResponse> {
    let (mut rows, mut errors) = csv_io::parse(csv)?;
    for import in &mut rows {
        if let Err(Error::Invalid { message, .. }) =
            settings.settle_role(&mut import.fields, &import.account_id)
        {
            errors.push(RowError {
                row: import.row,
                account_id: Some(import.account_id.clone()),
                column: "credentialRoleArn".into(),
                message,
            });
        }
    }
    errors.sort_by_key(|e| e.row);
    if !errors.is_empty() && mode == ImportMode::AllOrNothing {
        return Err(Error::InvalidRows(errors));
    }
    let rejected: HashSet<&str> = errors
        .iter()
        .filter_map(|e| e.account_id.as_deref())
        .collect();
    let good: Vec<_> = rows
        .into_iter()
        .filter(|r| !rejected.contains(r.account_id.as_str()))
        .collect();
    let rows_by_id: HashMap<String, usize> =
        good.iter().map(|r| (r.account_id.clone(), r.row)).collect();
    let outcome = store
        .import_accounts(tenant, good, actor, Timestamp::now())
        .await?;
    errors.extend(
        outcome
            .failed
            .into_iter()
            .map(|(account_id, message)| RowError {
                row: rows_by_id.get(&account_id).copied().unwrap_or_default(),
                account_id: Some(account_id),
                column: "accountId".into(),
                message,
            }),
    );
    Ok(ImportResponse {
        mode,
        created: outcome.created,
        updated: outcome.updated,
        failed: errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::OfflineStore;

    /// An all-or-nothing import with a bad row writes nothing, and reads
    /// nothing either: the file is checked whole first.
    #[tokio::test]
    async fn an_all_or_nothing_import_with_a_bad_row_makes_no_call() {
        let offline = OfflineStore::new();
        let settings = crate::usecases::offline::settings();
        let csv = b"accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions,parentAccountId\n\
            000000000001,first,Ann,ann@example.com,PROD,,us-east-1,\n\
            12345,second,Bob,bob@example.com,PROD,,us-east-1,\n";
        let err = import_accounts(
            &offline.store,
            &settings,
            "tenant",
            "key",
            ImportMode::AllOrNothing,
            csv,
        )
        .await
        .unwrap_err();
        match err {
            Error::InvalidRows(rows) => {
                assert_eq!(rows.len(), 1, "{rows:?}");
                assert_eq!(rows[0].row, 3);
            }
            other => panic!("{other}"),
        }
        assert_eq!(offline.calls(), 0);
    }
}
