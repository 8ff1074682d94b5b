//! The examples against the CRD's own schema, and everything the builders render for
//! them, pinned as snapshots and checked against the official Kubernetes schemas.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use agora_operator::crd::SocialPlatform;
use agora_operator::resources::{Platform, dashboard, monitoring, policy, render};
use kube::CustomResourceExt;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn examples() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let value: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 3,
        "examples/ should hold the minimal, production and external-nats platforms"
    );
    out
}

#[test]
fn every_example_is_valid_against_the_crd_schema() {
    let crd = SocialPlatform::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (name, example) in examples() {
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "examples/{name}.yaml: {errors:?}");
        serde_json::from_value::<SocialPlatform>(example)
            .unwrap_or_else(|e| panic!("examples/{name}.yaml: {e}"));
    }
    // The schema does refuse bad input (so the check above can fail).
    let bad = serde_json::json!({"apiVersion": "agora.dev/v1alpha1", "kind": "SocialPlatform", "metadata": {"name": "x"},
        "spec": {"topology": "Sprawling", "gateway": {"replicas": "three"}}});
    assert!(validator.iter_errors(&bad).count() >= 2);
}

fn platform_of(example: &Value) -> SocialPlatform {
    let mut sp: SocialPlatform = serde_json::from_value(example.clone()).unwrap();
    sp.metadata.namespace = Some("tenants".into());
    sp.metadata.uid = Some("0b8e1a2c-1111-4222-8333-444455556666".into());
    sp
}

/// The rendered objects of one example, as a multi-document YAML stream.
fn rendered(example: &Value) -> String {
    rendered_where(example, |_| true)
}

fn is_prometheus_operators(object: &Value) -> bool {
    object["apiVersion"] == monitoring::API_VERSION
}

/// The rendered objects of one example that `keep` keeps, as a multi-document YAML stream.
fn rendered_where(example: &Value, keep: impl Fn(&Value) -> bool) -> String {
    let sp = platform_of(example);
    let p = Platform::new(&sp);
    let keys = (
        "-----BEGIN PRIVATE KEY-----\n(test)\n-----END PRIVATE KEY-----\n".to_string(),
        "-----BEGIN PUBLIC KEY-----\n(test)\n-----END PUBLIC KEY-----\n".to_string(),
    );
    let secret = serde_json::to_value(policy::jwt_secret(&p, keys)).unwrap();
    let mut secret = secret;
    secret["apiVersion"] = "v1".into();
    secret["kind"] = "Secret".into();
    let objects: Vec<Value> = std::iter::once(secret)
        .chain(render(&sp).into_iter().map(|c| c.object))
        .filter(|o| keep(o))
        .collect();
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_saphyr::to_string(o).unwrap()))
        .collect()
}

/// The builders' output is pinned: a change to the env, labels or shape of any object shows
/// up as a diff here. Regenerate with `AGORA_WRITE_SNAPSHOTS=1 cargo test -p agora-operator`.
#[test]
fn rendered_objects_match_their_snapshots() {
    let mut stale = Vec::new();
    for (name, example) in examples() {
        let path = root().join(format!("operator/tests/snapshots/{name}.yaml"));
        let now = rendered(&example);
        if std::env::var_os("AGORA_WRITE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        if std::fs::read_to_string(&path).unwrap_or_default() != now {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "snapshots differ for {stale:?}: review, then AGORA_WRITE_SNAPSHOTS=1 cargo test -p agora-operator"
    );
}

/// The official schemas, through `kubernetes-validate` (installed by scripts/install-tools).
#[test]
fn crd_and_rendered_objects_pass_the_official_kubernetes_schemas() {
    let tool = root().join(".tools/bin/kubernetes-validate");
    assert!(
        tool.exists(),
        "kubernetes-validate is missing: run scripts/install-tools (scripts/test does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut files = vec![dir.join("crd.yaml")];
    std::fs::write(&files[0], agora_operator::crd_yaml()).unwrap();
    for (name, example) in examples() {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            rendered_where(&example, |o| !is_prometheus_operators(o)),
        )
        .unwrap();
        files.push(path);
    }
    let out = Command::new(&tool)
        .args(["--strict", "--quiet", "-k", "1.33.0"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{report}"
    );
    assert!(!report.contains("ERROR"), "{report}");
}

/// The CRD's CEL rules, evaluated client-side (kube's `cel` feature) on the defaulted
/// object, as the API server would after defaulting.
fn cel_errors(spec: Value, old: Option<Value>) -> Vec<String> {
    let crd = SocialPlatform::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let defaulted = |spec: Value| {
        let sp: SocialPlatform = serde_json::from_value(serde_json::json!({
            "apiVersion": "agora.dev/v1alpha1", "kind": "SocialPlatform", "metadata": {"name": "x"}, "spec": spec
        }))
        .unwrap();
        serde_json::to_value(sp).unwrap()
    };
    let old = old.map(defaulted);
    match kube::core::cel::Validator::new().validate(&schema, &defaulted(spec), old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn cel_rules_accept_the_examples_and_refuse_what_they_forbid() {
    for (name, example) in examples() {
        let errors = cel_errors(example["spec"].clone(), None);
        assert!(errors.is_empty(), "examples/{name}.yaml: {errors:?}");
    }
    let refused = |spec: Value, expected: &str| {
        let errors = cel_errors(spec.clone(), None);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{spec} gave {errors:?}, expected {expected:?}"
        );
    };
    refused(
        serde_json::json!({"eventBus": {"managed": {"replicas": 2}}}),
        "1, 3 or 5",
    );
    refused(
        serde_json::json!({"eventBus": {"managed": {}, "external": {"url": "nats://x:4222"}}}),
        "not both",
    );
    refused(
        serde_json::json!({"eventBus": {"external": {"url": "http://x"}}}),
        "nats://",
    );
    refused(
        serde_json::json!({"contexts": {"overrides": {"trending": {"replicas": 2}}}}),
        "known contexts",
    );
    refused(
        serde_json::json!({"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}),
        "maxReplicas",
    );
    refused(
        serde_json::json!({"gateway": {"ingress": {"host": "Not A Host"}}}),
        "DNS name",
    );
    refused(
        serde_json::json!({"contexts": {"defaults": {"storage": {"size": "lots"}}}}),
        "quantity",
    );
    refused(
        serde_json::json!({"auth": {"accessTokenTtlSeconds": 5}}),
        "30 to 3600",
    );
    // Longer than the node's maximum token lifetime (it would refuse to start).
    refused(
        serde_json::json!({"auth": {"accessTokenTtlSeconds": 7200}}),
        "30 to 3600",
    );
    refused(
        serde_json::json!({"backup": {"schedule": "0 3 * * *", "target": {}}}),
        "exactly one",
    );
    refused(
        serde_json::json!({"backup": {"schedule": "daily", "target": {"volume": {"claimName": "b"}}}}),
        "cron expression",
    );
    refused(
        serde_json::json!({"backup": {"schedule": "@daily", "target": {"volume": {"claimName": "b", "subPath": "../x"}}}}),
        "without '..'",
    );
    // restoreFrom is given at creation and never added or changed later.
    let restore = |id: &str| serde_json::json!({"restoreFrom": {"target": {"volume": {"claimName": "b"}}, "backup": id}});
    assert!(cel_errors(restore("a"), None).is_empty());
    assert!(cel_errors(restore("a"), Some(restore("a"))).is_empty());
    for old in [restore("b"), serde_json::json!({})] {
        let errors = cel_errors(restore("a"), Some(old));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("restore into a new platform")),
            "{errors:?}"
        );
    }
    // A transition rule: the bus's storage class cannot change once set.
    let with_class = |class: &str| serde_json::json!({"eventBus": {"managed": {"storage": {"size": "1Gi", "className": class}}}});
    assert!(cel_errors(with_class("fast"), Some(with_class("fast"))).is_empty());
    let errors = cel_errors(with_class("slow"), Some(with_class("fast")));
    assert!(
        errors.iter().any(|e| e.contains("cannot change")),
        "{errors:?}"
    );
}

/// The PodMonitor and PrometheusRule of every example against the Prometheus Operator's
/// schemas (`scripts/monitoring-schemas`, installed by scripts/install-tools).
#[test]
fn monitoring_objects_pass_the_prometheus_operator_schemas() {
    let script = root().join("scripts/monitoring-schemas/validate.mjs");
    assert!(
        root()
            .join("scripts/monitoring-schemas/node_modules")
            .exists(),
        "the monitoring schemas are missing: run scripts/install-tools (scripts/test does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut files = Vec::new();
    let mut kinds = Vec::new();
    for (name, example) in examples() {
        let objects: Vec<Value> = render(&platform_of(&example))
            .into_iter()
            .map(|c| c.object)
            .filter(is_prometheus_operators)
            .collect();
        kinds.extend(
            objects
                .iter()
                .map(|o| o["kind"].as_str().unwrap().to_string()),
        );
        let path = dir.join(format!("{name}-monitoring.json"));
        std::fs::write(&path, serde_json::to_vec(&objects).unwrap()).unwrap();
        files.push(path);
    }
    assert!(
        kinds.contains(&"PodMonitor".to_string()) && kinds.contains(&"PrometheusRule".to_string())
    );
    // The validator refuses what the Prometheus Operator would (so the check can fail).
    let bad = dir.join("bad-monitoring.json");
    let broken = serde_json::json!([{"apiVersion": monitoring::API_VERSION, "kind": "PodMonitor",
        "metadata": {"name": "x"}, "spec": {"podMetricsEndpoints": [{"port": 8080}]}}]);
    std::fs::write(&bad, broken.to_string()).unwrap();
    let run = |files: &[PathBuf]| {
        let out = Command::new("node")
            .arg(&script)
            .args(files)
            .output()
            .expect("node (Node.js) runs the validator");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, report) = run(&[bad]);
    assert!(!ok && report.contains("ERROR"), "{report}");
    let (ok, report) = run(&files);
    assert!(ok, "the Prometheus Operator's schemas refuse:\n{report}");
}

/// Every alert's and dashboard panel's query parses as PromQL (Grafana's
/// `$__rate_interval` stands for a duration).
#[test]
fn every_alert_and_dashboard_query_is_valid_promql() {
    for (name, example) in examples() {
        let sp = platform_of(&example);
        let p = Platform::new(&sp);
        let alerts = monitoring::alerts(&p)
            .into_iter()
            .map(|a| (a.name.to_string(), a.expr));
        let panels = dashboard::panels(&p).into_iter().flat_map(|panel| {
            panel
                .queries
                .into_iter()
                .map(move |(_, q)| (panel.title.to_string(), q))
        });
        let queries: Vec<(String, String)> = alerts.chain(panels).collect();
        assert!(queries.len() >= 15, "{name}: {}", queries.len());
        for (what, query) in queries {
            let query = query.replace("$__rate_interval", "5m");
            if let Err(e) = promql_parser::parser::parse(&query) {
                panic!("{name}: {what}: {e}\n{query}");
            }
            assert!(
                query.contains("tenants"),
                "{name}: {what} is not narrowed to the namespace"
            );
        }
    }
    assert!(
        promql_parser::parser::parse("rate(x[5m]").is_err(),
        "the parser refuses bad PromQL"
    );
}
