//! The architecture invariants of docs/architecture.md, checked on the source:
//! `platform` imports no context, and a context imports only other contexts' `events`.

use std::path::Path;

const CONTEXTS: &[&str] = &["auth", "users", "groups", "posts", "feed"];

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

/// Every `crate::<context>::<module>` path in a file.
fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let mut parts = rest.split("::");
        let first: String = parts
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let second: String = parts
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        out.push((first, second));
    }
    out
}

#[test]
fn platform_imports_no_context() {
    for (file, text) in sources("platform") {
        for (first, _) in references(&text) {
            assert!(
                !CONTEXTS.contains(&first.as_str()),
                "{file} uses crate::{first}"
            );
        }
    }
}

#[test]
fn contexts_use_only_each_others_events() {
    for context in CONTEXTS {
        for (file, text) in sources(context) {
            for (first, second) in references(&text) {
                if CONTEXTS.contains(&first.as_str()) && first != *context {
                    assert_eq!(second, "events", "{file} uses crate::{first}::{second}");
                }
            }
        }
    }
}
