//! The operator CLI against DynamoDB Local: the key it prints authenticates.

use service::api_key::{ApiKey, Scope};
use service::aws::store::Store;
use std::process::Command;

/// A table of its own in DynamoDB Local.
async fn fresh_table() -> (aws_sdk_dynamodb::Client, String) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "needs the emulators: run `make test`"
    );
    let config = service::runtime::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("admin-{}", ulid::Ulid::new().to_string().to_lowercase());
    testkit::provision::create_table(&client, &table)
        .await
        .unwrap();
    (client, table)
}

/// Run the CLI on `table`: success, stdout, stderr.
fn admin(table: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_admin"))
        .env("TABLE_NAME", table)
        .args(args)
        .output()
        .expect("run admin");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn create_list_and_revoke_keys() {
    let (client, table) = fresh_table().await;
    let admin = |args: &[&str]| admin(&table, args);

    let (ok, stdout, stderr) = admin(&[
        "create-key",
        "--tenant",
        "initech",
        "--scopes",
        "read,admin",
    ]);
    assert!(ok, "{stderr}");
    let token = stdout.trim();
    let presented = ApiKey::parse_token(token).expect("prints a key");
    assert_eq!(presented.tenant, "initech");
    let store = Store::new(client, table.clone());
    let record = store
        .get_api_key("initech", presented.key_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.scopes, vec![Scope::Read, Scope::Admin]);
    assert_eq!(
        record.check(presented.secret, service::time::Timestamp::now()),
        Ok(())
    );

    let (ok, listed, _) = admin(&["list-keys", "--tenant", "initech"]);
    assert!(ok);
    assert!(listed.contains(presented.key_id));
    assert!(!listed.contains(presented.secret) && !listed.contains(&record.secret_hash));

    let (ok, _, stderr) = admin(&[
        "revoke-key",
        "--tenant",
        "initech",
        "--key-id",
        presented.key_id,
    ]);
    assert!(ok, "{stderr}");
    let record = store
        .get_api_key("initech", presented.key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked_at.is_some());

    let (ok, _, stderr) = admin(&["create-key", "--tenant", "Bad_Tenant"]);
    assert!(!ok);
    assert!(stderr.contains("tenant"), "{stderr}");
    let (ok, _, stderr) = admin(&["create-key", "--tenant", "initech", "--scopes", "root"]);
    assert!(!ok);
    assert!(stderr.contains("unknown scope"), "{stderr}");
}

#[tokio::test]
async fn create_list_and_revoke_scanner_credentials() {
    let (client, table) = fresh_table().await;
    let admin = |args: &[&str]| admin(&table, args);
    // Only an external source of the deployment takes a credential.
    let (ok, _, stderr) = admin(&[
        "create-scanner-credential",
        "--data-source",
        "aws:guard-duty",
    ]);
    assert!(!ok);
    assert!(stderr.contains("external ones: none"), "{stderr}");
    let sources = r#"--data-sources=[{"name": "aws:guard-duty", "description": "GuardDuty", "max_score": 10, "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}]"#;
    let (ok, _, stderr) = admin(&[
        "create-scanner-credential",
        "--data-source",
        "aws:iam",
        sources,
    ]);
    assert!(!ok, "the built-in source reports through no credential");
    assert!(stderr.contains("external ones: aws:guard-duty"), "{stderr}");
    let (ok, stdout, stderr) = admin(&[
        "create-scanner-credential",
        "--data-source",
        "aws:guard-duty",
        "--name",
        "fleet",
        sources,
    ]);
    assert!(ok, "{stderr}");
    let token = stdout.trim();
    let presented =
        service::scanner::ScannerCredential::parse_token(token).expect("prints a credential");
    let store = Store::new(client, table.clone());
    let record = store
        .get_scanner_credential(presented.credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.data_source, "aws:guard-duty");
    assert!(record.accepts(presented.secret));
    assert!(!record.accepts(&"0".repeat(64)));

    let (ok, listed, _) = admin(&["list-scanner-credentials"]);
    assert!(ok);
    assert!(listed.contains(presented.credential_id));
    assert!(!listed.contains(presented.secret) && !listed.contains(&record.secret_hash));

    let (ok, _, stderr) = admin(&[
        "revoke-scanner-credential",
        "--credential-id",
        presented.credential_id,
    ]);
    assert!(ok, "{stderr}");
    let record = store
        .get_scanner_credential(presented.credential_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!record.accepts(presented.secret), "revoked");
    let (ok, _, stderr) = admin(&["revoke-scanner-credential", "--credential-id", "nope"]);
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");
    let (ok, _, stderr) = admin(&["create-scanner-credential", "--data-source", "Not A Source"]);
    assert!(!ok);
    assert!(stderr.contains("data source name"), "{stderr}");
}
