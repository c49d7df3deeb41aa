//! The installation's keys: creation, file modes, loading and what `Debug` shows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use enact_evidence::{read_verifying_key, verify, EvidenceError, EvidenceLog, Keys};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn keys_dir(state: &Path) -> std::path::PathBuf {
    state.join("keys")
}

#[test]
fn init_twice_creates_once() {
    let state = tempfile::tempdir().unwrap();
    let first = Keys::init(state.path()).unwrap();
    assert_eq!(first.created.len(), 3);
    assert!(first.existing.is_empty());
    let dir = keys_dir(state.path());
    let before: Vec<Vec<u8>> = ["evidence.ed25519", "evidence.pub", "fingerprint.key"]
        .iter()
        .map(|name| fs::read(dir.join(name)).unwrap())
        .collect();

    let second = Keys::init(state.path()).unwrap();
    assert!(second.created.is_empty());
    assert_eq!(second.existing.len(), 3);
    let after: Vec<Vec<u8>> = ["evidence.ed25519", "evidence.pub", "fingerprint.key"]
        .iter()
        .map(|name| fs::read(dir.join(name)).unwrap())
        .collect();
    assert_eq!(before, after);
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn key_files_have_private_modes() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let dir = keys_dir(state.path());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("evidence.ed25519")), 0o600);
    assert_eq!(mode(&dir.join("fingerprint.key")), 0o600);
    assert_eq!(mode(&dir.join("evidence.pub")), 0o644);
}

#[test]
fn key_files_hold_hex_lines() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    for name in ["evidence.ed25519", "evidence.pub", "fingerprint.key"] {
        let text = fs::read_to_string(keys_dir(state.path()).join(name)).unwrap();
        let digits = text.strip_suffix('\n').unwrap();
        assert_eq!(digits.len(), 64, "{name}");
        assert!(digits.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    let signing = fs::read_to_string(keys_dir(state.path()).join("evidence.ed25519")).unwrap();
    let fingerprint = fs::read_to_string(keys_dir(state.path()).join("fingerprint.key")).unwrap();
    assert_ne!(signing, fingerprint);
}

#[test]
fn readable_secret_key_is_rejected() {
    for name in ["evidence.ed25519", "fingerprint.key"] {
        let state = tempfile::tempdir().unwrap();
        Keys::init(state.path()).unwrap();
        let path = keys_dir(state.path()).join(name);
        for loose in [0o644, 0o640, 0o604] {
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
            let error = Keys::load(state.path()).unwrap_err();
            assert!(
                matches!(error, EvidenceError::KeyPermissions { mode, .. } if mode == loose),
                "{name} {loose:o}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains("readable by group or others"), "{message}");
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Keys::load(state.path()).is_ok());
    }
}

#[test]
fn missing_key_names_file_and_fix() {
    let state = tempfile::tempdir().unwrap();
    let error = Keys::load(state.path()).unwrap_err().to_string();
    assert!(error.contains("evidence.ed25519"), "{error}");
    assert!(error.contains("run `enact init`"), "{error}");

    Keys::init(state.path()).unwrap();
    fs::remove_file(keys_dir(state.path()).join("fingerprint.key")).unwrap();
    let error = Keys::load(state.path()).unwrap_err().to_string();
    assert!(error.contains("fingerprint.key` not found"), "{error}");
}

#[test]
fn invalid_key_file_is_named() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let path = keys_dir(state.path()).join("fingerprint.key");
    fs::write(&path, "not hex\n").unwrap();
    let error = Keys::load(state.path()).unwrap_err();
    assert!(matches!(error, EvidenceError::KeyInvalid { .. }), "{error}");
    assert!(error.to_string().contains("fingerprint.key"));
}

#[test]
fn public_key_is_rederived_when_missing() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let public = keys_dir(state.path()).join("evidence.pub");
    let original = fs::read(&public).unwrap();
    fs::remove_file(&public).unwrap();

    let report = Keys::init(state.path()).unwrap();
    assert_eq!(report.created, vec![public.clone()]);
    assert_eq!(fs::read(&public).unwrap(), original);
}

#[test]
fn lost_signing_key_is_not_replaced() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let signing = keys_dir(state.path()).join("evidence.ed25519");
    fs::remove_file(&signing).unwrap();
    let error = Keys::init(state.path()).unwrap_err();
    assert!(
        matches!(error, EvidenceError::SigningKeyLost { .. }),
        "{error}"
    );
    assert!(!signing.exists());
}

#[test]
fn mismatched_public_key_is_rejected() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
    fs::write(
        keys_dir(state.path()).join("evidence.pub"),
        format!("{}\n", hex::encode(other.as_bytes())),
    )
    .unwrap();
    let error = Keys::load(state.path()).unwrap_err();
    assert!(
        matches!(error, EvidenceError::KeyMismatch { .. }),
        "{error}"
    );
}

#[test]
fn debug_shows_no_key_bytes() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let keys = Keys::load(state.path()).unwrap();
    let dir = keys_dir(state.path());
    let secrets: Vec<String> = ["evidence.ed25519", "evidence.pub", "fingerprint.key"]
        .iter()
        .map(|name| {
            fs::read_to_string(dir.join(name))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();

    let log = EvidenceLog::open(state.path(), keys.signing_key().clone()).unwrap();
    let shown = format!("{keys:?} {keys:#?} {log:?} {:?}", keys.fingerprint_key());
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "{shown}");
        // Also no run of the bytes as a decimal array, as derived `Debug` of `[u8; 32]` prints.
        let bytes = hex::decode(secret).unwrap();
        let decimal = format!("{:?}", &bytes[..4]);
        assert!(
            !shown.contains(decimal.trim_matches(|c| c == '[' || c == ']')),
            "{shown}"
        );
    }
}

#[test]
fn loaded_keys_sign_a_verifiable_log() {
    let state = tempfile::tempdir().unwrap();
    Keys::init(state.path()).unwrap();
    let (signing, verifying, _) = Keys::load(state.path()).unwrap().into_parts();
    let mut log = EvidenceLog::open(state.path(), signing).unwrap();
    common::append_action(&mut log, "svc_a", true);
    log.commit().unwrap();
    drop(log);

    // An auditor has only the public key file and the evidence directory.
    let public = read_verifying_key(&keys_dir(state.path()).join("evidence.pub")).unwrap();
    assert_eq!(public, verifying);
    let report = verify(&state.path().join("evidence"), &public).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(report.checkpoints, 1);
}
