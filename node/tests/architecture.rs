//! The architecture invariants of docs/architecture.md, checked on the source:
//! `platform` and the gateway import no context, a context imports only other contexts' `events`,
//! and the operator deploys the contexts of `Context::ALL`.

use std::path::Path;

use agora_node::platform::context::Context;

fn contexts() -> Vec<&'static str> {
    Context::names()
}

fn sources(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn ident(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The items of a use tree's group `{a::b, c::{d, e}}` (without the braces), split at the
/// top-level commas.
fn group_items(inner: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
}

/// The text inside the braces that open at the start of `s` (`{...}`), if any.
fn braced(s: &str) -> Option<&str> {
    let s = s.strip_prefix('{')?;
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// `(first, second)` module pairs of one path after `crate::`: `a::b`, `a::{b, c}`, or a
/// group `{a::b, c::d}`.
fn expand(path: &str, out: &mut Vec<(String, String)>) {
    let path = path.trim();
    if let Some(inner) = braced(path) {
        for item in group_items(inner) {
            expand(item, out);
        }
        return;
    }
    let first = ident(path);
    let rest = path[first.len()..].trim_start();
    let rest = rest.strip_prefix("::").unwrap_or("").trim_start();
    match braced(rest) {
        Some(inner) => {
            for item in group_items(inner) {
                out.push((first.clone(), ident(item)));
            }
        }
        None => out.push((first, ident(rest))),
    }
}

/// Every `crate::<module>::<module>` path in a file, `use crate::{a::b}` groups included.
fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        expand(&text[i + "crate::".len()..], &mut out);
    }
    out
}

#[test]
fn references_understand_use_groups() {
    let found = references(
        "use crate::{posts::events::X, feed::{http, storage}};\ncrate::users::domain::Y",
    );
    let want = [
        ("posts", "events"),
        ("feed", "http"),
        ("feed", "storage"),
        ("users", "domain"),
    ];
    for (a, b) in want {
        assert!(found.contains(&(a.to_string(), b.to_string())), "{found:?}");
    }
}

#[test]
fn platform_imports_no_context() {
    for (file, text) in sources("platform") {
        for (first, _) in references(&text) {
            assert!(
                !contexts().contains(&first.as_str()),
                "{file} uses crate::{first}"
            );
        }
    }
}

/// The gateway holds no data and knows contexts only through `crate::bounded_context`.
#[test]
fn the_gateway_imports_no_context() {
    for (file, text) in sources("gateway") {
        for (first, _) in references(&text) {
            assert!(
                !contexts().contains(&first.as_str()),
                "{file} uses crate::{first}"
            );
        }
        assert!(!text.contains("sled::"), "{file} touches storage");
    }
}

#[test]
fn contexts_use_only_each_others_events() {
    for context in contexts() {
        for (file, text) in sources(context) {
            for (first, second) in references(&text) {
                if contexts().contains(&first.as_str()) && first != context {
                    assert_eq!(second, "events", "{file} uses crate::{first}::{second}");
                }
            }
        }
    }
}

/// The operator deploys exactly the contexts this build has.
#[test]
fn the_operator_knows_the_same_contexts() {
    let crd = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../operator/src/crd.rs"),
    )
    .unwrap();
    let list = crd
        .lines()
        .find(|l| l.starts_with("pub const CONTEXTS"))
        .expect("operator/src/crd.rs declares CONTEXTS");
    let names: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert_eq!(names, contexts(), "operator/src/crd.rs CONTEXTS");
}
