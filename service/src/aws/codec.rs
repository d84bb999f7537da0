//! serde_dynamo's conversions between our types and DynamoDB items, with
//! the domain's error: a value that does not convert is an internal store
//! error (the domain knows nothing of DynamoDB's types).

use crate::error::store_error;
use crate::Result;
use serde::{Deserialize, Serialize};
use serde_dynamo::{AttributeValue, Item};

pub fn to_item<T: Serialize, I: From<Item>>(value: T) -> Result<I> {
    serde_dynamo::to_item(value).map_err(store_error)
}

pub fn from_item<'a, I: Into<Item>, T: Deserialize<'a>>(item: I) -> Result<T> {
    serde_dynamo::from_item(item).map_err(store_error)
}

pub fn to_attribute_value<T: Serialize, V: From<AttributeValue>>(value: T) -> Result<V> {
    serde_dynamo::to_attribute_value(value).map_err(store_error)
}

pub fn from_attribute_value<'a, V: Into<AttributeValue>, T: Deserialize<'a>>(
    value: V,
) -> Result<T> {
    serde_dynamo::from_attribute_value(value).map_err(store_error)
}

#[cfg(test)]
mod tests {
    use crate::account::{Account, AccountFields};
    use crate::time::Timestamp;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    #[test]
    fn an_account_round_trips_through_its_item() {
        let fields = AccountFields {
            name: "Prod".into(),
            owner_email: Some("ops@example.com".into()),
            regions: vec!["us-east-1".into()],
            role_arn: Some("arn:aws:iam::123456789012:role/Audit".into()),
            resource_regex_ignore_list: vec!["^tmp-".into()],
            labels: [("team".to_string(), "core".to_string())].into(),
            ..AccountFields::default()
        };
        let account = Account::register("123456789012".into(), fields, "key1", Timestamp::now());
        let item: HashMap<String, AttributeValue> = super::to_item(&account).unwrap();
        let back: Account = super::from_item(item).unwrap();
        assert_eq!(back, account);
    }
}
