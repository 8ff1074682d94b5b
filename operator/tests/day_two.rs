//! The operator's second day against a mocked API server: hibernation and waking,
//! monitoring objects where the Prometheus Operator is installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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

/// A stand-in for the nodes' control channel (`/ops/rebuilds/{context}`, as documented in
/// docs/operator.md and tested against the real node in node/tests/rebuild.rs), one per
/// pod under `/{pod}`: it records what it is asked and finishes jobs when told.
#[derive(Clone, Default)]
struct FakeNodes(Arc<Mutex<FakeState>>);

#[derive(Default)]
struct FakeState {
    /// (pod, context) → the job.
    jobs: BTreeMap<(String, String), Value>,
    /// Every request: method, pod, context, Authorization.
    calls: Vec<(String, String, String, String)>,
}

impl FakeNodes {
    async fn serve(&self) -> String {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        async fn record(
            nodes: &FakeNodes,
            method: &str,
            pod: &str,
            context: &str,
            headers: &HeaderMap,
        ) {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            nodes.0.lock().unwrap().calls.push((
                method.into(),
                pod.into(),
                context.into(),
                auth.into(),
            ));
        }
        async fn get_job(
            State(nodes): State<FakeNodes>,
            Path((pod, context)): Path<(String, String)>,
            headers: HeaderMap,
        ) -> (StatusCode, axum::Json<Value>) {
            record(&nodes, "GET", &pod, &context, &headers).await;
            match nodes.0.lock().unwrap().jobs.get(&(pod, context)) {
                Some(job) => (StatusCode::OK, axum::Json(job.clone())),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"title": "Not Found"})),
                ),
            }
        }
        async fn start_job(
            State(nodes): State<FakeNodes>,
            Path((pod, context)): Path<(String, String)>,
            headers: HeaderMap,
            axum::Json(body): axum::Json<Value>,
        ) -> StatusCode {
            record(&nodes, "POST", &pod, &context, &headers).await;
            let job = json!({"id": body["id"], "state": "running"});
            nodes.0.lock().unwrap().jobs.insert((pod, context), job);
            StatusCode::ACCEPTED
        }
        let app = axum::Router::new()
            .route(
                "/{pod}/ops/rebuilds/{context}",
                axum::routing::get(get_job).post(start_job),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/{{pod}}")
    }

    fn finish(&self, state: &str, events: u64) {
        for job in self.0.lock().unwrap().jobs.values_mut() {
            if job["state"] == "running" {
                job["state"] = state.into();
                job["report"] = json!({"events": events});
                job["error"] = "the stream is gone".into();
            }
        }
    }

    fn starts(&self) -> Vec<(String, String)> {
        let state = self.0.lock().unwrap();
        state
            .calls
            .iter()
            .filter(|c| c.0 == "POST")
            .map(|c| (c.1.clone(), c.2.clone()))
            .collect()
    }
}

fn rebuild_status(server: &ApiServer) -> Value {
    server.get(PLATFORMS, "demo").unwrap()["status"]["rebuild"].clone()
}

fn annotate(server: &ApiServer, value: &str) {
    let mut sp = server.get(PLATFORMS, "demo").unwrap();
    sp["metadata"]["annotations"] = json!({"agora.dev/rebuild": value});
    server.put(PLATFORMS, sp);
}

#[tokio::test]
async fn a_rebuild_annotation_rebuilds_each_pod_in_turn_with_progress_in_status() {
    let server = ApiServer::default();
    server.put(
        PLATFORMS,
        platform(
            "demo",
            json!({"contexts": {"overrides": {"groups": {"replicas": 2}}}}),
        ),
    );
    let nodes = FakeNodes::default();
    let mut ctx = context_value(&server);
    ctx.node_base = Some(nodes.serve().await);
    let ctx = Arc::new(ctx);
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(rebuild_status(&server).is_null(), "nothing asked");
    let token = server.get(&secrets(), "demo-control").unwrap()["stringData"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    annotate(&server, "groups,feed@1");
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        nodes.starts(),
        [("demo-groups-0".to_string(), "groups".to_string())]
    );
    let status = rebuild_status(&server);
    assert_eq!(
        (status["phase"].as_str(), status["message"].as_str()),
        (Some("Running"), Some("rebuilding groups in demo-groups-0"))
    );
    assert!(
        nodes
            .0
            .lock()
            .unwrap()
            .calls
            .iter()
            .all(|c| c.3 == format!("Bearer {token}")),
        "every call carries the platform's control token"
    );
    assert_eq!(events(&server, "RebuildStarted"), 1);

    // Still running: looked at, not started again.
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(nodes.starts().len(), 1);

    // Done in pod 0: recorded, then pod 1, then feed's pod.
    nodes.finish("done", 120);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(rebuild_status(&server)["message"], "1/3 pods rebuilt");
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(nodes.starts().last().unwrap().0, "demo-groups-1");
    nodes.finish("done", 120);
    pass(&server, &ctx, "demo").await.unwrap();
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        nodes.starts().last().unwrap(),
        &("demo-feed-0".to_string(), "feed".to_string())
    );
    nodes.finish("done", 9);
    pass(&server, &ctx, "demo").await.unwrap();
    let status = rebuild_status(&server);
    assert_eq!(status["phase"], "Succeeded");
    let pods: Vec<(&str, i64)> = status["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["pod"].as_str().unwrap(), p["events"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        pods,
        [
            ("demo-groups-0", 120),
            ("demo-groups-1", 120),
            ("demo-feed-0", 9)
        ]
    );
    assert_eq!(events(&server, "Rebuilt"), 1);

    // Done means done: the same annotation starts nothing more; a new suffix asks again.
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(nodes.starts().len(), 3);
    annotate(&server, "feed@2");
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(nodes.starts().len(), 4);
    nodes.finish("failed", 0);
    pass(&server, &ctx, "demo").await.unwrap();
    let status = rebuild_status(&server);
    assert_eq!(status["phase"], "Failed");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("the stream is gone"),
        "{status}"
    );
    assert_eq!(events(&server, "RebuildFailed"), 1);

    // A request naming no known context fails at once, touching no pod.
    annotate(&server, "serach");
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(rebuild_status(&server)["phase"], "Failed");
    assert!(
        rebuild_status(&server)["message"]
            .as_str()
            .unwrap()
            .contains("serach")
    );
    assert_eq!(nodes.starts().len(), 4);
}

#[tokio::test]
async fn kubectl_agora_patches_the_platform_and_shows_its_status() {
    use agora_operator::crd::SocialPlatform;
    use agora_operator::plugin::{Action, run};
    let server = ApiServer::default();
    server.put(PLATFORMS, platform("demo", json!({"topology": "Compact"})));
    let api: kube::Api<SocialPlatform> = kube::Api::namespaced(server.client(), "tenants");

    let said = run(&api, "demo", &Action::Status, 1).await.unwrap();
    assert!(said.contains("no status yet"), "{said}");
    run(&api, "demo", &Action::Hibernate, 1).await.unwrap();
    let stored = server.get(PLATFORMS, "demo").unwrap();
    assert_eq!(
        stored["spec"],
        json!({"topology": "Compact", "hibernate": true}),
        "the rest of the spec is kept"
    );
    run(&api, "demo", &Action::Wake, 1).await.unwrap();
    run(
        &api,
        "demo",
        &Action::Rebuild {
            contexts: "search".into(),
        },
        1764150000,
    )
    .await
    .unwrap();
    let stored = server.get(PLATFORMS, "demo").unwrap();
    assert_eq!(stored["spec"]["hibernate"], false);
    assert_eq!(
        stored["metadata"]["annotations"]["agora.dev/rebuild"],
        "search@1764150000"
    );
    assert!(
        run(
            &api,
            "demo",
            &Action::Rebuild {
                contexts: "nope".into()
            },
            1
        )
        .await
        .is_err()
    );
    assert!(
        run(&api, "absent", &Action::Wake, 1).await.is_err(),
        "an unknown platform is an error"
    );

    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    let said = run(&api, "demo", &Action::Status, 1).await.unwrap();
    for expected in [
        "Hibernated",
        "Awake",
        "EventBusReady",
        "search",
        "rebuild search@1764150000",
    ] {
        assert!(said.contains(expected), "{expected} missing from:\n{said}");
    }
}

fn cron_jobs() -> String {
    format!("/apis/batch/v1{NS}cronjobs")
}

/// `spec.backup` becomes a CronJob whose outcome shows in `status.backup` and the
/// `BackedUp` condition; hibernating suspends it; removing `spec.backup` removes it.
#[tokio::test]
async fn scheduled_backups_show_their_outcome_in_status() {
    let server = ApiServer::default();
    let spec = json!({"backup": {"schedule": "0 3 * * *",
        "target": {"volume": {"claimName": "backups"}}, "alertAfterHours": 25}});
    server.put(PLATFORMS, platform("demo", spec.clone()));
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    let job = server
        .get(&cron_jobs(), "demo-backup")
        .expect("a backup CronJob");
    assert_eq!(job["spec"]["schedule"], "0 3 * * *");
    assert_eq!(job["spec"]["suspend"], false);
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let env = &pod["containers"][0]["env"];
    let target = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "AGORA_BACKUP_TARGET");
    assert_eq!(target.unwrap()["value"], "/backup/demo");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "backups"
    );
    // Point in time (the default): every context keeps a change log.
    let posts = server.get(&sets(), "demo-posts").unwrap();
    let posts_env = posts["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    assert!(
        posts_env
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "AGORA_REPLICATED")
    );

    // The CronJob was made now and nothing ran: the first backup is due, not missing.
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        condition(&server, "demo", "BackedUp")["reason"],
        "FirstBackupDue"
    );
    assert_eq!(condition(&server, "demo", "BackedUp")["status"], "True");

    let now = k8s_openapi::jiff::Timestamp::now();
    let hours_ago = |h: i64| (now - k8s_openapi::jiff::SignedDuration::from_hours(h)).to_string();
    let mut job = server.get(&cron_jobs(), "demo-backup").unwrap();
    job["status"] = json!({"lastScheduleTime": hours_ago(2), "lastSuccessfulTime": hours_ago(1)});
    server.put(&cron_jobs(), job.clone());
    pass(&server, &ctx, "demo").await.unwrap();
    // The job's pod said what it wrote, in its termination message.
    server.put(
        &format!("/api/v1{NS}pods"),
        json!({"metadata": {"name": "demo-backup-29000000-abcde", "namespace": "tenants",
            "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "backup"}},
            "status": {"containerStatuses": [{"name": "backup", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 0, "finishedAt": hours_ago(1),
                "message": r#"{"id":"20261126T030000Z","bytes":8599854,"parts":11}"#}}}]}}),
    );
    pass(&server, &ctx, "demo").await.unwrap();
    let status = server.get(PLATFORMS, "demo").unwrap()["status"]["backup"].clone();
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(status["lastBackup"], "20261126T030000Z");
    assert_eq!(status["lastBackupBytes"], 8599854);
    assert_eq!(condition(&server, "demo", "BackedUp")["status"], "True");

    // A newer run that did not succeed, and the last success now too old.
    job["status"] = json!({"lastScheduleTime": hours_ago(1), "lastSuccessfulTime": hours_ago(30)});
    server.put(&cron_jobs(), job);
    pass(&server, &ctx, "demo").await.unwrap();
    let backed_up = condition(&server, "demo", "BackedUp");
    assert_eq!(
        (backed_up["status"].as_str(), backed_up["reason"].as_str()),
        (Some("False"), Some("Failed"))
    );

    let mut asleep = spec.clone();
    asleep["hibernate"] = true.into();
    set_spec(&server, "demo", asleep);
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        server.get(&cron_jobs(), "demo-backup").unwrap()["spec"]["suspend"],
        true
    );

    set_spec(&server, "demo", json!({}));
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(
        server.get(&cron_jobs(), "demo-backup").is_none(),
        "pruned with spec.backup"
    );
    let conditions = server.get(PLATFORMS, "demo").unwrap()["status"]["conditions"].clone();
    assert!(
        !conditions
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "BackedUp")
    );
}

/// `spec.restoreFrom` puts a restore before every context pod's node, for its contexts.
#[tokio::test]
async fn a_platform_made_from_a_backup_restores_each_pod_before_it_starts() {
    let server = ApiServer::default();
    let spec = json!({"restoreFrom": {"backup": "20261126T030000Z",
        "encryptionKeySecret": "acme-encryption",
        "target": {"s3": {"bucket": "acme-backups", "prefix": "acme", "credentialsSecret": "s3"}}}});
    server.put(PLATFORMS, platform("copy", spec));
    let ctx = context(&server);
    pass(&server, &ctx, "copy").await.unwrap();
    for context in ["auth", "posts", "search"] {
        let set = server.get(&sets(), &format!("copy-{context}")).unwrap();
        let init = &set["spec"]["template"]["spec"]["initContainers"][0];
        assert_eq!(init["args"], json!(["restore", "--once"]));
        let value = |name: &str| {
            init["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].clone())
        };
        assert_eq!(value("AGORA_CONTEXTS"), Some(json!(context)));
        assert_eq!(
            value("AGORA_RESTORE_FROM"),
            Some(json!("s3://acme-backups/acme"))
        );
        assert_eq!(
            value("AGORA_RESTORE_BACKUP"),
            Some(json!("20261126T030000Z"))
        );
        // It puts the backup's event stream back on the new platform's bus, whose
        // stream is named after the platform.
        assert_eq!(value("AGORA_PLATFORM"), Some(json!("copy")));
        let main = &set["spec"]["template"]["spec"]["containers"][0]["env"];
        let main_nats = main
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "AGORA_NATS_URL")
            .map(|e| e["value"].clone());
        assert!(main_nats.is_some());
        assert_eq!(value("AGORA_NATS_URL"), main_nats);
        // The keys put back are opened with the source platform's key and wrapped with
        // this one's, which the node then uses.
        let secret_of = |env: &Value, name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["valueFrom"]["secretKeyRef"]["name"].clone())
        };
        assert_eq!(
            secret_of(&init["env"], "AGORA_RESTORE_SOURCE_ENCRYPTION_KEY"),
            Some(json!("acme-encryption"))
        );
        assert_eq!(
            secret_of(&init["env"], "AGORA_ENCRYPTION_KEY"),
            Some(json!("copy-encryption"))
        );
        assert_eq!(
            secret_of(main, "AGORA_ENCRYPTION_KEY"),
            Some(json!("copy-encryption"))
        );
    }
    assert!(server.get(&secrets(), "copy-encryption").is_some());
}

/// `kubectl agora backup` sets an annotation; the operator makes one Job for each value.
#[tokio::test]
async fn a_backup_asked_for_now_runs_once_per_request() {
    let server = ApiServer::default();
    let spec = json!({"backup": {"schedule": "@daily", "target": {"volume": {"claimName": "b"}}}});
    let mut sp = platform("demo", spec);
    sp["metadata"]["annotations"] = json!({"agora.dev/backup": "1764150000"});
    server.put(PLATFORMS, sp);
    let ctx = context(&server);
    pass(&server, &ctx, "demo").await.unwrap();
    let jobs = format!("/apis/batch/v1{NS}jobs");
    assert_eq!(server.names(&jobs), ["demo-backup-1764150000"]);
    let job = server.get(&jobs, "demo-backup-1764150000").unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["backup"])
    );
    let status = server.get(PLATFORMS, "demo").unwrap()["status"]["backup"].clone();
    assert_eq!(status["request"], "1764150000");
    assert_eq!(events(&server, "BackupRequested"), 1);
    // Done and gone (its TTL): the same request is not run again.
    server
        .0
        .lock()
        .unwrap()
        .objects
        .get_mut(&jobs)
        .unwrap()
        .clear();
    pass(&server, &ctx, "demo").await.unwrap();
    assert!(server.names(&jobs).is_empty());
    assert_eq!(events(&server, "BackupRequested"), 1);
}

/// A context whose pods' control channels are `pods` (routes under `/{pod}/`), served on a
/// loopback port.
async fn with_pods(
    server: &ApiServer,
    pods: axum::Router,
) -> Arc<agora_operator::controller::Context> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pods).await });
    let mut ctx = context_value(server);
    ctx.node_base = Some(format!("http://{addr}/{{pod}}"));
    Arc::new(ctx)
}

/// The pods of a replicated context say where they stand; the status names the writer and
/// how far each pod is behind it.
#[tokio::test]
async fn the_status_names_each_replicated_contexts_writer_and_its_followers_lag() {
    async fn replicas(
        axum::extract::Path(pod): axum::extract::Path<String>,
        headers: axum::http::HeaderMap,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if !headers.contains_key("authorization") {
            return axum::http::StatusCode::FORBIDDEN.into_response();
        }
        let (role, lsn) = match pod.as_str() {
            "demo-posts-1" => ("writer", 120),
            _ => ("follower", 100),
        };
        axum::Json(json!([{"context": "posts", "role": role, "lsn": lsn, "stream_lsn": lsn, "needs_copy": false}]))
            .into_response()
    }
    let server = ApiServer::default();
    server.put(
        PLATFORMS,
        platform(
            "demo",
            json!({"contexts": {"overrides": {"posts": {"replicas": 2}}}}),
        ),
    );
    let app = axum::Router::new().route("/{pod}/ops/replicas", axum::routing::get(replicas));
    let ctx = with_pods(&server, app).await;
    pass(&server, &ctx, "demo").await.unwrap();
    pass(&server, &ctx, "demo").await.unwrap();
    let posts = server.get(PLATFORMS, "demo").unwrap()["status"]["contexts"]["posts"].clone();
    assert_eq!(posts["writer"], "demo-posts-1");
    assert_eq!(
        posts["replicaPods"],
        json!([
            {"pod": "demo-posts-0", "role": "follower", "lsn": 100, "behind": 20, "needsCopy": false},
            {"pod": "demo-posts-1", "role": "writer", "lsn": 120, "behind": 0, "needsCopy": false}
        ])
    );
    // A context with one pod and no change log is not asked.
    let auth = server.get(PLATFORMS, "demo").unwrap()["status"]["contexts"]["auth"].clone();
    assert!(auth.get("writer").is_none() && auth.get("replicaPods").is_none());
}

/// A rollout of a context with several replicas replaces its followers first and its
/// writer last, one pod at a time, each back and ready before the next: the lease is
/// handed over once, to a follower already on the new version.
#[tokio::test]
async fn a_rollout_replaces_the_followers_first_and_the_writer_last() {
    async fn replicas(
        axum::extract::Path(pod): axum::extract::Path<String>,
    ) -> axum::Json<serde_json::Value> {
        // The writer is the pod the StatefulSet controller would replace first.
        let role = if pod == "demo-posts-2" {
            "writer"
        } else {
            "follower"
        };
        axum::Json(
            json!([{"context": "posts", "role": role, "lsn": 7, "stream_lsn": 7, "needs_copy": false}]),
        )
    }
    let server = ApiServer::default();
    server.put(
        PLATFORMS,
        platform(
            "demo",
            json!({"contexts": {"overrides": {"posts": {"replicas": 3}}}}),
        ),
    );
    let app = axum::Router::new().route("/{pod}/ops/replicas", axum::routing::get(replicas));
    let ctx = with_pods(&server, app).await;
    pass(&server, &ctx, "demo").await.unwrap();

    let set = server.get(&sets(), "demo-posts").unwrap();
    assert_eq!(set["spec"]["updateStrategy"]["type"], "OnDelete");
    let auth = server.get(&sets(), "demo-auth").unwrap();
    assert!(
        auth["spec"].get("updateStrategy").is_none(),
        "one pod: Kubernetes rolls it"
    );
    let labels = set["spec"]["selector"]["matchLabels"].clone();
    let pods = format!("/api/v1{NS}pods");
    let put_pod = |n: u32, revision: &str| {
        let mut pod_labels = labels.clone();
        pod_labels["controller-revision-hash"] = json!(revision);
        server.put(
            &pods,
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("demo-posts-{n}"), "namespace": "tenants", "labels": pod_labels},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
    };
    for n in 0..3 {
        put_pod(n, "old");
    }
    let mut set = set;
    set["status"] = json!({"replicas": 3, "readyReplicas": 3, "updatedReplicas": 0,
        "currentRevision": "old", "updateRevision": "new"});
    server.put(&sets(), set);

    let mut replaced = Vec::new();
    for _ in 0..3 {
        pass(&server, &ctx, "demo").await.unwrap();
        let left = server.names(&pods);
        let gone: Vec<u32> = (0..3)
            .filter(|n| !left.contains(&format!("demo-posts-{n}")))
            .collect();
        assert_eq!(gone.len(), 1, "one pod at a time: {left:?}");
        // While it is away, no other pod goes.
        pass(&server, &ctx, "demo").await.unwrap();
        assert_eq!(server.names(&pods).len(), 2);
        replaced.push(gone[0]);
        put_pod(gone[0], "new");
    }
    assert_eq!(replaced, [1, 0, 2], "followers first, the writer last");
    pass(&server, &ctx, "demo").await.unwrap();
    assert_eq!(
        server.names(&pods).len(),
        3,
        "all at the new revision: nothing more goes"
    );
    // Kubernetes folds repeats of an Event into one with a count.
    let said = |reason: &str| -> Vec<Value> {
        server
            .events()
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    };
    assert_eq!(said("PodRolled")[0]["series"]["count"], 2);
    let writer = said("WriterRolled");
    let note = writer[0]["note"].as_str().unwrap();
    assert!(
        note.starts_with("replacing demo-posts-2 (the writer, last"),
        "{note}"
    );
}
