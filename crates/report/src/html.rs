//! The HTML audit report: one self-contained page with a summary, charts, a timeline per
//! identity and the framework tables.
//!
//! The page loads nothing: the style is inline, and the charts are SVG written here. A short
//! inline script measures each chart after layout and marks the page with
//! `data-charts-drawn="N"`, so a headless browser test can tell that the charts were drawn.

use crate::charts::{self, Bar, Segment};
use crate::entries::{ActionEntry, Status};
use crate::frameworks::framework_report;
use crate::mapping::Framework;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the report says about the log besides its records.
#[derive(Clone, Debug, Default)]
pub struct ReportContext {
    /// The result of verifying the log, one line, such as `evidence log intact: 12 record(s)`.
    pub integrity: String,
    /// The latest signed tree head, as `seq` and root hex.
    pub tree_head: Option<(u64, String)>,
    /// When the report was made, as RFC 3339 text.
    pub generated_at: String,
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Formats microseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn date_time(micros: i64) -> String {
    enact_model::Timestamp(micros)
        .to_rfc3339()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_string()
}

/// The colour of each status, also used by the charts' legends.
pub(crate) fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Verified => "#2e7d32",
        Status::Refuted => "#c62828",
        Status::Failed => "#6a1b9a",
        Status::Indeterminate => "#ef6c00",
    }
}

const STATUSES: [Status; 4] = [
    Status::Verified,
    Status::Refuted,
    Status::Failed,
    Status::Indeterminate,
];

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#263238;color:#fff;padding:1.2rem 2rem}
header h1{margin:0 0 .3rem;font-size:1.5rem}
header p{margin:.1rem 0;color:#cfd8dc;font-size:.9rem}
main{padding:1rem 2rem 3rem;max-width:1200px}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:.3rem;margin-top:2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:.8rem 1.2rem;min-width:9rem}
.card b{display:block;font-size:1.6rem}
.charts{display:flex;gap:1.5rem;flex-wrap:wrap}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:0;padding:.8rem}
figcaption{font-weight:600;margin-bottom:.4rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.88rem}
th,td{border:1px solid #e0e0e0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eceff1}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:3px;padding:0 .4rem;color:#fff;font-size:.8rem}
details{margin:.4rem 0}
summary{cursor:pointer;font-weight:600}
svg text{font-size:11px;fill:#37474f}
";

/// Marks the page once every chart has a laid-out size, for a browser test to read.
const SCRIPT: &str = "
(function(){
  var charts=document.querySelectorAll('svg.chart');
  var drawn=0;
  charts.forEach(function(svg){
    var box=svg.getBBox();
    if(box.width>0&&box.height>0&&svg.querySelectorAll('.mark').length>0){drawn++;}
  });
  document.body.setAttribute('data-charts-drawn',String(drawn));
  document.body.setAttribute('data-charts-total',String(charts.length));
})();
";

/// Renders the whole report.
pub fn render_html(entries: &[ActionEntry], context: &ReportContext) -> String {
    let mut page = String::with_capacity(64 * 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<title>enact audit report</title>\n<style>");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n");

    let _ = write!(
        page,
        "<header><h1>enact audit report</h1><p>{}</p><p>Generated {}</p>",
        escape(&context.integrity),
        escape(&context.generated_at)
    );
    if let Some((seq, root)) = &context.tree_head {
        let _ = write!(
            page,
            "<p>Signed tree head: {seq} record(s), root <code>{}</code></p>",
            escape(root)
        );
    }
    page.push_str("</header>\n<main>\n");

    summary(&mut page, entries);
    chart_section(&mut page, entries);
    timeline(&mut page, entries);
    framework_tables(&mut page, entries);

    page.push_str("</main>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

fn summary(page: &mut String, entries: &[ActionEntry]) {
    let identities: BTreeMap<String, ()> = entries
        .iter()
        .map(|entry| (entry.identity_key(), ()))
        .collect();
    let runs: BTreeMap<&str, ()> = entries
        .iter()
        .map(|entry| (entry.run_id.as_str(), ()))
        .collect();
    page.push_str("<h2>Summary</h2>\n<div class=\"cards\">");
    let card = |page: &mut String, label: &str, value: usize| {
        let _ = write!(page, "<div class=\"card\"><b>{value}</b>{label}</div>");
    };
    card(page, "action records", entries.len());
    card(page, "runs", runs.len());
    card(page, "identities", identities.len());
    for status in STATUSES {
        let count = entries
            .iter()
            .filter(|entry| entry.status == status)
            .count();
        card(page, status.name(), count);
    }
    page.push_str("</div>\n");
}

fn chart_section(page: &mut String, entries: &[ActionEntry]) {
    page.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");

    // Verdicts over time: one stacked bar per run, in log order.
    let mut runs: Vec<(String, [u64; 4])> = Vec::new();
    for entry in entries {
        let position = runs
            .iter()
            .position(|(run, _)| *run == entry.run_id)
            .unwrap_or_else(|| {
                runs.push((entry.run_id.clone(), [0; 4]));
                runs.len() - 1
            });
        if let Some((_, counts)) = runs.get_mut(position) {
            if let Some(slot) = STATUSES
                .iter()
                .position(|status| *status == entry.status)
                .and_then(|index| counts.get_mut(index))
            {
                *slot += 1;
            }
        }
    }
    let first_times: BTreeMap<&str, i64> =
        entries.iter().fold(BTreeMap::new(), |mut times, entry| {
            times
                .entry(entry.run_id.as_str())
                .or_insert(entry.recorded_at);
            times
        });
    let bars: Vec<Bar> = runs
        .iter()
        .map(|(run, counts)| Bar {
            label: first_times
                .get(run.as_str())
                .map(|at| date_time(*at))
                .unwrap_or_default(),
            segments: STATUSES
                .iter()
                .zip(counts)
                .map(|(status, count)| Segment {
                    value: *count,
                    colour: status_colour(*status),
                    name: status.name(),
                })
                .collect(),
        })
        .collect();
    figure(
        page,
        "Verdicts over time (one bar per run)",
        &charts::stacked_bars("chart-verdicts", &bars, &legend()),
    );

    // Time to verified: a histogram over fixed buckets.
    const BUCKETS: [(i64, &str); 8] = [
        (1_000_000, "<1 s"),
        (2_000_000, "1–2 s"),
        (5_000_000, "2–5 s"),
        (10_000_000, "5–10 s"),
        (30_000_000, "10–30 s"),
        (60_000_000, "30–60 s"),
        (300_000_000, "1–5 min"),
        (i64::MAX, "≥5 min"),
    ];
    let mut histogram = [0u64; BUCKETS.len()];
    for duration in entries.iter().filter_map(ActionEntry::time_to_verified) {
        if let Some(slot) = BUCKETS
            .iter()
            .position(|(limit, _)| duration < *limit)
            .and_then(|index| histogram.get_mut(index))
        {
            *slot += 1;
        }
    }
    let bars: Vec<Bar> = BUCKETS
        .iter()
        .zip(histogram)
        .map(|((_, label), count)| Bar {
            label: (*label).to_string(),
            segments: vec![Segment {
                value: count,
                colour: status_colour(Status::Verified),
                name: "verified",
            }],
        })
        .collect();
    figure(
        page,
        "Time to verified (first step to last confirming probe)",
        &charts::stacked_bars("chart-time-to-verified", &bars, &[]),
    );

    // Identities by risk, from the latest record of each action of the identity.
    let risks = identity_risks(entries);
    let levels = [
        ("high", "#c62828", "an action refuted or failed"),
        ("medium", "#ef6c00", "an action indeterminate"),
        ("low", "#2e7d32", "every action verified"),
    ];
    let bars: Vec<Bar> = levels
        .iter()
        .map(|(level, colour, meaning)| Bar {
            label: format!("{level}: {meaning}"),
            segments: vec![Segment {
                value: risks.values().filter(|risk| risk == &level).count() as u64,
                colour,
                name: level,
            }],
        })
        .collect();
    figure(
        page,
        "Identities by risk",
        &charts::horizontal_bars("chart-identities-by-risk", &bars),
    );
    page.push_str("</div>\n");
}

/// The legend of the status colours.
fn legend() -> Vec<(&'static str, &'static str)> {
    STATUSES
        .iter()
        .map(|status| (status.name(), status_colour(*status)))
        .collect()
}

fn figure(page: &mut String, caption: &str, svg: &str) {
    let _ = writeln!(
        page,
        "<figure><figcaption>{}</figcaption>{svg}</figure>",
        escape(caption)
    );
}

/// Returns each identity's risk: `high` if the latest record of any of its actions was
/// refuted or failed, else `medium` if one was indeterminate, else `low`.
pub(crate) fn identity_risks(entries: &[ActionEntry]) -> BTreeMap<String, &'static str> {
    let mut latest: BTreeMap<(String, &str), Status> = BTreeMap::new();
    for entry in entries {
        latest.insert((entry.identity_key(), &entry.action_id), entry.status);
    }
    let mut risks: BTreeMap<String, &'static str> = BTreeMap::new();
    for ((identity, _), status) in latest {
        let risk = match status {
            Status::Refuted | Status::Failed => "high",
            Status::Indeterminate => "medium",
            Status::Verified => "low",
        };
        let current = risks.entry(identity).or_insert(risk);
        let rank = |risk: &str| match risk {
            "high" => 2,
            "medium" => 1,
            _ => 0,
        };
        if rank(risk) > rank(current) {
            *current = risk;
        }
    }
    risks
}

fn timeline(page: &mut String, entries: &[ActionEntry]) {
    let mut by_identity: BTreeMap<String, Vec<&ActionEntry>> = BTreeMap::new();
    for entry in entries {
        by_identity
            .entry(entry.identity_key())
            .or_default()
            .push(entry);
    }
    let risks = identity_risks(entries);
    page.push_str("<h2>Timeline per identity</h2>\n");
    for (identity, records) in &by_identity {
        let risk = risks.get(identity).copied().unwrap_or("low");
        let _ = writeln!(
            page,
            "<details{}><summary>{} — {} record(s), risk {risk}</summary>",
            if risk == "low" { "" } else { " open" },
            escape(identity),
            records.len()
        );
        page.push_str(
            "<table><tr><th>time (UTC)</th><th>seq</th><th>action</th><th>account</th><th>verdict</th><th>detail</th></tr>\n",
        );
        for entry in records {
            let _ = writeln!(page, "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}/{}</td><td><span class=\"badge\" style=\"background:{}\">{}</span></td><td>{}</td></tr>",
                date_time(entry.recorded_at),
                entry.seq,
                escape(&entry.verb),
                escape(&entry.target),
                escape(&entry.account),
                status_colour(entry.status),
                entry.status.name(),
                escape(entry.detail.as_deref().unwrap_or(&entry.reason)),
            );
        }
        page.push_str("</table></details>\n");
    }
}

fn framework_tables(page: &mut String, entries: &[ActionEntry]) {
    page.push_str("<h2>Framework mapping</h2>\n");
    for framework in Framework::ALL {
        let report = framework_report(framework, entries);
        let _ = writeln!(page, "<h3>{}</h3>", escape(report.title));
        page.push_str(
            "<table><tr><th>control</th><th>title</th><th>verified</th><th>refuted</th><th>failed</th><th>indeterminate</th><th>identities out of policy</th></tr>\n",
        );
        for control in &report.controls {
            let _ = writeln!(page, "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(control.id),
                escape(control.title),
                control.verified,
                control.refuted,
                control.failed,
                control.indeterminate,
                escape(&control.out_of_policy.join(", ")),
            );
        }
        page.push_str("</table>\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_time() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00");
        // 2026-12-04T12:34:56Z.
        assert_eq!(date_time(1_796_387_696_000_000), "2026-12-04 12:34:56");
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
