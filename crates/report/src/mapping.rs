//! The framework table: which controls of three frameworks each action kind and each probe
//! gives evidence for.
//!
//! - OWASP Non-Human Identities Top 10, 2025 edition: risks `NHI1` to `NHI10`.
//! - NIST Cybersecurity Framework (CSF) 2.0: subcategories. Account access and permissions sit
//!   under PR.AA (Identity Management, Authentication, and Access Control) in 2.0; CSF 1.1's
//!   PR.AC-4 (access permissions and authorizations) became PR.AA-05.
//! - NIST SP 800-207, Zero Trust Architecture: the seven tenets of its section 2.1, `T1` to
//!   `T7`.
//!
//! An action record counts for a control when its action kind or one of its probes maps to
//! it. Every record also counts for the controls of [`EVERY_RECORD`], because the signed log
//! itself is the evidence those controls ask for.

/// A framework the report can be organized by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    /// OWASP Non-Human Identities Top 10 (2025).
    OwaspNhi,
    /// NIST Cybersecurity Framework 2.0.
    Csf2,
    /// NIST SP 800-207, Zero Trust Architecture.
    Sp800207,
}

impl Framework {
    /// Every framework, in the order reports list them.
    pub const ALL: [Framework; 3] = [Framework::OwaspNhi, Framework::Csf2, Framework::Sp800207];

    /// The framework's name on the command line: `owasp-nhi`, `csf2` or `sp800-207`.
    pub fn cli_name(self) -> &'static str {
        match self {
            Framework::OwaspNhi => "owasp-nhi",
            Framework::Csf2 => "csf2",
            Framework::Sp800207 => "sp800-207",
        }
    }

    /// The framework's full title.
    pub fn title(self) -> &'static str {
        match self {
            Framework::OwaspNhi => "OWASP Non-Human Identities Top 10 (2025)",
            Framework::Csf2 => "NIST Cybersecurity Framework 2.0",
            Framework::Sp800207 => "NIST SP 800-207 Zero Trust Architecture, tenets",
        }
    }

    /// The framework's controls, in their own order.
    pub fn controls(self) -> &'static [Control] {
        match self {
            Framework::OwaspNhi => OWASP_NHI,
            Framework::Csf2 => CSF2,
            Framework::Sp800207 => SP800_207,
        }
    }

    /// Returns the ids of this framework's controls that a mapping row names.
    fn of(self, row: &Mapping) -> &'static [&'static str] {
        match self {
            Framework::OwaspNhi => row.owasp_nhi,
            Framework::Csf2 => row.csf2,
            Framework::Sp800207 => row.sp800_207,
        }
    }
}

/// One control, risk or tenet of a framework.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The framework's identifier, such as `NHI1` or `PR.AA-05`.
    pub id: &'static str,
    /// The framework's title for it, shortened where it is a sentence.
    pub title: &'static str,
}

const fn control(id: &'static str, title: &'static str) -> Control {
    Control { id, title }
}

/// The OWASP Non-Human Identities Top 10, 2025 edition.
pub const OWASP_NHI: &[Control] = &[
    control("NHI1", "Improper Offboarding"),
    control("NHI2", "Secret Leakage"),
    control("NHI3", "Vulnerable Third-Party NHI"),
    control("NHI4", "Insecure Authentication"),
    control("NHI5", "Overprivileged NHI"),
    control("NHI6", "Insecure Cloud Deployment Configurations"),
    control("NHI7", "Long-Lived Secrets"),
    control("NHI8", "Environment Isolation"),
    control("NHI9", "NHI Reuse"),
    control("NHI10", "Human Use of NHI"),
];

/// The NIST CSF 2.0 subcategories that enact's evidence bears on.
pub const CSF2: &[Control] = &[
    control(
        "ID.AM-08",
        "Systems, hardware, software, services, and data are managed throughout their life cycles",
    ),
    control(
        "PR.AA-01",
        "Identities and credentials for authorized users, services, and hardware are managed by the organization",
    ),
    control(
        "PR.AA-03",
        "Users, services, and hardware are authenticated",
    ),
    control(
        "PR.AA-05",
        "Access permissions, entitlements, and authorizations are defined in a policy, managed, enforced, and reviewed (CSF 1.1: PR.AC-4)",
    ),
    control(
        "PR.PS-04",
        "Log records are generated and made available for continuous monitoring",
    ),
];

/// The tenets of zero trust in NIST SP 800-207, section 2.1.
pub const SP800_207: &[Control] = &[
    control("T1", "All data sources and computing services are considered resources"),
    control("T2", "All communication is secured regardless of network location"),
    control("T3", "Access to individual enterprise resources is granted on a per-session basis"),
    control("T4", "Access to resources is determined by dynamic policy"),
    control(
        "T5",
        "The enterprise monitors and measures the integrity and security posture of all owned and associated assets",
    ),
    control(
        "T6",
        "All resource authentication and authorization are dynamic and strictly enforced before access is allowed",
    ),
    control(
        "T7",
        "The enterprise collects as much information as possible about the current state of assets and uses it to improve its security posture",
    ),
];

/// What a mapping row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An action kind, by its verb (`create`, `rotate`, …).
    Action(&'static str),
    /// A probe, by its name (`login-rejected`, …).
    Probe(&'static str),
}

/// One row of the framework table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub subject: Subject,
    /// OWASP NHI Top 10 risks the subject mitigates or proves mitigated.
    pub owasp_nhi: &'static [&'static str],
    /// NIST CSF 2.0 subcategories the subject gives evidence for.
    pub csf2: &'static [&'static str],
    /// NIST SP 800-207 tenets the subject enforces or proves.
    pub sp800_207: &'static [&'static str],
}

const fn row(
    subject: Subject,
    owasp_nhi: &'static [&'static str],
    csf2: &'static [&'static str],
    sp800_207: &'static [&'static str],
) -> Mapping {
    Mapping {
        subject,
        owasp_nhi,
        csf2,
        sp800_207,
    }
}

use Subject::{Action, Probe};

/// The framework table. Action verbs are those of `ActionKind::verb`; probe names are those
/// the verifier gives its probes.
pub const MAPPINGS: &[Mapping] = &[
    // A dedicated account per declared identity, with its own credential.
    row(
        Action("create"),
        &["NHI9"],
        &["PR.AA-01", "ID.AM-08"],
        &["T4"],
    ),
    // Target settings such as token lifetimes.
    row(Action("configure"), &["NHI7"], &["PR.AA-01"], &["T3", "T6"]),
    row(Action("grant"), &["NHI5"], &["PR.AA-05"], &["T4", "T6"]),
    row(Action("revoke"), &["NHI5"], &["PR.AA-05"], &["T4", "T6"]),
    row(Action("rotate"), &["NHI2", "NHI7"], &["PR.AA-01"], &["T6"]),
    row(Action("end-sessions"), &["NHI7"], &["PR.AA-05"], &["T3"]),
    row(
        Action("disable"),
        &["NHI1"],
        &["PR.AA-01", "ID.AM-08"],
        &["T3", "T6"],
    ),
    row(Action("enable"), &[], &["PR.AA-01", "ID.AM-08"], &["T6"]),
    row(Action("purge"), &["NHI1", "NHI2"], &["PR.AA-01"], &["T6"]),
    row(
        Action("delete"),
        &["NHI1"],
        &["PR.AA-01", "ID.AM-08"],
        &["T6"],
    ),
    row(Probe("account-read-back"), &[], &["ID.AM-08"], &["T7"]),
    row(Probe("account-absent"), &["NHI1"], &["ID.AM-08"], &["T7"]),
    row(Probe("settings-read-back"), &[], &["PR.AA-01"], &["T7"]),
    row(Probe("entitlement-held"), &["NHI5"], &["PR.AA-05"], &["T4"]),
    row(
        Probe("entitlement-absent"),
        &["NHI5"],
        &["PR.AA-05"],
        &["T4"],
    ),
    row(
        Probe("login-with-current-credential"),
        &["NHI4"],
        &["PR.AA-03"],
        &["T6"],
    ),
    row(Probe("login-rejected"), &["NHI1"], &["PR.AA-03"], &["T6"]),
    row(
        Probe("login-with-previous-credential-rejected"),
        &["NHI2", "NHI7"],
        &["PR.AA-03"],
        &["T6"],
    ),
    row(
        Probe("sink-holds-new-credential"),
        &["NHI2"],
        &["PR.AA-01"],
        &[],
    ),
    row(
        Probe("previous-credential-purged"),
        &["NHI2"],
        &["PR.AA-01"],
        &[],
    ),
    row(Probe("sink-purged"), &["NHI1", "NHI2"], &["PR.AA-01"], &[]),
    row(Probe("sessions-ended"), &["NHI7"], &["PR.AA-05"], &["T3"]),
    row(
        Probe("sessions-before-rotation-ended"),
        &["NHI7"],
        &["PR.AA-05"],
        &["T3"],
    ),
];

/// The controls every action record gives evidence for, whatever its kind: it is a signed,
/// tamper-evident log record of the action and of its verification.
pub const EVERY_RECORD: Mapping = Mapping {
    subject: Action("*"),
    owasp_nhi: &[],
    csf2: &["PR.PS-04"],
    sp800_207: &["T5", "T7"],
};

/// Returns the ids of the controls of `framework` that an action of kind `verb` with probes
/// named `probes` gives evidence for, in the framework's order.
pub fn controls_for<'p>(
    framework: Framework,
    verb: &str,
    probes: impl IntoIterator<Item = &'p str>,
) -> Vec<&'static str> {
    let probes: Vec<&str> = probes.into_iter().collect();
    let mut ids: Vec<&'static str> = framework.of(&EVERY_RECORD).to_vec();
    for row in MAPPINGS {
        let applies = match row.subject {
            Action(name) => name == verb,
            Probe(name) => probes.contains(&name),
        };
        if applies {
            ids.extend_from_slice(framework.of(row));
        }
    }
    framework
        .controls()
        .iter()
        .map(|control| control.id)
        .filter(|id| ids.contains(id))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_id_is_a_control() {
        for framework in Framework::ALL {
            let known: Vec<&str> = framework.controls().iter().map(|c| c.id).collect();
            for row in MAPPINGS.iter().chain([&EVERY_RECORD]) {
                for id in framework.of(row) {
                    assert!(known.contains(id), "{id} in {:?}", row.subject);
                }
            }
        }
    }

    #[test]
    fn every_action_kind_has_a_row() {
        for verb in [
            "create",
            "configure",
            "grant",
            "revoke",
            "rotate",
            "end-sessions",
            "disable",
            "enable",
            "purge",
            "delete",
        ] {
            assert!(
                MAPPINGS.iter().any(|row| row.subject == Action(verb)),
                "{verb}"
            );
        }
    }

    #[test]
    fn rotation_maps_to_secret_risks() {
        let ids = controls_for(
            Framework::OwaspNhi,
            "rotate",
            ["login-with-current-credential"],
        );
        assert_eq!(ids, ["NHI2", "NHI4", "NHI7"]);
        let ids = controls_for(Framework::Csf2, "revoke", ["entitlement-absent"]);
        assert_eq!(ids, ["PR.AA-05", "PR.PS-04"]);
        let ids = controls_for(Framework::Sp800207, "disable", []);
        assert_eq!(ids, ["T3", "T5", "T6", "T7"]);
    }
}
