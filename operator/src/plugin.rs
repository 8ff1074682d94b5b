//! `kubectl agora`: the operator's actions from a terminal, as a kubectl plugin (the
//! binary `kubectl-agora`, installed by copying it onto PATH). Each action is one patch
//! of the `SocialPlatform` the operator then carries out; `status` reads what it reports.
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
    /// Stop reconciling (`spec.paused: true`).
    Pause,
    /// Reconcile again (`spec.paused: false`).
    Resume,
}

/// The action a command line names: the verb, and for `rebuild` the contexts.
pub fn action(verb: &str, contexts: Option<&str>) -> Result<Action, String> {
    Ok(match (verb, contexts) {
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
pub const VERBS: &[&str] = &["status", "hibernate", "wake", "rebuild", "pause", "resume"];

/// The merge patch an action makes (`None`: `status` patches nothing). `now` names a
/// rebuild request (seconds since the epoch), so asking twice rebuilds twice.
pub fn patch(action: &Action, now: u64) -> Result<Option<Value>, String> {
    Ok(match action {
        Action::Status => None,
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
        Action::Pause => format!("{name}: paused\n"),
        Action::Resume | Action::Status => format!("{name}: reconciling\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_one_action() {
        assert_eq!(action("wake", None), Ok(Action::Wake));
        assert_eq!(
            action("rebuild", Some("feed")),
            Ok(Action::Rebuild {
                contexts: "feed".into()
            })
        );
        assert!(action("rebuild", None).is_err());
        assert!(action("wake", Some("feed")).is_err());
        assert!(action("sleep", None).is_err_and(|e| e.contains("hibernate")));
    }

    #[test]
    fn each_action_is_one_patch() {
        assert_eq!(patch(&Action::Status, 1), Ok(None));
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
}
