//! Organization onboarding's templates against cfn-lint and the trust
//! emulator: each member's role, made from the one StackSet template as
//! CloudFormation resolves it in that member's account, verifies with that
//! member's derived external ID, and only with it.

use crate::harness::TestApp;
use model::organizations::{
    management_role_template, member_external_id, new_prefix, stackset_template,
};
use model::verification::VerificationCode;
use serde_json::Value;
use std::collections::HashMap;

fn cfn_lint(text: &str) {
    let lint = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/cfn-lint");
    assert!(
        std::path::Path::new(lint).exists(),
        "cfn-lint is installed by `make test` (dev/setup.sh)"
    );
    let file = std::env::temp_dir().join(format!("org-{}.yaml", ulid::Ulid::new()));
    std::fs::write(&file, text).unwrap();
    let output = std::process::Command::new(lint)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The template's value as CloudFormation resolves it in `account`:
/// `!Ref` of a parameter (its default) or pseudo parameter, and `!Sub`.
fn resolve(value: &serde_yaml::Value, parameters: &HashMap<String, String>) -> Value {
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Tagged(tagged) => {
            let text = tagged.value.as_str().expect("a string argument");
            match tagged.tag.to_string().as_str() {
                "!Ref" => Value::String(parameters[text].clone()),
                "!Sub" => {
                    let mut out = text.to_string();
                    for (name, value) in parameters {
                        out = out.replace(&format!("${{{name}}}"), value);
                    }
                    assert!(!out.contains("${"), "unresolved: {out}");
                    Value::String(out)
                }
                other => panic!("unexpected tag {other}"),
            }
        }
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v, parameters)))
                .collect(),
        ),
        Yaml::Sequence(items) => {
            Value::Array(items.iter().map(|v| resolve(v, parameters)).collect())
        }
        other => serde_json::to_value(other).unwrap(),
    }
}

/// The trust policy the StackSet template gives the role in `account`.
fn member_trust(template: &str, account: &str) -> Value {
    let parsed: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
    let mut parameters: HashMap<String, String> = parsed["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, spec)| {
            (
                name.as_str().unwrap().to_string(),
                spec["Default"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    parameters.insert("AWS::AccountId".into(), account.into());
    resolve(
        &parsed["Resources"]["VendorRole"]["Properties"]["AssumeRolePolicyDocument"],
        &parameters,
    )
}

#[tokio::test]
async fn one_stackset_template_gives_every_member_its_own_external_id() {
    let app = TestApp::new().await;
    let principal = app
        .state
        .vendor_principal()
        .await
        .expect("vendor principal");
    let prefix = new_prefix();
    let template = stackset_template(
        &principal,
        &prefix,
        "AccountOnboardingAudit",
        &["SecurityAudit".to_string()],
    );
    cfn_lint(&template);
    let management = "444444444444";
    cfn_lint(&management_role_template(
        &principal,
        &member_external_id(&prefix, management),
        "AccountOnboardingOrganizations",
    ));

    // Two members deploy the same template; each role verifies with its
    // own derived ID.
    let verifier = &app.state.verifier;
    for member in ["555555555555", "666666666666"] {
        let trust = member_trust(&template, member);
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
            member_external_id(&prefix, member)
        );
        let role = app.create_role(member, &trust, &[]).await;
        let outcome = verifier
            .verify(member, &role, &member_external_id(&prefix, member))
            .await;
        assert_eq!(outcome.code, VerificationCode::Ok, "{}", outcome.message);
    }

    // A role that trusts another member's ID, or the bare prefix, does
    // not verify with this member's ID.
    let member = "777777777777";
    for wrong in [member_external_id(&prefix, "555555555555"), prefix.clone()] {
        let mut trust = member_trust(&template, member);
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = Value::String(wrong);
        let role = app.create_role(member, &trust, &[]).await;
        let outcome = verifier
            .verify(member, &role, &member_external_id(&prefix, member))
            .await;
        assert_eq!(
            outcome.code,
            VerificationCode::AccessDenied,
            "{}",
            outcome.message
        );
    }
}
