//! Composed prompts: a version may reference text prompts with
//! `@@@langfusePrompt:name=<name>|version=<n>@@@` or `...|label=<label>@@@` anywhere in
//! its strings. Fetching it replaces each reference, recursively, by the referenced
//! version's resolved text; a malformed tag stays literal text.
//!
//! A chain of references may not come back to a name already on it (that is a cycle,
//! and a version may not use another version of its own prompt either), may not reach
//! deeper than [`MAX_NESTING_DEPTH`] levels, and may reference text prompts only.
//! The same walk checks a new version before it is stored and resolves it when fetched;
//! the caller supplies the lookup of a reference (the store, inside one snapshot).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;

use serde_json::Value;

use super::{
    PromptNode, PromptSelector, PromptType, PromptVersion, ResolutionGraph, ResolvedPrompt,
};

/// References may nest this many levels below the fetched version (exclusive).
pub const MAX_NESTING_DEPTH: usize = 5;
const TAG_OPEN: &str = "@@@langfusePrompt:";
const TAG_CLOSE: &str = "@@@";

/// A reference to another prompt found in a version's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptReference {
    pub name: String,
    pub selector: PromptSelector,
}

impl PromptReference {
    /// `'name' with label 'production'`.
    pub fn describe(&self) -> String {
        format!("'{}' {}", self.name, self.selector.describe())
    }
}

enum Piece<'a> {
    Text(&'a str),
    Reference(PromptReference),
}

/// `name=<name>|version=<int>` or `name=<name>|label=<label>`: exactly two parts,
/// `name=` first.
fn parse_tag(inner: &str) -> Option<PromptReference> {
    let (name_part, selector_part) = inner.split_once('|')?;
    if selector_part.contains('|') {
        return None;
    }
    let name = name_part
        .strip_prefix("name=")
        .filter(|name| !name.is_empty())?;
    let selector = if let Some(version) = selector_part.strip_prefix("version=") {
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        PromptSelector::Version(version.parse().ok()?)
    } else {
        let label = selector_part
            .strip_prefix("label=")
            .filter(|l| !l.is_empty())?;
        PromptSelector::Label(label.to_owned())
    };
    Some(PromptReference {
        name: name.to_owned(),
        selector,
    })
}

/// Splits a string into literal text and references. A tag does not span lines; a
/// malformed tag is literal text.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut literal_from = 0;
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(TAG_OPEN) {
        let start = search_from + found;
        let inner_start = start + TAG_OPEN.len();
        let Some(close) = text[inner_start..].find(TAG_CLOSE) else {
            break;
        };
        let inner = &text[inner_start..inner_start + close];
        if inner.contains('\n') {
            search_from = inner_start;
            continue;
        }
        let end = inner_start + close + TAG_CLOSE.len();
        if let Some(reference) = parse_tag(inner) {
            if literal_from < start {
                out.push(Piece::Text(&text[literal_from..start]));
            }
            out.push(Piece::Reference(reference));
            literal_from = end;
        }
        search_from = end;
    }
    if literal_from < text.len() {
        out.push(Piece::Text(&text[literal_from..]));
    }
    out
}

fn collect_references(value: &Value, into: &mut Vec<PromptReference>) {
    match value {
        Value::String(text) => {
            for piece in pieces(text) {
                if let Piece::Reference(reference) = piece
                    && !into.contains(&reference)
                {
                    into.push(reference);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, into)),
        Value::Object(object) => object
            .values()
            .for_each(|item| collect_references(item, into)),
        _ => {}
    }
}

/// Every distinct reference in the strings of `content`, in order of first appearance.
pub fn dependency_references(content: &Value) -> Vec<PromptReference> {
    let mut references = Vec::new();
    collect_references(content, &mut references);
    references
}

fn replace_references(value: &Value, resolved: &HashMap<PromptReference, String>) -> Value {
    match value {
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            for piece in pieces(text) {
                match piece {
                    Piece::Text(literal) => out.push_str(literal),
                    Piece::Reference(reference) => {
                        out.push_str(resolved.get(&reference).map(String::as_str).unwrap_or(""))
                    }
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| replace_references(item, resolved))
                .collect(),
        ),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, item)| (key.clone(), replace_references(item, resolved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Why a version cannot be composed. `E` is the lookup's own error.
#[derive(Debug, Clone, PartialEq)]
pub enum ComposeError<E> {
    /// No version matches the reference.
    NotFound(PromptReference),
    /// The reference leads to a chat prompt.
    NotText(PromptReference),
    /// The chain of names that comes back to a name already on it.
    Circular(Vec<String>),
    TooDeep,
    Lookup(E),
}

impl<E: fmt::Display> fmt::Display for ComposeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::NotFound(reference) => {
                write!(f, "Prompt dependency not found: {}", reference.describe())
            }
            ComposeError::NotText(reference) => write!(
                f,
                "Prompt dependency {} is a chat prompt; only text prompts can be referenced",
                reference.describe()
            ),
            ComposeError::Circular(chain) => write!(
                f,
                "Circular dependency detected: {} (a prompt may not reference itself, another version of itself, or a prompt that leads back to it; this circular chain is not allowed)",
                chain.join(" -> ")
            ),
            ComposeError::TooDeep => write!(
                f,
                "Maximum nesting depth exceeded: prompt references can be nested at most {} levels deep",
                MAX_NESTING_DEPTH - 1
            ),
            ComposeError::Lookup(error) => write!(f, "{error}"),
        }
    }
}

/// What is known of a resolved text version: its text, the names below it (itself
/// included) and how many levels of references it has below it.
#[derive(Clone)]
struct Subtree {
    text: String,
    names: BTreeSet<String>,
    height: usize,
}

struct Resolver<L> {
    lookup: L,
    found: HashMap<PromptReference, Option<Rc<PromptVersion>>>,
    memo: HashMap<String, Subtree>,
    graph: Vec<(String, Vec<PromptNode>)>,
}

impl<E, L> Resolver<L>
where
    L: FnMut(&PromptReference) -> Result<Option<PromptVersion>, E>,
{
    fn find(
        &mut self,
        reference: &PromptReference,
    ) -> Result<Option<Rc<PromptVersion>>, ComposeError<E>> {
        if let Some(found) = self.found.get(reference) {
            return Ok(found.clone());
        }
        let found = (self.lookup)(reference)
            .map_err(ComposeError::Lookup)?
            .map(Rc::new);
        self.found.insert(reference.clone(), found.clone());
        Ok(found)
    }

    fn record_edge(&mut self, parent: &str, child: PromptNode) {
        let position = match self.graph.iter().position(|(id, _)| id == parent) {
            Some(position) => position,
            None => {
                self.graph.push((parent.to_owned(), Vec::new()));
                self.graph.len() - 1
            }
        };
        let children = &mut self.graph[position].1;
        if !children.iter().any(|known| known.id == child.id) {
            children.push(child);
        }
    }

    /// Resolves `node` (at `depth` below the root; `path` holds the names from the root
    /// down to it) and returns its content with references replaced, the names below it
    /// and its height.
    fn visit(
        &mut self,
        node: &PromptVersion,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(Value, BTreeSet<String>, usize), ComposeError<E>> {
        let references = dependency_references(&node.prompt);
        let mut names = BTreeSet::from([node.name.clone()]);
        if references.is_empty() {
            return Ok((node.prompt.clone(), names, 0));
        }
        let mut height = 0;
        let mut resolved: HashMap<PromptReference, String> = HashMap::new();
        for reference in references {
            if path.contains(&reference.name) {
                let mut chain = path.clone();
                chain.push(reference.name.clone());
                return Err(ComposeError::Circular(chain));
            }
            let child = self
                .find(&reference)?
                .ok_or_else(|| ComposeError::NotFound(reference.clone()))?;
            if child.r#type != PromptType::Text {
                return Err(ComposeError::NotText(reference));
            }
            self.record_edge(&node.id, child.node());
            if depth + 1 >= MAX_NESTING_DEPTH {
                return Err(ComposeError::TooDeep);
            }
            let subtree = match self.memo.get(&child.id) {
                Some(subtree) => {
                    if let Some(repeated) = subtree.names.iter().find(|name| path.contains(name)) {
                        let mut chain = path.clone();
                        chain.push(child.name.clone());
                        chain.push(format!("... {repeated}"));
                        return Err(ComposeError::Circular(chain));
                    }
                    if depth + 1 + subtree.height >= MAX_NESTING_DEPTH {
                        return Err(ComposeError::TooDeep);
                    }
                    subtree.clone()
                }
                None => {
                    path.push(child.name.clone());
                    let visited = self.visit(&child, path, depth + 1);
                    path.pop();
                    let (content, child_names, child_height) = visited?;
                    let subtree = Subtree {
                        text: content.as_str().unwrap_or_default().to_owned(),
                        names: child_names,
                        height: child_height,
                    };
                    self.memo.insert(child.id.clone(), subtree.clone());
                    subtree
                }
            };
            height = height.max(subtree.height + 1);
            names.extend(subtree.names.iter().cloned());
            resolved.insert(reference, subtree.text);
        }
        Ok((replace_references(&node.prompt, &resolved), names, height))
    }
}

/// Resolves every reference of `root`, recursively, through `lookup` (which returns the
/// version a reference selects, or `None`). The result carries the resolved content and
/// the graph of versions used (`None` when `root` references nothing).
pub fn resolve_prompt<E, L>(
    root: &PromptVersion,
    lookup: L,
) -> Result<ResolvedPrompt, ComposeError<E>>
where
    L: FnMut(&PromptReference) -> Result<Option<PromptVersion>, E>,
{
    let mut resolver = Resolver {
        lookup,
        found: HashMap::new(),
        memo: HashMap::new(),
        graph: Vec::new(),
    };
    let mut path = vec![root.name.clone()];
    let (content, _, _) = resolver.visit(root, &mut path, 0)?;
    let graph = (!resolver.graph.is_empty()).then(|| ResolutionGraph {
        root: root.node(),
        dependencies: resolver.graph,
    });
    let mut version = root.clone();
    version.prompt = content;
    Ok(ResolvedPrompt { version, graph })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(name: &str, number: i64, prompt: Value, labels: &[&str]) -> PromptVersion {
        PromptVersion {
            id: format!("{name}-v{number}"),
            name: name.to_owned(),
            version: number,
            r#type: if prompt.is_string() {
                PromptType::Text
            } else {
                PromptType::Chat
            },
            prompt,
            config: json!({}),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            tags: Vec::new(),
            commit_message: None,
            created_by: "API".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn lookup_in(
        versions: &[PromptVersion],
    ) -> impl FnMut(&PromptReference) -> Result<Option<PromptVersion>, String> + '_ {
        move |reference| {
            Ok(versions
                .iter()
                .find(|v| {
                    v.name == reference.name
                        && match &reference.selector {
                            PromptSelector::Version(n) => v.version == *n,
                            PromptSelector::Label(l) => v.labels.contains(l),
                        }
                })
                .cloned())
        }
    }

    fn refs(text: &str) -> Vec<PromptReference> {
        dependency_references(&json!(text))
    }

    #[test]
    fn parses_tags() {
        let found = refs(
            "a @@@langfusePrompt:name=x y|version=12@@@ b @@@langfusePrompt:name=f/g|label=prod label@@@ \
             @@@langfusePrompt:invalid@@@ @@@langfusePrompt:name=m@@@ @@@langfusePrompt:version=1|name=z@@@ \
             @@@langfusePrompt:name=n|something=else@@@ @@@langfusePrompt:name=v|version=1.5@@@ \
             @@langfusePrompt:name=q|version=1@@ @@@langfuseMedia:type=image/png|id=1|source=bytes@@@ \
             @@@langfusePrompt:name=x y|version=12@@@",
        );
        assert_eq!(
            found,
            vec![
                PromptReference {
                    name: "x y".into(),
                    selector: PromptSelector::Version(12)
                },
                PromptReference {
                    name: "f/g".into(),
                    selector: PromptSelector::Label("prod label".into())
                },
            ]
        );
        assert!(refs("@@@langfusePrompt:name=a\n|version=1@@@").is_empty());
        assert!(refs("@@@langfusePrompt:name=a|version=1").is_empty());
    }

    #[test]
    fn resolves_nested_text_and_chat() {
        let store = vec![
            version("leaf", 1, json!("I am \"leaf\"\n"), &["production"]),
            version(
                "mid",
                1,
                json!("mid(@@@langfusePrompt:name=leaf|label=production@@@)"),
                &["production"],
            ),
        ];
        let root = version(
            "root",
            1,
            json!([
                {"role": "system", "content": "S: @@@langfusePrompt:name=mid|label=production@@@ and @@@langfusePrompt:name=leaf|version=1@@@"},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "keep @@@langfusePrompt:broken@@@"}
            ]),
            &[],
        );
        let resolved = resolve_prompt(&root, lookup_in(&store)).unwrap();
        assert_eq!(
            resolved.version.prompt,
            json!([
                {"role": "system", "content": "S: mid(I am \"leaf\"\n) and I am \"leaf\"\n"},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "keep @@@langfusePrompt:broken@@@"}
            ])
        );
        let graph = resolved.graph.unwrap();
        assert_eq!(graph.root.id, "root-v1");
        let edges: Vec<(String, Vec<String>)> = graph
            .dependencies
            .iter()
            .map(|(parent, children)| {
                (
                    parent.clone(),
                    children.iter().map(|c| c.id.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            edges,
            vec![
                (
                    "root-v1".to_owned(),
                    vec!["mid-v1".to_owned(), "leaf-v1".to_owned()]
                ),
                ("mid-v1".to_owned(), vec!["leaf-v1".to_owned()]),
            ]
        );
        let plain = version("plain", 1, json!("no refs"), &[]);
        let resolved = resolve_prompt(&plain, lookup_in(&store)).unwrap();
        assert_eq!(resolved.graph, None);
        assert_eq!(resolved.version, plain);
    }

    #[test]
    fn rejects_missing_chat_cycles_and_depth() {
        let store = vec![
            version(
                "chatty",
                1,
                json!([{"role": "a", "content": "b"}]),
                &["production"],
            ),
            version(
                "a",
                1,
                json!("A @@@langfusePrompt:name=b|label=production@@@"),
                &["production"],
            ),
            version(
                "b",
                1,
                json!("B @@@langfusePrompt:name=a|label=production@@@"),
                &["production"],
            ),
            version("self", 1, json!("old"), &[]),
        ];
        let missing = version(
            "x",
            1,
            json!("@@@langfusePrompt:name=nope|version=1@@@"),
            &[],
        );
        let error = resolve_prompt(&missing, lookup_in(&store)).unwrap_err();
        assert!(matches!(error, ComposeError::NotFound(_)));
        assert!(error.to_string().contains("not found"), "{error}");
        let chat = version(
            "x",
            1,
            json!("@@@langfusePrompt:name=chatty|version=1@@@"),
            &[],
        );
        assert!(matches!(
            resolve_prompt(&chat, lookup_in(&store)),
            Err(ComposeError::NotText(_))
        ));
        let cycle = store[1].clone();
        let error = resolve_prompt(&cycle, lookup_in(&store)).unwrap_err();
        assert_eq!(
            error,
            ComposeError::Circular(vec!["a".into(), "b".into(), "a".into()])
        );
        assert!(error.to_string().contains("Circular dependency"), "{error}");
        let itself = version(
            "self",
            2,
            json!("@@@langfusePrompt:name=self|version=1@@@"),
            &[],
        );
        assert!(matches!(
            resolve_prompt(&itself, lookup_in(&store)),
            Err(ComposeError::Circular(_))
        ));

        // A chain of 5 versions (4 levels of references) resolves; one more level does not.
        let mut chain = vec![version("d4", 1, json!("deepest"), &["production"])];
        for level in (0..4).rev() {
            chain.push(version(
                &format!("d{level}"),
                1,
                json!(format!(
                    "L{level} @@@langfusePrompt:name=d{}|label=production@@@",
                    level + 1
                )),
                &["production"],
            ));
        }
        let top = chain.last().unwrap().clone();
        assert_eq!(
            resolve_prompt(&top, lookup_in(&chain))
                .unwrap()
                .version
                .prompt,
            json!("L0 L1 L2 L3 deepest")
        );
        let too_deep = version(
            "dminus",
            1,
            json!("@@@langfusePrompt:name=d0|label=production@@@"),
            &[],
        );
        let error = resolve_prompt(&too_deep, lookup_in(&chain)).unwrap_err();
        assert_eq!(error, ComposeError::TooDeep);
        assert!(error.to_string().contains("Maximum nesting depth exceeded"));
    }

    #[test]
    fn a_shared_dependency_is_resolved_once_and_still_checked() {
        let lookups = std::cell::Cell::new(0);
        let store = vec![
            version("leaf", 1, json!("L"), &["production"]),
            version(
                "left",
                1,
                json!("l@@@langfusePrompt:name=leaf|version=1@@@"),
                &["production"],
            ),
            version(
                "right",
                1,
                json!("r@@@langfusePrompt:name=leaf|version=1@@@"),
                &["production"],
            ),
        ];
        let root = version(
            "root",
            1,
            json!(
                "@@@langfusePrompt:name=left|version=1@@@ @@@langfusePrompt:name=right|version=1@@@"
            ),
            &[],
        );
        let mut inner = lookup_in(&store);
        let counting = |reference: &PromptReference| {
            lookups.set(lookups.get() + 1);
            inner(reference)
        };
        let resolved = resolve_prompt(&root, counting).unwrap();
        assert_eq!(resolved.version.prompt, json!("lL rL"));
        assert_eq!(lookups.get(), 3, "leaf|version=1 is looked up once");
    }

    #[test]
    fn lookup_errors_pass_through() {
        let root = version("r", 1, json!("@@@langfusePrompt:name=x|version=1@@@"), &[]);
        let error = resolve_prompt(&root, |_: &PromptReference| {
            Err::<Option<PromptVersion>, _>("disk".to_owned())
        })
        .unwrap_err();
        assert_eq!(error, ComposeError::Lookup("disk".to_owned()));
    }
}
