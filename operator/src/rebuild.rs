//! Rebuilding contexts' projections as an operator action, as pure functions: the request
//! (the `agora.dev/rebuild` annotation), the steps it takes (every pod of each context,
//! one at a time) and the status it shows. The controller carries each step out through
//! the node's control channel (`/ops/rebuilds/{context}`, with the platform's control
//! token): it starts the step's job, looks at it on later reconciles, and moves on when
//! the pod reports it done. A pod keeps serving while it rebuilds (the node's rebuild
//! replays into a shadow and switches over atomically).
//!
//! The annotation's value is `<context>[,<context>...]`, optionally followed by
//! `@<anything>`; the whole value names the request, so the same value is carried out once
//! and a new suffix asks again (`kubectl agora rebuild` writes `@<time>`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::crd::{CONTEXTS, RebuildStatus, RebuiltPod};
use crate::resources::Platform;

pub const ANNOTATION: &str = "agora.dev/rebuild";

/// A rebuild asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The annotation's whole value.
    pub id: String,
    pub contexts: Vec<String>,
}

/// The request in the platform's annotation, if any; an unknown context is an error.
pub fn request(p: &Platform) -> Option<Result<Request, String>> {
    let value = p.sp.annotations().get(ANNOTATION)?.trim().to_string();
    let names = value.split('@').next().unwrap_or_default();
    let contexts: Vec<String> = names
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    if contexts.is_empty() {
        return Some(Err(format!("{ANNOTATION} names no context: {value:?}")));
    }
    if let Some(unknown) = contexts.iter().find(|c| !CONTEXTS.contains(&c.as_str())) {
        return Some(Err(format!(
            "{ANNOTATION}: unknown context {unknown:?} (one of {})",
            CONTEXTS.join(", ")
        )));
    }
    Some(Ok(Request {
        id: value,
        contexts,
    }))
}

/// One step: one context rebuilt in one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub context: String,
    pub pod: String,
    /// The pod's address through its StatefulSet's headless Service.
    pub host: String,
}

/// Every step of a request, in order: per context (as asked), its workload's pods by
/// ordinal.
pub fn steps(p: &Platform, request: &Request) -> Vec<Step> {
    request
        .contexts
        .iter()
        .flat_map(|context| {
            let component = p.workload_of(context);
            let set = p.object_name(&component);
            let headless = p.object_name(&format!("{component}-headless"));
            // The pods the workload runs: search and media have one, whatever the spec says.
            let replicas = p.pods(
                p.workloads()
                    .iter()
                    .find(|w| w.component == component)
                    .map_or(1, |w| crate::resources::node::replicas(p, w)),
            );
            (0..replicas).map(move |i| Step {
                context: context.clone(),
                pod: format!("{set}-{i}"),
                host: format!("{set}-{i}.{headless}.{}.svc", p.namespace),
            })
        })
        .collect()
}

/// The status of `request` carried on from `previous` (a new request starts afresh).
pub fn progress(request: &Request, previous: Option<&RebuildStatus>) -> RebuildStatus {
    match previous {
        Some(s) if s.request == request.id => s.clone(),
        _ => RebuildStatus {
            request: request.id.clone(),
            phase: Phase::Running.into(),
            message: "starting".into(),
            pods: Vec::new(),
            started_at: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            finished_at: None,
        },
    }
}

/// The first step not done yet.
pub fn next<'a>(steps: &'a [Step], status: &RebuildStatus) -> Option<&'a Step> {
    steps.iter().find(|s| {
        !status
            .pods
            .iter()
            .any(|d| d.pod == s.pod && d.context == s.context)
    })
}

/// Whether nothing is left to do for the request.
pub fn finished(status: &RebuildStatus) -> bool {
    status.phase != String::from(Phase::Running)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Succeeded,
    Failed,
}

impl From<Phase> for String {
    fn from(p: Phase) -> String {
        format!("{p:?}")
    }
}

/// Records a step the pod reported done.
pub fn done(status: &mut RebuildStatus, step: &Step, events: u64, steps: usize) {
    status.pods.push(RebuiltPod {
        pod: step.pod.clone(),
        context: step.context.clone(),
        events: i64::try_from(events).unwrap_or(i64::MAX),
    });
    status.message = format!("{}/{steps} pods rebuilt", status.pods.len());
    if status.pods.len() >= steps {
        status.phase = Phase::Succeeded.into();
        status.finished_at = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    }
}

/// Ends the request as failed.
pub fn failed(status: &mut RebuildStatus, message: String) {
    status.phase = Phase::Failed.into();
    status.message = message;
    status.finished_at = Some(Time(k8s_openapi::jiff::Timestamp::now()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    fn with_annotation(spec: serde_json::Value, value: &str) -> crate::crd::SocialPlatform {
        let mut sp = platform("demo", spec);
        sp.metadata.annotations = Some([(ANNOTATION.to_string(), value.to_string())].into());
        sp
    }

    #[test]
    fn the_annotation_names_contexts_and_the_whole_value_the_request() {
        let sp = with_annotation(serde_json::json!({}), "search, feed@2026-11-26T10:00:00Z");
        let r = request(&Platform::new(&sp)).and_then(Result::ok);
        assert_eq!(
            r.map(|r| (r.id, r.contexts)),
            Some((
                "search, feed@2026-11-26T10:00:00Z".into(),
                vec!["search".into(), "feed".into()]
            ))
        );
        let sp = with_annotation(serde_json::json!({}), "serach");
        assert!(matches!(request(&Platform::new(&sp)), Some(Err(e)) if e.contains("serach")));
        let sp = with_annotation(serde_json::json!({}), "@x");
        assert!(matches!(request(&Platform::new(&sp)), Some(Err(_))));
        assert!(request(&Platform::new(&platform("demo", serde_json::json!({})))).is_none());
    }

    #[test]
    fn steps_go_through_every_pod_of_each_context_in_turn() {
        let spec = serde_json::json!({"contexts": {"overrides": {
            "feed": {"replicas": 2}, "search": {"replicas": 2}}}});
        let sp = with_annotation(spec, "feed,search");
        let p = Platform::new(&sp);
        let r = request(&p).and_then(Result::ok).unwrap_or(Request {
            id: String::new(),
            contexts: vec![],
        });
        let pods: Vec<String> = steps(&p, &r).into_iter().map(|s| s.pod).collect();
        assert_eq!(
            pods,
            [
                "demo-feed-0",
                "demo-feed-1",
                "demo-search-0",
                "demo-search-1"
            ]
        );
        assert_eq!(
            steps(&p, &r)[0].host,
            "demo-feed-0.demo-feed-headless.tenants.svc"
        );

        let compact = with_annotation(serde_json::json!({"topology": "Compact"}), "search,feed");
        let p = Platform::new(&compact);
        let r = request(&p).and_then(Result::ok).unwrap_or(Request {
            id: String::new(),
            contexts: vec![],
        });
        let all: Vec<(String, String)> = steps(&p, &r)
            .into_iter()
            .map(|s| (s.context, s.pod))
            .collect();
        assert_eq!(
            all,
            [
                ("search".into(), "demo-node-0".into()),
                ("feed".into(), "demo-node-0".into())
            ]
        );
    }

    #[test]
    fn progress_moves_step_by_step_and_a_new_request_starts_afresh() {
        let sp = with_annotation(serde_json::json!({}), "search,feed@1");
        let p = Platform::new(&sp);
        let r = request(&p).and_then(Result::ok).unwrap_or(Request {
            id: String::new(),
            contexts: vec![],
        });
        let all = steps(&p, &r);
        let mut status = progress(&r, None);
        assert_eq!(
            next(&all, &status).map(|s| s.pod.as_str()),
            Some("demo-search-0")
        );
        done(&mut status, &all[0], 120, all.len());
        assert_eq!(
            next(&all, &status).map(|s| s.pod.as_str()),
            Some("demo-feed-0")
        );
        assert!(!finished(&status));
        done(&mut status, &all[1], 7, all.len());
        assert!(finished(&status) && status.phase == "Succeeded");
        assert_eq!(
            progress(&r, Some(&status)),
            status,
            "the same request carries on"
        );
        let again = Request {
            id: "search,feed@2".into(),
            ..r
        };
        assert!(progress(&again, Some(&status)).pods.is_empty());
    }
}
