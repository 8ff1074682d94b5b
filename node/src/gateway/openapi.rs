//! The combined OpenAPI document, generated from the handlers' annotations.

use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};

use crate::platform::context::Context;
use crate::platform::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agora API",
        description = "The public API of one Agora platform. Errors are RFC 9457 problem+json."
    ),
    components(schemas(Problem, FieldError))
)]
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
    for item in doc.paths.paths.values_mut() {
        if let Some(read) = item.get.as_mut() {
            complete(read, false);
        }
        let writes = [
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        writes.into_iter().flatten().for_each(|w| complete(w, true));
    }
    unique_operation_ids(&mut doc);
    add_links(&mut doc);
    doc
}

/// Every operation of the document, to change.
fn operations_mut(doc: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Every operation of the document.
fn operations(doc: &utoipa::openapi::OpenApi) -> impl Iterator<Item = &Operation> {
    doc.paths.paths.values().flat_map(|item| {
        [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
    })
}

/// The main resource lifecycles as OpenAPI links (what a stateful tester, or a client
/// generator, follows): from the answer of one operation to the next, by operation id,
/// with the parameter the answer supplies.
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    // (from operation, status, link name, to operation, parameter `id` from)
    (
        "upload_media",
        "201",
        "read",
        "get_media",
        "$response.body#/id",
    ),
    (
        "upload_media",
        "201",
        "describe",
        "describe_media",
        "$response.body#/id",
    ),
    (
        "upload_media",
        "201",
        "file",
        "media_file",
        "$response.body#/id",
    ),
    (
        "upload_media",
        "201",
        "delete",
        "delete_media",
        "$response.body#/id",
    ),
    (
        "register",
        "201",
        "profile",
        "user_profile",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "read",
        "get_post",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "comment",
        "add_comment",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "comments",
        "list_comments",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "react",
        "react_to_post",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "reactions",
        "get_reactions",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "share",
        "share_post",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "edit",
        "edit_post",
        "$response.body#/id",
    ),
    (
        "create_post",
        "201",
        "delete",
        "delete_post",
        "$response.body#/id",
    ),
    (
        "create_group",
        "201",
        "read",
        "get_group",
        "$response.body#/id",
    ),
    (
        "create_group",
        "201",
        "members",
        "list_members",
        "$response.body#/id",
    ),
    (
        "create_group",
        "201",
        "join",
        "join_group",
        "$response.body#/id",
    ),
    (
        "create_group",
        "201",
        "update",
        "update_group",
        "$response.body#/id",
    ),
    (
        "create_group",
        "201",
        "delete",
        "delete_group",
        "$response.body#/id",
    ),
    (
        "start_conversation",
        "201",
        "read",
        "get_conversation",
        "$response.body#/id",
    ),
    (
        "start_conversation",
        "201",
        "send",
        "send_message",
        "$response.body#/id",
    ),
    (
        "start_conversation",
        "201",
        "messages",
        "list_messages",
        "$response.body#/id",
    ),
    (
        "send_friend_request",
        "201",
        "cancel",
        "cancel_friend_request",
        "$request.path.id",
    ),
    (
        "send_friend_request",
        "201",
        "profile",
        "user_profile",
        "$request.path.id",
    ),
];

fn add_links(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::Link;
    for op in operations_mut(doc) {
        let Some(id) = op.operation_id.clone() else {
            continue;
        };
        for (from, status, name, to, value) in LINKS {
            if *from != id {
                continue;
            }
            if let Some(RefOr::T(answer)) = op.responses.responses.get_mut(*status) {
                let link = Link::builder()
                    .operation_id(*to)
                    .parameter("id", *value)
                    .build();
                answer.links.insert((*name).to_string(), RefOr::T(link));
            }
        }
    }
}

/// Operation ids are the handlers' names; where two contexts chose the same name
/// (`remove_member`), both are prefixed with their context (`groups_remove_member`).
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for id in operations(doc).filter_map(|op| op.operation_id.clone()) {
        *seen.entry(id).or_default() += 1;
    }
    for op in operations_mut(doc) {
        let tag = op.tags.iter().flatten().next().cloned().unwrap_or_default();
        if let Some(id) = op.operation_id.as_mut()
            && seen.get(id.as_str()).is_some_and(|n| *n > 1)
        {
            *id = format!("{tag}_{id}");
        }
    }
}

/// Adds what every operation can answer besides what its handler documents, in one place
/// so that no operation forgets one: 401 everywhere (a bad token is refused at the edge
/// even where none is needed), 400/413/415/422 where a
/// body is read, 422 where a query is, 404 where a path names a resource, 429 (the edge's
/// rate limits) and 503 (a context unavailable behind the gateway; for a write, also a
/// replica that does not write now; for a read, one that has not caught up with the
/// caller's consistency token) everywhere, both with `Retry-After`; every response gets a
/// description, and every error response the problem+json schema.
fn complete(operation: &mut Operation, writes: bool) {
    use utoipa::openapi::Response as Answer;
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let params = operation.parameters.iter().flatten();
    let (mut in_path, mut in_query) = (false, false);
    for param in params {
        if let RefOr::T(p) = param {
            in_path |= p.parameter_in == ParameterIn::Path;
            in_query |= p.parameter_in == ParameterIn::Query;
        }
    }
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, why: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Answer::new(why)));
    };
    // The edge checks any bearer token on any route, so even an open operation answers
    // 401 to a bad one.
    add(
        "401",
        if secured {
            "Missing, invalid or expired access token, or a session that ended"
        } else {
            "A token was given and is invalid, expired or of a session that ended (optional here)"
        },
    );
    if has_body {
        add("400", "The body is not valid JSON");
        add("413", "The body is larger than the platform accepts");
        add("415", "The body is not `application/json`");
    }
    if has_body || in_query {
        add(
            "422",
            "A field or parameter is invalid (each named in `errors`)",
        );
    }
    if in_path {
        add("404", "No such resource, or not one the caller may see");
    }
    add("429", "Rate limited; `Retry-After` says when to try again");
    add(
        "503",
        if writes {
            "A context behind the gateway is unavailable, or the write reached a replica that \
             does not write now (`not-writer`: the writer died and another is taking over); \
             nothing was done: retry after `Retry-After`"
        } else {
            "A context behind the gateway is unavailable, or the replica has not reached the \
             write named by `Agora-Consistency` (`replica-lagging`); retry after `Retry-After`"
        },
    );
    for status in ["429", "503"] {
        if let Some(RefOr::T(answer)) = responses.get_mut(status) {
            answer
                .headers
                .entry("Retry-After".into())
                .or_insert_with(|| RefOr::T(retry_after()));
        }
    }
    let problem = Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
    for (status, answer) in responses.iter_mut() {
        let RefOr::T(answer) = answer else { continue };
        if answer.description.trim().is_empty() {
            answer.description = reason(status).to_string();
        }
        let error = status.starts_with('4') || status.starts_with('5');
        if error && answer.content.is_empty() {
            answer
                .content
                .insert("application/problem+json".into(), RefOr::T(problem.clone()));
        }
    }
}

/// The `Retry-After` header of 429 and 503 answers.
fn retry_after() -> Header {
    let mut header = Header::new(Object::with_type(Type::Integer));
    header.description = Some("Seconds to wait before trying again".into());
    header
}

/// The reason phrase of a status, for responses documented without a description.
fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Response")
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

    /// The committed document is valid OpenAPI 3.1, by a validator that is not ours
    /// (openapi-spec-validator, installed by scripts/install-tools).
    #[test]
    fn the_document_is_valid_openapi_3_1() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tool = root.join(".tools/bin/openapi-spec-validator");
        assert!(
            tool.exists(),
            "openapi-spec-validator is missing: run scripts/install-tools (scripts/test does)"
        );
        let out = std::process::Command::new(&tool)
            .args(["--schema", "3.1", "--errors", "all"])
            .arg(root.join("docs/openapi.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Schemas are merged by name: two contexts naming different schemas alike would
    /// leave one of them describing the other's responses.
    #[test]
    fn no_two_contexts_define_a_schema_of_the_same_name() {
        let mut seen = std::collections::BTreeMap::<String, (String, String)>::new();
        for c in Context::ALL {
            let doc = crate::bounded_context(c).openapi();
            for (name, schema) in doc.components.iter().flat_map(|c| c.schemas.iter()) {
                let json = serde_json::to_string(schema).unwrap();
                if let Some((other, earlier)) = seen.get(name) {
                    assert_eq!(
                        earlier,
                        &json,
                        "schema {name} differs between {other} and {}",
                        c.name()
                    );
                }
                seen.insert(name.clone(), (c.name().to_string(), json));
            }
        }
    }

    /// Every link starts at an answer that exists and leads to an operation that exists.
    #[test]
    fn links_join_operations_that_exist() {
        let doc = document();
        let mut ids = std::collections::HashSet::new();
        let mut linked = 0;
        for op in operations(&doc) {
            ids.extend(op.operation_id.clone());
            for answer in op.responses.responses.values() {
                if let RefOr::T(answer) = answer {
                    linked += answer.links.len();
                }
            }
        }
        for (from, _, _, to, _) in LINKS {
            assert!(ids.contains(*from), "no operation {from}");
            assert!(ids.contains(*to), "no operation {to}");
        }
        assert_eq!(linked, LINKS.len(), "a link's answer is not documented");
    }

    /// Every secured operation documents 401, every error response the problem schema.
    #[test]
    fn every_operation_documents_its_failures_as_problems() {
        let doc = document();
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                let responses = &op.responses.responses;
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    assert!(responses.contains_key("401"), "{path}: no 401");
                }
                for (status, answer) in responses {
                    let RefOr::T(answer) = answer else { continue };
                    assert!(!answer.description.is_empty(), "{path} {status}");
                    if status.starts_with('4') {
                        assert!(
                            answer.content.contains_key("application/problem+json"),
                            "{path} {status}: not a problem"
                        );
                    }
                }
            }
        }
    }

    /// A client retrying after a 429 or 503 learns how long to wait from the document, and
    /// a write's 503 says that nothing was done (a replica that does not write now).
    #[test]
    fn every_operation_documents_when_to_retry() {
        let doc = document();
        for (path, item) in &doc.paths.paths {
            let reads = item.get.iter().map(|op| (op, false));
            let writes = [&item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
                .map(|op| (op, true));
            for (op, writes) in reads.chain(writes) {
                for status in ["429", "503"] {
                    let Some(RefOr::T(answer)) = op.responses.responses.get(status) else {
                        panic!("{path} documents no {status}");
                    };
                    assert!(
                        answer.headers.contains_key("Retry-After"),
                        "{path} {status}"
                    );
                    if status == "503" {
                        assert_eq!(answer.description.contains("not-writer"), writes, "{path}");
                    }
                }
            }
        }
    }

    /// Every request body carries an example (testers and generated clients start from
    /// them), and every example is a body its schema accepts.
    #[test]
    fn request_examples_are_valid_bodies() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let content = operation["requestBody"]["content"].as_object();
                for (media_type, body) in content.into_iter().flatten() {
                    let Some(reference) = body["schema"]["$ref"].as_str() else {
                        continue; // raw bytes (an upload): nothing to give an example of
                    };
                    let name = reference.trim_start_matches("#/components/schemas/");
                    assert!(
                        schemas[name].get("example").is_some(),
                        "{method} {path}: {name} ({media_type}) has no example"
                    );
                    bodies += 1;
                }
            }
        }
        assert!(bodies > 40, "only {bodies} request bodies found");
        let mut checked = 0;
        for (name, schema) in schemas {
            let Some(example) = schema.get("example") else {
                continue;
            };
            let root = serde_json::json!({
                "$ref": format!("#/components/schemas/{name}"),
                "components": doc["components"],
            });
            let validator = jsonschema::validator_for(&root).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{name}'s example: {errors:?}");
            checked += 1;
        }
        let bad = serde_json::json!({"$ref": "#/components/schemas/ReactionRequest", "components": doc["components"]});
        assert!(
            !jsonschema::validator_for(&bad)
                .unwrap()
                .is_valid(&serde_json::json!({"kind": "meh"}))
        );
        assert!(checked >= 40, "only {checked} examples checked");
    }

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

    fn methods(item: &utoipa::openapi::PathItem) -> Vec<axum::http::Method> {
        use axum::http::Method;
        [
            (Method::GET, item.get.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ]
        .into_iter()
        .filter_map(|(m, on)| on.then_some(m))
        .collect()
    }

    /// The gateway's routing table comes from the contexts' declared paths: every path a
    /// context documents is routed to that context.
    #[test]
    fn every_documented_path_routes_to_its_context() {
        for c in Context::ALL {
            let context = crate::bounded_context(c);
            for (path, item) in context.openapi().paths.paths {
                for method in methods(&item) {
                    assert_eq!(
                        super::super::context_for(&method, &path),
                        Some(context.name()),
                        "{method} {path}"
                    );
                }
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
