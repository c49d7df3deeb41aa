//! A YAML document as a tree whose every node keeps its position in the source.
//!
//! The tree is built from `saphyr-parser` events rather than from a ready-made document type
//! because the checks need two things those types drop: the position of every key, and every
//! entry of a mapping, duplicate keys included.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// A position in the source: a byte range plus the 1-based line and column of its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Loc {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// Line of `start`, counted from 1.
    pub line: usize,
    /// Column of `start` in characters, counted from 1.
    pub column: usize,
}

/// A node of the document.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub value: Value,
    pub loc: Loc,
}

/// The content of a node.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// Entries in source order, duplicate keys kept so the checks can report them.
    Mapping(Vec<(Node, Node)>),
}

/// A scalar with the type the YAML 1.2 core schema resolves it to.
#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub text: String,
    pub kind: ScalarKind,
}

/// The core-schema type of a scalar. Quoted and block scalars are always strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

impl Node {
    /// Returns the name of the node's type as a message shows it.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Mapping(_) => "a mapping",
            Value::Sequence(_) => "a sequence",
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => "null",
                ScalarKind::Bool => "a boolean",
                ScalarKind::Int => "an integer",
                ScalarKind::Float => "a number",
                ScalarKind::Str => "a string",
            },
        }
    }

    /// Returns the scalar's text, or `None` for a collection.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(scalar) => Some(&scalar.text),
            _ => None,
        }
    }
}

/// A YAML syntax error at a position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Receives the entries of one top-level mapping as each is complete, in place of the tree.
///
/// In a large policy nearly all of the text is in the `identities` mapping. Handing each entry over
/// as soon as it is read, and dropping it once checked, keeps one identity's subtree in memory
/// instead of the whole document's.
pub(crate) trait EntrySink {
    /// The top-level key whose mapping value is offered, or `None` to take nothing.
    fn key(&self) -> Option<&'static str>;

    /// Decides whether to take the entries of the mapping under [`EntrySink::key`], given the
    /// top-level entries read before it. It is offered only the first entry with that key, only
    /// when its value is a mapping without an anchor, and only when the document is a mapping.
    fn start(&mut self, before: &[(Node, Node)]) -> bool;

    /// Takes one complete entry of the mapping, in source order, duplicate keys included.
    fn entry(&mut self, key: Node, value: Node);
}

/// Parses `source` as a single YAML document, and hands the entries of the mapping that `sink`
/// accepts to `sink` as they are read. An empty source gives `Ok(None)`. In the returned tree
/// that mapping keeps its position and has no entries. The sink may already have received
/// entries when a later syntax error is returned.
pub(crate) fn parse_with(
    source: &str,
    sink: &mut dyn EntrySink,
) -> Result<Option<Node>, SyntaxError> {
    let positions = Positions::new(source);
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        sink,
        offered: false,
        streaming: None,
    };
    let mut parser = Parser::new_from_str(source);
    let mut documents = 0usize;

    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|error| SyntaxError {
            loc: positions.point(*error.marker()),
            message: format!("invalid yaml: {}", error.info()),
        })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        loc: positions.span(span),
                        message:
                            "invalid yaml: a policy file contains one document, found a second"
                                .to_owned(),
                    });
                }
            }
            other => builder.push(other, positions.span(span))?,
        }
    }
    Ok(builder.root)
}

/// Characters between two entries of [`Positions`]'s table of byte offsets.
const CHARS_PER_CHECKPOINT: usize = 32;

/// Converts the parser's character positions to byte offsets.
struct Positions<'s> {
    source: &'s str,
    /// Byte offset of every [`CHARS_PER_CHECKPOINT`]th character, or `None` for ASCII text,
    /// where a character's index is its byte offset. A table of every character would cost
    /// 8 bytes per character of a large policy, and this one costs a 32nd of that.
    checkpoints: Option<Vec<usize>>,
}

impl<'s> Positions<'s> {
    fn new(source: &'s str) -> Self {
        let checkpoints = (!source.is_ascii()).then(|| {
            source
                .char_indices()
                .step_by(CHARS_PER_CHECKPOINT)
                .map(|(at, _)| at)
                .collect()
        });
        Positions {
            source,
            checkpoints,
        }
    }

    /// Returns the byte offset of the character at `marker`, or the source length for a
    /// position past the end.
    fn byte(&self, marker: Marker) -> usize {
        let len = self.source.len();
        let index = marker.index();
        let Some(checkpoints) = &self.checkpoints else {
            return index.min(len);
        };
        let Some(&from) = checkpoints.get(index / CHARS_PER_CHECKPOINT) else {
            return len;
        };
        // At most CHARS_PER_CHECKPOINT - 1 characters lie between the checkpoint and `index`.
        self.source
            .get(from..)
            .and_then(|rest| rest.char_indices().nth(index % CHARS_PER_CHECKPOINT))
            .map_or(len, |(at, _)| from + at)
    }

    fn point(&self, marker: Marker) -> Loc {
        let at = self.byte(marker);
        Loc {
            start: at,
            end: at,
            line: marker.line().max(1),
            column: marker.col() + 1,
        }
    }

    fn span(&self, span: Span) -> Loc {
        Loc {
            end: self.byte(span.end).max(self.byte(span.start)),
            ..self.point(span.start)
        }
    }
}

/// A collection whose end event has not arrived yet.
enum Open {
    Sequence {
        loc: Loc,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        loc: Loc,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder<'s> {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    sink: &'s mut dyn EntrySink,
    /// Whether the sink has been offered its mapping. It is offered one at most.
    offered: bool,
    /// The depth in `stack` of the mapping whose entries go to the sink, while it is open.
    streaming: Option<usize>,
}

impl Builder<'_> {
    fn push(&mut self, event: Event<'_>, loc: Loc) -> Result<(), SyntaxError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|tag| tag.suffix == "str");
                let kind = if style == ScalarStyle::Plain && !forced_string {
                    resolve_plain(&text)
                } else {
                    ScalarKind::Str
                };
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        kind,
                    }),
                    loc,
                };
                self.remember(anchor, &node);
                self.attach(node);
            }
            Event::Alias(anchor) => {
                let Some(target) = self.anchors.get(&anchor) else {
                    return Err(SyntaxError {
                        loc,
                        message: "invalid yaml: alias to an unknown anchor".to_owned(),
                    });
                };
                // The copy keeps the anchored node's position, so a problem inside it is reported
                // where it is written.
                let node = target.clone();
                self.attach(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Sequence {
                loc,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => {
                let offer = anchor == 0 && self.opens_sink_mapping();
                self.stack.push(Open::Mapping {
                    loc,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                if offer {
                    self.offered = true;
                    let before = match self.stack.first() {
                        Some(Open::Mapping { entries, .. }) => entries.as_slice(),
                        _ => &[],
                    };
                    if self.sink.start(before) {
                        self.streaming = Some(self.stack.len());
                    }
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = loc;
                if self.streaming == Some(self.stack.len()) {
                    self.streaming = None;
                }
                let node = match self.stack.pop() {
                    Some(Open::Sequence {
                        loc: start,
                        anchor,
                        items,
                    }) => {
                        let node = Node {
                            value: Value::Sequence(items),
                            loc: Loc {
                                end: end.end.max(start.start),
                                ..start
                            },
                        };
                        self.remember(anchor, &node);
                        node
                    }
                    Some(Open::Mapping {
                        loc: start,
                        anchor,
                        entries,
                        ..
                    }) => {
                        let node = Node {
                            value: Value::Mapping(entries),
                            loc: Loc {
                                end: end.end.max(start.start),
                                ..start
                            },
                        };
                        self.remember(anchor, &node);
                        node
                    }
                    None => {
                        return Err(SyntaxError {
                            loc,
                            message: "invalid yaml: unbalanced collection".to_owned(),
                        })
                    }
                };
                self.attach(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        // Anchor id 0 means the node has no anchor.
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    /// Tests whether a mapping that starts now is the value of the sink's key: the document is a
    /// mapping, the mapping is the value of its first entry with that key, and the sink has not
    /// been offered one yet.
    fn opens_sink_mapping(&self) -> bool {
        if self.offered || self.stack.len() != 1 {
            return false;
        }
        let Some(Open::Mapping {
            entries,
            key: Some(key),
            ..
        }) = self.stack.first()
        else {
            return false;
        };
        let Some(name) = self.sink.key() else {
            return false;
        };
        let named =
            |node: &Node| matches!(&node.value, Value::Scalar(scalar) if scalar.text == name);
        named(key) && !entries.iter().any(|(earlier, _)| named(earlier))
    }

    fn attach(&mut self, node: Node) {
        let streaming = self.streaming == Some(self.stack.len());
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Sequence { items, .. }) => items.push(node),
            Some(Open::Mapping { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(complete) if streaming => self.sink.entry(complete, node),
                Some(complete) => entries.push((complete, node)),
            },
        }
    }
}

/// Resolves a plain scalar to its YAML 1.2 core-schema type.
fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return ScalarKind::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float,
        _ => {}
    }
    if is_int(text) {
        ScalarKind::Int
    } else if is_float(text) {
        ScalarKind::Float
    } else {
        ScalarKind::Str
    }
}

fn is_int(text: &str) -> bool {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(octal) = text.strip_prefix("0o") {
        return digits(octal, 8);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return digits(hex, 16);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits(unsigned, 10)
}

fn is_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (!whole.is_empty() || !fraction.is_empty())
                && whole.chars().all(|c| c.is_ascii_digit())
                && fraction.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|exponent| {
        let digits = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
#[allow(clippy::panic, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    /// A sink that takes nothing, so the tree keeps the whole document.
    struct WholeTree;

    impl EntrySink for WholeTree {
        fn key(&self) -> Option<&'static str> {
            None
        }

        fn start(&mut self, _before: &[(Node, Node)]) -> bool {
            false
        }

        fn entry(&mut self, _key: Node, _value: Node) {}
    }

    fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
        parse_with(source, &mut WholeTree)
    }

    fn root(source: &str) -> Node {
        match parse(source) {
            Ok(Some(node)) => node,
            other => panic!("expected a document, got {other:?}"),
        }
    }

    fn entries(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Mapping(entries) => entries,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    #[test]
    fn keys_keep_line_and_column() {
        let doc = root("version: 1\ntargets:\n  pg-main:\n    kind: postgres\n");
        let (key, value) = &entries(&doc)[1];
        assert_eq!(key.scalar_text(), Some("targets"));
        assert_eq!((key.loc.line, key.loc.column), (2, 1));
        let (inner_key, _) = &entries(value)[0];
        assert_eq!((inner_key.loc.line, inner_key.loc.column), (3, 3));
        assert_eq!(inner_key.loc.start..inner_key.loc.end, 22..29);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let doc = root("a: 1\na: 2\n");
        assert_eq!(entries(&doc).len(), 2);
    }

    #[test]
    fn offsets_are_bytes_after_multibyte_text() {
        let source = "owner: \"é\"\nstate: x\n";
        let doc = root(source);
        let (key, _) = &entries(&doc)[1];
        assert_eq!(&source[key.loc.start..key.loc.end], "state");
        assert_eq!((key.loc.line, key.loc.column), (2, 1));
    }

    #[test]
    fn byte_offsets_match_every_character() {
        let source = "a: \"é\"\nb: 日本語のテキスト, ascii text that runs past a checkpoint, ü\n";
        let positions = Positions::new(source);
        let expected: Vec<usize> = source
            .char_indices()
            .map(|(at, _)| at)
            .chain([source.len(), source.len()])
            .collect();
        for (index, byte) in expected.into_iter().enumerate() {
            assert_eq!(
                positions.byte(Marker::new(index, 1, 0)),
                byte,
                "character {index}"
            );
        }
    }

    #[test]
    fn plain_scalars_resolve_core_types() {
        assert_eq!(resolve_plain("1"), ScalarKind::Int);
        assert_eq!(resolve_plain("-7"), ScalarKind::Int);
        assert_eq!(resolve_plain("1.5"), ScalarKind::Float);
        assert_eq!(resolve_plain("true"), ScalarKind::Bool);
        assert_eq!(resolve_plain("~"), ScalarKind::Null);
        assert_eq!(resolve_plain("yes"), ScalarKind::Str);
        assert_eq!(resolve_plain("127.0.0.1:5432"), ScalarKind::Str);
        assert_eq!(resolve_plain("90d"), ScalarKind::Str);
    }

    #[test]
    fn quoted_numbers_are_strings() {
        let doc = root("a: \"1\"\n");
        let (_, value) = &entries(&doc)[0];
        assert_eq!(value.type_name(), "a string");
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let doc = root("a: &x {k: v}\nb: *x\n");
        let (_, value) = &entries(&doc)[1];
        assert_eq!(value.type_name(), "a mapping");
    }

    #[test]
    fn syntax_error_is_located() {
        let error = match parse("a: 1\n  b: 2\n") {
            Err(error) => error,
            Ok(other) => panic!("expected an error, got {other:?}"),
        };
        assert_eq!((error.loc.line, error.loc.column), (2, 4));
        assert!(error.message.starts_with("invalid yaml: "));
    }

    #[test]
    fn second_document_is_rejected() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    /// Records the keys of the `identities` entries it takes.
    #[derive(Default)]
    struct Recorder {
        offered: usize,
        keys: Vec<String>,
    }

    impl EntrySink for Recorder {
        fn key(&self) -> Option<&'static str> {
            Some("identities")
        }

        fn start(&mut self, before: &[(Node, Node)]) -> bool {
            self.offered += 1;
            before
                .iter()
                .any(|(key, _)| key.scalar_text() == Some("targets"))
        }

        fn entry(&mut self, key: Node, value: Node) {
            let kind = value.type_name();
            self.keys
                .push(format!("{}={kind}", key.scalar_text().unwrap_or("?")));
        }
    }

    fn streamed(source: &str) -> (Node, Recorder) {
        let mut recorder = Recorder::default();
        match parse_with(source, &mut recorder) {
            Ok(Some(node)) => (node, recorder),
            other => panic!("expected a document, got {other:?}"),
        }
    }

    #[test]
    fn sink_takes_entries_in_order() {
        let source = "targets: {}\nidentities:\n  a: &x {k: v}\n  b: *x\n  a: 1\nafter: 2\n";
        let (doc, recorder) = streamed(source);
        assert_eq!(
            recorder.keys,
            ["a=a mapping", "b=a mapping", "a=an integer"]
        );
        let (key, value) = &entries(&doc)[1];
        assert_eq!(key.scalar_text(), Some("identities"));
        assert!(entries(value).is_empty());
        assert_eq!(
            &source[value.loc.start..value.loc.end],
            "a: &x {k: v}\n  b: *x\n  a: 1\n"
        );
        assert_eq!(entries(&doc)[2].0.scalar_text(), Some("after"));
    }

    #[test]
    fn declined_mapping_stays_in_tree() {
        let (doc, recorder) = streamed("identities: {a: 1}\ntargets: {}\n");
        assert_eq!(recorder.offered, 1);
        assert!(recorder.keys.is_empty());
        assert_eq!(entries(&entries(&doc)[0].1).len(), 1);
    }

    #[test]
    fn sink_is_offered_first_mapping_only() {
        let anchored = "targets: {}\nidentities: &all {a: 1}\ncopy: *all\n";
        let (doc, recorder) = streamed(anchored);
        assert_eq!(recorder.offered, 0);
        assert_eq!(entries(&entries(&doc)[2].1).len(), 1);

        let (doc, recorder) = streamed("targets: {}\nidentities: 1\nidentities: {a: 1}\n");
        assert_eq!(recorder.offered, 0);
        assert_eq!(entries(&entries(&doc)[2].1).len(), 1);

        let (doc, recorder) = streamed("targets: {}\nidentities: {a: 1}\nidentities: {b: 2}\n");
        assert_eq!(recorder.offered, 1);
        assert_eq!(recorder.keys, ["a=an integer"]);
        assert_eq!(entries(&entries(&doc)[2].1).len(), 1);

        let (_, recorder) = streamed("- targets: {}\n  identities: {a: 1}\n");
        assert_eq!(recorder.offered, 0);
    }

    #[test]
    fn empty_source_has_no_document() {
        assert!(matches!(parse(""), Ok(None)));
        assert!(matches!(parse("# only a comment\n"), Ok(None)));
    }
}
