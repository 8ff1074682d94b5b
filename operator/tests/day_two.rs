//! The operator's second day against a mocked API server: hibernation and waking,
//! monitoring objects where the Prometheus Operator is installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

fn replicas(server: &ApiServer, collection: &str, name: &str) -> i64 {
    server.get(collection, name).unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

fn set_spec(server: &ApiServer, name: &str, spec: Value) {
    let mut sp = server.get(PLATFORMS, name).unwrap();
    sp["spec"] = spec;
    let g = sp["metadata"]["generation"].as_i64().unwrap();
    sp["metadata"]["generation"] = (g + 1).into();
    server.put(PLATFORMS, sp);
}

fn events(server: &ApiServer, reason: &str) -> usize {
    server
        .events()
        .iter()
        .filter(|e| e["reason"] == reason)
        .count()
}

fn pdbs() -> String {
    format!("/apis/policy/v1{NS}poddisruptionbudgets")
}

#[tokio::test]
async fn hibernation_scales_everything_to_zero_bus_last_and_waking_brings_it_back() {
    let server = ApiServer::default();
    let spec = json!({"contexts": {"overrides": {"posts": {"replicas": 2}}},
        "eventBus": {"managed": {"replicas": 3}},
        "gateway": {"autoscaling": {"maxReplicas": 4}}});
    server.put(PLATFORMS, platform("demo", spec.clone()));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(condition(&server, "demo", "Ready")["status"], "True");
    assert_eq!(condition(&server, "demo", "Hibernated")["reason"], "Awake");

    let mut asleep = spec.clone();
    asleep["hibernate"] = true.into();
    set_spec(&server, "demo", asleep);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(replicas(&server, &sets(), "demo-posts"), 0);
    assert_eq!(replicas(&server, &sets(), "demo-auth"), 0);
    assert_eq!(replicas(&server, &deployments(), "demo-gateway"), 0);
    assert!(
        server
            .names(&format!("/apis/autoscaling/v2{NS}horizontalpodautoscalers"))
            .is_empty(),
        "an autoscaler would wake the gateway"
    );
    assert_eq!(
        replicas(&server, &sets(), "demo-nats"),
        3,
        "the bus waits until no context runs"
    );
    assert_eq!(server.names(&pdbs()), ["demo-nats"]);
    assert_eq!(
        condition(&server, "demo", "Hibernated")["reason"],
        "Hibernating"
    );
    assert_eq!(condition(&server, "demo", "Ready")["reason"], "Hibernated");
    assert_eq!(events(&server, "Hibernating"), 1);

    // The contexts' and the gateway's pods are gone: now the bus stops.
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(replicas(&server, &sets(), "demo-nats"), 0);
    assert!(server.names(&pdbs()).is_empty());
    let claims = &server.get(&sets(), "demo-posts").unwrap()["spec"];
    assert_eq!(
        claims["persistentVolumeClaimRetentionPolicy"]["whenScaled"], "Retain",
        "volumes are kept"
    );
    assert!(
        claims["volumeClaimTemplates"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    let hibernated = condition(&server, "demo", "Hibernated");
    assert_eq!(
        (hibernated["status"].as_str(), hibernated["reason"].as_str()),
        (Some("True"), Some("Hibernated"))
    );
    assert_eq!(condition(&server, "demo", "Progressing")["status"], "False");
    assert_eq!(
        condition(&server, "demo", "PostsReady")["reason"],
        "Hibernated"
    );
    assert_eq!(events(&server, "Hibernating"), 1, "announced once");

    // Waking: every part back to its replicas, the autoscaler back.
    set_spec(&server, "demo", spec);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(replicas(&server, &sets(), "demo-posts"), 2);
    assert_eq!(replicas(&server, &sets(), "demo-nats"), 3);
    assert!(server.get(&deployments(), "demo-gateway").unwrap()["spec"]["replicas"].is_null());
    assert_eq!(events(&server, "Waking"), 1);
    assert_eq!(condition(&server, "demo", "Hibernated")["reason"], "Awake");
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(condition(&server, "demo", "Ready")["status"], "True");
    assert_eq!(events(&server, "Waking"), 1);
}

fn monitors() -> String {
    format!("/apis/monitoring.coreos.com/v1{NS}podmonitors")
}
fn rules() -> String {
    format!("/apis/monitoring.coreos.com/v1{NS}prometheusrules")
}
fn config_maps() -> String {
    format!("/api/v1{NS}configmaps")
}

#[tokio::test]
async fn monitoring_objects_follow_the_prometheus_operator_being_installed_and_the_spec() {
    let server = ApiServer::default();
    let spec = json!({"monitoring": {"labels": {"release": "kube-prometheus-stack"}}});
    server.put(PLATFORMS, platform("demo", spec));
    let ctx = context(&server);

    // No Prometheus Operator: nothing of its kinds is applied or even listed.
    pass(&server, &ctx, "demo").await.unwrap();
    let monitoring = condition(&server, "demo", "Monitoring");
    assert_eq!(monitoring["reason"], "PrometheusOperatorMissing");
    assert!(
        !server
            .calls()
            .iter()
            .any(|c| c.path.contains("/apis/monitoring.coreos.com/v1/")),
        "no request for kinds the cluster does not have"
    );
    assert!(
        server
            .names(&config_maps())
            .contains(&"demo-dashboard".to_string()),
        "the dashboard needs no Prometheus Operator"
    );
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        condition(&server, "demo", "Ready")["status"],
        "True",
        "monitoring never blocks readiness"
    );

    // Installed: the next reconcile applies both.
    server.install_prometheus_operator();
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(server.names(&monitors()), ["demo"]);
    let rule = server.get(&rules(), "demo").unwrap();
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert!(
        alerts.contains(&"AgoraConsumerLagging") && alerts.contains(&"AgoraPlatformNotReady"),
        "{alerts:?}"
    );
    assert_eq!(
        condition(&server, "demo", "Monitoring")["reason"],
        "Applied"
    );
    let scrape = ctx.metrics.encode();
    assert!(
        scrape.contains(r#"agora_operator_platform_condition{platform_namespace="tenants",platform="demo",type="Ready"} 1"#),
        "{scrape}"
    );

    // Turned off: both pruned, the dashboard too when asked.
    set_spec(
        &server,
        "demo",
        json!({"monitoring": {"enabled": false, "dashboard": false}}),
    );
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&monitors()).is_empty());
    assert!(server.names(&rules()).is_empty());
    assert!(
        !server
            .names(&config_maps())
            .contains(&"demo-dashboard".to_string())
    );
    assert_eq!(
        condition(&server, "demo", "Monitoring")["reason"],
        "Disabled"
    );
}
