//! `GET /docs`: the API reference, rendered on the server from the same
//! OpenAPI document `GET /v1/openapi.json` serves, so the two never differ.
//! No script and no other origin: the page works offline (`make dev`) and
//! under the strict Content-Security-Policy of every page.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

const STYLE: &str = include_str!("../assets/docs.css");

pub async fn page(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    // Rendered once per state, on the first request.
    let body = state
        .documents
        .page
        .get_or_init(|| render(&state.document()).into_string());
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.clone(),
    )
        .into_response()
}

pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation of `document` as (tag, method, path, operation).
fn operations(document: &Value) -> Vec<(String, &'static str, &str, &Value)> {
    let mut found = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    let tag = operation["tags"][0].as_str().unwrap_or("other").to_string();
                    found.push((tag, method, path.as_str(), operation));
                }
            }
        }
    }
    found.sort_by(|a, b| (&a.0, a.2, a.1).cmp(&(&b.0, b.2, b.1)));
    found
}

/// A schema in a few words: its name, or its type and what it holds.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combinator].as_array() {
            return options.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    };
    let kind = if kind.starts_with("array") {
        kind.replacen(
            "array",
            &format!("array of {}", type_of(&schema["items"])),
            1,
        )
    } else {
        kind
    };
    let mut constraints = Vec::new();
    if let Some(format) = schema["format"].as_str() {
        constraints.push(format.to_string());
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        constraints.push(names.join(", "));
    }
    for (name, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("maxItems", "max items"),
    ] {
        if let Some(bound) = schema.get(name) {
            constraints.push(format!("{label} {bound}"));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        constraints.push(format!("pattern {pattern}"));
    }
    if constraints.is_empty() {
        kind
    } else {
        format!("{kind} ({})", constraints.join("; "))
    }
}

fn anchor(method: &str, path: &str) -> String {
    let mut id = format!("{method}-{path}");
    id.retain(|c| c.is_ascii_alphanumeric() || c == '-');
    id
}

// Long: an HTML template (maud): the page's markup in reading order.
fn render(document: &Value) -> Markup {
    let title = document["info"]["title"].as_str().unwrap_or("API");
    let version = document["info"]["version"].as_str().unwrap_or("");
    let operations = operations(document);
    let mut tags: Vec<&str> = operations.iter().map(|(tag, ..)| tag.as_str()).collect();
    tags.dedup();
    let empty = serde_json::Map::new();
    let schemas = document["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " reference" }
                link rel="stylesheet" href="/docs/docs.css";
            }
            body {
                header {
                    h1 { (title) " " small { (version) } }
                    p { "Rendered from " a href="/v1/openapi.json" { "/v1/openapi.json" } ". Every request carries an API key (" code { "X-API-Key" } " or " code { "Authorization: Bearer" } "); errors are " code { "{\"error\": {\"code\", \"message\", \"field\"}}" } "." }
                }
                nav {
                    @for tag in &tags {
                        h2 { (tag) }
                        ul {
                            @for (_, method, path, _) in operations.iter().filter(|(t, ..)| t == tag) {
                                li { a href={ "#" (anchor(method, path)) } { span class={ "method " (method) } { (method.to_uppercase()) } " " (path) } }
                            }
                        }
                    }
                }
                main {
                    @for (tag, method, path, operation) in &operations {
                        section id=(anchor(method, path)) class="operation" {
                            h3 { span class={ "method " (method) } { (method.to_uppercase()) } " " code { (path) } " " small { (tag) } }
                            @if let Some(description) = operation["description"].as_str().or(operation["summary"].as_str()) {
                                p { (description) }
                            }
                            @if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
                                table {
                                    tr { th { "parameter" } th { "in" } th { "type" } th { "" } }
                                    @for parameter in parameters {
                                        tr {
                                            td { code { (parameter["name"].as_str().unwrap_or("")) } @if parameter["required"] == true { " *" } }
                                            td { (parameter["in"].as_str().unwrap_or("")) }
                                            td { (type_of(&parameter["schema"])) }
                                            td { (parameter["description"].as_str().unwrap_or("")) }
                                        }
                                    }
                                }
                            }
                            @if let Some(content) = operation["requestBody"]["content"].as_object() {
                                p { "Body: "
                                    @for (media, body) in content {
                                        code { (media) } " " (type_of(&body["schema"])) " "
                                    }
                                }
                            }
                            @if let Some(responses) = operation["responses"].as_object() {
                                ul class="responses" {
                                    @for (status, response) in responses {
                                        li {
                                            strong { (status) } " "
                                            (response["description"].as_str().unwrap_or(""))
                                            @if let Some(content) = response["content"].as_object() {
                                                @for (_, body) in content {
                                                    @if !body["schema"].is_null() { " → " code { (type_of(&body["schema"])) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 id="schemas" { "Schemas" }
                    @for (name, schema) in schemas {
                        section id={ "schema-" (name) } class="schema" {
                            h3 { (name) }
                            @if let Some(description) = schema["description"].as_str() { p { (description) } }
                            @if let Some(properties) = schema["properties"].as_object() {
                                table {
                                    tr { th { "field" } th { "type" } th { "" } }
                                    @for (field, property) in properties {
                                        tr {
                                            td { code { (field) } @if schema["required"].as_array().is_some_and(|r| r.iter().any(|n| n == field)) { " *" } }
                                            td { (type_of(property)) }
                                            td { (property["description"].as_str().unwrap_or("")) }
                                        }
                                    }
                                }
                            } @else {
                                p { code { (type_of(schema)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_reads_in_a_few_words() {
        assert_eq!(
            type_of(&json!({"$ref": "#/components/schemas/Account"})),
            "Account"
        );
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"type": "string", "maxLength": 12}})),
            "array of string (max length 12)"
        );
        assert_eq!(
            type_of(&json!({"type": ["string", "null"], "enum": ["DEV", "PROD"]})),
            "string | null (DEV, PROD)"
        );
    }
}
