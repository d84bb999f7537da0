//! The domain reaches no AWS: no package this crate depends on, directly or
//! through others, is an AWS SDK crate, an async runtime, a command-line
//! parser or a DynamoDB codec. The crate boundary keeps domain code from
//! importing the adapters (`service` depends on `domain`, never the other
//! way); this test keeps the adapters' libraries out of its reach too.

use std::collections::{BTreeMap, BTreeSet};

const FORBIDDEN: [&str; 8] = [
    "aws-sdk-",
    "aws-config",
    "aws-smithy-",
    "aws-runtime",
    "tokio",
    "clap",
    "serde_dynamo",
    "lambda_",
];

/// Each package of Cargo.lock and the names of its dependencies.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("the workspace's Cargo.lock");
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut dependencies = Vec::new();
        let mut in_dependencies = false;
        for line in block.lines() {
            let line = line.trim();
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_string());
            } else if line.starts_with("dependencies = [") {
                in_dependencies = true;
            } else if in_dependencies && line.starts_with(']') {
                in_dependencies = false;
            } else if in_dependencies {
                // "name" or "name version" (when two versions are locked).
                let entry = line.trim_end_matches(',').trim_matches('"');
                let dependency = entry.split(' ').next().unwrap_or(entry);
                dependencies.push(dependency.to_string());
            }
        }
        if let Some(name) = name {
            graph
                .entry(name)
                .or_insert_with(Vec::new)
                .extend(dependencies);
        }
    }
    graph
}

#[test]
fn nothing_the_domain_depends_on_can_call_aws() {
    let graph = lock_graph();
    let mut reached = BTreeSet::new();
    let mut pending = vec!["domain".to_string()];
    while let Some(package) = pending.pop() {
        for dependency in graph.get(&package).into_iter().flatten() {
            if reached.insert(dependency.clone()) {
                pending.push(dependency.clone());
            }
        }
    }
    assert!(
        reached.contains("serde"),
        "the walk found the domain's dependencies"
    );
    let forbidden: Vec<&String> = reached
        .iter()
        .filter(|package| FORBIDDEN.iter().any(|prefix| package.starts_with(prefix)))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the domain reaches {forbidden:?}: move the code that needs them to an adapter in service"
    );
}
