//! Identity and isolation: the nodes' ServiceAccount (no API access), the Secrets of the
//! JWT key pair and of the media URL key, and NetworkPolicies that let in only what each part needs.

use std::collections::BTreeMap;

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Child, HTTP_PORT, METRICS_PORT, Platform, image_tag, nats};

/// The nodes' ServiceAccount. Pods also set `automountServiceAccountToken: false`, and the
/// operator grants it no Role: agora-node never talks to the Kubernetes API.
pub fn service_account(p: &Platform) -> Vec<Child> {
    vec![Child::new(ServiceAccount {
        metadata: p.meta(p.service_account(), "node", image_tag(&p.sp.spec.image)),
        automount_service_account_token: Some(false),
        ..Default::default()
    })]
}

/// A fresh Ed25519 key pair as (private PKCS#8 PEM, public SPKI PEM).
#[expect(
    clippy::expect_used,
    reason = "encoding a valid, fresh key cannot fail"
)]
pub fn generate_key_pair() -> (String, String) {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(Default::default())
        .expect("PKCS#8 encoding")
        .to_string();
    let public = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .expect("SPKI encoding");
    (private, public)
}

/// The Secret with the platform's signing keys. Created once: a later reconcile never
/// replaces it, or every session of the platform would end.
pub fn jwt_secret(p: &Platform, (private, public): (String, String)) -> Secret {
    Secret {
        metadata: p.meta(p.jwt_secret(), "auth", image_tag(&p.sp.spec.image)),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            ("private.pem".to_string(), private),
            ("public.pem".to_string(), public),
        ])),
        ..Default::default()
    }
}

/// 32 random bytes, base64: the media URL key, the control token.
pub fn generate_key() -> String {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The Secret with the key that signs media URLs (`key`). Created once, like the JWT
/// Secret: replacing it would break every media URL handed out in the last two hours.
pub fn media_url_secret(p: &Platform, key: String) -> Secret {
    generated_secret(p, p.media_url_secret(), "media", "key", key)
}

/// The Secret with the platform's key (`key`), which wraps every person's key of sealed
/// event fields on the bus. Created once: replacing it would make the stream's sealed
/// fields unreadable.
pub fn encryption_secret(p: &Platform, key: String) -> Secret {
    generated_secret(p, p.encryption_secret(), "encryption", "key", key)
}

/// The Secret with the token of the nodes' control channel (`token`), which the operator
/// presents to start and follow rebuilds. Created once.
pub fn control_secret(p: &Platform, token: String) -> Secret {
    generated_secret(p, p.control_secret(), "control", "token", token)
}

/// An Opaque Secret holding one generated value under `key`.
fn generated_secret(
    p: &Platform,
    name: String,
    component: &str,
    key: &str,
    value: String,
) -> Secret {
    Secret {
        metadata: p.meta(name, component, image_tag(&p.sp.spec.image)),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([(key.to_string(), value)])),
        ..Default::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn from_pods(selector: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(selector),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Scrapers: every pod of the namespaces `spec.monitoring.scrapeNamespaceLabels` selects,
/// on `port`, while monitoring is on.
fn scrape(p: &Platform, port: i32) -> Option<NetworkPolicyIngressRule> {
    let monitoring = &p.sp.spec.monitoring;
    monitoring.enabled.then(|| NetworkPolicyIngressRule {
        ports: Some(vec![tcp(port)]),
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(monitoring.scrape_namespace_labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }]),
    })
}

/// The operator's pods (in `namespace`), on the contexts' port: the control channel.
fn operator(namespace: &str) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        ports: Some(vec![tcp(HTTP_PORT)]),
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    namespace.to_string(),
                )])),
                ..Default::default()
            }),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/name".to_string(),
                    "agora-operator".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }]),
    }
}

fn policy(
    p: &Platform,
    name: &str,
    component_selector: LabelSelector,
    rules: Vec<NetworkPolicyIngressRule>,
) -> Child {
    Child::new(NetworkPolicy {
        metadata: p.meta(p.object_name(name), name, image_tag(&p.sp.spec.image)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(component_selector),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(rules),
            ..Default::default()
        }),
    })
}

/// The gateway is open to clients; contexts take traffic only from this platform's
/// gateway; NATS only from this platform's pods. Other platforms in the namespace, and
/// every other namespace, are shut out, but for the scrapers' namespaces, which reach the
/// metrics ports (the gateway's 9090, the contexts' 8080) while monitoring is on.
pub fn network_policies(p: &Platform, operator_namespace: Option<&str>) -> Vec<Child> {
    let instance = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "agora".to_string()),
        ("app.kubernetes.io/instance".to_string(), p.name.clone()),
    ]);
    let clients = NetworkPolicyIngressRule {
        ports: Some(vec![tcp(HTTP_PORT)]),
        from: None,
    };
    let mut out = vec![policy(
        p,
        "gateway",
        p.label_selector("gateway"),
        [clients]
            .into_iter()
            .chain(scrape(p, METRICS_PORT))
            .collect(),
    )];
    for w in p.workloads() {
        let gateway = NetworkPolicyIngressRule {
            ports: Some(vec![tcp(HTTP_PORT)]),
            from: Some(vec![from_pods(p.selector("gateway"))]),
        };
        // Backup jobs take snapshots over the control channel (with its token).
        let backup = p.sp.spec.backup.as_ref().map(|_| NetworkPolicyIngressRule {
            ports: Some(vec![tcp(HTTP_PORT)]),
            from: Some(vec![from_pods(p.selector(super::backup::COMPONENT))]),
        });
        let rules = [gateway]
            .into_iter()
            .chain(backup)
            .chain(scrape(p, HTTP_PORT))
            .chain(operator_namespace.map(operator));
        out.push(policy(
            p,
            &w.component,
            p.label_selector(&w.component),
            rules.collect(),
        ));
    }
    if p.sp.spec.event_bus.managed().is_some() {
        out.push(policy(
            p,
            nats::COMPONENT,
            p.label_selector(nats::COMPONENT),
            vec![
                NetworkPolicyIngressRule {
                    ports: Some(vec![tcp(nats::CLIENT_PORT)]),
                    from: Some(vec![from_pods(instance)]),
                },
                NetworkPolicyIngressRule {
                    ports: Some(vec![tcp(nats::CLUSTER_PORT), tcp(nats::MONITOR_PORT)]),
                    from: Some(vec![from_pods(p.selector(nats::COMPONENT))]),
                },
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    #[test]
    fn contexts_admit_only_their_gateway() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        let policies = network_policies(&p, None);
        let names: Vec<_> = policies.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo-gateway",
                "demo-auth",
                "demo-users",
                "demo-groups",
                "demo-posts",
                "demo-feed",
                "demo-messages",
                "demo-media",
                "demo-search",
                "demo-notifications",
                "demo-moderation",
                "demo-analytics",
                "demo-nats"
            ]
        );
        let users =
            &policies[2].object["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
        assert_eq!(users["app.kubernetes.io/component"], "gateway");
        assert_eq!(users["app.kubernetes.io/instance"], "demo");
    }

    #[test]
    fn scrapers_reach_only_the_metrics_ports_and_only_while_monitoring_is_on() {
        let sp = platform(
            "demo",
            serde_json::json!({"monitoring": {"scrapeNamespaceLabels": {"team": "observability"}}}),
        );
        let policies = network_policies(&Platform::new(&sp), None);
        let rule = |i: usize| policies[i].object["spec"]["ingress"][1].clone();
        assert_eq!(
            rule(0)["ports"][0]["port"],
            METRICS_PORT,
            "the gateway's scrape port"
        );
        assert_eq!(
            rule(2)["ports"][0]["port"],
            HTTP_PORT,
            "a context's own port"
        );
        assert_eq!(
            rule(2)["from"][0]["namespaceSelector"]["matchLabels"],
            serde_json::json!({"team": "observability"})
        );
        assert!(rule(2)["from"][0].get("podSelector").is_none());
        let nats = policies.last().unwrap();
        assert!(
            nats.object["spec"]["ingress"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["from"][0].get("namespaceSelector").is_none()),
            "the bus is not scraped"
        );

        let off = platform(
            "demo",
            serde_json::json!({"monitoring": {"enabled": false}}),
        );
        let policies = network_policies(&Platform::new(&off), None);
        assert!(
            policies
                .iter()
                .all(|c| !c.object.to_string().contains("namespaceSelector"))
        );
    }

    #[test]
    fn generated_keys_are_pem() {
        let (private, public) = generate_key_pair();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
