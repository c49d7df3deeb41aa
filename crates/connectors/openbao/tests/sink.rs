//! The KV version 2 sink against the real server that `scripts/bao.sh start` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{key, random_secret, secret, unique, BaoEnv};
use enact_connector::{DeliveryMeta, ErrorKind, Sink};
use enact_openbao::KvSink;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn meta(action: &str) -> DeliveryMeta {
    DeliveryMeta {
        identity: "billing-api".to_string(),
        action_id: action.to_string(),
    }
}

/// Stages `value` and promotes it, as a rotation does.
async fn deliver(sink: &KvSink, value: &str, action: &str) {
    let staged = secret(value);
    sink.stage(&staged, &meta(action)).await.unwrap();
    sink.promote(staged.fingerprint(), &key()).await.unwrap();
}

/// Reads the metadata of `secret/<path>` with the root token.
async fn metadata(env: &BaoEnv, path: &str) -> (StatusCode, Value) {
    env.root(Method::GET, &format!("secret/metadata/{path}"), None)
        .await
}

fn value_of(found: Option<enact_model::Secret>) -> Option<String> {
    found.map(|secret| secret.expose().to_string())
}

#[tokio::test]
async fn staged_value_stays_apart_until_promoted() {
    let env = BaoEnv::load();
    let path = unique("apps/stage");
    let sink = env.sink(&path);
    let first = random_secret();

    let staged = secret(&first);
    sink.stage(&staged, &meta("act-1")).await.unwrap();
    assert_eq!(
        value_of(sink.read_staged(&key()).await.unwrap()),
        Some(first.clone())
    );
    assert!(sink.read_current(&key()).await.unwrap().is_none());
    let (status, _) = env
        .root(Method::GET, &format!("secret/data/{path}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a dependent reading the secret sees no unconfirmed value"
    );
    let (_, staged_meta) = metadata(&env, &format!("{path}.staged")).await;
    assert_eq!(
        staged_meta["data"]["custom_metadata"]["enact_fingerprint_v1"],
        Value::from(staged.fingerprint().as_str())
    );

    sink.promote(staged.fingerprint(), &key()).await.unwrap();
    assert_eq!(
        value_of(sink.read_current(&key()).await.unwrap()),
        Some(first.clone())
    );
    assert!(sink.read_staged(&key()).await.unwrap().is_none());
    assert!(sink.read_previous(&key()).await.unwrap().is_none());
    let (status, _) = metadata(&env, &format!("{path}.staged")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the staged secret is removed"
    );

    let second = random_secret();
    deliver(&sink, &second, "act-2").await;
    assert_eq!(
        value_of(sink.read_current(&key()).await.unwrap()),
        Some(second.clone())
    );
    assert_eq!(
        value_of(sink.read_previous(&key()).await.unwrap()),
        Some(first.clone())
    );

    let (_, body) = metadata(&env, &path).await;
    let custom = &body["data"]["custom_metadata"];
    assert_eq!(
        custom["enact_fingerprint_v1"],
        Value::from(secret(&first).fingerprint().as_str())
    );
    assert_eq!(
        custom["enact_fingerprint_v2"],
        Value::from(secret(&second).fingerprint().as_str())
    );
    assert_eq!(custom["enact_identity_v2"], Value::from("billing-api"));
    assert_eq!(custom["enact_action_id_v2"], Value::from("act-2"));
    let text = body.to_string();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "metadata holds a value"
    );
    assert_eq!(sink.describe(), format!("vault secret/{path}"));

    sink.purge().await.unwrap();
}

#[tokio::test]
async fn promote_is_idempotent_and_checked() {
    let env = BaoEnv::load();
    let sink = env.sink(&unique("apps/promote"));
    let value = secret(&random_secret());
    sink.stage(&value, &meta("act-1")).await.unwrap();

    let wrong = secret(&random_secret());
    let error = sink.promote(wrong.fingerprint(), &key()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict, "{error}");

    sink.promote(value.fingerprint(), &key()).await.unwrap();
    sink.promote(value.fingerprint(), &key()).await.unwrap();
    assert!(
        sink.read_previous(&key()).await.unwrap().is_none(),
        "a repeated promotion writes no second version"
    );
    let error = sink.promote(wrong.fingerprint(), &key()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict, "{error}");

    sink.purge().await.unwrap();
}

#[tokio::test]
async fn stage_replaces_earlier_staged_value() {
    let env = BaoEnv::load();
    let sink = env.sink(&unique("apps/restage"));
    let first = secret(&random_secret());
    let second = secret(&random_secret());
    sink.stage(&first, &meta("act-1")).await.unwrap();
    sink.stage(&second, &meta("act-1")).await.unwrap();

    let held = sink.held_fingerprints(&key()).await.unwrap();
    assert_eq!(held, vec![second.fingerprint().clone()]);
    sink.discard_staged().await.unwrap();
    sink.discard_staged().await.unwrap();
    assert!(sink.held_fingerprints(&key()).await.unwrap().is_empty());
}

#[tokio::test]
async fn discard_previous_destroys_older_versions() {
    let env = BaoEnv::load();
    let path = unique("apps/discard");
    let sink = env.sink(&path);
    let first = random_secret();
    let second = random_secret();
    let third = random_secret();
    deliver(&sink, &first, "act-1").await;
    deliver(&sink, &second, "act-2").await;
    deliver(&sink, &third, "act-3").await;
    let held = sink.held_fingerprints(&key()).await.unwrap();
    assert_eq!(held.len(), 3);

    sink.discard_previous().await.unwrap();
    sink.discard_previous().await.unwrap();

    let (_, body) = metadata(&env, &path).await;
    let versions = &body["data"]["versions"];
    assert_eq!(versions["1"]["destroyed"], Value::Bool(true));
    assert_eq!(versions["2"]["destroyed"], Value::Bool(true));
    assert_eq!(versions["3"]["destroyed"], Value::Bool(false));
    let (status, old) = env
        .root(Method::GET, &format!("secret/data/{path}?version=2"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(old["data"]["metadata"]["destroyed"], Value::Bool(true));

    let held = sink.held_fingerprints(&key()).await.unwrap();
    assert_eq!(held, vec![secret(&third).fingerprint().clone()]);
    assert!(sink.read_previous(&key()).await.unwrap().is_none());
    assert_eq!(
        value_of(sink.read_current(&key()).await.unwrap()),
        Some(third)
    );
    let custom = &body["data"]["custom_metadata"];
    assert!(custom.get("enact_fingerprint_v1").is_none(), "{custom}");
    assert!(custom.get("enact_fingerprint_v3").is_some(), "{custom}");

    sink.purge().await.unwrap();
}

#[tokio::test]
async fn soft_deleted_version_is_still_held() {
    let env = BaoEnv::load();
    let path = unique("apps/softdel");
    let sink = env.sink(&path);
    let first = random_secret();
    let second = random_secret();
    deliver(&sink, &first, "act-1").await;
    deliver(&sink, &second, "act-2").await;
    // A soft delete, done outside enact, can be undone, so the value is still held.
    let (status, body) = env
        .root(
            Method::POST,
            &format!("secret/delete/{path}"),
            Some(serde_json::json!({ "versions": [1] })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert!(sink.read_previous(&key()).await.unwrap().is_none());
    let held = sink.held_fingerprints(&key()).await.unwrap();
    assert!(held.contains(secret(&first).fingerprint()), "{held:?}");

    sink.discard_previous().await.unwrap();
    let held = sink.held_fingerprints(&key()).await.unwrap();
    assert_eq!(held, vec![secret(&second).fingerprint().clone()]);

    sink.purge().await.unwrap();
}

#[tokio::test]
async fn purge_removes_every_version() {
    let env = BaoEnv::load();
    let path = unique("apps/purge");
    let sink = env.sink(&path);
    deliver(&sink, &random_secret(), "act-1").await;
    deliver(&sink, &random_secret(), "act-2").await;
    sink.stage(&secret(&random_secret()), &meta("act-3"))
        .await
        .unwrap();
    assert_eq!(sink.held_fingerprints(&key()).await.unwrap().len(), 3);

    sink.purge().await.unwrap();
    sink.purge().await.unwrap();

    assert!(sink.held_fingerprints(&key()).await.unwrap().is_empty());
    assert!(sink.read_current(&key()).await.unwrap().is_none());
    assert!(sink.read_staged(&key()).await.unwrap().is_none());
    let (status, _) = metadata(&env, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = metadata(&env, &format!("{path}.staged")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audit_log_never_holds_value() {
    let env = BaoEnv::load();
    let sink = env.sink(&unique("apps/audit"));
    let value = random_secret();
    deliver(&sink, &value, "act-1").await;
    assert_eq!(
        value_of(sink.read_current(&key()).await.unwrap()),
        Some(value.clone())
    );
    assert!(!format!("{sink:?}").contains(&env.token));

    let audit = env.audit_text();
    // The writes and reads were logged, HMAC'd, so the search below looked at them.
    let hashed = env.audit_hash(&value).await;
    assert!(
        audit.contains(&hashed),
        "the audit log has no entry for the value"
    );
    assert!(!audit.contains(&value), "the value is in the audit log");

    sink.purge().await.unwrap();
}

#[tokio::test]
async fn invalid_paths_are_rejected() {
    let env = BaoEnv::load();
    for (mount, path) in [
        ("secret", "../sys"),
        ("secret", "a//b"),
        ("", "a"),
        ("secret", "a?b"),
    ] {
        let error = KvSink::new(&env.addr, secret(&env.token), mount, path).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{mount}/{path}");
    }
}
