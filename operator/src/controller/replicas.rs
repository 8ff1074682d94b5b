//! Asks every pod of the replicated contexts where its replicas stand (`GET
//! /ops/replicas` with the control token); [`crate::replicas`] makes the status of it.

use std::collections::BTreeMap;

use super::Context;
use crate::crd::ReplicaPod;
use crate::replicas::{self, Said, Target};
use crate::resources::Platform;

/// Per replicated context, its writer and its pods; a pod that does not answer is left
/// out (its readiness already says it is unwell).
pub async fn gather(
    p: &Platform<'_>,
    ctx: &Context,
) -> BTreeMap<String, (Option<String>, Vec<ReplicaPod>)> {
    let targets = replicas::targets(p);
    if targets.is_empty() {
        return BTreeMap::new();
    }
    let token = match super::rebuilds::control_token(p, ctx).await {
        Ok(token) => token,
        Err(e) => {
            tracing::debug!(error = %e, "no control token: replicas not asked");
            return BTreeMap::new();
        }
    };
    // Every pod at once: a pod that hangs costs its 2 s once, not once per pod.
    let (http, scheme) = (ctx.nodes(p), crate::resources::tls::scheme(p));
    let answers =
        futures::future::join_all(targets.iter().map(|t| ask(ctx, &http, scheme, t, &token))).await;
    let said: Vec<_> = targets
        .iter()
        .zip(answers)
        .filter_map(|(target, answer)| match answer {
            Ok(contexts) => Some((target.pod.clone(), contexts)),
            Err(e) => {
                tracing::debug!(pod = %target.pod, error = %e, "replica status not read");
                None
            }
        })
        .collect();
    replicas::summarize(&said)
}

async fn ask(
    ctx: &Context,
    http: &reqwest::Client,
    scheme: &str,
    target: &Target,
    token: &str,
) -> anyhow::Result<Vec<Said>> {
    let base = ctx
        .node_base
        .as_ref()
        .map(|b| b.replace("{pod}", &target.pod))
        .unwrap_or_else(|| format!("{scheme}://{}", target.host));
    let response = http
        .get(format!("{base}/ops/replicas"))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}
