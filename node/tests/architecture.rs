//! The architecture invariants of docs/architecture.md, checked on the source:
//! `platform` and the gateway import no context, a context imports only other contexts' `events`,
//! and the operator deploys the contexts of `Context::ALL`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::path::Path;

use agora_node::platform::context::Context;

fn contexts() -> Vec<&'static str> {
    Context::names()
}

/// Every `.rs` file under `src/<dir>`, subfolders included, with its text.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    out
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

#[test]
fn sources_include_subfolders() {
    let posts = sources("posts");
    assert!(
        posts.iter().any(|(f, _)| f.ends_with("http/comments.rs")),
        "the checks must see files in a context's subfolders"
    );
}

/// A key-prefix literal such as `"tl/"`: one to three lower-case letters and a slash.
fn key_prefixes(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (start, _) in text.match_indices('"') {
        let rest = &bytes[start + 1..];
        let letters = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
        if (1..=3).contains(&letters)
            && rest.get(letters) == Some(&b'/')
            && rest.get(letters + 1) == Some(&b'"')
        {
            found.push(String::from_utf8_lossy(&rest[..=letters]).into_owned());
        }
    }
    found
}

/// A context's key layout and raw store access stay in its `storage.rs` (or `storage/`).
#[test]
fn key_layout_stays_in_storage() {
    assert_eq!(
        key_prefixes(r#"key("tl/", &[a]) "a/b" "x/""#),
        ["tl/", "x/"]
    );
    for context in contexts() {
        for (file, text) in sources(context) {
            // `storage.rs`, or a `storage/` folder split by concept.
            if file.ends_with("/storage.rs") || file.contains("/storage/") {
                continue;
            }
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            assert!(
                key_prefixes(code).is_empty(),
                "{file} names key prefixes {:?}: keys belong in storage.rs",
                key_prefixes(code)
            );
            for raw in [".data.", "scan_after(", "scan_before(", "store.get::<"] {
                assert!(
                    !code.contains(raw),
                    "{file} reads the store directly ({raw})"
                );
            }
        }
    }
}

/// Policy returns the context's own error; the problem table is reached only through it.
#[test]
fn domain_rules_speak_their_contexts_error() {
    for context in contexts() {
        for (file, text) in sources(context) {
            if file.ends_with("/domain.rs") || file.contains("/domain/") {
                assert!(
                    !text.contains("ApiError::"),
                    "{file} builds an ApiError: return the context's own error instead"
                );
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
    // The declaration, however rustfmt wraps it: up to its closing `];`.
    let start = crd
        .find("pub const CONTEXTS")
        .expect("operator/src/crd.rs declares CONTEXTS");
    let list = crd
        .get(start..)
        .and_then(|rest| rest.split("];").next())
        .unwrap();
    let names: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert_eq!(names, contexts(), "operator/src/crd.rs CONTEXTS");
}
