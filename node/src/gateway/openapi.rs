//! The combined OpenAPI document, generated from the handlers' annotations.

use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::platform::context::Context;

#[derive(OpenApi)]
#[openapi(info(
    title = "Agora API",
    description = "The public API of one Agora platform. Errors are RFC 9457 problem+json."
))]
struct Base;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    for c in Context::ALL {
        doc.merge(crate::bounded_context(c).openapi());
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    doc
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
#[expect(
    clippy::expect_used,
    reason = "a static document; a test serializes it on every run"
)]
pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

pub async fn serve() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is generated: this fails when it drifts from the code.
    /// Regenerate with `AGORA_WRITE_OPENAPI=1 cargo test -p agora-node openapi`.
    #[test]
    fn committed_openapi_document_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let generated = document_json() + "\n";
        if std::env::var_os("AGORA_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run AGORA_WRITE_OPENAPI=1 cargo test -p agora-node openapi"
        );
    }

    /// Every `$ref` of the document points at a schema it defines (generated clients and
    /// testers cannot build a request whose parameter refers to nothing).
    #[test]
    fn every_schema_reference_resolves() {
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} refers to nothing"
            );
        }
    }

    /// The gateway's routing table comes from the contexts' declared paths: every path a
    /// context documents is routed to that context.
    #[test]
    fn every_documented_path_routes_to_its_context() {
        for c in Context::ALL {
            let context = crate::bounded_context(c);
            for path in context.openapi().paths.paths.keys() {
                assert_eq!(
                    super::super::context_for(path),
                    Some(context.name()),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn every_public_route_is_documented() {
        let doc = document();
        for path in [
            "/api/v1/auth/register",
            "/api/v1/auth/login",
            "/api/v1/users/me",
            "/api/v1/users/{id}/block",
            "/api/v1/friend-requests/incoming",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} missing");
        }
        assert!(
            doc.components
                .unwrap()
                .security_schemes
                .contains_key("bearer")
        );
    }
}
