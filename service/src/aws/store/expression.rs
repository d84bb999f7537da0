//! An UpdateItem's expressions, built clause by clause: each attribute gets
//! one `#aN` alias and each value one `:vN` placeholder, so a write names
//! what it changes instead of keeping two hand-written maps in step with
//! the expression text.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct UpdateExpression {
    sets: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpression {
    /// The alias of an attribute path (`credential.next_verification_at`
    /// is two names): one alias per attribute name, however often used.
    fn path(&mut self, path: &[&str]) -> String {
        path.iter()
            .map(|name| {
                if let Some((alias, _)) = self.names.iter().find(|(_, known)| known == name) {
                    return alias.clone();
                }
                let alias = format!("#a{}", self.names.len());
                self.names.insert(alias.clone(), name.to_string());
                alias
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET path = value`.
    pub fn set(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let (path, value) = (self.path(path), self.value(value));
        self.sets.push(format!("{path} = {value}"));
        self
    }

    /// `SET path = if_not_exists(path, value)`: kept if already there.
    pub fn set_if_absent(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let (path, value) = (self.path(path), self.value(value));
        self.sets
            .push(format!("{path} = if_not_exists({path}, {value})"));
        self
    }

    /// `REMOVE path`.
    pub fn remove(&mut self, path: &[&str]) -> &mut Self {
        let path = self.path(path);
        self.removes.push(path);
        self
    }

    /// SET when there is a value, REMOVE when there is none.
    pub fn set_or_remove(&mut self, path: &[&str], value: Option<AttributeValue>) -> &mut Self {
        match value {
            Some(value) => self.set(path, value),
            None => self.remove(path),
        }
    }

    /// `SET attribute = attribute + by`.
    pub fn increment(&mut self, attribute: &str, by: u64) -> &mut Self {
        let (path, value) = (
            self.path(&[attribute]),
            self.value(AttributeValue::N(by.to_string())),
        );
        self.sets.push(format!("{path} = {path} + {value}"));
        self
    }

    /// The write happens only if `attribute` exists.
    pub fn require_present(&mut self, attribute: &str) -> &mut Self {
        let path = self.path(&[attribute]);
        self.conditions.push(format!("attribute_exists({path})"));
        self
    }

    /// The write happens only if `attribute` is absent.
    pub fn require_absent(&mut self, attribute: &str) -> &mut Self {
        let path = self.path(&[attribute]);
        self.conditions
            .push(format!("attribute_not_exists({path})"));
        self
    }

    /// The write happens only if `attribute` equals `value`.
    pub fn require_equal(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (path, value) = (self.path(&[attribute]), self.value(value));
        self.conditions.push(format!("{path} = {value}"));
        self
    }

    /// The update expression: `SET ... REMOVE ...`.
    pub fn update(&self) -> String {
        let mut clauses = Vec::new();
        if !self.sets.is_empty() {
            clauses.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            clauses.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        clauses.join(" ")
    }

    /// The condition expression, if any clause asked for one.
    pub fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// The update and condition with each alias and placeholder written
    /// out (`SET version = version + 1`), for tests to read.
    #[cfg(test)]
    pub fn rendered(&self) -> String {
        let mut text = format!(
            "{} IF {}",
            self.update(),
            self.condition().unwrap_or_default()
        );
        // Longest first: `#a12` before `#a1`.
        let mut names: Vec<_> = self.names.iter().collect();
        names.sort_by_key(|(alias, _)| std::cmp::Reverse(alias.len()));
        for (alias, name) in names {
            text = text.replace(alias.as_str(), name);
        }
        let mut values: Vec<_> = self.values.iter().collect();
        values.sort_by_key(|(placeholder, _)| std::cmp::Reverse(placeholder.len()));
        for (placeholder, value) in values {
            let shown = match value {
                AttributeValue::S(text) => format!("'{text}'"),
                AttributeValue::N(number) => number.clone(),
                other => format!("{other:?}"),
            };
            text = text.replace(placeholder.as_str(), &shown);
        }
        text
    }

    /// Everything onto an UpdateItem request.
    pub fn apply(
        self,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let update = self.update();
        let condition = self.condition();
        request
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(self.names).filter(|names| !names.is_empty()))
            .set_expression_attribute_values(Some(self.values).filter(|values| !values.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    #[test]
    fn each_attribute_has_one_alias_and_each_value_one_placeholder() {
        let mut expression = UpdateExpression::default();
        expression
            .set(&["name"], s("Prod"))
            .set_or_remove(&["owner_email"], None)
            .set(&["credential", "next_verification_at"], s("2026"))
            .remove(&["credential", "pending"])
            .set_if_absent(&["radded:us-east-1"], s("added"))
            .increment("version", 1)
            .require_present("pk")
            .require_absent("archived_at")
            .require_equal("version", AttributeValue::N("3".into()));
        assert_eq!(
            expression.update(),
            "SET #a0 = :v0, #a2.#a3 = :v1, #a5 = if_not_exists(#a5, :v2), #a6 = #a6 + :v3 \
             REMOVE #a1, #a2.#a4"
        );
        assert_eq!(
            expression.condition().unwrap(),
            "attribute_exists(#a7) AND attribute_not_exists(#a8) AND #a6 = :v4"
        );
        assert_eq!(expression.names["#a2"], "credential");
        assert_eq!(expression.names["#a6"], "version");
        assert_eq!(expression.names.len(), 9);
        assert_eq!(expression.values[":v4"], AttributeValue::N("3".into()));
        assert_eq!(expression.values.len(), 5);
    }

    #[test]
    fn only_the_clauses_asked_for_are_written() {
        let mut expression = UpdateExpression::default();
        expression.remove(&["a"]);
        assert_eq!(expression.update(), "REMOVE #a0");
        assert_eq!(expression.condition(), None);
    }
}
