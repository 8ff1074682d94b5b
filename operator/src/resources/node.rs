//! The contexts: per workload a StatefulSet running `agora-node serve --context …` with its
//! own volume, a headless Service (stable pod names) and a ClusterIP Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bus;
use super::{
    CONFIG_HASH, Child, HTTP_PORT, Platform, Workload, env, env_from_field, env_from_secret,
    hardened_container, hardened_pod, hash_of, image_tag, nats, node_probe, port, spread, tls,
};
use crate::crd::RegistrationMode;

pub use super::NODE_USER;

pub fn objects(
    p: &Platform,
    w: &Workload,
    image: &str,
    certificates: Option<&tls::Digests>,
) -> Vec<Child> {
    let version = image_tag(image).to_string();
    let settings = settings_of(p, w);
    let mut out = vec![
        Child::new(service(p, w, &version, true)),
        Child::new(service(p, w, &version, false)),
        Child::new(stateful_set(p, w, image, &version, certificates)),
    ];
    if p.pods(settings.replicas) > 1 {
        out.push(Child::new(PodDisruptionBudget {
            metadata: p.meta(p.object_name(&w.component), &w.component, &version),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(p.label_selector(&w.component)),
                ..Default::default()
            }),
            ..Default::default()
        }));
    }
    out
}

/// Whether the workload's contexts run as replicas (a change log on the bus): more than
/// one pod, or point-in-time backups.
pub fn replicated(p: &Platform, w: &Workload) -> bool {
    settings_of(p, w).replicas > 1 || p.sp.spec.backup.as_ref().is_some_and(|b| b.point_in_time)
}

/// The pods the workload asks for (one for contexts that may not have replicas).
pub fn replicas(p: &Platform, w: &Workload) -> i32 {
    settings_of(p, w).replicas
}

/// Whether the operator replaces the workload's pods itself in a rollout (its
/// StatefulSet is `OnDelete`, [`crate::rolling`]): when it runs several replicas, so
/// that the writer goes last and hands its lease over once.
pub fn rolls_by_operator(p: &Platform, w: &Workload) -> bool {
    replicas(p, w) > 1
}

/// Settings of a workload: its context's (distributed) or the defaults (compact). Every
/// context may have replicas: followers copy the writer's store from its change stream,
/// search's followers keep their own index of it, and media's copy the files through the
/// bus's object store (docs/architecture.md, "Replicas").
fn settings_of(p: &Platform, w: &Workload) -> crate::crd::ContextSettings {
    match w.contexts.as_slice() {
        [one] => p.sp.spec.context(one),
        _ => p.sp.spec.contexts.defaults.clone(),
    }
}

fn service(p: &Platform, w: &Workload, version: &str, headless: bool) -> Service {
    let name = if headless {
        p.object_name(&format!("{}-headless", w.component))
    } else {
        p.object_name(&w.component)
    };
    Service {
        metadata: p.meta(name, &w.component, version),
        spec: Some(ServiceSpec {
            cluster_ip: headless.then(|| "None".into()),
            selector: Some(p.selector(&w.component)),
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

/// The node ↔ operator contract: the `AGORA_*` environment of a workload.
pub fn environment(p: &Platform, w: &Workload) -> Vec<EnvVar> {
    let spec = &p.sp.spec;
    let secret = p.jwt_secret();
    let mut vars = vec![
        env("AGORA_PLATFORM", &p.name),
        env("AGORA_CONTEXTS", w.contexts.join(",")),
        env("AGORA_DATA_DIR", "/data"),
        env("AGORA_HTTP_ADDR", format!("0.0.0.0:{HTTP_PORT}")),
        env("AGORA_LOG_FORMAT", "json"),
        // The node's allocator without transparent huge pages, whatever the node's THP
        // setting (the binary asks for none; this also covers `always`): under a 512 MiB
        // limit they held ~100-190 MB (docs/benchmarks.md, "Five minutes under a 512 MiB
        // budget").
        env("MIMALLOC_ALLOW_THP", "0"),
    ];
    vars.extend(bus::environment(p));
    vars.extend(tls::environment(p, true));
    vars.extend([
        env_from_secret("AGORA_JWT_PUBLIC_KEY", &secret, "public.pem", false),
        // Every context that shows media signs its URLs; media checks them.
        env_from_secret("AGORA_MEDIA_URL_KEY", &p.media_url_secret(), "key", false),
        env_from_secret("AGORA_ENCRYPTION_KEY", &p.encryption_secret(), "key", false),
        // The operator's key to the pod's control channel (rebuilds).
        env_from_secret("AGORA_CONTROL_TOKEN", &p.control_secret(), "token", false),
    ]);
    vars.extend(bus::creds_env(p));
    if w.contexts.iter().any(|c| c == "media") {
        vars.push(env(
            "AGORA_MEDIA_MAX_UPLOAD_MIB",
            spec.media.max_upload_mib.to_string(),
        ));
        vars.push(env(
            "AGORA_MEDIA_QUOTA_MIB",
            spec.media.quota_per_user_mib.to_string(),
        ));
    }
    if w.contexts.iter().any(|c| c == "search") && spec.search.index_in_memory {
        vars.push(env("AGORA_SEARCH_INDEX_IN_MEMORY", "true"));
    }
    if w.contexts.iter().any(|c| c == "moderation") && !spec.moderation.blocked_keywords.is_empty()
    {
        vars.push(env(
            "AGORA_BLOCKED_KEYWORDS",
            spec.moderation.blocked_keywords.join(","),
        ));
    }
    if w.contexts.iter().any(|c| c == "auth") {
        let auth = &spec.auth;
        vars.push(env_from_secret(
            "AGORA_JWT_PRIVATE_KEY",
            &secret,
            "private.pem",
            false,
        ));
        vars.push(env(
            "AGORA_ACCESS_TOKEN_TTL_SECS",
            auth.access_token_ttl_seconds.to_string(),
        ));
        vars.push(env(
            "AGORA_REFRESH_TOKEN_TTL_SECS",
            auth.refresh_token_ttl_seconds.to_string(),
        ));
        let registration = match auth.registration {
            RegistrationMode::Open => "open",
            RegistrationMode::Invite => "invite",
            RegistrationMode::Closed => "closed",
        };
        vars.push(env("AGORA_REGISTRATION", registration));
        if auth.invitations_by == crate::crd::InvitationsBy::Admins {
            vars.push(env("AGORA_INVITATIONS_BY", "admins"));
        }
        if auth.mfa == crate::crd::MfaPolicy::Required {
            vars.push(env("AGORA_MFA_REQUIRED", "true"));
        }
        if !auth.admin_emails.is_empty() {
            vars.push(env("AGORA_ADMIN_EMAILS", auth.admin_emails.join(",")));
        }
        vars.push(env(
            "AGORA_ERASURE_GRACE_HOURS",
            (i64::from(auth.erasure_grace_days.max(0)) * 24).to_string(),
        ));
        if let Some(smtp) = &auth.smtp_secret {
            vars.push(env_from_secret("AGORA_SMTP_URL", smtp, "url", false));
            vars.push(env_from_secret("AGORA_MAIL_FROM", smtp, "from", true));
        }
    }
    let point_in_time = p.sp.spec.backup.as_ref().is_some_and(|b| b.point_in_time);
    if point_in_time && settings_of(p, w).replicas == 1 {
        // A change log on the bus, so a restore comes back to the newest state.
        vars.push(env("AGORA_REPLICATED", "true"));
    }
    if settings_of(p, w).replicas > 1 {
        // The pod's stable name, which the gateway sends writes to while it holds the lease.
        let headless = p.object_name(&format!("{}-headless", w.component));
        vars.push(env_from_field("POD_NAME", "metadata.name"));
        vars.push(env("AGORA_REPLICATED", "true"));
        vars.push(env(
            "AGORA_ADVERTISE_URL",
            format!("{}://$(POD_NAME).{headless}:{HTTP_PORT}", tls::scheme(p)),
        ));
    }
    vars
}

fn container(p: &Platform, w: &Workload, image: &str) -> Container {
    let settings = settings_of(p, w);
    let mut mounts = vec![
        VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..Default::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        },
    ];
    mounts.extend(bus::creds_mount(p));
    mounts.extend(tls::mount(p));
    hardened_container(Container {
        name: "agora-node".into(),
        image: Some(image.into()),
        args: Some(vec!["serve".into()]),
        env: Some(environment(p, w)),
        ports: Some(vec![port("http", HTTP_PORT)]),
        // A context listens once its store is open: the first start after an upgrade may
        // seal a whole store (and loads its resident projections), so the liveness probe
        // waits for up to ten minutes of startup before it counts.
        startup_probe: Some(node_probe(p, "/healthz", 5, STARTUP_PROBES)),
        liveness_probe: Some(node_probe(p, "/healthz", 10, 3)),
        readiness_probe: Some(node_probe(p, "/readyz", 5, 3)),
        resources: Some(settings.resources),
        volume_mounts: Some(mounts),
        ..Default::default()
    })
}

/// How many failed startup probes (5 s apart) a context's pod is given: ten minutes.
const STARTUP_PROBES: i32 = 120;

/// A scratch `/tmp`, and the bus credentials where there are some.
pub(super) fn volumes(p: &Platform) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(Default::default()),
        ..Default::default()
    }];
    volumes.extend(bus::creds_volume(p));
    volumes
}

fn stateful_set(
    p: &Platform,
    w: &Workload,
    image: &str,
    version: &str,
    certificates: Option<&tls::Digests>,
) -> StatefulSet {
    let settings = settings_of(p, w);
    let mut volumes = volumes(p);
    volumes.extend(tls::volume(p, true));
    volumes.extend(super::backup::restore_volume(p));
    let pod = PodSpec {
        init_containers: super::backup::restore_container(p, &w.contexts, image).map(|c| vec![c]),
        containers: vec![container(p, w, image)],
        service_account_name: Some(p.service_account()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(hardened_pod(NODE_USER)),
        termination_grace_period_seconds: Some(30),
        affinity: Some(spread(p, &w.component)),
        volumes: Some(volumes),
        ..Default::default()
    };
    let mut annotations = BTreeMap::from([(CONFIG_HASH.to_string(), hash_of(&pod))]);
    annotations.extend(certificates.map(|c| (tls::POD_ANNOTATION.to_string(), c.ca.clone())));
    StatefulSet {
        metadata: p.meta(p.object_name(&w.component), &w.component, version),
        spec: Some(StatefulSetSpec {
            replicas: Some(p.pods(settings.replicas)),
            service_name: Some(p.object_name(&format!("{}-headless", w.component))),
            selector: p.label_selector(&w.component),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(p.labels(&w.component, version)),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            persistent_volume_claim_retention_policy: Some(super::retention(p)),
            update_strategy: rolls_by_operator(p, w).then(|| StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                rolling_update: None,
            }),
            volume_claim_templates: Some(vec![nats::volume_claim(&settings.storage)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    fn names(env: &[EnvVar]) -> Vec<&str> {
        env.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn only_auth_gets_the_private_key() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        let auth = environment(&p, &p.workloads()[0]);
        let users = environment(&p, &p.workloads()[1]);
        assert!(names(&auth).contains(&"AGORA_JWT_PRIVATE_KEY"));
        assert!(!names(&users).contains(&"AGORA_JWT_PRIVATE_KEY"));
        assert!(names(&users).contains(&"AGORA_JWT_PUBLIC_KEY"));
        let nats_url = users.iter().find(|e| e.name == "AGORA_NATS_URL").unwrap();
        assert_eq!(
            nats_url.value.as_deref(),
            Some("tls://demo-nats.tenants.svc:4222")
        );
    }

    #[test]
    fn invite_registration_reaches_the_auth_node_as_it_is() {
        let sp = platform(
            "demo",
            serde_json::json!({"auth": {"registration": "Invite", "invitationsBy": "Admins"}}),
        );
        let p = Platform::new(&sp);
        let auth = environment(&p, &p.workloads()[0]);
        let value = |name: &str| {
            auth.iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(value("AGORA_REGISTRATION").as_deref(), Some("invite"));
        assert_eq!(value("AGORA_INVITATIONS_BY").as_deref(), Some("admins"));
    }

    #[test]
    fn only_search_keeps_its_index_in_memory_when_asked() {
        let value = |spec: serde_json::Value, context: &str| {
            let sp = platform("demo", spec);
            let p = Platform::new(&sp);
            let workloads = p.workloads();
            let w = workloads
                .iter()
                .find(|w| w.contexts.iter().any(|c| c == context))
                .unwrap();
            environment(&p, w)
                .into_iter()
                .find(|e| e.name == "AGORA_SEARCH_INDEX_IN_MEMORY")
                .and_then(|e| e.value)
        };
        let asked = serde_json::json!({"search": {"indexInMemory": true}});
        assert_eq!(value(asked.clone(), "search").as_deref(), Some("true"));
        assert_eq!(value(asked, "posts"), None);
        assert_eq!(
            value(serde_json::json!({}), "search"),
            None,
            "on disk by default"
        );
    }

    #[test]
    fn compact_runs_every_context_in_one_workload() {
        let sp = platform("demo", serde_json::json!({"topology": "Compact"}));
        let p = Platform::new(&sp);
        let workloads = p.workloads();
        assert_eq!(workloads.len(), 1);
        let env = environment(&p, &workloads[0]);
        assert_eq!(
            env.iter()
                .find(|e| e.name == "AGORA_CONTEXTS")
                .unwrap()
                .value
                .as_deref(),
            Some(
                "auth,users,groups,posts,feed,messages,media,search,notifications,moderation,analytics"
            )
        );
    }

    #[test]
    fn replicas_of_a_context_take_the_lease_and_advertise_their_pod_names() {
        let sp = platform(
            "demo",
            serde_json::json!({"contexts": {"defaults": {"replicas": 3}, "overrides": {"auth": {"replicas": 1}}}}),
        );
        let p = Platform::new(&sp);
        let workload = |c: &str| {
            p.workloads()
                .into_iter()
                .find(|w| w.component == c)
                .unwrap()
        };
        let value = |env: &[EnvVar], name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .map(|e| (e.value.clone(), e.value_from.clone()))
        };
        let posts = environment(&p, &workload("posts"));
        assert_eq!(
            value(&posts, "AGORA_REPLICATED").unwrap().0.as_deref(),
            Some("true")
        );
        // Kubernetes expands `$(POD_NAME)` only from a variable listed before it.
        let names: Vec<&str> = posts.iter().map(|e| e.name.as_str()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(at("POD_NAME") < at("AGORA_ADVERTISE_URL"));
        assert_eq!(
            value(&posts, "AGORA_ADVERTISE_URL").unwrap().0.as_deref(),
            Some("https://$(POD_NAME).demo-posts-headless:8080")
        );
        let pod_name = value(&posts, "POD_NAME").unwrap().1.unwrap();
        assert_eq!(pod_name.field_ref.unwrap().field_path, "metadata.name");
        // One replica: no lease, no change log.
        assert!(value(&environment(&p, &workload("auth")), "AGORA_REPLICATED").is_none());
        // Every context takes its replicas, search's index and media's files included.
        for c in ["posts", "search", "media"] {
            let set = stateful_set(&p, &workload(c), "agora-node:1", "1", None);
            assert_eq!(set.spec.unwrap().replicas, Some(3), "{c}");
            assert_eq!(
                value(&environment(&p, &workload(c)), "AGORA_REPLICATED")
                    .unwrap()
                    .0
                    .as_deref(),
                Some("true"),
                "{c}"
            );
        }
    }

    #[test]
    fn a_config_change_changes_the_pod_template_hash() {
        let hash = |spec| {
            let sp = platform("demo", spec);
            let p = Platform::new(&sp);
            let set = stateful_set(&p, &p.workloads()[0], "agora-node:1", "1", None);
            set.spec
                .unwrap()
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()[CONFIG_HASH]
                .clone()
        };
        let a = hash(serde_json::json!({}));
        assert_eq!(a, hash(serde_json::json!({})));
        assert_ne!(
            a,
            hash(serde_json::json!({"auth": {"accessTokenTtlSeconds": 600}}))
        );
    }
}
