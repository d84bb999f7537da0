//! DynamoDB's consumed capacity, measured: with the setting on
//! (`DYNAMODB_CONSUMED_CAPACITY`, on in tests and the bench), every call
//! asks for `ReturnConsumedCapacity = INDEXES` and the units DynamoDB
//! reports are added to the [`Meter`] of the task that made the call, if
//! it has one ([`measure`]). DynamoDB Local reports them as AWS bills them,
//! so a use case's units are a deterministic, testable figure.
//!
//! An SDK interceptor, so that no store function changes: it sets the
//! field on the typed input of each data operation before it is
//! serialised, and reads the typed output after it is deserialised.
//!
//! One correction, against DynamoDB Local only (an endpoint set by
//! `AWS_ENDPOINT_URL_DYNAMODB`): version 3.3.1 reports a transaction's
//! units as one item's (1, 2 and 10 puts of a 1.5 KB item in one
//! TransactWriteItems each report 4.0 WCU, where AWS bills 4, 8 and 40),
//! so there a transaction's units are its report times its items: exact
//! when its items are alike in size, as an import's are.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation as op;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Units one piece of work consumed: DynamoDB calls made, read and write
/// units in all (table and indexes), and each index's apart (global and
/// local secondary indexes alike).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub calls: u32,
    pub read: f64,
    pub write: f64,
    /// Index name: (read, write) units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, (f64, f64)>,
}

impl Capacity {
    fn add(&mut self, consumed: &ConsumedCapacity, writes: bool) {
        let (read, write) = split(
            consumed.capacity_units,
            consumed.read_capacity_units,
            consumed.write_capacity_units,
            writes,
        );
        self.read += read;
        self.write += write;
        let indexes = consumed
            .global_secondary_indexes
            .iter()
            .chain(consumed.local_secondary_indexes.iter())
            .flatten();
        for (name, index) in indexes {
            let (read, write) = split(
                index.capacity_units,
                index.read_capacity_units,
                index.write_capacity_units,
                writes,
            );
            let units = self.indexes.entry(name.clone()).or_default();
            units.0 += read;
            units.1 += write;
        }
    }
}

/// (read, write) units of one report: its read and write figures, or, when
/// it gives only a total, the total on the side the call is on.
fn split(total: Option<f64>, read: Option<f64>, write: Option<f64>, writes: bool) -> (f64, f64) {
    match (read, write) {
        (None, None) if writes => (0.0, total.unwrap_or(0.0)),
        (None, None) => (total.unwrap_or(0.0), 0.0),
        (read, write) => (read.unwrap_or(0.0), write.unwrap_or(0.0)),
    }
}

/// Where a task's calls add their units.
pub type Meter = Arc<Mutex<Capacity>>;

tokio::task_local! {
    static METER: Meter;
}

/// Run `work`, and the units its DynamoDB calls consumed (those made in
/// its own task: work it spawns elsewhere is not counted).
pub async fn measure<F: std::future::Future>(work: F) -> (F::Output, Capacity) {
    let meter = Meter::default();
    let output = METER.scope(meter.clone(), work).await;
    let capacity = meter.lock().map(|c| c.clone()).unwrap_or_default();
    (output, capacity)
}

/// The interceptor the setting adds to the DynamoDB client.
#[derive(Debug, Default)]
pub struct CapacityInterceptor {
    /// Scale a transaction's report by its items (DynamoDB Local's).
    per_item_transactions: bool,
}

/// The items of the transaction being sent, for the correction above.
#[derive(Debug, Clone, Copy)]
struct TransactionItems(usize);

impl aws_smithy_types::config_bag::Storable for TransactionItems {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

macro_rules! ask_for_units {
    ($input:expr, $($module:ident :: $input_type:ident),+) => {
        $(
            if let Some(input) = $input.downcast_mut::<op::$module::$input_type>() {
                input.return_consumed_capacity.get_or_insert(ReturnConsumedCapacity::Indexes);
                return Ok(());
            }
        )+
    };
}

impl Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "CapacityInterceptor"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let input = context.input_mut();
        let items = match (
            input.downcast_ref::<op::transact_write_items::TransactWriteItemsInput>(),
            input.downcast_ref::<op::transact_get_items::TransactGetItemsInput>(),
        ) {
            (Some(write), _) => write.transact_items.as_ref().map(Vec::len),
            (_, Some(get)) => get.transact_items.as_ref().map(Vec::len),
            _ => None,
        };
        if let Some(items) = items {
            cfg.interceptor_state().store_put(TransactionItems(items));
        }
        ask_for_units!(
            input,
            get_item::GetItemInput,
            put_item::PutItemInput,
            update_item::UpdateItemInput,
            delete_item::DeleteItemInput,
            query::QueryInput,
            batch_get_item::BatchGetItemInput,
            batch_write_item::BatchWriteItemInput,
            transact_get_items::TransactGetItemsInput,
            transact_write_items::TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let scale = match self.per_item_transactions {
            true => cfg
                .load::<TransactionItems>()
                .map_or(1, |items| items.0.max(1)),
            false => 1,
        };
        let _ = METER.try_with(|meter| {
            let Ok(mut capacity) = meter.lock() else {
                return;
            };
            capacity.calls += 1;
            let Ok(output) = context.output_or_error() else {
                return;
            };
            let one =
                |consumed: &Option<ConsumedCapacity>| consumed.iter().cloned().collect::<Vec<_>>();
            let (consumed, writes): (Vec<ConsumedCapacity>, bool) = if let Some(o) =
                output.downcast_ref::<op::get_item::GetItemOutput>()
            {
                (one(&o.consumed_capacity), false)
            } else if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
                (one(&o.consumed_capacity), false)
            } else if let Some(o) = output.downcast_ref::<op::put_item::PutItemOutput>() {
                (one(&o.consumed_capacity), true)
            } else if let Some(o) = output.downcast_ref::<op::update_item::UpdateItemOutput>() {
                (one(&o.consumed_capacity), true)
            } else if let Some(o) = output.downcast_ref::<op::delete_item::DeleteItemOutput>() {
                (one(&o.consumed_capacity), true)
            } else if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>()
            {
                (o.consumed_capacity.clone().unwrap_or_default(), false)
            } else if let Some(o) =
                output.downcast_ref::<op::batch_write_item::BatchWriteItemOutput>()
            {
                (o.consumed_capacity.clone().unwrap_or_default(), true)
            } else if let Some(o) =
                output.downcast_ref::<op::transact_get_items::TransactGetItemsOutput>()
            {
                (scaled(o.consumed_capacity.as_deref(), scale), false)
            } else if let Some(o) =
                output.downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>()
            {
                (scaled(o.consumed_capacity.as_deref(), scale), true)
            } else {
                (Vec::new(), false)
            };
            for units in &consumed {
                capacity.add(units, writes);
            }
        });
        Ok(())
    }
}

/// A transaction's reports, each unit figure times `items`.
fn scaled(consumed: Option<&[ConsumedCapacity]>, items: usize) -> Vec<ConsumedCapacity> {
    use aws_sdk_dynamodb::types::Capacity as Units;
    type Indexes = Option<std::collections::HashMap<String, Units>>;
    let times = |units: Option<f64>| units.map(|u| u * items as f64);
    let capacity = |c: &Units| {
        Units::builder()
            .set_capacity_units(times(c.capacity_units))
            .set_read_capacity_units(times(c.read_capacity_units))
            .set_write_capacity_units(times(c.write_capacity_units))
            .build()
    };
    let indexes = |map: &Indexes| -> Indexes {
        map.as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), capacity(v))).collect())
    };
    consumed
        .unwrap_or_default()
        .iter()
        .map(|c| {
            ConsumedCapacity::builder()
                .set_table_name(c.table_name.clone())
                .set_capacity_units(times(c.capacity_units))
                .set_read_capacity_units(times(c.read_capacity_units))
                .set_write_capacity_units(times(c.write_capacity_units))
                .set_table(c.table.as_ref().map(capacity))
                .set_global_secondary_indexes(indexes(&c.global_secondary_indexes))
                .set_local_secondary_indexes(indexes(&c.local_secondary_indexes))
                .build()
        })
        .collect()
}

/// The DynamoDB client, measuring its units when `measured`.
pub fn client(sdk: &aws_config::SdkConfig, measured: bool) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if measured {
        config = config.interceptor(CapacityInterceptor {
            per_item_transactions: std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        });
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::Capacity as Units;

    #[test]
    fn units_add_up_by_kind_and_index() {
        let mut capacity = Capacity::default();
        let read = ConsumedCapacity::builder()
            .capacity_units(0.5)
            .read_capacity_units(0.5)
            .build();
        capacity.add(&read, false);
        let write = ConsumedCapacity::builder()
            .capacity_units(3.0)
            .global_secondary_indexes("gsi1", Units::builder().capacity_units(1.0).build())
            .build();
        capacity.add(&write, true);
        assert_eq!(capacity.read, 0.5);
        assert_eq!(capacity.write, 3.0);
        assert_eq!(capacity.indexes["gsi1"], (0.0, 1.0));
    }
}
