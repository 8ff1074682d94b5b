//! `kubectl agora`: the operator's actions from a terminal, as a kubectl plugin (the
//! binary `kubectl-agora`, installed by copying it onto PATH). Each action is one patch
//! of the `SocialPlatform` the operator then carries out (`restore`: one new
//! `SocialPlatform`); `status` reads what it reports.
//! The patches and the status view are pure functions here; `run` applies them.

use std::fmt::Write as _;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::crd::{CONTEXTS, SocialPlatform};
use crate::rebuild::ANNOTATION;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Conditions, contexts, the endpoint and the last rebuild of a platform.
    Status,
    /// Scale every part to zero, keeping the volumes (`spec.hibernate: true`).
    Hibernate,
    /// Bring a hibernating platform back (`spec.hibernate: false`).
    Wake,
    /// Rebuild contexts' projections from the event stream, one pod at a time.
    Rebuild {
        /// Contexts, comma-separated (`search,feed`).
        contexts: String,
    },
    /// Take a backup now (the `agora.dev/backup` annotation: a Job from the CronJob's
    /// template).
    Backup,
    /// Make a new platform from one of this platform's backups (`spec.restoreFrom`).
    Restore {
        /// The new platform's name.
        into: String,
        /// The backup's id; the newest complete one when absent.
        backup: Option<String>,
    },
    /// Stop reconciling (`spec.paused: true`).
    Pause,
    /// Reconcile again (`spec.paused: false`).
    Resume,
}

/// The action a command line names: the verb, its argument (for `rebuild` the contexts,
/// for `restore` the new platform's name) and for `restore` the backup's id.
pub fn action(verb: &str, argument: Option<&str>, backup: Option<&str>) -> Result<Action, String> {
    if backup.is_some() && verb != "restore" {
        return Err("--backup goes with restore only".into());
    }
    Ok(match (verb, argument) {
        ("backup", None) => Action::Backup,
        ("restore", Some(into)) => Action::Restore {
            into: into.to_string(),
            backup: backup.map(str::to_string),
        },
        ("restore", None) => {
            return Err(
                "restore needs the new platform's name: kubectl agora restore <platform> <new-name> [--backup <id>]".into(),
            );
        }
        ("status", None) => Action::Status,
        ("hibernate", None) => Action::Hibernate,
        ("wake", None) => Action::Wake,
        ("pause", None) => Action::Pause,
        ("resume", None) => Action::Resume,
        ("rebuild", Some(c)) => Action::Rebuild {
            contexts: c.to_string(),
        },
        ("rebuild", None) => {
            return Err(
                "rebuild needs the contexts: kubectl agora rebuild <platform> search,feed".into(),
            );
        }
        (verb, Some(_)) if VERBS.contains(&verb) => {
            return Err(format!("{verb} takes only the platform"));
        }
        (verb, _) => {
            return Err(format!(
                "unknown action {verb} (one of {})",
                VERBS.join(", ")
            ));
        }
    })
}

/// The actions, as typed.
pub const VERBS: &[&str] = &[
    "status",
    "hibernate",
    "wake",
    "rebuild",
    "backup",
    "restore",
    "pause",
    "resume",
];

/// The merge patch an action makes (`None`: `status` patches nothing). `now` names a
/// rebuild request (seconds since the epoch), so asking twice rebuilds twice.
pub fn patch(action: &Action, now: u64) -> Result<Option<Value>, String> {
    Ok(match action {
        Action::Status | Action::Restore { .. } => None,
        Action::Backup => Some(
            json!({"metadata": {"annotations": {crate::resources::backup::ANNOTATION: now.to_string()}}}),
        ),
        Action::Hibernate => Some(json!({"spec": {"hibernate": true}})),
        Action::Wake => Some(json!({"spec": {"hibernate": false}})),
        Action::Pause => Some(json!({"spec": {"paused": true}})),
        Action::Resume => Some(json!({"spec": {"paused": false}})),
        Action::Rebuild { contexts } => {
            let names: Vec<&str> = contexts
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if names.is_empty() {
                return Err("name at least one context".into());
            }
            if let Some(unknown) = names.iter().find(|c| !CONTEXTS.contains(c)) {
                return Err(format!(
                    "unknown context {unknown} (one of {})",
                    CONTEXTS.join(", ")
                ));
            }
            let value = format!("{}@{now}", names.join(","));
            Some(json!({"metadata": {"annotations": {ANNOTATION: value}}}))
        }
    })
}

/// A platform's status as a terminal shows it.
pub fn render(sp: &SocialPlatform) -> String {
    let mut out = String::new();
    let name = sp.metadata.name.clone().unwrap_or_default();
    let Some(status) = &sp.status else {
        return format!("{name}: no status yet (is the operator running?)\n");
    };
    let _ = writeln!(
        out,
        "{name}  endpoint: {}  contexts ready: {}",
        status.gateway_endpoint.as_deref().unwrap_or("-"),
        status.contexts_ready.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "\n{:<22} {:<7} {:<26} MESSAGE",
        "CONDITION", "STATUS", "REASON"
    );
    for c in &status.conditions {
        let _ = writeln!(
            out,
            "{:<22} {:<7} {:<26} {}",
            c.type_, c.status, c.reason, c.message
        );
    }
    let _ = writeln!(out, "\n{:<15} {:<9} IMAGE", "CONTEXT", "READY");
    for (context, s) in &status.contexts {
        let ready = format!("{}/{}", s.ready_replicas, s.replicas);
        let _ = writeln!(out, "{context:<15} {ready:<9} {}", s.image);
    }
    if let Some(b) = &status.backup {
        let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.as_ref().map_or("-".to_string(), |t| t.0.to_string())
        };
        let _ = writeln!(
            out,
            "\nbackups: {} (last scheduled {}, last successful {})",
            b.phase,
            time(&b.last_schedule_time),
            time(&b.last_successful_time)
        );
    }
    if let Some(r) = &status.rebuild {
        let _ = writeln!(out, "\nrebuild {}: {} ({})", r.request, r.phase, r.message);
        for pod in &r.pods {
            let _ = writeln!(out, "  {} {}: {} events", pod.pod, pod.context, pod.events);
        }
    }
    out
}

/// Carries out `action` on the platform `name` and says what it did.
pub async fn run(
    api: &Api<SocialPlatform>,
    name: &str,
    action: &Action,
    now: u64,
) -> anyhow::Result<String> {
    if let Action::Restore { into, backup } = action {
        let source = api.get(name).await?;
        let copy = restored_copy(&source, into, backup.as_deref()).map_err(anyhow::Error::msg)?;
        api.create(&kube::api::PostParams::default(), &copy).await?;
        return Ok(format!(
            "{into}: made from {name}'s backup {} (kubectl wait sp/{into} --for=condition=Ready)\n",
            backup.as_deref().unwrap_or("(the newest)")
        ));
    }
    let Some(body) = patch(action, now).map_err(anyhow::Error::msg)? else {
        return Ok(render(&api.get(name).await?));
    };
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    Ok(match action {
        Action::Hibernate => {
            format!("{name}: hibernating (kubectl wait sp/{name} --for=condition=Hibernated)\n")
        }
        Action::Wake => format!("{name}: waking (kubectl wait sp/{name} --for=condition=Ready)\n"),
        Action::Rebuild { contexts } => format!(
            "{name}: rebuild of {contexts} asked (kubectl agora status {name} shows progress)\n"
        ),
        Action::Backup => format!(
            "{name}: backup asked (kubectl get jobs -l app.kubernetes.io/instance={name},app.kubernetes.io/component=backup)\n"
        ),
        Action::Pause => format!("{name}: paused\n"),
        Action::Resume | Action::Status | Action::Restore { .. } => {
            format!("{name}: reconciling\n")
        }
    })
}

/// A new platform `into` with the spec of `source` (less its backups, hibernation and
/// pause), made from `source`'s backup `backup` (the newest when `None`): its
/// `restoreFrom` names `source`'s target with `source`'s prefix spelled out.
pub fn restored_copy(
    source: &SocialPlatform,
    into: &str,
    backup: Option<&str>,
) -> Result<SocialPlatform, String> {
    let name = source.metadata.name.clone().unwrap_or_default();
    let Some(backups) = &source.spec.backup else {
        return Err(format!(
            "{name} has no spec.backup: write spec.restoreFrom of a new platform by hand"
        ));
    };
    let mut target = backups.target.clone();
    if let Some(s3) = target.s3.as_mut() {
        s3.prefix.get_or_insert_with(|| name.clone());
    }
    if let Some(volume) = target.volume.as_mut() {
        volume.sub_path.get_or_insert_with(|| name.clone());
    }
    let mut spec = source.spec.clone();
    spec.backup = None;
    spec.hibernate = false;
    spec.paused = false;
    spec.restore_from = Some(crate::crd::RestoreSpec {
        target,
        backup: backup.map(str::to_string),
        // The source's keys of sealed event fields are wrapped with its key.
        encryption_key_secret: Some(crate::resources::Platform::new(source).encryption_secret()),
    });
    let mut copy = SocialPlatform::new(into, spec);
    copy.metadata.namespace = source.metadata.namespace.clone();
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_one_action() {
        assert_eq!(action("wake", None, None), Ok(Action::Wake));
        assert_eq!(action("backup", None, None), Ok(Action::Backup));
        assert_eq!(
            action("restore", Some("copy"), Some("20261126T030000Z")),
            Ok(Action::Restore {
                into: "copy".into(),
                backup: Some("20261126T030000Z".into())
            })
        );
        assert!(action("restore", None, None).is_err_and(|e| e.contains("new platform")));
        assert!(action("wake", None, Some("x")).is_err());
        assert_eq!(
            action("rebuild", Some("feed"), None),
            Ok(Action::Rebuild {
                contexts: "feed".into()
            })
        );
        assert!(action("rebuild", None, None).is_err());
        assert!(action("wake", Some("feed"), None).is_err());
        assert!(action("sleep", None, None).is_err_and(|e| e.contains("hibernate")));
    }

    #[test]
    fn each_action_is_one_patch() {
        assert_eq!(patch(&Action::Status, 1), Ok(None));
        assert_eq!(
            patch(&Action::Backup, 1764150000),
            Ok(Some(
                json!({"metadata": {"annotations": {"agora.dev/backup": "1764150000"}}})
            ))
        );
        assert_eq!(
            patch(&Action::Hibernate, 1),
            Ok(Some(json!({"spec": {"hibernate": true}})))
        );
        assert_eq!(
            patch(
                &Action::Rebuild {
                    contexts: "search, feed".into()
                },
                1764150000
            ),
            Ok(Some(
                json!({"metadata": {"annotations": {"agora.dev/rebuild": "search,feed@1764150000"}}})
            ))
        );
        assert!(
            patch(
                &Action::Rebuild {
                    contexts: "serach".into()
                },
                1
            )
            .is_err_and(|e| e.contains("serach"))
        );
        assert!(
            patch(
                &Action::Rebuild {
                    contexts: " ,".into()
                },
                1
            )
            .is_err()
        );
    }

    #[test]
    fn a_restored_copy_names_the_sources_backups_and_is_not_backed_up_there() {
        let source: SocialPlatform = serde_json::from_value(json!({
            "apiVersion": "agora.dev/v1alpha1", "kind": "SocialPlatform",
            "metadata": {"name": "acme", "namespace": "tenants"},
            "spec": {"hibernate": true, "backup": {"schedule": "@daily",
                "target": {"s3": {"bucket": "b", "credentialsSecret": "s3"}}}}
        }))
        .unwrap();
        let copy = restored_copy(&source, "acme-copy", Some("20261126T030000Z")).unwrap();
        assert_eq!(copy.metadata.name.as_deref(), Some("acme-copy"));
        assert_eq!(copy.metadata.namespace.as_deref(), Some("tenants"));
        assert!(copy.spec.backup.is_none() && !copy.spec.hibernate);
        let from = copy.spec.restore_from.unwrap();
        assert_eq!(from.target.s3.unwrap().prefix.as_deref(), Some("acme"));
        assert_eq!(from.backup.as_deref(), Some("20261126T030000Z"));
        // The copy opens the source's keys with the source's platform key.
        assert_eq!(
            from.encryption_key_secret.as_deref(),
            Some("acme-encryption")
        );
        let mut bare = source.clone();
        bare.spec.backup = None;
        assert!(restored_copy(&bare, "x", None).is_err_and(|e| e.contains("spec.backup")));
    }
}
