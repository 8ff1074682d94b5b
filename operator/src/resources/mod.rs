//! The objects a `SocialPlatform` asks for, as pure functions of the resource: spec in,
//! objects out. `reconcile` only applies them. Snapshot tests pin what they render.
//!
//! - [`backup`]: the backup CronJob, and the restore init container of `restoreFrom`;
//! - [`nats`]: the managed JetStream StatefulSet, its config and Services;
//! - [`bus`]: how a node's pod reaches the bus (URL, stream settings, credentials);
//! - [`node`]: the context StatefulSets and Services (one per context, or one `compact`);
//! - [`gateway`]: Deployment, Service, Ingress, HPA;
//! - [`policy`]: ServiceAccount, the JWT Secret, PodDisruptionBudgets, NetworkPolicies;
//! - [`monitoring`]: the Prometheus Operator's PodMonitor and PrometheusRule (alerts);
//! - [`dashboard`]: the Grafana dashboard's ConfigMap;
//! - [`tls`]: the platform's CA and certificate Secrets, and how pods get them.

pub mod backup;
pub mod bus;
pub mod dashboard;
pub mod gateway;
pub mod monitoring;
pub mod nats;
pub mod node;
pub mod policy;
pub mod tls;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    PodSecurityContext, Probe, SeccompProfile, SecretKeySelector, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crd::{CONTEXTS, SocialPlatform, Topology};

/// The field manager of every server-side apply.
pub const MANAGER: &str = "agora-operator";
/// The port every `agora-node` serves HTTP on.
pub const HTTP_PORT: i32 = 8080;
/// The gateway's scrape port: its public port answers `/metrics` to loopback only.
pub const METRICS_PORT: i32 = 9090;
/// The user the `agora-node` image runs as (distroless `nonroot`).
pub const NODE_USER: i64 = 65532;
/// Annotation on pod templates: a hash of their configuration, so a change rolls them.
pub const CONFIG_HASH: &str = "agora.dev/config-hash";

/// One object to apply, already serialized with its `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub object: serde_json::Value,
}

impl Child {
    /// An object of a kind without Rust types (another operator's custom resource).
    pub fn custom(
        api_version: &str,
        kind: &str,
        name: String,
        mut object: serde_json::Value,
    ) -> Child {
        if let Some(fields) = object.as_object_mut() {
            fields.insert("apiVersion".into(), api_version.into());
            fields.insert("kind".into(), kind.into());
        }
        Child {
            api_version: api_version.into(),
            kind: kind.into(),
            name,
            object,
        }
    }

    #[expect(clippy::expect_used, reason = "k8s-openapi types always serialize")]
    pub fn new<K: Resource<DynamicType = ()> + Serialize>(object: K) -> Child {
        let name = object.meta().name.clone().unwrap_or_default();
        let mut value = serde_json::to_value(&object).expect("Kubernetes objects serialize");
        if let Some(fields) = value.as_object_mut() {
            fields.insert("apiVersion".into(), K::api_version(&()).into());
            fields.insert("kind".into(), K::kind(&()).into());
        }
        Child {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name,
            object: value,
        }
    }
}

/// Names and labels of one platform's objects.
#[derive(Debug, Clone)]
pub struct Platform<'a> {
    pub sp: &'a SocialPlatform,
    pub name: String,
    pub namespace: String,
}

impl<'a> Platform<'a> {
    pub fn new(sp: &'a SocialPlatform) -> Self {
        Platform {
            name: sp.name_any(),
            namespace: sp.namespace().unwrap_or_else(|| "default".into()),
            sp,
        }
    }

    /// `<platform>-<part>`.
    pub fn object_name(&self, part: &str) -> String {
        format!("{}-{part}", self.name)
    }

    /// The labels that select a component's pods (stable across versions).
    pub fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".into(), "agora".into()),
            ("app.kubernetes.io/instance".into(), self.name.clone()),
            ("app.kubernetes.io/component".into(), component.into()),
        ])
    }

    /// Every label of a component's objects.
    pub fn labels(&self, component: &str, version: &str) -> BTreeMap<String, String> {
        let mut labels = self.selector(component);
        labels.insert("app.kubernetes.io/part-of".into(), "agora".into());
        labels.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
        labels.insert("app.kubernetes.io/version".into(), label_value(version));
        labels
    }

    /// The controller reference to the platform. Objects from the API server always have a
    /// uid; one without (a hand-built object) gets an empty reference, which the API server
    /// refuses with a clear error instead of the operator panicking.
    pub fn owner(&self) -> OwnerReference {
        self.sp.controller_owner_ref(&()).unwrap_or_default()
    }

    /// Metadata of a child: name, namespace, labels, owner.
    pub fn meta(&self, name: String, component: &str, version: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component, version)),
            owner_references: Some(vec![self.owner()]),
            ..Default::default()
        }
    }

    pub fn label_selector(&self, component: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector(component)),
            ..Default::default()
        }
    }

    /// The node workloads: one per context, or one running all in `compact`.
    pub fn workloads(&self) -> Vec<Workload> {
        match self.sp.spec.topology {
            Topology::Distributed => CONTEXTS
                .iter()
                .map(|c| Workload {
                    component: c.to_string(),
                    contexts: vec![c.to_string()],
                })
                .collect(),
            Topology::Compact => vec![Workload {
                component: "node".into(),
                contexts: CONTEXTS.iter().map(|c| c.to_string()).collect(),
            }],
        }
    }

    /// The Services the platform's certificate names: each workload's and the managed
    /// bus's.
    pub fn services(&self) -> Vec<String> {
        let mut services: Vec<String> = self
            .workloads()
            .iter()
            .map(|w| self.object_name(&w.component))
            .collect();
        if self.sp.spec.event_bus.managed().is_some() {
            services.push(self.object_name(nats::COMPONENT));
        }
        services
    }

    /// The workload serving a context.
    pub fn workload_of(&self, context: &str) -> String {
        match self.sp.spec.topology {
            Topology::Distributed => context.to_string(),
            Topology::Compact => "node".into(),
        }
    }

    /// The Secret holding the JWT key pair.
    pub fn jwt_secret(&self) -> String {
        self.object_name("jwt")
    }

    /// The Secret holding the platform's key (`AGORA_ENCRYPTION_KEY`), which wraps the
    /// keys of the stream's sealed fields.
    pub fn encryption_secret(&self) -> String {
        self.object_name("encryption")
    }

    /// The Secret holding the key of signed media URLs.
    pub fn media_url_secret(&self) -> String {
        self.object_name("media-url")
    }

    /// The Secret holding the token of the nodes' control channel (`/ops/`).
    pub fn control_secret(&self) -> String {
        self.object_name("control")
    }

    pub fn service_account(&self) -> String {
        self.object_name("node")
    }

    /// Whether the platform hibernates: every workload at zero pods, every volume kept.
    pub fn hibernating(&self) -> bool {
        self.sp.spec.hibernate
    }

    /// The pods a workload that asks for `wanted` runs now: none while hibernating.
    pub fn pods(&self, wanted: i32) -> i32 {
        if self.hibernating() { 0 } else { wanted }
    }
}

/// What the operator decided from what it observed, for [`desired`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The image each workload (and `gateway`) runs now; absent ones get `spec.image`.
    pub images: BTreeMap<String, String>,
    /// The managed bus is scaled to zero (hibernating, and no context runs any more).
    pub bus_asleep: bool,
    /// The cluster has the Prometheus Operator's CRDs (`monitoring.coreos.com/v1`).
    pub prometheus_operator: bool,
    /// The namespace of the operator's pods, let into the contexts' control channel.
    pub operator_namespace: Option<String>,
    /// The platform's certificates as the pods' templates carry them (`spec.tls`).
    pub certificates: Option<tls::Digests>,
}

/// What happens to a StatefulSet's volume claims: kept when scaled down, and when the
/// StatefulSet is deleted (with the platform) as the data policy says.
pub fn retention(
    p: &Platform,
) -> k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
    let when_deleted = match p.sp.spec.data_policy {
        crate::crd::DataPolicy::Retain => "Retain",
        crate::crd::DataPolicy::Delete => "Delete",
    };
    k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(when_deleted.into()),
        when_scaled: Some("Retain".into()),
    }
}

/// One StatefulSet of `agora-node serve`: its component name and the contexts it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub component: String,
    pub contexts: Vec<String>,
}

/// The tag of an image (`repo:tag` → `tag`), else `latest`.
pub fn image_tag(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let without_digest = last.split('@').next().unwrap_or(last);
    without_digest
        .split_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest")
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`.
fn label_value(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// A short stable hash of anything serializable.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    let digest = Sha256::digest(serde_json::to_vec(value).unwrap_or_default());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `AGORA_UPSTREAM_<CONTEXT>` for every context: the Service that serves it (the
/// gateway's routes, and where a backup job takes snapshots from).
pub fn upstreams(p: &Platform) -> Vec<EnvVar> {
    crate::crd::CONTEXTS
        .iter()
        .map(|context| {
            let service = p.object_name(&p.workload_of(context));
            env(
                &format!("AGORA_UPSTREAM_{}", context.to_uppercase()),
                format!("{}://{service}:{HTTP_PORT}", tls::scheme(p)),
            )
        })
        .collect()
}

/// A value of a Secret as text: from `data` (what the API server answers), else
/// `stringData` (what was written, as a stand-in API server keeps it).
pub fn secret_text(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> Option<String> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok());
    from_data.or_else(|| secret.string_data.as_ref()?.get(key).cloned())
}

pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// A variable set from a field of the pod (`metadata.name`).
pub fn env_from_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn env_from_secret(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: optional.then_some(true),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn http_probe(path: &str, port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

/// [`http_probe`] of a node's port: HTTPS when the platform's parts speak TLS (the kubelet
/// does not check the certificate).
pub fn node_probe(p: &Platform, path: &str, period: i32, failures: i32) -> Probe {
    let mut probe = http_probe(path, HTTP_PORT, period, failures);
    if let Some(get) = probe.http_get.as_mut() {
        get.scheme = tls::enabled(p).then(|| "HTTPS".into());
    }
    probe
}

pub fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Non-root, read-only root file system, no capabilities, no privilege escalation.
pub fn hardened_container(mut c: Container) -> Container {
    c.security_context = Some(SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    });
    c
}

/// The pod-level half: a fixed non-root user, the volume group, seccomp RuntimeDefault.
pub fn hardened_pod(user: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(user),
        run_as_group: Some(user),
        fs_group: Some(user),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Everything the platform asks for, in apply order (dependencies first).
pub fn desired(p: &Platform, plan: &Plan) -> Vec<Child> {
    let images = &plan.images;
    let mut out = policy::service_account(p);
    let certificates = plan.certificates.as_ref();
    out.extend(nats::objects(p, plan.bus_asleep, certificates));
    for workload in p.workloads() {
        let image = images
            .get(&workload.component)
            .cloned()
            .unwrap_or_else(|| p.sp.spec.image.clone());
        out.extend(node::objects(p, &workload, &image, certificates));
    }
    out.extend(gateway::objects(
        p,
        images
            .get("gateway")
            .map(String::as_str)
            .unwrap_or(&p.sp.spec.image),
        certificates,
    ));
    out.extend(policy::network_policies(
        p,
        plan.operator_namespace.as_deref(),
    ));
    out.extend(backup::objects(p));
    out.extend(monitoring::objects(p, plan.prometheus_operator));
    out.extend(dashboard::objects(p));
    out
}

/// Everything for a platform on its first reconcile (no workload running yet), in a
/// cluster that has the Prometheus Operator, by an operator in `agora-system`.
pub fn render(sp: &SocialPlatform) -> Vec<Child> {
    let plan = Plan {
        images: BTreeMap::new(),
        bus_asleep: sp.spec.hibernate,
        prometheus_operator: true,
        operator_namespace: Some("agora-system".into()),
        // What the controller reads from the Secrets it made (fixed here, for snapshots).
        certificates: sp.spec.tls.enabled.then(|| tls::Digests {
            ca: "0123456789abcdef".into(),
            cert: "fedcba9876543210".into(),
        }),
    };
    desired(&Platform::new(sp), &plan)
}

#[cfg(test)]
pub mod fixtures {
    use super::*;

    /// A platform as the API server would return it (with a uid), from a spec in JSON.
    pub fn platform(name: &str, spec: serde_json::Value) -> SocialPlatform {
        let mut sp = SocialPlatform::new(name, serde_json::from_value(spec).unwrap());
        sp.metadata.namespace = Some("tenants".into());
        sp.metadata.uid = Some("0b8e1a2c-1111-4222-8333-444455556666".into());
        sp.metadata.generation = Some(1);
        sp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    /// Whether the certificate's `names` cover `host` (a wildcard covers one label).
    fn covered(names: &[String], host: &str) -> bool {
        names.iter().any(|n| match n.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
            None => n == host,
        })
    }

    fn host(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split([':', '/']).next().unwrap_or(rest).to_string()
    }

    #[test]
    fn the_certificate_names_every_address_the_parts_are_reached_at() {
        for spec in [
            serde_json::json!({"contexts": {"defaults": {"replicas": 3}}, "eventBus": {"managed": {"replicas": 3}}}),
            serde_json::json!({"topology": "Compact"}),
        ] {
            let sp = platform("demo", spec);
            let p = Platform::new(&sp);
            let names = tls::names(&p);
            let mut hosts: Vec<String> = upstreams(&p)
                .iter()
                .filter_map(|e| e.value.as_deref().map(host))
                .collect();
            hosts.push(host(&bus::url(&p)));
            // The NATS servers' routes, and the pods the gateway sends writes to.
            let conf = nats::config(&p, &p.sp.spec.event_bus.managed().unwrap());
            hosts.extend(conf.lines().filter(|l| l.contains("nats://")).map(host));
            for w in p.workloads() {
                let advertised = node::environment(&p, &w)
                    .into_iter()
                    .find(|e| e.name == "AGORA_ADVERTISE_URL")
                    .and_then(|e| e.value);
                if let Some(url) = advertised {
                    hosts.push(
                        host(&url).replace("$(POD_NAME)", &format!("demo-{}-0", w.component)),
                    );
                }
            }
            hosts.extend(crate::replicas::targets(&p).iter().map(|t| host(&t.host)));
            hosts.push("localhost".into());
            assert!(hosts.len() > 12, "{hosts:?}");
            for host in &hosts {
                assert!(covered(&names, host), "{host} is not in {names:?}");
            }
            assert!(
                !covered(&names, "demo-gateway"),
                "the gateway serves plain HTTP"
            );
        }
    }

    #[test]
    fn pods_get_the_certificate_where_they_serve_and_the_ca_everywhere() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        let vars = |serves| -> Vec<String> {
            tls::environment(&p, serves)
                .into_iter()
                .map(|e| e.name)
                .collect()
        };
        assert_eq!(vars(false), ["AGORA_TLS_CA"]);
        assert_eq!(
            vars(true),
            ["AGORA_TLS_CA", "AGORA_TLS_CERT", "AGORA_TLS_KEY"]
        );
        let secret = |serves| tls::volume(&p, serves).unwrap().secret.unwrap();
        assert_eq!(secret(true).secret_name.unwrap(), "demo-tls");
        assert!(secret(true).items.is_none());
        let only: Vec<String> = secret(false)
            .items
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(
            only,
            ["ca.crt"],
            "the key stays out of pods that only check"
        );
        let conf = nats::config(&p, &p.sp.spec.event_bus.managed().unwrap());
        assert!(
            conf.contains("tls {\n  cert_file: /etc/agora/tls/tls.crt"),
            "{conf}"
        );

        let sp = platform("demo", serde_json::json!({"tls": {"enabled": false}}));
        let p = Platform::new(&sp);
        assert!(
            tls::environment(&p, true).is_empty()
                && tls::volume(&p, true).is_none()
                && tls::mount(&p).is_none()
        );
        let conf = nats::config(&p, &p.sp.spec.event_bus.managed().unwrap());
        assert!(!conf.contains("tls"), "{conf}");
    }

    #[test]
    fn image_tags_and_label_values() {
        assert_eq!(image_tag("ghcr.io/agora-dev/agora-node:0.1.0"), "0.1.0");
        assert_eq!(image_tag("localhost:5000/agora-node"), "latest");
        assert_eq!(image_tag("agora-node:1.2@sha256:abc"), "1.2");
        assert_eq!(label_value("v1+build/7"), "v1_build_7");
    }
}

/// Prefer spreading a component's pods over nodes.
pub fn spread(p: &Platform, component: &str) -> k8s_openapi::api::core::v1::Affinity {
    use k8s_openapi::api::core::v1::{
        Affinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(p.label_selector(component)),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
