//! The OpenAPI 3.1 document rendered as OpenAPI 3.0, for generators that read only 3.0
//! (progenitor among them). Used by the build script; a module of the library too, so its
//! tests run with the crate's.
//!
//! What 3.1 says that 3.0 cannot, and how it is said instead:
//! - a type list with `"null"` (`"type": ["string", "null"]`) is the type with
//!   `"nullable": true`;
//! - a `oneOf`/`anyOf` with a `{"type": "null"}` arm is the other arm (wrapped in `allOf`
//!   when it is a `$ref`, as 3.0 ignores siblings of `$ref`) with `"nullable": true`;
//! - `const` is a one-value `enum`; a numeric `exclusiveMinimum`/`exclusiveMaximum` is the
//!   bound with the 3.0 flag;
//! - the bytes of a body that is not JSON (an upload, a picture) are `type: string,
//!   format: binary`, whatever shape the 3.1 schema gave them;
//! - a parameter's schema is never nullable: an absent parameter is `required: false`;
//! - what 3.0 has no word for is dropped: `propertyNames` (a map's key names: the map stays a
//!   map of strings), the license's SPDX `identifier`.

use serde_json::{Map, Value, json};

/// `document` (OpenAPI 3.1) as OpenAPI 3.0.3.
pub fn openapi_3_0(mut document: Value) -> Value {
    if let Some(root) = document.as_object_mut() {
        root.insert("openapi".into(), json!("3.0.3"));
        if let Some(license) = root
            .get_mut("info")
            .and_then(|info| info.get_mut("license"))
            .and_then(Value::as_object_mut)
        {
            license.remove("identifier");
        }
    }
    render(&mut document);
    bytes_as_binary(&mut document);
    parameters_not_nullable(&mut document);
    document
}

/// The operations of `document` (each method of each path).
pub fn operations(document: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
}

/// Parameters are left out, never sent as null.
fn parameters_not_nullable(document: &mut Value) {
    for operation in operations(document) {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for schema in parameters
            .into_iter()
            .flatten()
            .filter_map(|p| p.get_mut("schema"))
            .filter_map(Value::as_object_mut)
        {
            schema.remove("nullable");
        }
    }
}

/// Every request and response body of a media type that is not JSON (nor a form) is bytes.
fn bytes_as_binary(document: &mut Value) {
    for operation in operations(document) {
        let mut bodies: Vec<&mut Value> = Vec::new();
        for (key, value) in operation.iter_mut() {
            match key.as_str() {
                "requestBody" => bodies.extend(value.get_mut("content")),
                "responses" => bodies.extend(
                    value
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|r| r.values_mut())
                        .filter_map(|r| r.get_mut("content")),
                ),
                _ => {}
            }
        }
        for content in bodies.into_iter().filter_map(Value::as_object_mut) {
            for (media_type, body) in content.iter_mut() {
                let structured = media_type.contains("json")
                    || media_type.starts_with("multipart/")
                    || media_type == "application/x-www-form-urlencoded";
                if !structured && let Some(body) = body.as_object_mut() {
                    body.insert(
                        "schema".into(),
                        json!({"type": "string", "format": "binary"}),
                    );
                }
            }
        }
    }
}

/// Renders every schema below `value`, the document's other objects passed through.
fn render(value: &mut Value) {
    match value {
        Value::Object(object) => {
            render_schema(object);
            for (_, child) in object.iter_mut() {
                render(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(render),
        _ => {}
    }
}

/// Renders one object if it is a schema. Other objects of the document (operations,
/// responses, a `properties` map) have none of these keys with these shapes.
fn render_schema(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = schema.get("type") {
        let named: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let nullable = named.len() < types.len();
        if let [only] = named.as_slice() {
            schema.insert("type".into(), only.clone());
        } else {
            schema.remove("type");
        }
        if nullable {
            schema.insert("nullable".into(), json!(true));
        }
    }
    for combinator in ["oneOf", "anyOf"] {
        let Some(Value::Array(arms)) = schema.get(combinator) else {
            continue;
        };
        let others: Vec<Value> = arms.iter().filter(|arm| !is_null(arm)).cloned().collect();
        if others.len() == arms.len() {
            continue;
        }
        schema.remove(combinator);
        schema.insert("nullable".into(), json!(true));
        match others.as_slice() {
            [only] if only.get("$ref").is_some() => {
                schema.insert("allOf".into(), json!([only]));
            }
            [Value::Object(only)] => {
                for (key, value) in only {
                    schema.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            _ => {
                schema.insert(combinator.into(), Value::Array(others));
            }
        }
    }
    if let Some(value) = schema.remove("const") {
        schema.insert("enum".into(), json!([value]));
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(limit) = schema.get(exclusive).filter(|v| v.is_number()).cloned() {
            schema.insert(bound.into(), limit);
            schema.insert(exclusive.into(), json!(true));
        }
    }
    schema.remove("propertyNames");
}

fn is_null(arm: &Value) -> bool {
    arm.get("type").is_some_and(|t| t == "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_lists_with_null_become_nullable() {
        let doc = openapi_3_0(json!({"openapi": "3.1.0", "components": {"schemas": {
            "A": {"type": "object", "properties": {
                "name": {"type": ["string", "null"]},
                "type": {"type": "string"},
            }},
        }}}));
        assert_eq!(doc["openapi"], "3.0.3");
        let a = &doc["components"]["schemas"]["A"]["properties"];
        assert_eq!(a["name"], json!({"type": "string", "nullable": true}));
        // A property called `type` is a schema, left alone.
        assert_eq!(a["type"], json!({"type": "string"}));
    }

    #[test]
    fn a_null_arm_of_one_of_becomes_nullable() {
        let doc = openapi_3_0(json!({
            "r": {"oneOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
            "i": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "two": {"oneOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        }));
        assert_eq!(
            doc["r"],
            json!({"allOf": [{"$ref": "#/components/schemas/B"}], "nullable": true})
        );
        assert_eq!(
            doc["i"],
            json!({"type": "integer", "minimum": 1, "nullable": true})
        );
        assert_eq!(
            doc["two"],
            json!({"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": true})
        );
    }

    #[test]
    fn words_3_0_lacks_are_said_otherwise_or_dropped() {
        let doc = openapi_3_0(json!({
            "info": {"license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
            "c": {"const": "direct"},
            "x": {"type": "number", "exclusiveMinimum": 0},
            "m": {"type": "object", "propertyNames": {"enum": ["a"]}, "additionalProperties": {"type": "boolean"}},
        }));
        assert_eq!(doc["info"]["license"], json!({"name": "Apache-2.0"}));
        assert_eq!(doc["c"], json!({"enum": ["direct"]}));
        assert_eq!(
            doc["x"],
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true})
        );
        assert_eq!(
            doc["m"],
            json!({"type": "object", "additionalProperties": {"type": "boolean"}})
        );
    }

    #[test]
    fn parameters_are_never_nullable() {
        let doc = openapi_3_0(json!({"paths": {"/posts": {"post": {"parameters": [
            {"name": "Idempotency-Key", "in": "header", "required": false,
             "schema": {"type": ["string", "null"]}},
        ]}}}}));
        assert_eq!(
            doc["paths"]["/posts"]["post"]["parameters"][0]["schema"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn bodies_that_are_not_json_are_bytes() {
        let bytes = json!({"type": "array", "items": {"type": "integer"}});
        let doc = openapi_3_0(json!({"paths": {"/media": {"post": {
            "requestBody": {"content": {
                "application/octet-stream": {"schema": bytes},
                "multipart/form-data": {"schema": {"$ref": "#/components/schemas/Form"}},
            }},
            "responses": {
                "200": {"content": {"image/png": {"schema": bytes}}},
                "400": {"content": {"application/problem+json": {"schema": {"$ref": "#/p"}}}},
            },
        }}}}));
        let post = &doc["paths"]["/media"]["post"];
        let binary = json!({"type": "string", "format": "binary"});
        assert_eq!(
            post["requestBody"]["content"]["application/octet-stream"]["schema"],
            binary
        );
        assert_eq!(
            post["responses"]["200"]["content"]["image/png"]["schema"],
            binary
        );
        assert_eq!(
            post["requestBody"]["content"]["multipart/form-data"]["schema"],
            json!({"$ref": "#/components/schemas/Form"})
        );
        assert_eq!(
            post["responses"]["400"]["content"]["application/problem+json"]["schema"],
            json!({"$ref": "#/p"})
        );
    }
}
