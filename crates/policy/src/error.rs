//! Located policy errors and their `miette` diagnostics.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// The class of a policy error, for callers that react to some classes differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not valid YAML.
    Syntax,
    /// A value has the wrong YAML type, such as a string where a mapping belongs.
    Type,
    /// A required key is absent.
    MissingKey,
    /// A key is not part of the policy syntax at its place.
    UnknownKey,
    /// A key, id, account or entitlement is declared twice.
    Duplicate,
    /// A value has the right type but is not allowed: a bad name, duration, glob or choice.
    InvalidValue,
    /// A value names something that is not declared, such as an undeclared target.
    UnknownReference,
    /// Two settings contradict each other.
    Conflict,
}

impl ErrorKind {
    /// Returns the stable diagnostic code, such as `policy::unknown_key`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "policy::syntax",
            ErrorKind::Type => "policy::type",
            ErrorKind::MissingKey => "policy::missing_key",
            ErrorKind::UnknownKey => "policy::unknown_key",
            ErrorKind::Duplicate => "policy::duplicate",
            ErrorKind::InvalidValue => "policy::invalid_value",
            ErrorKind::UnknownReference => "policy::unknown_reference",
            ErrorKind::Conflict => "policy::conflict",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "invalid yaml",
            ErrorKind::Type => "wrong type",
            ErrorKind::MissingKey => "missing key",
            ErrorKind::UnknownKey => "unknown key",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::InvalidValue => "invalid value",
            ErrorKind::UnknownReference => "not declared",
            ErrorKind::Conflict => "conflict",
        }
    }
}

/// One problem in a policy file, with its position.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// The class of problem.
    pub kind: ErrorKind,
    /// The policy file, as given in [`crate::ParseOptions::origin`].
    pub file: PathBuf,
    /// Line of the problem, counted from 1.
    pub line: usize,
    /// Column of the problem in characters, counted from 1.
    pub column: usize,
    /// Byte range of the offending text in the source.
    pub span: Range<usize>,
    /// One lowercase line saying what is wrong, with user values in backticks.
    pub message: String,
    /// A hint for fixing the problem, where one fits.
    pub help: Option<String>,
    /// The source, with values under secret-looking keys masked, for rendering the snippet.
    pub(crate) code: Arc<NamedSource<String>>,
}

impl PolicyError {
    /// Formats the error as `FILE:LINE:COLUMN: error: MESSAGE`, followed by a `  help: ...` line
    /// when there is help.
    pub fn to_plain(&self) -> String {
        let mut text = format!(
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        );
        if let Some(help) = &self.help {
            text.push_str("\n  help: ");
            text.push_str(help);
        }
        text
    }
}

impl Diagnostic for PolicyError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&*self.code)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = LabeledSpan::new(
            Some(self.kind.label().to_owned()),
            self.span.start,
            self.span.end.saturating_sub(self.span.start),
        );
        Some(Box::new(std::iter::once(label)))
    }
}

/// Every problem found in a policy file, in source order. Never empty.
///
/// `Display` prints one `FILE:LINE:COLUMN: error: MESSAGE` line per problem, each followed by its
/// `  help: ...` line when it has one. As a `miette` diagnostic, each problem is a related
/// diagnostic with a labeled span into the named source. [`PolicyErrors::diagnostic`] gives a
/// variant with a one-line header for graphical rendering.
#[derive(Clone, Debug, thiserror::Error)]
pub struct PolicyErrors {
    errors: Vec<PolicyError>,
    file: PathBuf,
}

impl PolicyErrors {
    pub(crate) fn new(file: PathBuf, errors: Vec<PolicyError>) -> Self {
        PolicyErrors { errors, file }
    }

    /// Returns the problems, in source order.
    pub fn errors(&self) -> &[PolicyError] {
        &self.errors
    }

    /// Returns the number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Returns false, because a `PolicyErrors` contains at least one problem.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Returns the same problems under a one-line header (`invalid policy `FILE`: 3 errors`).
    /// Render this one with `miette`'s graphical handler, which prints the header above the
    /// related diagnostics. Rendering [`PolicyErrors`] itself prints every problem twice.
    pub fn diagnostic(&self) -> PolicyDiagnostic {
        PolicyDiagnostic {
            errors: self.clone(),
        }
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            f.write_str(&error.to_plain())?;
        }
        Ok(())
    }
}

impl Diagnostic for PolicyErrors {
    // No code of its own: the header above the list needs none, and each problem in the list
    // shows its own.
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.errors.iter().map(|error| error as &dyn Diagnostic),
        ))
    }
}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

/// [`PolicyErrors`] under a one-line summary header, for graphical rendering.
#[derive(Clone, Debug)]
pub struct PolicyDiagnostic {
    errors: PolicyErrors,
}

impl From<PolicyErrors> for PolicyDiagnostic {
    fn from(errors: PolicyErrors) -> Self {
        PolicyDiagnostic { errors }
    }
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        let noun = if count == 1 { "error" } else { "errors" };
        write!(
            f,
            "invalid policy `{}`: {count} {noun}",
            self.errors.file.display()
        )
    }
}

impl std::error::Error for PolicyDiagnostic {}

impl Diagnostic for PolicyDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.errors.code()
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        self.errors.related()
    }
}
