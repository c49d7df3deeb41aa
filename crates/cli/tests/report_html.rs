//! `enact report --html` opened in headless Chromium: the page loads without console
//! messages and its charts are drawn. Chromium comes from `bash scripts/chromium.sh install`;
//! without it the test fails and names that command.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use enact_evidence::Keys;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Creates a state directory with keys and the sample evidence log.
fn sample_state(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    Keys::init(&state).unwrap();
    let (signing, _, _) = Keys::load(&state).unwrap().into_parts();
    enact_report::sample::write_sample_log(&state, signing, 6, 20).unwrap();
    state
}

/// Finds the Chromium binary, or fails the test with the command that installs it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        }) {
            return path;
        }
    }
    panic!("Chromium is not installed; run `bash scripts/chromium.sh install`");
}

/// Loads `page` in headless Chromium, which must not reach the network, and returns the DOM
/// after the page's scripts ran and the browser's log.
fn load_in_chromium(work: &Path, page: &Path) -> (String, String) {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium failed: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Returns the browser log lines that report a console message or an uncaught error.
fn console_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains(":CONSOLE"))
        .collect()
}

fn attribute(dom: &str, name: &str) -> Option<u32> {
    let start = dom.find(&format!("{name}=\""))? + name.len() + 2;
    let end = dom[start..].find('"')? + start;
    dom[start..end].parse().ok()
}

#[test]
fn html_report_loads_with_charts_drawn() {
    let work = tempfile::tempdir().unwrap();
    let state = sample_state(work.path());
    let page = work.path().join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_enact"))
        .arg("--state-dir")
        .arg(&state)
        .args(["report", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("Evidence log intact"),
        "integrity line missing"
    );
    for section in [
        "Summary",
        "Charts",
        "Timeline per identity",
        "Framework mapping",
    ] {
        assert!(html.contains(&format!("<h2>{section}</h2>")), "{section}");
    }
    // Self-contained: nothing is loaded from elsewhere.
    for external in ["<link", " src=", "@import", "url("] {
        assert!(!html.contains(external), "the page references `{external}`");
    }
    let without_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_svg_namespace.contains("http://"));
    assert!(!without_svg_namespace.contains("https://"));

    let (dom, log) = load_in_chromium(work.path(), &page);
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console output");
    assert_eq!(attribute(&dom, "data-charts-total"), Some(3), "chart count");
    assert_eq!(
        attribute(&dom, "data-charts-drawn"),
        Some(3),
        "charts drawn"
    );
}

#[test]
fn console_errors_are_detected() {
    // The check above can fail: a page with a script error shows up in the browser's log,
    // and its charts are not marked drawn.
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><svg class=\"chart\"></svg><script>missingFunction();</script></body></html>",
    )
    .unwrap();
    let (dom, log) = load_in_chromium(work.path(), &page);
    let lines = console_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("missingFunction"), "{}", lines[0]);
    assert_eq!(attribute(&dom, "data-charts-drawn"), None);
}
