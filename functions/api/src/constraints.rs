//! Every constraint the server enforces on a body field, stated in the
//! OpenAPI document from the constants and patterns the checks themselves
//! use (`service::validation` and the owning modules), so a client, a code
//! generator or schemathesis makes values the server accepts.
//!
//! utoipa's attributes take literals only, which would write each limit
//! twice; this table names the constant instead. What a pattern cannot say
//! (a role in the account it is registered with, one script per name, a
//! future expiry) is in the fields' descriptions and refused with a 400.

use serde_json::{json, Value};
use service::validation::{self as checks, MAX_NAME_LEN};

/// One rule: the JSON Schema keywords merged into a component schema's
/// property (`""`: the component itself; `/...`: a JSON pointer into it).
struct Rule {
    schema: &'static str,
    property: &'static str,
    keywords: Value,
}

/// A table, one entry per constrained field, so its length is its size.
// Long: a table, one entry per constrained field: its length is their number.
fn rules(deployment: &Deployment) -> Vec<Rule> {
    let data_sources = deployment.data_sources;
    let text =
        |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": checks::text_pattern()});
    let account_id = json!({"pattern": checks::ACCOUNT_ID_PATTERN});
    // Only the partitions this deployment has a principal in.
    let role_arn = json!({"maxLength": checks::MAX_ROLE_ARN_LEN,
        "pattern": checks::role_arn_pattern(deployment.partitions)});
    let region_ids: Vec<&str> = service::regions::REGIONS.iter().map(|r| r.id).collect();
    // One account lives in one partition: every region of a list in the same one.
    let mut partitions: Vec<&str> = service::regions::REGIONS
        .iter()
        .map(|r| r.partition)
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    let one_partition: Vec<Value> = partitions
        .iter()
        .map(|partition| {
            let ids: Vec<&str> = service::regions::REGIONS
                .iter()
                .filter(|r| r.partition == *partition)
                .map(|r| r.id)
                .collect();
            json!({"items": {"enum": ids}})
        })
        .collect();
    let regions = json!({
        "maxItems": checks::MAX_LIST_ENTRIES,
        "uniqueItems": true,
        "items": {"enum": region_ids},
        "anyOf": one_partition,
    });
    let https_url =
        |max: usize| json!({"maxLength": max, "pattern": service::webhooks::HTTPS_URL_PATTERN});
    let data_source = json!({"enum": data_sources});
    let ou_rules = json!({"maxItems": service::organizations::MAX_RULES});
    let account_ids =
        |max: usize| json!({"maxItems": max, "items": {"pattern": checks::ACCOUNT_ID_PATTERN}});
    let rule = |schema, property, keywords| Rule {
        schema,
        property,
        keywords,
    };
    vec![
        rule("AccountId", "", account_id.clone()),
        rule(
            "ExternalId",
            "",
            json!({"pattern": checks::EXTERNAL_ID_PATTERN}),
        ),
        // The account's fields, on POST, PUT and PATCH.
        rule("CreateAccountRequest", "", account_field_names()),
        // A search's criteria: one value or a list, each checked like the field.
        rule("Criteria", "account_id", criterion(account_id.clone())),
        rule(
            "Criteria",
            "parent_account_id",
            criterion(account_id.clone()),
        ),
        rule(
            "Criteria",
            "environment",
            criterion(json!({"enum": names(service::account::Environment::ALL)})),
        ),
        rule(
            "Criteria",
            "verification_status",
            criterion(
                json!({"enum": names(<service::account::VerificationStatus as strum::VariantArray>::VARIANTS)}),
            ),
        ),
        rule("AccountFields", "name", text(MAX_NAME_LEN)),
        rule("AccountFields", "owner_name", text(MAX_NAME_LEN)),
        rule(
            "AccountFields",
            "owner_email",
            json!({"maxLength": checks::MAX_EMAIL_LEN, "pattern": checks::EMAIL_PATTERN}),
        ),
        rule("AccountFields", "parent_account_id", account_id.clone()),
        rule("AccountFields", "role_arn", role_arn.clone()),
        rule(
            "AccountFields",
            "role_arn",
            json!({"description": "The cross-account role, in this account (and the regions' partition). Absent: the role the onboarding page and the templates create in this account (`CUSTOMER_ROLE_NAME`)."}),
        ),
        rule("AccountFields", "regions", regions.clone()),
        rule("AccountFields", "region_ignore_list", regions.clone()),
        rule(
            "AccountFields",
            "resource_type_ignore_list",
            json!({"maxItems": checks::MAX_LIST_ENTRIES, "items": {
                "maxLength": checks::MAX_RESOURCE_TYPE_LEN, "pattern": checks::RESOURCE_TYPE_PATTERN}}),
        ),
        rule(
            "AccountFields",
            "resource_regex_ignore_list",
            json!({"maxItems": checks::MAX_LIST_ENTRIES, "items": {
                "minLength": 1, "maxLength": checks::MAX_REGEX_LEN, "pattern": checks::clean_pattern()}}),
        ),
        rule(
            "AccountFields",
            "labels",
            json!({
                "maxProperties": checks::MAX_LABELS,
                "propertyNames": text(MAX_NAME_LEN),
                "additionalProperties": {"maxLength": checks::MAX_LABEL_VALUE_LEN, "pattern": checks::clean_pattern()},
            }),
        ),
        rule("CreateAccountRequest", "account_id", account_id.clone()),
        rule("ReserveAccount", "account_id", account_id.clone()),
        // Bulk and role checks.
        rule(
            "BatchDeleteRequest",
            "account_ids",
            json!({"minItems": 1, "maxItems": service::usecases::bulk::MAX_BATCH_DELETE}),
        ),
        rule(
            "ValidateRolesRequest",
            "accounts",
            json!({"minItems": 1, "maxItems": service::usecases::role_checks::MAX_ROLE_CHECKS}),
        ),
        rule("RoleCheck", "role_arn", role_arn.clone()),
        // A role given here, or the account's saved one: not both.
        rule(
            "RoleCheck",
            "",
            json!({"oneOf": [
                {"required": ["role_arn", "external_id"],
                 "properties": {"role_arn": {"type": "string"}, "external_id": {"type": "string"},
                                "saved_credentials": {"const": false}}},
                {"required": ["saved_credentials"],
                 "properties": {"saved_credentials": {"const": true}},
                 "not": {"anyOf": [{"required": ["role_arn"]}, {"required": ["external_id"]}]}},
            ]}),
        ),
        rule(
            "AccountActionRequest",
            "accounts",
            json!({"minItems": 1, "maxItems": service::usecases::scans::MAX_ACTION_ACCOUNTS}),
        ),
        rule("ActionAccount", "regions", regions.clone()),
        rule("ScanRequest", "regions", regions.clone()),
        rule(
            "SearchRequest",
            "rows",
            json!({"maximum": service::search::MAX_ROWS}),
        ),
        rule(
            "SearchRequest",
            "query",
            json!({"maxLength": service::search::MAX_QUERY_LEN}),
        ),
        rule(
            "OneOrMany",
            "/oneOf/2",
            json!({"maxItems": service::search::MAX_CRITERIA_VALUES}),
        ),
        // Data sources, scans and findings.
        rule(
            "AttachRequest",
            "config",
            json!({
                "maxProperties": service::scans::MAX_CONFIG_ENTRIES,
                "propertyNames": text(MAX_NAME_LEN),
                "additionalProperties": text(service::scans::MAX_CONFIG_VALUE_LEN),
            }),
        ),
        rule("AttachRequest", "role_arn", role_arn.clone()),
        rule(
            "AttachRequest",
            "specific_version",
            text(service::scans::MAX_VERSION_LEN),
        ),
        rule(
            "Schedule",
            "every_seconds",
            json!({"minimum": service::schedule::MIN_INTERVAL_SECONDS, "maximum": service::schedule::MAX_INTERVAL_SECONDS}),
        ),
        rule("Schedule", "cron", json!({"pattern": CRON_PATTERN})),
        // Exactly one of the two.
        rule(
            "Schedule",
            "",
            json!({"oneOf": [
                {"required": ["every_seconds"],
                 "properties": {"every_seconds": {"type": "integer"}, "cron": {"type": "null"}}},
                {"required": ["cron"],
                 "properties": {"cron": {"type": "string"}, "every_seconds": {"type": "null"}}},
            ]}),
        ),
        rule(
            "Schedule",
            "jitter_seconds",
            json!({"maximum": service::schedule::MAX_JITTER_SECONDS}),
        ),
        rule(
            "SuppressRequest",
            "reason",
            text(service::scans::MAX_REASON_LEN),
        ),
        rule(
            "SuppressionRuleRequest",
            "reason",
            text(service::scans::MAX_REASON_LEN),
        ),
        rule(
            "SuppressionRuleRequest",
            "resource_pattern",
            text(service::suppression_rules::MAX_PATTERN),
        ),
        rule(
            "SuppressionRuleRequest",
            "rule",
            json!({"pattern": service::scanner::RULE_PATTERN}),
        ),
        rule("SuppressionRuleRequest", "data_source", data_source),
        // A rule names what it suppresses: at least one of the three.
        rule(
            "SuppressionRuleRequest",
            "",
            json!({ "anyOf": named_one_of(&["data_source", "rule", "resource_pattern"]) }),
        ),
        // Scanners' reports.
        rule(
            "ResultsPage",
            "page",
            json!({"minimum": 1, "maximum": service::scanner::MAX_PAGES}),
        ),
        rule(
            "ResultsPage",
            "findings",
            json!({"maxItems": service::scanner::MAX_PAGE_FINDINGS}),
        ),
        rule(
            "ReportedFinding",
            "rule",
            json!({"pattern": service::scanner::RULE_PATTERN}),
        ),
        rule(
            "ReportedFinding",
            "resource_type",
            json!({"pattern": service::scanner::RULE_PATTERN}),
        ),
        rule(
            "ReportedFinding",
            "title",
            text(service::scanner::MAX_TITLE_LEN),
        ),
        rule(
            "ReportedFinding",
            "resource_id",
            text(service::scanner::MAX_RESOURCE_ID_LEN),
        ),
        rule(
            "ReportedFinding",
            "details",
            json!({
                "maxProperties": service::scanner::MAX_DETAILS,
                "propertyNames": text(MAX_NAME_LEN),
                "additionalProperties": text(service::scanner::MAX_DETAIL_LEN),
            }),
        ),
        rule("Completion", "error", text(service::scanner::MAX_ERROR_LEN)),
        rule(
            "Completion",
            "pages",
            json!({"maximum": service::scanner::MAX_PAGES}),
        ),
        // Keys, webhooks, settings.
        rule("CreateApiKeyRequest", "name", text(MAX_NAME_LEN)),
        rule("CreateApiKeyRequest", "scopes", json!({"minItems": 1})),
        rule(
            "CreateWebhookRequest",
            "url",
            https_url(service::webhooks::MAX_URL_LEN),
        ),
        rule(
            "CreateWebhookRequest",
            "description",
            text(service::webhooks::MAX_DESCRIPTION_LEN),
        ),
        rule(
            "UpdateWebhookRequest",
            "url",
            https_url(service::webhooks::MAX_URL_LEN),
        ),
        rule(
            "UpdateWebhookRequest",
            "description",
            text(service::webhooks::MAX_DESCRIPTION_LEN),
        ),
        rule(
            "RotateSecretRequest",
            "overlap_hours",
            json!({"maximum": service::webhooks::MAX_OVERLAP_HOURS}),
        ),
        rule(
            "TenantSettings",
            "product_name",
            text(service::tenant::MAX_PRODUCT_NAME_LEN),
        ),
        rule(
            "TenantSettings",
            "logo_url",
            https_url(service::tenant::MAX_URL_LEN),
        ),
        rule(
            "TenantSettings",
            "support_contact",
            json!({"maxLength": service::tenant::MAX_URL_LEN, "anyOf": [
                {"pattern": checks::EMAIL_PATTERN},
                {"pattern": service::webhooks::HTTPS_URL_PATTERN},
            ]}),
        ),
        // Rotation by age needs the age.
        rule(
            "TenantSettings",
            "",
            json!({
                "if": {"properties": {"auto_rotate_external_id": {"const": true}},
                       "required": ["auto_rotate_external_id"]},
                "then": {"required": ["external_id_max_age_days"],
                         "properties": {"external_id_max_age_days": {"type": "integer"}}},
            }),
        ),
        // Organizations.
        rule(
            "RegisterOrganizationRequest",
            "management_account_id",
            account_id.clone(),
        ),
        rule(
            "RegisterOrganizationRequest",
            "name",
            text(service::usecases::organizations::MAX_NAME_LEN),
        ),
        rule("RegisterOrganizationRequest", "role_arn", role_arn.clone()),
        rule(
            "UpdateOrganizationRequest",
            "name",
            text(service::usecases::organizations::MAX_NAME_LEN),
        ),
        rule("UpdateOrganizationRequest", "role_arn", role_arn),
        rule(
            "Filters",
            "include_accounts",
            account_ids(service::organizations::MAX_RULES),
        ),
        rule(
            "Filters",
            "exclude_accounts",
            account_ids(service::organizations::MAX_RULES),
        ),
        rule("Filters", "include_ous", ou_rules.clone()),
        rule("Filters", "exclude_ous", ou_rules.clone()),
        rule("Filters", "tags", ou_rules),
        rule(
            "OuRule",
            "ou_id",
            json!({"pattern": service::organizations::OU_ID_PATTERN}),
        ),
        rule(
            "TagRule",
            "key",
            json!({"minLength": 1, "maxLength": MAX_NAME_LEN, "pattern": checks::clean_pattern()}),
        ),
        rule(
            "TagRule",
            "values",
            json!({"maxItems": service::organizations::MAX_RULES, "items": {
                "maxLength": checks::MAX_LABEL_VALUE_LEN, "pattern": checks::clean_pattern()}}),
        ),
    ]
}

/// Five-field cron expressions as the document states them: a subset of
/// what the schedule parser accepts (a value, `*` or `*/step` in minute and
/// hour; a value or `*` in the others; days 1-28, so every month has them),
/// which is tested to parse.
pub const CRON_PATTERN: &str = r"^(?:\*(?:/(?:[1-9]|[1-5][0-9]))?|[1-5]?[0-9]) (?:\*(?:/(?:[1-9]|1[0-9]|2[0-3]))?|1?[0-9]|2[0-3]) (?:\*|[1-9]|1[0-9]|2[0-8]) (?:\*|[1-9]|1[0-2]) (?:\*|[0-6])$";

/// One alternative per name: that field given, as a string.
fn named_one_of(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|name| json!({"required": [name], "properties": {*name: {"type": "string"}}}))
        .collect()
}

/// Parameters that mean one thing wherever they appear (where, name), and
/// the keywords merged into their schema.
fn parameter_rules(deployment: &Deployment) -> Vec<(&'static str, &'static str, Value)> {
    let data_sources = deployment.data_sources;
    // A header is a string or absent, never null.
    let entity_tags =
        json!({"type": "string", "minLength": 1, "pattern": crate::accounts::ENTITY_TAGS_PATTERN});
    vec![
        // A repeated parameter's rule applies to each value (its items).
        (
            "query",
            "account_id",
            json!({"pattern": checks::ACCOUNT_ID_PATTERN}),
        ),
        (
            "query",
            "parent_account_id",
            json!({"pattern": checks::ACCOUNT_ID_PATTERN}),
        ),
        (
            "query",
            "organization_id",
            json!({"pattern": service::ids::path_parameter_pattern("organization_id")}),
        ),
        ("query", "since", json!({"format": "date-time"})),
        ("query", "until", json!({"format": "date-time"})),
        (
            "query",
            "type",
            json!({"enum": names(<service::events::EventType as strum::VariantArray>::VARIANTS)}),
        ),
        ("query", "data_source", json!({"enum": data_sources})),
        ("path", "data_source", json!({"enum": data_sources})),
        (
            "query",
            "managed_policies",
            json!({"pattern": service::role_template::MANAGED_POLICIES_PATTERN}),
        ),
        ("header", "If-Match", entity_tags.clone()),
        ("header", "If-None-Match", entity_tags),
    ]
}

/// The names an account body may carry: its fields, and the account id
/// echoed (equal to the path's); anything else is refused. Stated on the
/// request schemas only: a response carries more.
fn account_field_names() -> Value {
    let names: Vec<&str> = std::iter::once("account_id")
        .chain(service::account::AccountFields::NAMES.iter().copied())
        .collect();
    json!({"propertyNames": {"enum": names}})
}

/// Request bodies of one operation (operation id, pointer into the
/// operation, keywords).
fn operation_rules() -> Vec<(&'static str, &'static str, Value)> {
    let columns = service::csv_io::COLUMNS[..service::csv_io::REQUIRED].join(",");
    let fields = service::csv_io::REQUIRED - 1;
    // The findings filters: severities and one status word.
    let severities = json!({"pattern": SEVERITIES_PATTERN});
    let status = json!({"enum": ["open", "suppressed", "resolved", "all"]});
    let mut findings = Vec::new();
    for operation in ["tenant_findings", "list_findings"] {
        findings.push((
            operation,
            "/parameters/severity/schema/items",
            severities.clone(),
        ));
        findings.push((operation, "/parameters/status/schema", status.clone()));
    }
    findings.into_iter().chain([
        (
            "replace_account",
            "/requestBody/content/application~1json/schema",
            account_field_names(),
        ),
        (
            "import_accounts",
            "/requestBody/content/text~1csv/schema",
            // The header, then rows of plain cells: what the template gives.
            json!({"pattern": format!(
                r##"^{columns}\r?\n(?:[^,\r\n\\"#][^,\r\n\\"]*(?:,[^,\r\n\\"]*){{{fields}}}\r?\n){{0,100}}$"##
            )}),
        ),
    ])
    .collect()
}

/// What the document of one deployment states beyond the code's own
/// limits: the data sources it offers and the partitions it serves.
pub struct Deployment<'a> {
    pub data_sources: &'a [&'a str],
    pub partitions: &'a [&'a str],
}

/// One `severity` query value: severities in any case, comma-separated,
/// spaces around them (the server trims each).
const SEVERITIES_PATTERN: &str = concat!(
    "^ *(?:[Ll][Oo][Ww]|[Mm][Ee][Dd][Ii][Uu][Mm]|[Hh][Ii][Gg][Hh]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll]) *",
    "(?:, *(?:[Ll][Oo][Ww]|[Mm][Ee][Dd][Ii][Uu][Mm]|[Hh][Ii][Gg][Hh]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll]) *)*$"
);

/// `/parameters/<name>/...` as the JSON pointer of that parameter's place
/// in the operation's list (`/parameters/2/...`): rules name parameters,
/// the document orders them.
fn named_parameter(operation: &Value, pointer: &str) -> String {
    let Some(rest) = pointer.strip_prefix("/parameters/") else {
        return pointer.to_string();
    };
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let place = operation["parameters"]
        .as_array()
        .and_then(|parameters| parameters.iter().position(|p| p["name"] == name));
    match place {
        Some(index) if tail.is_empty() => format!("/parameters/{index}"),
        Some(index) => format!("/parameters/{index}/{tail}"),
        None => pointer.to_string(),
    }
}

/// Merge every rule into `document`. Errors name the rules whose schema,
/// property or parameter the document lacks (a renamed field), so a test
/// catches them.
pub fn state(document: &mut Value, deployment: &Deployment) -> Result<(), Vec<String>> {
    let mut missing = Vec::new();
    for Rule {
        schema,
        property,
        keywords,
    } in rules(deployment)
    {
        let found = document
            .pointer_mut(&format!("/components/schemas/{schema}"))
            .and_then(|component| target(component, property));
        match found {
            Some(target) => merge(target, keywords),
            None => missing.push(format!("{schema}.{property}")),
        }
    }
    let parameter_rules = parameter_rules(deployment);
    let operation_rules = operation_rules();
    let mut used = vec![false; parameter_rules.len() + operation_rules.len()];
    let paths = document["paths"].as_object_mut().into_iter().flatten();
    let operations = paths.flat_map(|(_, item)| item.as_object_mut().into_iter().flatten());
    for (_, operation) in operations.filter(|(_, operation)| operation.is_object()) {
        for (index, (id, pointer, keywords)) in operation_rules.iter().enumerate() {
            if operation["operationId"] == *id {
                let pointer = named_parameter(operation, pointer);
                if let Some(target) = operation.pointer_mut(&pointer) {
                    merge(target, keywords.clone());
                    used[parameter_rules.len() + index] = true;
                }
            }
        }
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            for (index, (place, name, keywords)) in parameter_rules.iter().enumerate() {
                if parameter["in"] == *place && parameter["name"] == *name {
                    let schema = &mut parameter["schema"];
                    let values = match schema.get("items").is_some() {
                        true => &mut schema["items"],
                        false => schema,
                    };
                    merge(values, keywords.clone());
                    used[index] = true;
                }
            }
        }
    }
    let names = parameter_rules
        .iter()
        .map(|(place, name, _)| format!("{place} parameter {name}"))
        .chain(
            operation_rules
                .iter()
                .map(|(id, pointer, _)| format!("{id}{pointer}")),
        );
    missing.extend(
        names
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(name, _)| name),
    );
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// The schema of `property` in `schema` (looking into `allOf` parts), or
/// `schema` itself for `""`.
fn target<'a>(schema: &'a mut Value, property: &str) -> Option<&'a mut Value> {
    if property.is_empty() {
        return Some(schema);
    }
    if property.starts_with('/') {
        return schema.pointer_mut(property);
    }
    if schema["properties"].get(property).is_some() {
        return schema["properties"].get_mut(property);
    }
    schema
        .get_mut("allOf")?
        .as_array_mut()?
        .iter_mut()
        .find_map(|part| part.get_mut("properties")?.get_mut(property))
}

/// The names of an enum's variants, as the API spells them.
fn names<T: Copy + Into<&'static str>>(variants: &[T]) -> Vec<&'static str> {
    variants.iter().map(|variant| (*variant).into()).collect()
}

/// A search criterion (absent, one value or a list of them), each value
/// constrained by `value`; merged beside the criterion's own schema.
fn criterion(value: Value) -> Value {
    let mut one = json!({"type": "string"});
    merge(&mut one, value.clone());
    json!({"anyOf": [
        {"type": "null"},
        one,
        {"type": "array", "items": value},
    ]})
}

/// Deep-merge `keywords` into `into` (objects key by key).
fn merge(into: &mut Value, keywords: Value) {
    match (into, keywords) {
        (Value::Object(into), Value::Object(keywords)) => {
            for (key, value) in keywords {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, keywords) => *into = keywords,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_field_the_document_has() {
        let mut document = serde_json::to_value(crate::routes().1).unwrap();
        let deployment = Deployment {
            data_sources: &["aws:iam"],
            partitions: &["aws"],
        };
        assert_eq!(state(&mut document, &deployment), Ok(()));
    }

    #[test]
    fn the_document_states_the_limits_the_server_checks() {
        let document = crate::openapi();
        let name = &document["components"]["schemas"]["AccountFields"]["properties"]["name"];
        assert_eq!(name["maxLength"], MAX_NAME_LEN);
        assert_eq!(name["pattern"], checks::text_pattern());
        let regions = &document["components"]["schemas"]["AccountFields"]["properties"]["regions"];
        assert!(regions["items"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("eu-west-1")));
        let account_id = &document["components"]["schemas"]["CreateAccountRequest"]["allOf"][1]
            ["properties"]["account_id"];
        assert_eq!(account_id["pattern"], checks::ACCOUNT_ID_PATTERN);
        // The stated patterns compile as the server's regex engine reads them.
        let mut patterns = Vec::new();
        collect_patterns(&document, &mut patterns);
        assert!(patterns.len() > 30, "{patterns:?}");
        // Merging added nothing but keywords (no `parameters: null`).
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    !operation["parameters"].is_null() || operation.get("parameters").is_none(),
                    "{method} {path}"
                );
            }
        }
        for pattern in patterns {
            regex::Regex::new(&pattern).unwrap_or_else(|err| panic!("{pattern}: {err}"));
        }
    }

    #[test]
    fn a_stated_cron_is_a_schedule() {
        let pattern = regex::Regex::new(CRON_PATTERN).unwrap();
        for cron in [
            "0 3 * * *",
            "*/5 * * * *",
            "59 23 28 12 6",
            "* */23 1 1 0",
            "0 0 * * *",
        ] {
            assert!(pattern.is_match(cron), "{cron}");
            let schedule: service::schedule::Schedule =
                serde_json::from_value(json!({"cron": cron})).unwrap();
            assert!(schedule.validate("schedule").is_ok(), "{cron}");
        }
        for cron in [
            "60 * * * *",
            "* * * *",
            "0 24 * * *",
            "0 0 29 * *",
            "x * * * *",
        ] {
            assert!(!pattern.is_match(cron), "{cron}");
        }
    }

    #[test]
    fn stated_severities_are_what_the_server_reads() {
        let pattern = regex::Regex::new(SEVERITIES_PATTERN).unwrap();
        let read = |text: &str| {
            serde_json::from_value::<service::scans::Severities>(json!([text])).is_ok()
        };
        for text in [
            "LOW",
            "critical",
            " High , medium",
            "low,LOW",
            "Critical ,high",
        ] {
            assert!(pattern.is_match(text), "{text}");
            assert!(read(text), "{text}");
        }
        for text in ["", "lo", "low,", ",high", "urgent", "high;low"] {
            assert!(!pattern.is_match(text), "{text}");
            assert!(!read(text), "{text}");
        }
    }

    fn collect_patterns(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("pattern", Value::String(pattern)) => found.push(pattern.clone()),
                        _ => collect_patterns(inner, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect_patterns(item, found)),
            _ => {}
        }
    }
}
