//! For the use cases' unit tests: a store that reaches no DynamoDB. Each
//! call it is asked to make is counted and refused before anything is
//! sent, so a test shows that a refusal came before any round trip (and so
//! wrote nothing), with no emulator running.

use crate::aws::store::Store;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, Default, Clone)]
struct Refuse {
    calls: Arc<AtomicUsize>,
}

impl Intercept for Refuse {
    fn name(&self) -> &'static str {
        "Refuse"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err("a use case's unit test reaches no DynamoDB".into())
    }
}

/// A store whose calls are counted and never sent.
pub struct OfflineStore {
    pub store: Store,
    refuse: Refuse,
}

impl OfflineStore {
    pub fn new() -> Self {
        let refuse = Refuse::default();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new(
                "offline", "offline", None, None, "offline",
            ))
            .interceptor(refuse.clone())
            .build();
        OfflineStore {
            store: Store::new(aws_sdk_dynamodb::Client::from_conf(config), "offline"),
            refuse,
        }
    }

    /// DynamoDB calls the use case asked for so far.
    pub fn calls(&self) -> usize {
        self.refuse.calls.load(Ordering::SeqCst)
    }
}

/// The verification settings of the default configuration.
pub fn settings() -> crate::aws::verification::VerificationSettings {
    crate::runtime::config::Config::from_env()
        .expect("the default configuration")
        .verification()
}

/// Asserts that `err` is a refusal naming `field`; `case` says which
/// input of a test's table it was.
#[track_caller]
pub fn assert_names(err: &crate::Error, field: &str, case: impl std::fmt::Display) {
    assert_eq!(invalid_field(err).as_deref(), Some(field), "{case}: {err}");
}

/// The field an `Error::Invalid` names (or the first of `InvalidFields`).
fn invalid_field(err: &crate::Error) -> Option<String> {
    match err {
        crate::Error::Invalid { field, .. } => field.clone(),
        crate::Error::InvalidFields(all) => all.first().and_then(invalid_field),
        _ => None,
    }
}

#[test]
fn the_offline_store_counts_and_refuses_every_call() {
    let offline = OfflineStore::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = runtime.block_on(offline.store.get_account("tenant", "000000000001"));
    assert!(read.is_err(), "{read:?}");
    assert_eq!(offline.calls(), 1);
}
