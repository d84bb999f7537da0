//! Which API request a write comes from. The API runs each request inside
//! [`scope`] (with its request id) and names the caller once it is
//! authenticated ([`set_actor`]); the store stamps every item an API
//! request writes with `request_id` (and `updated_by`), so the events the
//! stream derives from that change can say which request made it. Writes
//! outside a request (the verifier, the scan worker, the sender) carry
//! none, and their events name a system actor instead.

use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static ORIGIN: Origin;
}

#[derive(Clone, Debug, Default)]
struct Origin {
    request_id: String,
    actor: Arc<Mutex<Option<String>>>,
}

/// Run `future` as the request `request_id`.
pub async fn scope<F: Future>(request_id: String, future: F) -> F::Output {
    ORIGIN
        .scope(
            Origin {
                request_id,
                actor: Arc::default(),
            },
            future,
        )
        .await
}

/// The caller of the current request, once authenticated.
pub fn set_actor(actor: &str) {
    let _ = ORIGIN.try_with(|origin| {
        if let Ok(mut slot) = origin.actor.lock() {
            *slot = Some(actor.to_string());
        }
    });
}

/// The current request's id and caller, when inside one.
pub fn current() -> Option<(String, Option<String>)> {
    ORIGIN
        .try_with(|origin| {
            let actor = origin.actor.lock().ok().and_then(|slot| slot.clone());
            (origin.request_id.clone(), actor)
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_names_itself_and_its_caller_only_inside_its_scope() {
        assert_eq!(current(), None);
        let seen = scope("req-1".into(), async {
            let before = current();
            set_actor("key-1");
            (before, current())
        })
        .await;
        assert_eq!(seen.0, Some(("req-1".to_string(), None)));
        assert_eq!(
            seen.1,
            Some(("req-1".to_string(), Some("key-1".to_string())))
        );
        set_actor("ignored outside a request");
        assert_eq!(current(), None);
    }
}
