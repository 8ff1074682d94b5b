//! The reconcile loop against a mocked API server: first creation, an idle second pass,
//! pruning, pause, readiness and the data policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn first_creation_applies_every_child_generates_keys_and_reports_progress() {
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({})));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();

    assert_eq!(
        server.names(&sets()),
        [
            "demo-analytics",
            "demo-auth",
            "demo-feed",
            "demo-groups",
            "demo-media",
            "demo-messages",
            "demo-moderation",
            "demo-nats",
            "demo-notifications",
            "demo-posts",
            "demo-search",
            "demo-users"
        ]
    );
    assert_eq!(server.names(&deployments()), ["demo-gateway"]);
    let media_key = server
        .get(&secrets(), "demo-media-url")
        .expect("the media URL key's Secret is created");
    let key = media_key["stringData"]["key"].as_str().unwrap();
    assert_eq!(key.len(), 44, "32 bytes, base64: {key}");
    let secret = server
        .get(&secrets(), "demo-jwt")
        .expect("the JWT Secret is created");
    assert!(
        secret["stringData"]["private.pem"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert_eq!(secret["metadata"]["ownerReferences"][0]["uid"], "uid-demo");
    let users = server.get(&sets(), "demo-users").unwrap();
    assert_eq!(
        users["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "agora-operator"
    );

    assert_eq!(condition(&server, "demo", "Ready")["status"], "False");
    assert_eq!(condition(&server, "demo", "Progressing")["status"], "True");
    let status = server.get(PLATFORMS, "demo").unwrap()["status"].clone();
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["contextsReady"], "0/11");
    assert!(
        server
            .events()
            .iter()
            .any(|e| e["reason"] == "KeysGenerated")
    );
    // Server-side apply with one field manager, forced.
    let applies: Vec<_> = server
        .calls()
        .into_iter()
        .filter(|c| {
            c.method == "PATCH" && !c.path.ends_with("/status") && !c.path.contains("/events/")
        })
        .collect();
    assert!(!applies.is_empty());
    assert!(
        applies
            .iter()
            .all(|c| c.query.contains("fieldManager=agora-operator")
                && c.query.contains("force=true")),
        "{applies:?}"
    );
}

#[tokio::test]
async fn a_second_pass_changes_nothing_and_keeps_the_keys() {
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({})));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    let keys = server.get(&secrets(), "demo-jwt").unwrap();
    let before = server.snapshot();
    let events = server.events().len();
    server.clear_calls();

    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        server.snapshot(),
        before,
        "a second pass must not change any object"
    );
    assert_eq!(server.get(&secrets(), "demo-jwt").unwrap(), keys);
    let calls = server.calls();
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/status")),
        "status unchanged, so not written"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.method == "POST" || c.method == "DELETE"),
        "{calls:?}"
    );
    assert_eq!(
        server.events().len(),
        events,
        "no events for a pass that did nothing"
    );
}

#[tokio::test]
async fn children_the_spec_no_longer_asks_for_are_pruned() {
    let server = ApiServer::default();
    let spec = json!({"gateway": {"ingress": {"host": "social.example.org"}, "autoscaling": {"maxReplicas": 4}}});
    server.put(PLATFORMS, platform("demo", spec));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(server.names(&ingresses()), ["demo-gateway"]);

    // The ingress goes away, and the topology switches to compact.
    let mut sp = server.get(PLATFORMS, "demo").unwrap();
    sp["spec"] = json!({"topology": "Compact"});
    sp["metadata"]["generation"] = 2.into();
    server.put(PLATFORMS, sp);
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&ingresses()).is_empty());
    assert!(
        server
            .names(&format!("/apis/autoscaling/v2{NS}horizontalpodautoscalers"))
            .is_empty()
    );
    assert_eq!(server.names(&sets()), ["demo-nats", "demo-node"]);
    assert!(server.events().iter().any(|e| e["reason"] == "Pruned"));
    // Objects of another platform in the namespace are left alone.
    let mut foreign = server.get(&sets(), "demo-node").unwrap();
    foreign["metadata"]["name"] = "other-node".into();
    foreign["metadata"]["labels"]["app.kubernetes.io/instance"] = "other".into();
    foreign["metadata"]["ownerReferences"][0]["uid"] = "uid-other".into();
    server.put(&sets(), foreign);
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&sets()).contains(&"other-node".to_string()));
}

#[tokio::test]
async fn a_paused_platform_is_not_touched() {
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({"paused": true})));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&sets()).is_empty());
    assert!(server.get(&secrets(), "demo-jwt").is_none());
    assert!(
        !server
            .calls()
            .iter()
            .any(|c| c.method == "PATCH" && !c.path.ends_with("/status"))
    );
    assert_eq!(condition(&server, "demo", "Paused")["status"], "True");

    // The annotation pauses too.
    let server = ApiServer::default();
    let mut sp = platform("demo", json!({}));
    sp["metadata"]["annotations"] = json!({"agora.dev/paused": "true"});
    server.put(PLATFORMS, sp);
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&sets()).is_empty());
}

#[tokio::test]
async fn ready_once_every_child_is_and_the_transition_is_recorded() {
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({})));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    // Age every transition, to see which ones the next pass moves.
    let mut sp = server.get(PLATFORMS, "demo").unwrap();
    for c in sp["status"]["conditions"].as_array_mut().unwrap() {
        c["lastTransitionTime"] = "2020-01-01T00:00:00Z".into();
    }
    server.put(PLATFORMS, sp);
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(condition(&server, "demo", "Ready")["status"], "True");
    assert_eq!(condition(&server, "demo", "AuthReady")["status"], "True");
    assert_eq!(
        condition(&server, "demo", "EventBusReady")["status"],
        "True"
    );
    assert_ne!(
        condition(&server, "demo", "Progressing")["lastTransitionTime"],
        "2020-01-01T00:00:00Z",
        "it flipped"
    );
    assert_eq!(
        condition(&server, "demo", "Degraded")["lastTransitionTime"],
        "2020-01-01T00:00:00Z",
        "it did not"
    );
    let status = server.get(PLATFORMS, "demo").unwrap()["status"].clone();
    assert_eq!(status["contextsReady"], "11/11");
    assert_eq!(
        status["gatewayEndpoint"],
        "http://demo-gateway.tenants.svc:8080"
    );
    assert!(server.events().iter().any(|e| e["reason"] == "Ready"));
}

#[tokio::test]
async fn a_new_image_rolls_contexts_one_at_a_time_then_the_gateway() {
    let server = ApiServer::default();
    server.put(
        PLATFORMS,
        platform("demo", json!({"image": "agora-node:1"})),
    );
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();

    let mut sp = server.get(PLATFORMS, "demo").unwrap();
    sp["spec"]["image"] = "agora-node:2".into();
    sp["metadata"]["generation"] = 2.into();
    server.put(PLATFORMS, sp);
    let image = |collection: &str, name: &str| {
        server.get(collection, name).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .clone()
    };
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        (
            image(&sets(), "demo-auth"),
            image(&sets(), "demo-users"),
            image(&deployments(), "demo-gateway")
        ),
        (
            json!("agora-node:2"),
            json!("agora-node:1"),
            json!("agora-node:1")
        )
    );
    assert_eq!(
        condition(&server, "demo", "AuthReady")["reason"],
        "NotReady"
    );
    assert_eq!(
        condition(&server, "demo", "UsersReady")["reason"],
        "RollingOut"
    );
    assert!(server.events().iter().any(|e| e["reason"] == "RollingOut"
        && e["note"] == "moving auth from agora-node:1 to agora-node:2"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-users"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-groups"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-groups"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-posts"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-posts"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-feed"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-feed"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-messages"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-messages"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-media"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-media"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-search"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-search"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-notifications"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-notifications"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-moderation"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-moderation"), json!("agora-node:2"));
    assert_eq!(image(&sets(), "demo-analytics"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&sets(), "demo-analytics"), json!("agora-node:2"));
    assert_eq!(image(&deployments(), "demo-gateway"), json!("agora-node:1"));
    make_everything_ready(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(image(&deployments(), "demo-gateway"), json!("agora-node:2"));
    // NATS is never touched by an image change.
    assert_eq!(image(&sets(), "demo-nats"), json!("nats:2.12-alpine"));
}

#[tokio::test]
async fn the_data_policy_decides_what_deletion_does_to_volume_claims() {
    for (policy, expected) in [("Retain", "Retain"), ("Delete", "Delete")] {
        let server = ApiServer::default();
        server.put(PLATFORMS, platform("demo", json!({"dataPolicy": policy})));
        let ctx = context(&server);
        pass(&server, &ctx, "demo").await.unwrap();
        for name in server.names(&sets()) {
            let set = server.get(&sets(), &name).unwrap();
            let retention = &set["spec"]["persistentVolumeClaimRetentionPolicy"];
            assert_eq!(retention["whenDeleted"], expected, "{name}");
            assert_eq!(retention["whenScaled"], "Retain", "{name}");
            assert_eq!(
                set["metadata"]["ownerReferences"][0]["kind"],
                "SocialPlatform"
            );
        }
    }
}

#[tokio::test]
async fn the_platform_gets_its_own_ca_and_a_certificate_issued_again_only_when_due() {
    use agora_operator::certificates::digest;
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({})));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();

    let ca = server.get(&secrets(), "demo-ca").expect("the CA's Secret");
    let ca_pem = ca["stringData"]["ca.crt"].as_str().unwrap().to_string();
    assert!(
        ca["stringData"]["ca.key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let tls = server
        .get(&secrets(), "demo-tls")
        .expect("the certificate's Secret");
    assert_eq!(tls["type"], "kubernetes.io/tls");
    assert_eq!(tls["stringData"]["ca.crt"], ca_pem.as_str());
    let cert = tls["stringData"]["tls.crt"].as_str().unwrap().to_string();
    assert!(
        server
            .events()
            .iter()
            .any(|e| e["reason"] == "CertificateIssued")
    );
    // Pods roll when the CA changes; the NATS servers, which read their files only at
    // start, when the certificate does.
    let rolls_on = |server: &ApiServer, set: &str| {
        server.get(&sets(), set).unwrap()["spec"]["template"]["metadata"]["annotations"]
            ["agora.dev/tls"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(rolls_on(&server, "demo-users"), digest(&ca_pem));
    assert_eq!(rolls_on(&server, "demo-nats"), digest(&cert));

    // Thirty days before its end, it is issued again by the same CA.
    let mut ending = tls.clone();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    ending["metadata"]["annotations"]["agora.dev/tls-not-after"] = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    server.put(&secrets(), ending);
    pass(&server, &ctx, "demo").await.unwrap();
    let renewed = server.get(&secrets(), "demo-tls").unwrap();
    let renewed_cert = renewed["stringData"]["tls.crt"].as_str().unwrap();
    assert_ne!(renewed_cert, cert);
    assert_eq!(server.get(&secrets(), "demo-ca").unwrap(), ca);
    assert_eq!(rolls_on(&server, "demo-users"), digest(&ca_pem));
    assert_eq!(rolls_on(&server, "demo-nats"), digest(renewed_cert));
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        server.get(&secrets(), "demo-tls").unwrap(),
        renewed,
        "a current certificate is kept"
    );

    // Without TLS between the parts: no CA, no certificate.
    server.put(
        PLATFORMS,
        platform("plain", json!({"tls": {"enabled": false}})),
    );
    pass(&server, &ctx, "plain").await.unwrap();
    assert!(server.get(&secrets(), "plain-ca").is_none());
    assert!(server.get(&secrets(), "plain-tls").is_none());
}
