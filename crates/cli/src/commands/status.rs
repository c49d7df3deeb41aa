//! `enact status`: every identity with its desired and observed state and its last verified
//! action.

use crate::args::{GlobalArgs, OutputFormat, StatusArgs};
use crate::commands::{exit, plan};
use crate::context::{self, State};
use anyhow::Result;
use enact_execute::StateStore;
use enact_store_sqlite::SqliteStore;
use std::collections::BTreeMap;

/// Runs `enact status`.
pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<u8> {
    let policy = context::load_policy(&global.policy)?;
    let state = State::open(&global.state_dir, &global.policy)?;
    let connectors = context::connectors(&policy, state.keys.fingerprint_key())?;
    let (observation, plan) =
        plan::observe_and_plan(&policy, &connectors, state.keys.fingerprint_key()).await?;
    let store = SqliteStore::open(&state.database())?;
    let open = store.open_actions()?;
    let last: BTreeMap<(String, String), _> = store
        .last_verified()?
        .into_iter()
        .map(|l| ((l.target.to_string(), l.account.clone()), l))
        .collect();

    let mut rows = Vec::new();
    for identity in policy.identities.values() {
        for account in &identity.accounts {
            let observed = observation
                .targets
                .get(&account.target)
                .and_then(|t| t.accounts.get(&account.name));
            let observed_text = match observed {
                None => "absent".to_string(),
                Some(found) => {
                    let age = found
                        .credential_set_at
                        .map(|at| format!("credential age {}", observation.observed_at.since(at)))
                        .unwrap_or_else(|| "credential age unknown".to_string());
                    format!(
                        "login {}, {} entitlement(s), {age}, {} session(s)",
                        if found.login_enabled {
                            "enabled"
                        } else {
                            "disabled"
                        },
                        found.entitlements.len(),
                        found.sessions.len()
                    )
                }
            };
            let pending = plan
                .actions
                .iter()
                .filter(|a| a.target == account.target && a.account == account.name)
                .count();
            let left_open = open
                .iter()
                .filter(|o| o.action.target == account.target && o.action.account == account.name)
                .count();
            let last_verified = last.get(&(account.target.to_string(), account.name.clone()));
            rows.push(serde_json::json!({
                "identity": identity.id,
                "owner": identity.owner,
                "target": account.target,
                "account": account.name,
                "desired": identity.state.to_string(),
                "observed": observed_text,
                "in_policy": pending == 0 && left_open == 0,
                "pending_actions": pending,
                "open_actions": left_open,
                "last_verified": last_verified.map(|l| serde_json::json!({
                    "action_id": l.action_id,
                    "summary": l.summary,
                    "at": l.verified_at.to_rfc3339(),
                })),
            }));
        }
    }

    match args.output {
        OutputFormat::Json => {
            let value = serde_json::json!({
                "observed_at": observation.observed_at.to_rfc3339(),
                "accounts": rows,
                "unmanaged": plan.unmanaged,
            });
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
        OutputFormat::Text => {
            outln!(
                "Status at {} ({} account(s)):\n",
                observation.observed_at,
                rows.len()
            );
            for row in &rows {
                let text = |key: &str| row[key].as_str().unwrap_or("").to_string();
                let mark = if row["open_actions"].as_u64().unwrap_or(0) > 0 {
                    "OPEN "
                } else if row["in_policy"].as_bool().unwrap_or(false) {
                    "ok   "
                } else {
                    "DRIFT"
                };
                outln!(
                    "{mark} {} ({}) on {}/{}",
                    text("identity"),
                    text("owner"),
                    text("target"),
                    text("account")
                );
                outln!("        desired:  {}", text("desired"));
                outln!("        observed: {}", text("observed"));
                if let Some(pending) = row["pending_actions"].as_u64().filter(|p| *p > 0) {
                    outln!("        pending:  {pending} action(s); see `enact plan`");
                }
                if let Some(left) = row["open_actions"].as_u64().filter(|o| *o > 0) {
                    outln!(
                        "        open:     {left} action(s) left open by an earlier run; the next `enact apply` resumes them"
                    );
                }
                match row["last_verified"].as_object() {
                    Some(last) => outln!(
                        "        last verified: {} at {}",
                        last["summary"].as_str().unwrap_or(""),
                        last["at"].as_str().unwrap_or("")
                    ),
                    None => outln!("        last verified: none"),
                }
            }
            if !plan.unmanaged.is_empty() {
                outln!("\nUnmanaged accounts:");
                for finding in &plan.unmanaged {
                    outln!(
                        "  ! {}/{} (handling: {})",
                        finding.target,
                        finding.account,
                        finding.handling
                    );
                }
            }
        }
    }
    Ok(exit::OK)
}
