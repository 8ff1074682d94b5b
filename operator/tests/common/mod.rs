//! A mocked Kubernetes API server (kube's tower-test pattern): an in-memory store that
//! answers the requests the operator makes (get, list by label, server-side apply,
//! create, delete, status merge patch, events) and records every request.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agora_operator::controller::{Context, reconcile};
use agora_operator::crd::SocialPlatform;
use agora_operator::telemetry::Metrics;
use kube::runtime::events::{Recorder, Reporter};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// One request the operator made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
}

#[derive(Default)]
pub struct State {
    /// Collection path (`/apis/apps/v1/namespaces/tenants/statefulsets`) → name → object.
    pub objects: BTreeMap<String, BTreeMap<String, Value>>,
    pub calls: Vec<Call>,
    next_uid: u64,
}

#[derive(Clone, Default)]
pub struct ApiServer(pub Arc<Mutex<State>>);

const PLURALS: &[&str] = &[
    "statefulsets",
    "deployments",
    "services",
    "configmaps",
    "serviceaccounts",
    "poddisruptionbudgets",
    "networkpolicies",
    "ingresses",
    "horizontalpodautoscalers",
    "secrets",
    "socialplatforms",
    "events",
    "podmonitors",
    "prometheusrules",
    "cronjobs",
    "jobs",
    "pods",
];

pub const PLATFORMS: &str = "/apis/agora.dev/v1alpha1/namespaces/tenants/socialplatforms";

impl ApiServer {
    /// A kube client whose requests this server answers.
    pub fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let response = server.answer(request).await;
                send.send_response(response);
            }
        });
        kube::Client::new(service, "tenants")
    }

    /// Makes the cluster serve the Prometheus Operator's CRDs (its discovery document).
    pub fn install_prometheus_operator(&self) {
        let resource = |name: &str, kind: &str| {
            json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
        };
        self.put(
            "/apis/monitoring.coreos.com",
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "monitoring.coreos.com/v1",
                   "metadata": {"name": "v1"},
                   "resources": [resource("podmonitors", "PodMonitor"), resource("prometheusrules", "PrometheusRule"),
                                 resource("servicemonitors", "ServiceMonitor")]}),
        );
    }

    pub fn put(&self, collection: &str, object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        self.0
            .lock()
            .unwrap()
            .objects
            .entry(collection.into())
            .or_default()
            .insert(name, object);
    }

    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap()
            .objects
            .get(collection)
            .and_then(|c| c.get(name))
            .cloned()
    }

    pub fn names(&self, collection: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .objects
            .get(collection)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.0.lock().unwrap().calls.clear();
    }

    /// Every stored object but events, for before/after comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, Value>> {
        let mut objects = self.0.lock().unwrap().objects.clone();
        objects.retain(|k, _| !k.ends_with("/events"));
        objects
    }

    pub fn events(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.ends_with("/events"))
            .flat_map(|(_, v)| v.values().cloned())
            .collect()
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let merge = request
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes() == b"application/merge-patch+json");
        let body = request.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut state = self.0.lock().unwrap();
        state.calls.push(Call {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
        });
        let segments: Vec<&str> = path.rsplitn(2, '/').collect();
        let (last, parent) = (segments[0], segments.get(1).copied().unwrap_or(""));
        let (status, value) = if PLURALS.contains(&last) {
            collection(&mut state, &method, &path, &query, body)
        } else if last == "status" {
            let (collection, name) = parent.rsplit_once('/').unwrap();
            status_patch(&mut state, collection, name, body)
        } else if merge && method == "PATCH" && !path.contains("/events/") {
            merge_patch(&mut state, parent, last, body)
        } else {
            item(&mut state, &method, parent, last, body)
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&value).unwrap()))
            .unwrap()
    }
}

fn not_found(what: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{what} not found")}),
    )
}

fn matches(object: &Value, query: &str) -> bool {
    let Some(selector) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
    else {
        return true;
    };
    let selector = selector
        .replace("%3D", "=")
        .replace("%2C", ",")
        .replace("%2F", "/");
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap();
        object["metadata"]["labels"][k] == v
    })
}

fn collection(
    state: &mut State,
    method: &str,
    path: &str,
    query: &str,
    mut body: Value,
) -> (StatusCode, Value) {
    match method {
        "GET" => {
            let items: Vec<Value> = state
                .objects
                .get(path)
                .map(|c| c.values().filter(|o| matches(o, query)).cloned().collect())
                .unwrap_or_default();
            (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        "POST" => {
            let name = body["metadata"]["name"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| {
                    state.next_uid += 1;
                    format!("generated-{}", state.next_uid)
                });
            if state
                .objects
                .get(path)
                .is_some_and(|c| c.contains_key(&name))
            {
                return (
                    StatusCode::CONFLICT,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409}),
                );
            }
            body["metadata"]["name"] = name.clone().into();
            state
                .objects
                .entry(path.into())
                .or_default()
                .insert(name, body.clone());
            (StatusCode::CREATED, body)
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, Value::Null),
    }
}

fn item(
    state: &mut State,
    method: &str,
    collection: &str,
    name: &str,
    body: Value,
) -> (StatusCode, Value) {
    let existing = state
        .objects
        .get(collection)
        .and_then(|c| c.get(name))
        .cloned();
    match method {
        "GET" => existing
            .map(|o| (StatusCode::OK, o))
            .unwrap_or_else(|| not_found(name)),
        "DELETE" => match state
            .objects
            .get_mut(collection)
            .and_then(|c| c.remove(name))
        {
            Some(o) => (StatusCode::OK, o),
            None => not_found(name),
        },
        "PATCH" => {
            // Server-side apply (or a merge patch of an event): the applied object, with the
            // status the "cluster" keeps; `generation` moves when the spec changes.
            let mut object = body;
            let generation = match &existing {
                None => 1,
                Some(old) => {
                    if let Some(status) = old.get("status") {
                        object["status"] = status.clone();
                    }
                    let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                    if old.get("spec") != object.get("spec") {
                        g + 1
                    } else {
                        g
                    }
                }
            };
            object["metadata"]["generation"] = generation.into();
            // Set once, when the object is made, as the API server does.
            object["metadata"]["creationTimestamp"] = existing
                .as_ref()
                .map(|o| o["metadata"]["creationTimestamp"].clone())
                .unwrap_or_else(|| k8s_openapi::jiff::Timestamp::now().to_string().into());
            state
                .objects
                .entry(collection.into())
                .or_default()
                .insert(name.into(), object.clone());
            (StatusCode::OK, object)
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, Value::Null),
    }
}

/// An RFC 7386 merge patch of a stored object (what `kubectl patch --type=merge` sends).
fn merge_patch(
    state: &mut State,
    collection: &str,
    name: &str,
    patch: Value,
) -> (StatusCode, Value) {
    fn merge(target: &mut Value, patch: &Value) {
        match (target.as_object_mut(), patch.as_object()) {
            (Some(t), Some(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            _ => *target = patch.clone(),
        }
    }
    match state
        .objects
        .get_mut(collection)
        .and_then(|c| c.get_mut(name))
    {
        Some(object) => {
            merge(object, &patch);
            (StatusCode::OK, object.clone())
        }
        None => not_found(name),
    }
}

fn status_patch(
    state: &mut State,
    collection: &str,
    name: &str,
    body: Value,
) -> (StatusCode, Value) {
    match state
        .objects
        .get_mut(collection)
        .and_then(|c| c.get_mut(name))
    {
        Some(object) => {
            object["status"] = body["status"].clone();
            (StatusCode::OK, object.clone())
        }
        None => not_found(name),
    }
}

/// A platform as stored by the API server, from a spec.
pub fn platform(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "agora.dev/v1alpha1", "kind": "SocialPlatform",
        "metadata": {"name": name, "namespace": "tenants", "uid": format!("uid-{name}"), "generation": 1},
        "spec": spec
    })
}

pub const NS: &str = "/namespaces/tenants/";

pub fn sets() -> String {
    format!("/apis/apps/v1{NS}statefulsets")
}
pub fn deployments() -> String {
    format!("/apis/apps/v1{NS}deployments")
}
pub fn secrets() -> String {
    format!("/api/v1{NS}secrets")
}
pub fn ingresses() -> String {
    format!("/apis/networking.k8s.io/v1{NS}ingresses")
}

pub fn context(server: &ApiServer) -> Arc<Context> {
    Arc::new(context_value(server))
}

/// The reconcile context, before it is shared (to set test seams).
pub fn context_value(server: &ApiServer) -> Context {
    let client = server.client();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "agora-operator".into(),
            instance: None,
        },
    );
    let mut ctx = Context::new(client, Metrics::new(), recorder);
    // No pod answers unless a test stands one in: a closed port refuses at once (the
    // pods' real names would wait for DNS).
    ctx.node_base = Some("http://127.0.0.1:1/{pod}".into());
    ctx
}

/// Runs one reconcile of the platform as currently stored (as the watcher would see it).
pub async fn pass(server: &ApiServer, ctx: &Arc<Context>, name: &str) -> Result<(), String> {
    let stored = server.get(PLATFORMS, name).expect("platform stored");
    let sp: SocialPlatform = serde_json::from_value(stored).unwrap();
    reconcile(Arc::new(sp), ctx.clone())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn condition(server: &ApiServer, name: &str, kind: &str) -> Value {
    let sp = server.get(PLATFORMS, name).unwrap();
    sp["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap()
}

/// Marks every StatefulSet and Deployment as fully rolled out and ready.
pub fn make_everything_ready(server: &ApiServer) {
    for collection in [sets(), deployments()] {
        for name in server.names(&collection) {
            let mut object = server.get(&collection, &name).unwrap();
            let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
            object["status"] = json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
                "updatedReplicas": replicas, "currentRevision": "r1", "updateRevision": "r1"});
            server.put(&collection, object);
        }
    }
}
