//! Property tests (the fuzz targets of this project): the request
//! validators, the CSV parser and the search query parser take any input
//! without panicking, accept exactly what they document, and CSV export
//! and import round-trip. `PROPTEST_CASES` raises the case count.

use domain::account::{Account, AccountFields, Environment};
use domain::time::Timestamp;
use domain::{csv_io, scans, search, validation, Error};
use proptest::prelude::*;

/// Run `work` on a thread with a 256 KiB stack (tokio workers have 2 MiB),
/// which a walk that recursed once per token of a 2 KiB query overflows,
/// even in a debug build.
fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(work)
        .unwrap()
        .join()
        .unwrap()
}

/// Parse a query; when it parses, evaluate it, clone it and drop both.
/// `Err` only for a refusal that is not a clear `invalid_query`.
fn parse_and_evaluate(query: &str) -> Result<(), String> {
    match search::parse_query(query) {
        Ok(Some(expr)) => {
            let account = Account::register(
                "123456789012".into(),
                AccountFields {
                    name: "x".into(),
                    ..Default::default()
                },
                "k",
                Timestamp::now(),
            );
            let copy = expr.clone();
            let _ = expr.matches(&account) == copy.matches(&account);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(Error::Invalid {
            code: "invalid_query",
            ..
        }) => Ok(()),
        Err(other) => Err(format!("{other:?}")),
    }
}

/// The worst shapes within the 2,048-byte limit, on a small stack: deep
/// parentheses, NOT chains, long AND/OR chains and their mixtures.
#[test]
fn worst_query_shapes_stay_on_a_small_stack() {
    let shapes: Vec<String> = (1..=1024)
        .step_by(7)
        .flat_map(|n| {
            [
                format!("{}a{}", "(".repeat(n), ")".repeat(n)),
                format!("{}a", "NOT ".repeat(n)),
                format!("a{}", " AND a".repeat(n)),
                format!("a{}", " OR a".repeat(n)),
                format!("{}a{}", "(NOT ".repeat(n), ")".repeat(n)),
                format!("{}a", "a OR (".repeat(n)),
            ]
        })
        .map(|mut q| {
            q.truncate(2048);
            q
        })
        .collect();
    let outcomes = on_small_stack(move || {
        shapes
            .iter()
            .map(|q| parse_and_evaluate(q))
            .collect::<Vec<_>>()
    });
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    // The bound itself: 32 levels parse, 33 are refused at the 33rd '('.
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    assert!(search::parse_query(&nested(search::MAX_QUERY_DEPTH)).is_ok());
    match search::parse_query(&nested(search::MAX_QUERY_DEPTH + 1)) {
        Err(Error::Invalid { code, message, .. }) => {
            assert_eq!(code, "invalid_query");
            assert!(message.contains("position 32"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let terms = |n: usize| vec!["a"; n].join(" OR ");
    assert!(search::parse_query(&terms(search::MAX_QUERY_TERMS)).is_ok());
    assert!(search::parse_query(&terms(search::MAX_QUERY_TERMS + 1)).is_err());
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
        ..ProptestConfig::default()
    }
}

/// Errors must name what to fix: a field and a message.
fn is_clear(err: &Error) -> bool {
    match err {
        Error::Invalid { field, message, .. } => {
            field.as_deref().is_some_and(|f| !f.is_empty()) && !message.is_empty()
        }
        _ => false,
    }
}

const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"];

prop_compose! {
    fn account()(
        id in "[0-9]{12}",
        name in "[A-Za-z0-9 ,\"'.=+@-]{1,40}",
        owner in proptest::option::of("[A-Za-z ]{1,20}"),
        environment in proptest::option::of(prop_oneof![
            Just(Environment::Dev), Just(Environment::Prod), Just(Environment::Staging)
        ]),
        region_mask in 0u8..16,
        with_role in any::<bool>(),
    ) -> Account {
        let regions = REGIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| region_mask & (1 << i) != 0)
            .map(|(_, r)| r.to_string())
            .collect();
        let fields = AccountFields {
            name: name.trim().to_string().chars().chain(std::iter::once('x')).collect(),
            owner_name: owner.map(|o| format!("o{}", o.trim())),
            environment,
            regions,
            role_arn: with_role.then(|| format!("arn:aws:iam::{id}:role/Audit")),
            ..Default::default()
        };
        Account::register(id, fields, "prop", Timestamp::now())
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_parse_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = csv_io::parse(&bytes);
    }

    #[test]
    fn csv_parse_takes_any_rows(rows in proptest::collection::vec(
        proptest::collection::vec("[^\r\n]{0,30}", 0..10), 0..20)
    ) {
        let mut text = String::from("accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\r\n");
        for row in rows {
            text.push_str(&row.join(","));
            text.push_str("\r\n");
        }
        match csv_io::parse(text.as_bytes()) {
            Ok((parsed, errors)) => {
                for row in &parsed {
                    // Whatever is accepted is a valid account.
                    prop_assert!(row.fields.validate(&row.account_id).is_ok());
                }
                for error in errors {
                    prop_assert!(error.row >= 2);
                }
            }
            Err(err) => prop_assert!(is_clear(&err)),
        }
    }

    #[test]
    fn csv_export_then_import_round_trips(accounts in proptest::collection::vec(account(), 1..8)) {
        let mut accounts = accounts;
        accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        accounts.dedup_by(|a, b| a.account_id == b.account_id);
        let text = csv_io::export(&accounts).unwrap();
        let (rows, errors) = csv_io::parse(text.as_bytes()).unwrap();
        prop_assert!(errors.is_empty(), "{:?}", errors);
        prop_assert_eq!(rows.len(), accounts.len());
        for (row, account) in rows.iter().zip(&accounts) {
            prop_assert_eq!(&row.account_id, &account.account_id);
            prop_assert_eq!(&row.fields.name, &account.fields.name);
            prop_assert_eq!(&row.fields.regions, &account.fields.regions);
            prop_assert_eq!(&row.fields.role_arn, &account.fields.role_arn);
            prop_assert_eq!(row.fields.environment, account.fields.environment);
        }
    }

    #[test]
    fn account_ids_are_exactly_twelve_digits(text in "\\PC{0,16}") {
        let valid = text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit());
        match validation::account_id("account_id", &text) {
            Ok(()) => prop_assert!(valid),
            Err(err) => { prop_assert!(!valid); prop_assert!(is_clear(&err)); }
        }
    }

    #[test]
    fn validators_take_any_text(text in "\\PC{0,300}", list in proptest::collection::vec("\\PC{0,40}", 0..5)) {
        for result in [
            validation::email("owner_email", &text),
            validation::text("name", &text, 128),
            validation::external_id("external_id", &text),
            validation::role_arn("role_arn", &text).map(|_| ()),
            validation::regions("regions", &list).map(|_| ()),
            validation::resource_types("resource_type_ignore_list", &list),
            validation::regexes("resource_regex_ignore_list", &list),
        ] {
            if let Err(err) = result {
                prop_assert!(is_clear(&err), "{:?}", err);
            }
        }
    }

    #[test]
    fn regions_accept_only_known_ids(list in proptest::collection::vec(
        prop_oneof![Just("us-east-1".to_string()), Just("eu-west-1".to_string()), "[a-z]{2}-[a-z]{4,9}-[0-9]"], 0..4)
    ) {
        let known = list.iter().all(|r| domain::regions::find(r).is_some());
        let unique = list.iter().collect::<std::collections::HashSet<_>>().len() == list.len();
        prop_assert_eq!(validation::regions("regions", &list).is_ok(), known && unique);
    }

    /// Queries built from the parser's own tokens, as long as the size
    /// limit allows, parsed and evaluated on a small stack.
    #[test]
    fn search_queries_of_any_shape_stay_on_a_small_stack(tokens in proptest::collection::vec(
        prop_oneof![
            Just("("), Just(")"), Just("NOT "), Just("a "), Just("AND "), Just("OR "),
            Just("name:x* "), Just("\"p q\" "), Just("(("), Just("))"), Just("NOT NOT "),
        ], 0..700)
    ) {
        let mut query: String = tokens.concat();
        query.truncate(2048);
        let outcome = on_small_stack(move || parse_and_evaluate(&query));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }

    #[test]
    fn search_queries_take_any_text(query in "\\PC{0,120}") {
        if let Err(err) = search::parse_query(&query) {
            prop_assert!(is_clear(&err), "{:?}", err);
        }
    }

    #[test]
    fn scan_regions_stay_inside_the_account(requested in proptest::collection::vec(
        prop_oneof![Just("us-east-1".to_string()), Just("eu-west-1".to_string()), Just("ap-south-1".to_string())], 0..3)
    ) {
        let account = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let ignored = vec!["eu-west-1".to_string()];
        match scans::scan_regions(&account, &ignored, Some(&requested), "regions") {
            Ok(regions) => {
                for region in regions {
                    prop_assert!(account.contains(&region) && !ignored.contains(&region));
                }
            }
            Err(err) => prop_assert!(is_clear(&err)),
        }
    }
}
