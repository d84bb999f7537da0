//! Organization items (`ORG#<organization id>` in the tenant's partition).

use super::{is_condition_failure, item_key, keys, s, stamp_item, Item, Store};
use crate::account::Account;
use crate::aws::discovery::Enrolled;
use crate::aws::schema;
use crate::organizations::{Organization, SyncRunStatus, SyncSummary, SYNC_LEASE};
use crate::time::Timestamp;
use crate::{Error, Result};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

const RESOURCE: &str = "organization";

/// Organizations one tenant may register.
pub const MAX_ORGANIZATIONS: usize = 100;

impl Store {
    /// Store a new organization (refused if its id exists) at the quota
    /// version `read` (`Ok(false)`: the quota moved, count again).
    pub async fn create_organization(
        &self,
        tenant: &str,
        organization: &Organization,
        read: u64,
    ) -> Result<bool> {
        let mut item: Item = crate::aws::codec::to_item(organization)?;
        item.insert("pk".into(), s(keys::tenant_pk(tenant)));
        item.insert(
            "sk".into(),
            s(keys::organization_sk(&organization.organization_id)),
        );
        item.insert("type".into(), s("organization"));
        if let Some(next) = organization.next_sync_at {
            item.insert(schema::DUE_SHARD.into(), s(schema::ORGANIZATION_SYNC_SHARD));
            item.insert(schema::DUE_AT.into(), s(next.to_string()));
        }
        stamp_item(&mut item);
        let put = super::put_if_absent(self.table(), item)?;
        self.write_within_quota(
            tenant,
            keys::ORGANIZATION_PREFIX,
            read,
            vec![put],
            RESOURCE,
            &organization.organization_id,
        )
        .await
    }

    pub async fn get_organization(
        &self,
        tenant: &str,
        organization_id: &str,
    ) -> Result<Organization> {
        self.get_item(tenant, keys::organization_sk(organization_id))
            .await?
            .map(crate::aws::codec::from_item)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: RESOURCE,
                id: organization_id.to_string(),
            })
    }

    /// Every organization of a tenant (at most [`MAX_ORGANIZATIONS`]).
    pub async fn list_organizations(&self, tenant: &str) -> Result<Vec<Organization>> {
        self.query_prefix(tenant, keys::ORGANIZATION_PREFIX).await
    }

    pub async fn delete_organization(&self, tenant: &str, organization_id: &str) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .key("pk", s(keys::tenant_pk(tenant)))
            .key("sk", s(keys::organization_sk(organization_id)))
            .condition_expression("attribute_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if is_condition_failure(&err) => {
                return Err(Error::NotFound {
                    resource: RESOURCE,
                    id: organization_id.to_string(),
                })
            }
            Err(err) => return Err(crate::aws::errors::from_sdk(err)),
        }
        // Its member items and onboarding links go with it (the accounts
        // enrolled from them stay).
        let subject = crate::onboarding::Subject::Organization(organization_id.to_string());
        let (members, links) = futures::join!(
            self.list_organization_members(tenant, organization_id),
            self.onboarding_links(tenant, &subject)
        );
        let member_keys = members?
            .into_iter()
            .map(|member| keys::organization_member_sk(organization_id, &member.account_id));
        let link_keys = links?
            .into_iter()
            .map(|link| super::onboarding::link_sk(&subject, &link.link_id));
        self.delete_items(tenant, member_keys.chain(link_keys))
            .await
    }

    /// The members the last syncs left (`ORGMEMBER#<organization>#<account>`).
    pub async fn list_organization_members(
        &self,
        tenant: &str,
        organization_id: &str,
    ) -> Result<Vec<Enrolled>> {
        self.query_prefix(tenant, &keys::organization_members_prefix(organization_id))
            .await
    }

    /// Write members as a sync leaves them (BatchWriteItem; writing the
    /// same member twice writes the same item).
    pub async fn put_organization_members(
        &self,
        tenant: &str,
        organization_id: &str,
        members: &[Enrolled],
    ) -> Result<()> {
        let requests = members
            .iter()
            .map(|member| {
                let mut item: Item = crate::aws::codec::to_item(member)?;
                item.extend(item_key(
                    tenant,
                    keys::organization_member_sk(organization_id, &member.account_id),
                ));
                item.insert("type".into(), s("organization_member"));
                super::put_request(item)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Keep a sync's summary (and AWS's organization id) on the
    /// organization, end its claim and schedule the next one.
    pub async fn record_organization_sync(
        &self,
        tenant: &str,
        organization_id: &str,
        summary: &SyncSummary,
        aws_organization_id: Option<&str>,
        next_sync_at: Timestamp,
    ) -> Result<()> {
        // Archived meanwhile: the summary is kept, nothing is scheduled.
        for scheduled in [true, false] {
            let mut update = self
                .update_organization_item(tenant, organization_id)
                .expression_attribute_values(
                    ":summary",
                    crate::aws::codec::to_attribute_value(summary)?,
                );
            let mut set = String::from("SET last_sync = :summary");
            if scheduled {
                set.push_str(", next_sync_at = :next, #due_shard = :shard, #due_at = :next");
                update = update
                    .condition_expression(
                        "attribute_exists(sk) AND attribute_not_exists(archived_at)",
                    )
                    .expression_attribute_names("#due_shard", schema::DUE_SHARD)
                    .expression_attribute_names("#due_at", schema::DUE_AT)
                    .expression_attribute_values(":shard", s(schema::ORGANIZATION_SYNC_SHARD))
                    .expression_attribute_values(":next", s(next_sync_at.to_string()));
            } else {
                update = update.condition_expression("attribute_exists(sk)");
            }
            if let Some(id) = aws_organization_id {
                set.push_str(", aws_organization_id = :aws");
                update = update.expression_attribute_values(":aws", s(id));
            }
            let result = update
                .update_expression(format!("{set} REMOVE sync_status, sync_lease_until"))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if is_condition_failure(&err) => {
                    if super::refused_item(&err).is_none() {
                        break;
                    }
                }
                Err(err) => return Err(crate::aws::errors::from_sdk(err)),
            }
        }
        Err(Error::NotFound {
            resource: RESOURCE,
            id: organization_id.to_string(),
        })
    }
}

/// What bringing member accounts to a sync's decision wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Accounts created or changed.
    pub written: Vec<String>,
    /// Accounts that kept changing under the sync (left for the next one).
    pub contended: Vec<String>,
}

/// Rounds of re-deciding accounts a concurrent writer changed.
const RECONCILE_ROUNDS: usize = 3;

impl Store {
    /// Bring the accounts `account_ids` to what `decide` makes of each (the
    /// account as stored, or `None`): read them 100 a BatchGetItem (but
    /// those in `likely_absent`, decided unread as new), write those that
    /// change in transactions of 100, each only if still absent or at the
    /// version read. An account changed meanwhile (or found where none was
    /// expected) is decided again from the item its refusal returned, up
    /// to three rounds; so a concurrent sync or caller is never
    /// overwritten, and an account that is already as decided costs no
    /// write.
    pub async fn reconcile_accounts<F>(
        &self,
        tenant: &str,
        account_ids: &[String],
        likely_absent: &std::collections::HashSet<&str>,
        decide: F,
    ) -> Result<Reconciled>
    where
        F: Fn(Option<&Account>, &str) -> Option<Account>,
    {
        let to_read: Vec<String> = account_ids
            .iter()
            .filter(|id| !likely_absent.contains(id.as_str()))
            .cloned()
            .collect();
        let mut found: std::collections::HashMap<String, Item> = self
            .batch_get_account_items(tenant, &to_read)
            .await?
            .into_iter()
            .filter_map(|item| match item.get("account_id") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) => Some((id.clone(), item)),
                _ => None,
            })
            .collect();
        let mut pending: Vec<String> = account_ids.to_vec();
        let mut outcome = Reconciled::default();
        for _ in 0..RECONCILE_ROUNDS {
            let mut writes = Vec::new();
            for account_id in &pending {
                let previous = found.get(account_id);
                let current: Option<Account> = previous
                    .cloned()
                    .map(crate::aws::codec::from_item)
                    .transpose()?;
                if let Some(next) = decide(current.as_ref(), account_id) {
                    writes.push(self.account_write(tenant, &next, previous)?);
                }
            }
            let (written, refused) = self.write_accounts(writes).await?;
            outcome.written.extend(written);
            pending = Vec::new();
            for (account_id, item) in refused {
                match item {
                    Some(item) => {
                        found.insert(account_id.clone(), item);
                    }
                    None => {
                        found.remove(&account_id);
                    }
                }
                pending.push(account_id);
            }
            if pending.is_empty() {
                break;
            }
        }
        outcome.contended = pending;
        outcome.written.sort();
        Ok(outcome)
    }
}

impl Store {
    /// Ask for a sync: mark the organization QUEUED, unless a sync is
    /// already queued or running under a live claim. Returns the
    /// organization when this call queued it (send its job), `None` when
    /// one is already on its way. The claim also moves the organization's
    /// due time to the claim's end, so a sync whose message is lost is
    /// found again by the schedule.
    pub async fn queue_organization_sync(
        &self,
        tenant: &str,
        organization_id: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Organization>> {
        let lease_until = now.plus(SYNC_LEASE);
        let result = self
            .update_organization_item(tenant, organization_id)
            .condition_expression(
                "attribute_exists(sk) AND attribute_not_exists(archived_at) AND (attribute_not_exists(sync_lease_until) OR sync_lease_until < :now)",
            )
            .update_expression(
                "SET sync_status = :queued, sync_requested_at = :now, sync_requested_by = :by, sync_lease_until = :lease, #due_shard = :shard, #due_at = :lease REMOVE sync_started_at",
            )
            .expression_attribute_names("#due_shard", schema::DUE_SHARD)
            .expression_attribute_names("#due_at", schema::DUE_AT)
            .expression_attribute_values(":queued", crate::aws::codec::to_attribute_value(SyncRunStatus::Queued)?)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":by", s(requested_by))
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":shard", s(schema::ORGANIZATION_SYNC_SHARD))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(err) if is_condition_failure(&err) => match super::refused_item(&err) {
                Some(item) if item.contains_key("archived_at") => Err(archived(organization_id)),
                Some(_) => Ok(None),
                None => Err(Error::NotFound {
                    resource: RESOURCE,
                    id: organization_id.to_string(),
                }),
            },
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Take a queued sync (or one whose claim lapsed) to run it: RUNNING,
    /// with a fresh claim. `None`: nothing to run (a duplicate message,
    /// or another worker holds it).
    pub async fn claim_organization_sync(
        &self,
        tenant: &str,
        organization_id: &str,
        now: Timestamp,
    ) -> Result<Option<Organization>> {
        let result = self
            .update_organization_item(tenant, organization_id)
            .condition_expression(
                "attribute_exists(sk) AND attribute_not_exists(archived_at) AND (sync_status = :queued OR (sync_status = :running AND sync_lease_until < :now))",
            )
            .update_expression(
                "SET sync_status = :running, sync_started_at = :now, sync_lease_until = :lease, #due_at = :lease",
            )
            .expression_attribute_names("#due_at", schema::DUE_AT)
            .expression_attribute_values(":queued", crate::aws::codec::to_attribute_value(SyncRunStatus::Queued)?)
            .expression_attribute_values(":running", crate::aws::codec::to_attribute_value(SyncRunStatus::Running)?)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":lease", s(now.plus(SYNC_LEASE).to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Organizations whose scheduled sync (or lapsed claim) is due at
    /// `now`, oldest first, at most `limit`, from the due index's
    /// organization shard: (tenant, organization id).
    pub async fn due_organizations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let items = self
            .due_items(
                schema::ORGANIZATION_SYNC_SHARD,
                now,
                limit,
                "pk, organization_id",
            )
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|item| match (item.get("pk"), item.get("organization_id")) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(id))) => {
                    Some((keys::tenant_of_pk(pk).to_string(), id.clone()))
                }
                _ => None,
            })
            .collect())
    }
}

impl Store {
    /// Start (`Some`) or end (`None`) a rotation of the organization's
    /// external-ID prefix, only while its pending prefix is still `seen`
    /// (what the caller read): two rotations, or a rotation and a
    /// cancellation, never interleave. An archived organization is not
    /// rotated (409); ending one that is not pending is a 404.
    pub async fn set_organization_pending_prefix(
        &self,
        tenant: &str,
        organization_id: &str,
        pending: Option<&str>,
        seen: Option<&str>,
    ) -> Result<Organization> {
        let mut request = self
            .update_organization_item(tenant, organization_id)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .expression_attribute_values(":one", super::n(1));
        let as_seen = match seen {
            Some(seen) => {
                request = request.expression_attribute_values(":seen", s(seen));
                "pending_external_id_prefix = :seen"
            }
            None => "attribute_not_exists(pending_external_id_prefix)",
        };
        let request = match pending {
            Some(pending) => request
                .condition_expression(format!(
                    "attribute_exists(sk) AND attribute_not_exists(archived_at) AND {as_seen}"
                ))
                .update_expression(
                    "SET pending_external_id_prefix = :pending, version = version + :one",
                )
                .expression_attribute_values(":pending", s(pending)),
            None => request
                .condition_expression(format!(
                    "attribute_exists(pending_external_id_prefix) AND {as_seen}"
                ))
                .update_expression(
                    "SET version = version + :one REMOVE pending_external_id_prefix",
                ),
        };
        match request.send().await {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => {
                let found: Option<Organization> = super::refused_item(&err)
                    .map(crate::aws::codec::from_item)
                    .transpose()?;
                Err(match (found, pending) {
                    (None, _) => Error::NotFound {
                        resource: RESOURCE,
                        id: organization_id.to_string(),
                    },
                    (Some(found), Some(_)) if found.archived_at.is_some() => crate::organizations::archived_refuses_rotation(organization_id),
                    (Some(found), _)
                        if found.pending_external_id_prefix.as_deref() != seen =>
                    {
                        Error::Conflict(format!(
                            "the rotation of organization {organization_id} changed meanwhile; read it again and retry"
                        ))
                    }
                    (Some(_), _) => Error::NotFound {
                        resource: "pending external-ID prefix of organization",
                        id: organization_id.to_string(),
                    },
                })
            }
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// The management role verified with the pending prefix's ID: it
    /// becomes the prefix (only if that rotation is still the pending one).
    pub async fn promote_organization_prefix(
        &self,
        tenant: &str,
        organization_id: &str,
        pending: &str,
    ) -> Result<bool> {
        let result = self
            .update_organization_item(tenant, organization_id)
            .condition_expression("pending_external_id_prefix = :pending")
            .update_expression(
                "SET external_id_prefix = :pending, version = version + :one REMOVE pending_external_id_prefix",
            )
            .expression_attribute_values(":pending", s(pending))
            .expression_attribute_values(":one", super::n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}

/// The refusal of a sync of an archived organization.
fn archived(organization_id: &str) -> Error {
    Error::Refused {
        code: "archived",
        message: format!("organization {organization_id} is archived; unarchive it first (POST /v1/organizations/{organization_id}/unarchive)"),
    }
}

impl Store {
    /// Replace an organization's caller-set fields, only at the version
    /// they were read at (a concurrent change is a 412).
    pub async fn update_organization(
        &self,
        tenant: &str,
        organization: &Organization,
        expected_version: u64,
    ) -> Result<Organization> {
        let result = self
            .update_organization_item(tenant, &organization.organization_id)
            .condition_expression("attribute_exists(sk) AND version = :expected")
            .update_expression(
                "SET #name = :name, role_arn = :role, filters = :filters, updated_at = :now, updated_by = :by, version = version + :one",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(&organization.name))
            .expression_attribute_values(":role", s(&organization.role_arn))
            .expression_attribute_values(
                ":filters",
                crate::aws::codec::to_attribute_value(&organization.filters)?,
            )
            .expression_attribute_values(":now", s(organization.updated_at.to_string()))
            .expression_attribute_values(":by", s(&organization.updated_by))
            .expression_attribute_values(":expected", super::n(expected_version))
            .expression_attribute_values(":one", super::n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => match super::refused_item(&err) {
                Some(_) => Err(Error::VersionMismatch {
                    resource: RESOURCE,
                    id: organization.organization_id.clone(),
                    expected: expected_version,
                }),
                None => Err(Error::NotFound {
                    resource: RESOURCE,
                    id: organization.organization_id.clone(),
                }),
            },
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }

    /// Archive (out of the sync schedule) or unarchive (due at once).
    /// Idempotent: an organization already so is returned as it is.
    pub async fn set_organization_archived(
        &self,
        tenant: &str,
        organization_id: &str,
        archive: bool,
        now: Timestamp,
    ) -> Result<Organization> {
        let current = self.get_organization(tenant, organization_id).await?;
        if current.archived_at.is_some() == archive {
            return Ok(current);
        }
        let request = self
            .update_organization_item(tenant, organization_id)
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_names("#due_shard", schema::DUE_SHARD)
            .expression_attribute_names("#due_at", schema::DUE_AT)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":one", super::n(1))
            .return_values(ReturnValue::AllNew);
        let request = if archive {
            request.update_expression(
                "SET archived_at = :now, version = version + :one REMOVE #due_shard, #due_at, next_sync_at, sync_status, sync_lease_until",
            )
        } else {
            request
                .update_expression(
                    "SET next_sync_at = :now, #due_shard = :shard, #due_at = :now, version = version + :one REMOVE archived_at",
                )
                .expression_attribute_values(":shard", s(schema::ORGANIZATION_SYNC_SHARD))
        };
        match request.send().await {
            Ok(output) => Ok(crate::aws::codec::from_item(
                output.attributes.unwrap_or_default(),
            )?),
            Err(err) if is_condition_failure(&err) => Err(Error::NotFound {
                resource: RESOURCE,
                id: organization_id.to_string(),
            }),
            Err(err) => Err(crate::aws::errors::from_sdk(err)),
        }
    }
}

impl Store {
    /// An UpdateItem of one organization; a refused condition returns the
    /// item (ReturnValuesOnConditionCheckFailure), so the refusal can say
    /// why without a GetItem.
    fn update_organization_item(
        &self,
        tenant: &str,
        organization_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                tenant,
                keys::organization_sk(organization_id),
            )))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }
}
