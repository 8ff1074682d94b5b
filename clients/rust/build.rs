//! Generates the client from `docs/openapi.json` with progenitor, which reads OpenAPI 3.0:
//! the document (3.1) is first rendered as 3.0 (`rendition`), then generated into
//! `$OUT_DIR/agora.rs`, which `src/lib.rs` includes. A change to the document that breaks
//! a caller of the client breaks the build.

use std::error::Error;
use std::path::PathBuf;

#[path = "src/rendition.rs"]
mod rendition;

fn main() -> Result<(), Box<dyn Error>> {
    let source =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../docs/openapi.json");
    println!("cargo::rerun-if-changed={}", source.display());
    println!("cargo::rerun-if-changed=src/rendition.rs");
    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&source)?)?;
    let mut document = rendition::openapi_3_0(document);
    for_progenitor(&mut document);
    let spec: openapiv3::OpenAPI = serde_json::from_value(document)?;
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec)?;
    let code = prettyplease::unparse(&syn::parse2(tokens)?);
    std::fs::write(
        PathBuf::from(std::env::var("OUT_DIR")?).join("agora.rs"),
        code,
    )?;
    Ok(())
}

/// What progenitor 0.15 reads differently from the document's plain 3.0:
/// - a request body of one media type: JSON where offered, else raw bytes (the upload's
///   multipart form is left out: raw bytes carry the same file);
/// - errors typed only under `application/json`: problem+json answers are listed there, so
///   they decode into `types::Problem` (their body is JSON either way).
fn for_progenitor(document: &mut serde_json::Value) {
    for operation in rendition::operations(document) {
        if let Some(content) = operation
            .get_mut("requestBody")
            .and_then(|b| b.get_mut("content"))
            .and_then(|c| c.as_object_mut())
        {
            let keep = ["application/json", "application/octet-stream"]
                .into_iter()
                .find(|media| content.contains_key(*media));
            if let Some(keep) = keep {
                content.retain(|media, _| media == keep);
            }
        }
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(|r| r.as_object_mut())
        else {
            continue;
        };
        for response in responses.values_mut() {
            let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut()) else {
                continue;
            };
            if let Some(problem) = content.remove("application/problem+json") {
                content.insert("application/json".into(), problem);
            }
        }
    }
}
