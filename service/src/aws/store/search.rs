//! Search reads: the candidates of one request, from the source its
//! criteria choose, bounded by a read budget and resumable by window.

use super::{keys, s, Store};
use crate::account::Account;
use crate::aws::schema;
use crate::listing::compose_sort_value;
use crate::search::{Source, Window};
use crate::Result;
use std::collections::HashMap;

use super::Item;

/// One Query whose items come in account-id order.
struct Stream {
    index: Option<&'static str>,
    key_attribute: &'static str,
    key_value: String,
    /// For the `by-parent` index: the parent its sort key starts with.
    parent: Option<String>,
}

impl Stream {
    fn query(index: &'static str, key_attribute: &'static str, key_value: String) -> Self {
        Stream {
            index: Some(index),
            key_attribute,
            key_value,
            parent: None,
        }
    }

    /// The position just after `account_id`, as ExclusiveStartKey: the
    /// table's key plus the index's (a key need not exist to be a position).
    fn start_after(&self, tenant: &str, account_id: &str) -> Item {
        let mut key = HashMap::from([
            ("pk".to_string(), s(keys::tenant_pk(tenant))),
            ("sk".to_string(), s(keys::account_sk(account_id))),
        ]);
        match (&self.parent, self.index) {
            (Some(parent), _) => {
                key.insert(
                    schema::PARENT_KEY.to_string(),
                    s(compose_sort_value(parent, account_id)),
                );
            }
            (None, Some(_)) => {
                key.insert(self.key_attribute.to_string(), s(self.key_value.clone()));
            }
            (None, None) => {}
        }
        key
    }
}

/// What one stream read: its accounts, and whether it has more.
struct StreamRead {
    accounts: Vec<Account>,
    exhausted: bool,
}

impl Store {
    /// The candidates of one search request: the accounts of `source`
    /// after `after` (exclusive), at most about `budget` of them. Each
    /// Query stream reads its share of the budget; the window ends at the
    /// smallest last id among the streams that have more, so no account
    /// before the end is missing from it.
    pub async fn search_window(
        &self,
        tenant: &str,
        source: &Source,
        after: Option<&str>,
        budget: usize,
    ) -> Result<Window> {
        let pk = keys::tenant_pk(tenant);
        let streams: Vec<Stream> = match source {
            Source::AccountIds(ids) => {
                let mut accounts = self.batch_get_accounts(tenant, ids).await?;
                accounts.retain(|a| after.is_none_or(|after| a.account_id.as_str() > after));
                return Ok(Window {
                    accounts,
                    end: None,
                });
            }
            Source::Partition => vec![Stream {
                index: None,
                key_attribute: "pk",
                key_value: pk,
                parent: None,
            }],
            Source::Parents(parents) => parents
                .iter()
                .map(|parent| Stream {
                    index: Some(schema::PARENT_INDEX),
                    key_attribute: "pk",
                    key_value: pk.clone(),
                    parent: Some(parent.clone()),
                })
                .collect(),
            Source::Statuses(statuses) => statuses
                .iter()
                .map(|status| {
                    Stream::query(
                        schema::STATUS_INDEX,
                        schema::STATUS_KEY,
                        schema::status_partition(tenant, *status),
                    )
                })
                .collect(),
            Source::Environments(environments) => environments
                .iter()
                .map(|environment| {
                    Stream::query(
                        schema::ENVIRONMENT_INDEX,
                        schema::ENVIRONMENT_KEY,
                        schema::environment_partition(tenant, *environment),
                    )
                })
                .collect(),
        };
        let share = budget.div_ceil(streams.len().max(1)).max(1);
        let reads = futures::future::try_join_all(
            streams
                .iter()
                .map(|stream| self.read_stream(tenant, stream, after, share)),
        )
        .await?;
        let end = reads
            .iter()
            .filter(|read| !read.exhausted)
            .filter_map(|read| read.accounts.last().map(|a| a.account_id.clone()))
            .min();
        let mut accounts: Vec<Account> = reads.into_iter().flat_map(|r| r.accounts).collect();
        if let Some(end) = &end {
            accounts.retain(|a| &a.account_id <= end);
        }
        Ok(Window { accounts, end })
    }

    /// Up to `limit` accounts of one stream after `after`, in Query pages.
    async fn read_stream(
        &self,
        tenant: &str,
        stream: &Stream,
        after: Option<&str>,
        limit: usize,
    ) -> Result<StreamRead> {
        let mut accounts = Vec::new();
        let mut start = after.map(|id| stream.start_after(tenant, id));
        loop {
            let remaining = limit - accounts.len();
            let mut request = self
                .client
                .query()
                .table_name(self.table())
                .set_index_name(stream.index.map(str::to_string))
                .expression_attribute_names("#key", stream.key_attribute)
                .expression_attribute_values(":key", s(stream.key_value.clone()))
                .limit(remaining.min(1000) as i32)
                .set_exclusive_start_key(start);
            request = match (&stream.parent, stream.index) {
                (Some(parent), _) => request
                    .key_condition_expression("#key = :key AND begins_with(#sort, :prefix)")
                    .expression_attribute_names("#sort", schema::PARENT_KEY)
                    .expression_attribute_values(":prefix", s(compose_sort_value(parent, ""))),
                (None, None) => request
                    .key_condition_expression("#key = :key AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(keys::ACCOUNT_PREFIX)),
                (None, Some(_)) => request.key_condition_expression("#key = :key"),
            };
            let output = request.send().await.map_err(crate::aws::errors::from_sdk)?;
            for item in output.items.unwrap_or_default() {
                accounts.push(crate::aws::codec::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(StreamRead {
                    accounts,
                    exhausted: true,
                });
            }
            if accounts.len() >= limit {
                return Ok(StreamRead {
                    accounts,
                    exhausted: false,
                });
            }
        }
    }
}
