//! The managed NATS JetStream cluster, in the conventions of the official NATS Helm chart:
//! Parallel pod management, a headless Service that publishes not-ready addresses (so
//! routes form before readiness), a `server_name` per pod, cluster routes when replicas > 1,
//! the file store on a volume claim, health probes on `/healthz?js-enabled-only=true`, and
//! lame-duck mode on stop.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ExecAction, Lifecycle,
    LifecycleHandler, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    CONFIG_HASH, Child, Platform, hardened_container, hardened_pod, hash_of, http_probe, image_tag,
    port, tls,
};
use crate::crd::ManagedNats;

pub const COMPONENT: &str = "nats";
pub const CLIENT_PORT: i32 = 4222;
pub const CLUSTER_PORT: i32 = 6222;
pub const MONITOR_PORT: i32 = 8222;

/// Everything the managed bus needs; nothing for an external one.
/// The managed bus's objects; `asleep`: its StatefulSet at zero pods (hibernation).
/// `certificates`: the certificate's digest rolls the servers, which read it only at start.
pub fn objects(p: &Platform, asleep: bool, certificates: Option<&tls::Digests>) -> Vec<Child> {
    let Some(nats) = p.sp.spec.event_bus.managed() else {
        return Vec::new();
    };
    let version = image_tag(&nats.image).to_string();
    let config = config(p, &nats);
    let mut out = vec![
        Child::new(config_map(p, &config, &version)),
        Child::new(headless_service(p, &version)),
        Child::new(client_service(p, &version)),
        Child::new(stateful_set(
            p,
            &nats,
            &config,
            &version,
            asleep,
            certificates,
        )),
    ];
    if nats.replicas > 1 && !asleep {
        out.push(Child::new(disruption_budget(p, &version)));
    }
    out
}

fn headless_name(p: &Platform) -> String {
    p.object_name("nats-headless")
}

/// `nats.conf`. `$SERVER_NAME` is the pod name, from the environment.
pub fn config(p: &Platform, nats: &ManagedNats) -> String {
    let name = p.object_name(COMPONENT);
    let mut conf = format!(
        "server_name: $SERVER_NAME\nlisten: 0.0.0.0:{CLIENT_PORT}\nhttp: 0.0.0.0:{MONITOR_PORT}\npid_file: /var/run/nats/nats.pid\n\
         lame_duck_duration: 30s\nlame_duck_grace_period: 10s\n\njetstream {{\n  store_dir: /data\n  max_file_store: {}\n}}\n",
        storage_bytes(&nats.storage.size)
    );
    let tls_block = |indent: &str| {
        let mount = tls::MOUNT;
        format!(
            "{indent}tls {{\n{indent}  cert_file: {mount}/tls.crt\n{indent}  key_file: {mount}/tls.key\n\
             {indent}  ca_file: {mount}/ca.crt\n{indent}  timeout: 5\n{indent}}}\n"
        )
    };
    if tls::enabled(p) {
        // Clients: TLS only. Routes (below): TLS both ways, each server checking the
        // other's certificate against the platform's CA.
        conf.push('\n');
        conf.push_str(&tls_block(""));
    }
    if nats.replicas > 1 {
        let routes: Vec<String> = (0..nats.replicas)
            .map(|i| {
                format!(
                    "    nats://{name}-{i}.{}.{}.svc:{CLUSTER_PORT}",
                    headless_name(p),
                    p.namespace
                )
            })
            .collect();
        let route_tls = if tls::enabled(p) {
            tls_block("  ")
        } else {
            String::new()
        };
        conf.push_str(&format!(
            "\ncluster {{\n  name: {}\n  listen: 0.0.0.0:{CLUSTER_PORT}\n{route_tls}  routes: [\n{}\n  ]\n}}\n",
            p.name,
            routes.join("\n")
        ));
    }
    conf
}

/// 90 % of the volume, in bytes, so JetStream stops before the disk is full.
fn storage_bytes(size: &str) -> u64 {
    let (number, unit) = size.split_at(
        size.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(size.len()),
    );
    let n: f64 = number.parse().unwrap_or(1.0);
    let factor: f64 = match unit {
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => 1.0,
    };
    (n * factor * 0.9) as u64
}

fn config_map(p: &Platform, config: &str, version: &str) -> ConfigMap {
    ConfigMap {
        metadata: p.meta(p.object_name("nats-config"), COMPONENT, version),
        data: Some(BTreeMap::from([(
            "nats.conf".to_string(),
            config.to_string(),
        )])),
        ..Default::default()
    }
}

fn service_ports() -> Vec<ServicePort> {
    [
        ("client", CLIENT_PORT),
        ("cluster", CLUSTER_PORT),
        ("monitor", MONITOR_PORT),
    ]
    .into_iter()
    .map(|(name, number)| ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(name.into())),
        ..Default::default()
    })
    .collect()
}

fn headless_service(p: &Platform, version: &str) -> Service {
    Service {
        metadata: p.meta(headless_name(p), COMPONENT, version),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(p.selector(COMPONENT)),
            ports: Some(service_ports()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn client_service(p: &Platform, version: &str) -> Service {
    Service {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(ServiceSpec {
            selector: Some(p.selector(COMPONENT)),
            ports: Some(
                service_ports()
                    .into_iter()
                    .filter(|s| s.name.as_deref() == Some("client"))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_name_env() -> EnvVar {
    EnvVar {
        name: "SERVER_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container(p: &Platform, nats: &ManagedNats) -> Container {
    let mut startup = http_probe("/healthz?js-enabled-only=true", MONITOR_PORT, 10, 90);
    startup.initial_delay_seconds = Some(10);
    hardened_container(Container {
        name: "nats".into(),
        image: Some(nats.image.clone()),
        args: Some(vec!["--config".into(), "/etc/nats/nats.conf".into()]),
        env: Some(vec![pod_name_env()]),
        ports: Some(vec![
            port("client", CLIENT_PORT),
            port("cluster", CLUSTER_PORT),
            port("monitor", MONITOR_PORT),
        ]),
        startup_probe: Some(startup),
        liveness_probe: Some(http_probe(
            "/healthz?js-enabled-only=true",
            MONITOR_PORT,
            30,
            3,
        )),
        readiness_probe: Some(http_probe(
            "/healthz?js-server-only=true",
            MONITOR_PORT,
            10,
            3,
        )),
        lifecycle: Some(Lifecycle {
            // Lame-duck mode: clients move to other servers before this one stops.
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec![
                        "nats-server".into(),
                        "-sl=ldm=/var/run/nats/nats.pid".into(),
                    ]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        resources: Some(nats.resources.clone()),
        volume_mounts: Some(
            vec![
                VolumeMount {
                    name: "config".into(),
                    mount_path: "/etc/nats".into(),
                    read_only: Some(true),
                    ..Default::default()
                },
                VolumeMount {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    ..Default::default()
                },
                VolumeMount {
                    name: "pid".into(),
                    mount_path: "/var/run/nats".into(),
                    ..Default::default()
                },
            ]
            .into_iter()
            .chain(tls::mount(p))
            .collect(),
        ),
        ..Default::default()
    })
}

fn stateful_set(
    p: &Platform,
    nats: &ManagedNats,
    config: &str,
    version: &str,
    asleep: bool,
    certificates: Option<&tls::Digests>,
) -> StatefulSet {
    let mut template_meta = ObjectMeta {
        labels: Some(p.labels(COMPONENT, version)),
        ..Default::default()
    };
    let mut annotations = BTreeMap::from([(CONFIG_HASH.to_string(), hash_of(&config))]);
    annotations.extend(certificates.map(|c| (tls::POD_ANNOTATION.to_string(), c.cert.clone())));
    template_meta.annotations = Some(annotations);
    StatefulSet {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(StatefulSetSpec {
            replicas: Some(if asleep { 0 } else { nats.replicas }),
            service_name: Some(headless_name(p)),
            pod_management_policy: Some("Parallel".into()),
            selector: p.label_selector(COMPONENT),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(PodSpec {
                    containers: vec![container(p, nats)],
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    share_process_namespace: Some(true),
                    termination_grace_period_seconds: Some(60),
                    security_context: Some(hardened_pod(1000)),
                    volumes: Some(
                        vec![
                            Volume {
                                name: "config".into(),
                                config_map: Some(ConfigMapVolumeSource {
                                    name: p.object_name("nats-config"),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                            Volume {
                                name: "pid".into(),
                                empty_dir: Some(Default::default()),
                                ..Default::default()
                            },
                        ]
                        .into_iter()
                        .chain(tls::volume(p, true))
                        .collect(),
                    ),
                    affinity: Some(super::spread(p, COMPONENT)),
                    ..Default::default()
                }),
            },
            persistent_volume_claim_retention_policy: Some(super::retention(p)),
            volume_claim_templates: Some(vec![volume_claim(&nats.storage)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `data` claim template of a StatefulSet.
pub fn volume_claim(storage: &crate::crd::StorageSpec) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(storage.size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn disruption_budget(p: &Platform, version: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(PodDisruptionBudgetSpec {
            // Keeps the Raft quorum during drains without ever blocking them.
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(p.label_selector(COMPONENT)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    #[test]
    fn one_server_has_no_cluster_block_and_three_have_routes() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        let single = config(&p, &p.sp.spec.event_bus.managed().unwrap());
        assert!(!single.contains("cluster {"));
        assert!(single.contains("store_dir: /data"));
        let sp = platform(
            "demo",
            serde_json::json!({"eventBus": {"managed": {"replicas": 3}}}),
        );
        let p = Platform::new(&sp);
        let three = config(&p, &p.sp.spec.event_bus.managed().unwrap());
        assert!(three.contains("nats://demo-nats-2.demo-nats-headless.tenants.svc:6222"));
        assert_eq!(
            objects(&p, false, None)
                .iter()
                .filter(|c| c.kind == "PodDisruptionBudget")
                .count(),
            1
        );
    }

    #[test]
    fn an_external_bus_creates_nothing() {
        let sp = platform(
            "demo",
            serde_json::json!({"eventBus": {"external": {"url": "nats://bus:4222", "streamReplicas": 3}}}),
        );
        let p = Platform::new(&sp);
        assert!(objects(&p, false, None).is_empty());
    }

    #[test]
    fn file_store_limit_is_ninety_percent_of_the_volume() {
        assert_eq!(storage_bytes("10Gi"), (10.0 * 1024f64.powi(3) * 0.9) as u64);
        assert_eq!(storage_bytes("500M"), 450_000_000);
    }
}
