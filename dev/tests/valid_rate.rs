//! dev/valid_rate.py, the schemathesis gate on refused valid data, on
//! reports made here: it fails an operation that refuses most valid cases
//! over the run, and only then (a few refusals, negative cases, and
//! answers that say nothing about the data do not count).

use serde_json::json;
use std::path::Path;
use std::process::Command;

fn python() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = root.join(".venv/bin/python");
    match venv.exists() {
        true => venv.display().to_string(),
        false => "python3".to_string(),
    }
}

/// One scenario of `label` whose cases got these (mode, status) answers.
fn scenario(label: &str, answers: &[(&str, u16)], first_id: usize) -> String {
    let mut cases = serde_json::Map::new();
    let mut interactions = serde_json::Map::new();
    for (index, (mode, status)) in answers.iter().enumerate() {
        let id = format!("case{}", first_id + index);
        cases.insert(
            id.clone(),
            json!({"value": {"meta": {"generation": {"mode": mode}}}}),
        );
        interactions.insert(id, json!({"response": {"status_code": status}}));
    }
    json!({"ScenarioFinished": {"recorder": {"label": label, "cases": cases, "interactions": interactions}}})
        .to_string()
}

fn run(lines: &[String]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("valid-rate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join(format!("{}.ndjson", lines.len()));
    std::fs::write(&report, lines.join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("valid_rate.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&report)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_file(&report);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn an_operation_refusing_most_valid_cases_fails_the_run() {
    let mut refused = vec![("positive", 400); 20];
    refused.extend([("positive", 201); 3]);
    let (passed, out) = run(&[
        scenario("POST /v1/accounts", &refused[..10], 0),
        scenario("POST /v1/accounts", &refused[10..], 100),
        scenario("GET /v1/accounts", &[("positive", 200); 30], 200),
    ]);
    assert!(!passed, "{out}");
    assert!(
        out.contains("FAIL POST /v1/accounts: accepted 3 of 23"),
        "{out}"
    );
    assert!(!out.contains("FAIL GET"), "{out}");
}

#[test]
fn refusals_that_say_nothing_about_the_data_do_not_fail_it() {
    let mut answers = vec![("positive", 200); 5];
    // Every positive case of this small scenario refused: schemathesis'
    // own warning would fire here; over the run it is 4 of 24.
    let few_refused = [("positive", 422); 4];
    answers.extend([("positive", 404); 30]);
    answers.extend([("positive", 409); 30]);
    answers.extend([("negative", 400); 50]);
    answers.extend([("positive", 201); 15]);
    let (passed, out) = run(&[
        scenario("PUT /v1/settings", &answers, 0),
        scenario("PUT /v1/settings", &few_refused, 1000),
    ]);
    assert!(passed, "{out}");
}
