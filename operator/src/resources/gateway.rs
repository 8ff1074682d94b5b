//! The public edge: a Deployment of `agora-node gateway`, its Service, and an Ingress and
//! a HorizontalPodAutoscaler when asked.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bus;
use super::node::{self, NODE_USER};
use super::spread;
use super::{
    CONFIG_HASH, Child, HTTP_PORT, METRICS_PORT, Platform, env, env_from_secret,
    hardened_container, hardened_pod, hash_of, http_probe, image_tag, port, tls,
};
use crate::crd::ServiceType;

pub const COMPONENT: &str = "gateway";

pub fn objects(p: &Platform, image: &str, certificates: Option<&tls::Digests>) -> Vec<Child> {
    let version = image_tag(image).to_string();
    let spec = &p.sp.spec.gateway;
    let mut out = vec![
        Child::new(service(p, &version)),
        Child::new(deployment(p, image, &version, certificates)),
    ];
    if let Some(ingress) = ingress(p, &version) {
        out.push(Child::new(ingress));
    }
    if let Some(hpa) = autoscaler(p, &version).filter(|_| !p.hibernating()) {
        out.push(Child::new(hpa));
    }
    if !p.hibernating() && (spec.replicas > 1 || spec.autoscaling.is_some()) {
        out.push(Child::new(PodDisruptionBudget {
            metadata: p.meta(p.object_name(COMPONENT), COMPONENT, &version),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(p.label_selector(COMPONENT)),
                ..Default::default()
            }),
            ..Default::default()
        }));
    }
    out
}

/// Where clients reach the API.
pub fn endpoint(p: &Platform) -> String {
    match &p.sp.spec.gateway.ingress {
        Some(i) if i.tls_secret_name.is_some() => format!("https://{}", i.host),
        Some(i) => format!("http://{}", i.host),
        None => format!(
            "http://{}.{}.svc:{HTTP_PORT}",
            p.object_name(COMPONENT),
            p.namespace
        ),
    }
}

fn service(p: &Platform, version: &str) -> Service {
    let service_type = match p.sp.spec.gateway.service_type {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    Service {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(ServiceSpec {
            type_: Some(service_type.into()),
            selector: Some(p.selector(COMPONENT)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container(p: &Platform, image: &str) -> Container {
    let spec = &p.sp.spec.gateway;
    let mut vars = vec![
        env("AGORA_PLATFORM", &p.name),
        env("AGORA_HTTP_ADDR", format!("0.0.0.0:{HTTP_PORT}")),
        env("AGORA_METRICS_ADDR", format!("0.0.0.0:{METRICS_PORT}")),
        env("AGORA_LOG_FORMAT", "json"),
        env("AGORA_RATE_LIMIT_IP", spec.rate_limit_per_ip.to_string()),
        env(
            "AGORA_RATE_LIMIT_USER",
            spec.rate_limit_per_user.to_string(),
        ),
        env_from_secret("AGORA_JWT_PUBLIC_KEY", &p.jwt_secret(), "public.pem", false),
        // The push channel subscribes to its connected users' signals on the bus.
        env("AGORA_NATS_URL", bus::url(p)),
        // Uploads pass the gateway's body limit up to this size.
        env(
            "AGORA_MEDIA_MAX_UPLOAD_MIB",
            p.sp.spec.media.max_upload_mib.to_string(),
        ),
    ];
    vars.extend(bus::creds_env(p));
    vars.extend(bus::ca_env(p));
    // Checks the contexts' (and the bus's) certificates; its own listener stays plain
    // HTTP behind the Ingress.
    vars.extend(tls::environment(p, false));
    vars.extend(super::upstreams(p));
    hardened_container(Container {
        name: "gateway".into(),
        image: Some(image.into()),
        args: Some(vec!["gateway".into()]),
        env: Some(vars),
        ports: Some(vec![port("http", HTTP_PORT), port("metrics", METRICS_PORT)]),
        liveness_probe: Some(http_probe("/healthz", HTTP_PORT, 10, 3)),
        readiness_probe: Some(http_probe("/readyz", HTTP_PORT, 5, 3)),
        resources: Some(spec.resources.clone()),
        volume_mounts: Some(
            [VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            }]
            .into_iter()
            .chain(bus::creds_mount(p))
            .chain(tls::mount(p))
            .collect(),
        ),
        ..Default::default()
    })
}

fn deployment(
    p: &Platform,
    image: &str,
    version: &str,
    certificates: Option<&tls::Digests>,
) -> Deployment {
    let pod = PodSpec {
        containers: vec![container(p, image)],
        service_account_name: Some(p.service_account()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(hardened_pod(NODE_USER)),
        affinity: Some(spread(p, COMPONENT)),
        volumes: Some(
            node::volumes(p)
                .into_iter()
                .chain(tls::volume(p, false))
                .collect(),
        ),
        ..Default::default()
    };
    let mut annotations = BTreeMap::from([(CONFIG_HASH.to_string(), hash_of(&pod))]);
    annotations.extend(certificates.map(|c| (tls::POD_ANNOTATION.to_string(), c.ca.clone())));
    let spec = &p.sp.spec.gateway;
    Deployment {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(DeploymentSpec {
            // With an autoscaler the replica count is its business, not ours (but for
            // hibernation, when the autoscaler is removed).
            replicas: match (&spec.autoscaling, p.hibernating()) {
                (_, true) => Some(0),
                (Some(_), false) => None,
                (None, false) => Some(spec.replicas),
            },
            selector: p.label_selector(COMPONENT),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(p.labels(COMPONENT, version)),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ingress(p: &Platform, version: &str) -> Option<Ingress> {
    let spec = p.sp.spec.gateway.ingress.as_ref()?;
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: p.object_name(COMPONENT),
            port: Some(ServiceBackendPort {
                name: Some("http".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    Some(Ingress {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend,
                    }],
                }),
            }]),
            tls: spec.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(secret.clone()),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn autoscaler(p: &Platform, version: &str) -> Option<HorizontalPodAutoscaler> {
    let spec = p.sp.spec.gateway.autoscaling.as_ref()?;
    Some(HorizontalPodAutoscaler {
        metadata: p.meta(p.object_name(COMPONENT), COMPONENT, version),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: p.object_name(COMPONENT),
            },
            min_replicas: Some(spec.min_replicas),
            max_replicas: spec.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(spec.target_cpu_percent),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    #[test]
    fn upstreams_follow_the_topology() {
        let upstream = |spec| {
            let sp = platform("demo", spec);
            let p = Platform::new(&sp);
            let c = container(&p, "agora-node:1");
            c.env
                .unwrap()
                .into_iter()
                .find(|e| e.name == "AGORA_UPSTREAM_USERS")
                .unwrap()
                .value
                .unwrap()
        };
        assert_eq!(upstream(serde_json::json!({})), "https://demo-users:8080");
        assert_eq!(
            upstream(serde_json::json!({"topology": "Compact"})),
            "https://demo-node:8080"
        );
        // Where something else encrypts the pod network: plain HTTP.
        assert_eq!(
            upstream(serde_json::json!({"tls": {"enabled": false}})),
            "http://demo-users:8080"
        );
    }

    #[test]
    fn ingress_and_autoscaler_only_when_asked() {
        let sp = platform("demo", serde_json::json!({}));
        let kinds: Vec<_> = objects(&Platform::new(&sp), "i:1", None)
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(kinds, ["Service", "Deployment", "PodDisruptionBudget"]);
        let sp = platform(
            "demo",
            serde_json::json!({"gateway": {"replicas": 1, "ingress": {"host": "social.example.org", "tlsSecretName": "tls"},
            "autoscaling": {"maxReplicas": 5}}}),
        );
        let p = Platform::new(&sp);
        let kinds: Vec<_> = objects(&p, "i:1", None)
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "Service",
                "Deployment",
                "Ingress",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget"
            ]
        );
        assert_eq!(endpoint(&p), "https://social.example.org");
    }
}
