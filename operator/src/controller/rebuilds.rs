//! Carries out the `agora.dev/rebuild` annotation ([`crate::rebuild`] decides): one step
//! per reconcile at most, through the node's control channel.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::events::EventType;
use serde::Deserialize;

use super::{Context, event};
use crate::crd::RebuildStatus;
use crate::rebuild::{self, Request, Step};
use crate::resources::Platform;

/// The rebuild status after this reconcile's step (the previous one when nothing is asked).
pub async fn drive(p: &Platform<'_>, ctx: &Context) -> Option<RebuildStatus> {
    let previous = p.sp.status.as_ref().and_then(|s| s.rebuild.as_ref());
    let request = match rebuild::request(p) {
        None => return previous.cloned(),
        Some(Ok(request)) => request,
        Some(Err(message)) => return Some(refused(p, ctx, previous, message).await),
    };
    let mut status = rebuild::progress(&request, previous);
    if previous.is_none_or(|s| s.request != request.id) {
        let note = format!(
            "rebuilding {} one pod at a time",
            request.contexts.join(", ")
        );
        event(p, ctx, EventType::Normal, "RebuildStarted", "Rebuild", note).await;
    }
    if rebuild::finished(&status) {
        return Some(status);
    }
    if p.hibernating() {
        status.message = "waiting: the platform hibernates".into();
        return Some(status);
    }
    let steps = rebuild::steps(p, &request);
    step(p, ctx, &request, &steps, &mut status).await;
    if rebuild::finished(&status) {
        let (kind, reason) = match status.phase.as_str() {
            "Succeeded" => (EventType::Normal, "Rebuilt"),
            _ => (EventType::Warning, "RebuildFailed"),
        };
        event(p, ctx, kind, reason, "Rebuild", status.message.clone()).await;
    }
    Some(status)
}

async fn refused(
    p: &Platform<'_>,
    ctx: &Context,
    previous: Option<&RebuildStatus>,
    message: String,
) -> RebuildStatus {
    let value =
        p.sp.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(rebuild::ANNOTATION))
            .cloned()
            .unwrap_or_default();
    if let Some(s) = previous.filter(|s| s.request == value) {
        return s.clone();
    }
    event(
        p,
        ctx,
        EventType::Warning,
        "RebuildFailed",
        "Rebuild",
        message.clone(),
    )
    .await;
    let request = Request {
        id: value,
        contexts: Vec::new(),
    };
    let mut status = rebuild::progress(&request, None);
    rebuild::failed(&mut status, message);
    status
}

/// One step: the next pod's job looked at, or started.
async fn step(
    p: &Platform<'_>,
    ctx: &Context,
    request: &Request,
    steps: &[Step],
    status: &mut RebuildStatus,
) {
    let Some(step) = rebuild::next(steps, status) else {
        return;
    };
    let token = match control_token(p, ctx).await {
        Ok(token) => token,
        Err(e) => {
            status.message = format!("waiting for the control token: {e}");
            return;
        }
    };
    let node = Node {
        ctx,
        http: ctx.nodes(p),
        scheme: crate::resources::tls::scheme(p),
        step,
        token,
    };
    let doing = format!("rebuilding {} in {}", step.context, step.pod);
    match node.job().await {
        Ok(Some(job)) if job.id == request.id => match job.state.as_str() {
            "done" => {
                let events = job
                    .report
                    .and_then(|r| r.get("events")?.as_u64())
                    .unwrap_or(0);
                rebuild::done(status, step, events, steps.len());
            }
            "failed" => rebuild::failed(
                status,
                format!(
                    "{} in {}: {}",
                    step.context,
                    step.pod,
                    job.error.unwrap_or_default()
                ),
            ),
            _ => status.message = doing,
        },
        Ok(_) => match node.start(&request.id).await {
            Ok(()) => status.message = doing,
            Err(e) => {
                status.message = format!("cannot start the rebuild in {}: {e}; retrying", step.pod)
            }
        },
        Err(e) => status.message = format!("cannot reach {}: {e}; retrying", step.pod),
    }
}

/// The platform's control token, from the `<p>-control` Secret.
pub(super) async fn control_token(p: &Platform<'_>, ctx: &Context) -> anyhow::Result<String> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &p.namespace);
    let secret = secrets
        .get_opt(&p.control_secret())
        .await?
        .ok_or_else(|| anyhow::anyhow!("Secret {} does not exist yet", p.control_secret()))?;
    crate::resources::secret_text(&secret, "token")
        .ok_or_else(|| anyhow::anyhow!("Secret {} has no token", p.control_secret()))
}

/// A rebuild job as the node reports it.
#[derive(Debug, Deserialize)]
struct Job {
    id: String,
    state: String,
    #[serde(default)]
    report: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
}

/// The control channel of the pod of one step.
struct Node<'a> {
    ctx: &'a Context,
    /// Trusts the platform's CA.
    http: reqwest::Client,
    /// `https` when the platform's parts speak TLS.
    scheme: &'static str,
    step: &'a Step,
    token: String,
}

impl Node<'_> {
    fn url(&self) -> String {
        let base = self
            .ctx
            .node_base
            .as_ref()
            .map(|b| b.replace("{pod}", &self.step.pod))
            .unwrap_or_else(|| {
                format!(
                    "{}://{}:{}",
                    self.scheme,
                    self.step.host,
                    crate::resources::HTTP_PORT
                )
            });
        format!("{base}/ops/rebuilds/{}", self.step.context)
    }

    /// The pod's last rebuild job of the step's context (`None`: it knows none, e.g. it
    /// restarted).
    async fn job(&self) -> anyhow::Result<Option<Job>> {
        let response = self
            .http
            .get(self.url())
            .bearer_auth(&self.token)
            .send()
            .await?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(response.json().await?)),
            s => anyhow::bail!("{s}: {}", response.text().await.unwrap_or_default()),
        }
    }

    async fn start(&self, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url())
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"id": id}))
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "{status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }
}
