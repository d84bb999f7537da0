//! The test kit stays out of the functions: none of the six Lambda
//! packages depends on it, on the DynamoDB Streams SDK (on AWS the
//! notifier gets the stream as Lambda events) or on the dev server. Asked
//! of `cargo tree` per package, because features are resolved per build:
//! `Cargo.lock` alone lists what any package of the workspace turns on.

use std::process::Command;

const FUNCTIONS: [&str; 6] = [
    "api",
    "scan-worker",
    "verifier",
    "notifier",
    "webhook-sender",
    "organization-sync",
];
const TEST_ONLY: [&str; 3] = ["testkit", "aws-sdk-dynamodbstreams", "dev-server"];

fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--edges", "normal", "--prefix", "none", "--package"])
        .arg(package)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn no_function_links_the_test_kit_or_the_streams_sdk() {
    for function in FUNCTIONS {
        let dependencies = normal_dependencies(function);
        assert!(
            dependencies.iter().any(|d| d == "aws-sdk-dynamodb"),
            "the tree of {function} was read: {dependencies:?}"
        );
        let reached: Vec<&&str> = TEST_ONLY
            .iter()
            .filter(|name| dependencies.iter().any(|d| d == **name))
            .collect();
        assert!(
            reached.is_empty(),
            "{function} depends on {reached:?}: keep what only dev, tests and bench use in testkit"
        );
    }
}
