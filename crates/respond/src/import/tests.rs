#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;
use sha1::{Digest, Sha1};

fn key() -> FingerprintKey {
    FingerprintKey::from_bytes([9; 32])
}

fn value_of(finding: &Finding) -> String {
    match &finding.exposed {
        // The test compares the imported value with the one it wrote.
        Exposed::Value(secret) => secret.expose().to_string(),
        Exposed::Sha1(_) => panic!("expected a value, found a hash"),
    }
}

fn problem(error: &ImportError) -> String {
    match error {
        ImportError::Malformed { problem, .. } => problem.clone(),
    }
}

const GITLEAKS: &str = r#"[
 {"Description":"Generic API Key","StartLine":3,"EndLine":3,"StartColumn":1,"EndColumn":40,
  "Match":"DB_PASSWORD=s3cr3t-value-1","Secret":"s3cr3t-value-1","File":"config/app.env",
  "Commit":"","Entropy":3.2,"RuleID":"generic-api-key","Fingerprint":"config/app.env:generic-api-key:3"},
 {"Secret":"s3cr3t-value-2","RuleID":"postgres-password","File":"deploy.sh"}
]"#;

#[test]
fn gitleaks_report_yields_values() {
    let findings = import_report(
        GITLEAKS.as_bytes(),
        "leaks.json",
        ReportFormat::Auto,
        &key(),
    )
    .expect("a valid report");
    assert_eq!(findings.len(), 2);
    assert_eq!(value_of(&findings[0]), "s3cr3t-value-1");
    assert_eq!(findings[0].location, "leaks.json#/0");
    assert_eq!(findings[0].detector.as_deref(), Some("generic-api-key"));
    assert_eq!(findings[0].found_in.as_deref(), Some("config/app.env:3"));
    assert_eq!(findings[1].found_in.as_deref(), Some("deploy.sh"));
}

#[test]
fn gitleaks_missing_secret_is_located() {
    let report = r#"[{"Secret":"ok-value"},{"RuleID":"x"}]"#;
    let error = import_report(report.as_bytes(), "r.json", ReportFormat::Gitleaks, &key())
        .expect_err("a finding without a secret");
    assert_eq!(error.location(), "r.json#/1");
    assert_eq!(problem(&error), "missing field `Secret`");
}

#[test]
fn gitleaks_redacted_report_is_rejected() {
    let report = r#"[{"Secret":"REDACTED","RuleID":"x"}]"#;
    let error = import_report(report.as_bytes(), "r.json", ReportFormat::Auto, &key())
        .expect_err("a redacted report");
    assert_eq!(error.location(), "r.json#/0/Secret");
    assert!(problem(&error).contains("--redact"), "{error}");
}

#[test]
fn syntax_error_names_line_and_column() {
    let report = "[\n {\"Secret\": \"abc\"},\n {\"Secret\": }\n]";
    let error = import_report(report.as_bytes(), "r.json", ReportFormat::Auto, &key())
        .expect_err("invalid JSON");
    assert_eq!(error.location(), "r.json:3:13");
    assert!(problem(&error).starts_with("invalid JSON"), "{error}");
}

#[test]
fn error_never_contains_report_value() {
    let report = r#"[{"Secret": 12}, {"Secret":"canary-9d1f"}]"#;
    let error = import_report(report.as_bytes(), "r.json", ReportFormat::Auto, &key())
        .expect_err("a number as a secret");
    assert_eq!(error.location(), "r.json#/0/Secret");
    assert!(!error.to_string().contains("canary"));
    let bad_type = r#"[{"Secret":"canary-9d1f","StartLine":"canary-9d1f"}]"#;
    let error = import_report(bad_type.as_bytes(), "r.json", ReportFormat::Auto, &key())
        .expect_err("a string as a line");
    assert_eq!(error.location(), "r.json#/0/StartLine");
    assert!(!error.to_string().contains("canary"), "{error}");
}

#[test]
fn trufflehog_lines_yield_values() {
    let report = concat!(
        r#"{"SourceMetadata":{"Data":{"Filesystem":{"file":"app/settings.py","line":12}}},"DetectorName":"Postgres","Verified":false,"Raw":"th-value-1","RawV2":""}"#,
        "\n\n",
        r#"{"SourceMetadata":{"Data":{"Git":{"commit":"abc","file":"x.env","line":1}}},"DetectorName":"Redis","Raw":"th-value-2"}"#,
        "\n"
    );
    let findings = import_report(report.as_bytes(), "th.jsonl", ReportFormat::Auto, &key())
        .expect("valid lines");
    assert_eq!(findings.len(), 2);
    assert_eq!(value_of(&findings[0]), "th-value-1");
    assert_eq!(findings[0].location, "th.jsonl:1");
    assert_eq!(findings[0].found_in.as_deref(), Some("app/settings.py:12"));
    assert_eq!(findings[1].location, "th.jsonl:3");
    assert_eq!(findings[1].detector.as_deref(), Some("Redis"));
}

#[test]
fn trufflehog_bad_line_is_located() {
    let report = "{\"Raw\":\"one\"}\n{\"Raw\":\"two\"\n";
    let error = import_report(
        report.as_bytes(),
        "th.jsonl",
        ReportFormat::Trufflehog,
        &key(),
    )
    .expect_err("a truncated line");
    assert!(error.location().starts_with("th.jsonl:2:"), "{error}");
    let report = "{\"Raw\":\"one\"}\n{\"DetectorName\":\"x\"}\n";
    let error = import_report(report.as_bytes(), "th.jsonl", ReportFormat::Auto, &key())
        .expect_err("a line without Raw");
    assert_eq!(error.location(), "th.jsonl:2#");
    assert_eq!(problem(&error), "missing field `Raw`");
}

#[test]
fn detect_secrets_baseline_yields_hashes() {
    let hash = hex::encode(Sha1::digest(b"ds-value"));
    let report = format!(
        "{{\n  \"version\": \"1.5.0\",\n  \"plugins_used\": [],\n  \"results\": {{\n    \"src/a/b.py\": [\n      {{\"type\": \"Secret Keyword\", \"filename\": \"src/a/b.py\", \"hashed_secret\": \"{hash}\", \"is_verified\": false, \"line_number\": 7}}\n    ]\n  }}\n}}\n"
    );
    let findings = import_report(
        report.as_bytes(),
        ".secrets.baseline",
        ReportFormat::Auto,
        &key(),
    )
    .expect("a valid baseline");
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0].location,
        ".secrets.baseline#/results/src~1a~1b.py/0"
    );
    assert_eq!(findings[0].found_in.as_deref(), Some("src/a/b.py:7"));
    match &findings[0].exposed {
        Exposed::Sha1(bytes) => assert_eq!(hex::encode(bytes), hash),
        Exposed::Value(_) => panic!("a baseline holds no values"),
    }
}

#[test]
fn detect_secrets_bad_hash_is_located() {
    let report = r#"{"results":{"a.py":[{"hashed_secret":"not-hex","line_number":1}]}}"#;
    let error =
        import_report(report.as_bytes(), "b", ReportFormat::Auto, &key()).expect_err("a bad hash");
    assert_eq!(error.location(), "b#/results/a.py/0/hashed_secret");
    let report = r#"{"version":"1.5.0"}"#;
    let error = import_report(report.as_bytes(), "b", ReportFormat::DetectSecrets, &key())
        .expect_err("no results");
    assert_eq!(error.location(), "b#");
}

#[test]
fn non_utf8_report_names_line() {
    let report = b"[\n{\"Secret\":\"a\xff\"}]";
    let error =
        import_report(report, "r.json", ReportFormat::Auto, &key()).expect_err("invalid UTF-8");
    assert_eq!(error.location(), "r.json:2");
}

#[test]
fn empty_reports_have_no_findings() {
    for report in ["", "[]", "\n\n"] {
        let findings = import_report(report.as_bytes(), "r", ReportFormat::Auto, &key())
            .expect("an empty report");
        assert!(findings.is_empty(), "{report:?}");
    }
}

#[test]
fn stdin_value_drops_one_newline() {
    let finding = import_value(Zeroizing::new("value-1\n".to_string()), &key()).unwrap();
    assert_eq!(value_of(&finding), "value-1");
    let finding = import_value(Zeroizing::new("value-2\r\n".to_string()), &key()).unwrap();
    assert_eq!(value_of(&finding), "value-2");
    let error = import_value(Zeroizing::new("\n".to_string()), &key()).expect_err("empty");
    assert_eq!(error.location(), "stdin");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never make an importer panic: each returns findings or a located error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [
            ReportFormat::Auto,
            ReportFormat::Gitleaks,
            ReportFormat::Trufflehog,
            ReportFormat::DetectSecrets,
        ] {
            if let Err(error) = import_report(&bytes, "fuzz", format, &key()) {
                prop_assert!(error.location().starts_with("fuzz"));
            }
        }
    }

    /// JSON-shaped input, which reaches deeper than random bytes, never panics either.
    #[test]
    fn json_shaped_input_never_panics(
        text in r#"[\[\]{}":, 0-9a-zA-Z_\n]{0,200}"#,
        prefix in prop_oneof![
            Just(""), Just("[{\"Secret\":"), Just("{\"results\":{\"a\":[{\"hashed_secret\":"),
            Just("{\"Raw\":"), Just("{\n")
        ],
    ) {
        let input = format!("{prefix}{text}");
        for format in [ReportFormat::Auto, ReportFormat::Gitleaks, ReportFormat::Trufflehog, ReportFormat::DetectSecrets] {
            let _ = import_report(input.as_bytes(), "fuzz", format, &key());
        }
    }
}
