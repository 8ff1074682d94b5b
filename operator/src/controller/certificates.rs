//! `spec.tls`: keeps the platform's CA (made once) and its certificate (issued again when
//! `certificates::due` says so), and the client that calls the platform's nodes trusting
//! that CA.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;

use super::{Context, Result, ensure_secret, event};
use crate::certificates::{self, Ca};
use crate::resources::tls::{self, Digests};
use crate::resources::{MANAGER, Platform};

/// Makes sure the platform's CA and a current certificate exist; returns what the pods'
/// templates carry of them (`None` when the platform's parts do not speak TLS).
pub async fn ensure(p: &Platform<'_>, ctx: &Context) -> Result<Option<Digests>> {
    if !tls::enabled(p) {
        return Ok(None);
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &p.namespace);
    let now = time::OffsetDateTime::now_utc();
    let ca = ca(p, ctx, &secrets, now).await?;
    let names = tls::names(p);
    let current = secrets.get_opt(&tls::secret_name(p)).await?;
    let stamp = current.as_ref().and_then(tls::stamp_of);
    let cert = match certificates::due(stamp.as_ref(), &names, &ca, now) {
        None => current
            .as_ref()
            .and_then(tls::cert_digest)
            .unwrap_or_default(),
        Some(reason) => {
            let issued = certificates::issue(&ca, &names, now).map_err(invalid)?;
            secrets
                .patch(
                    &tls::secret_name(p),
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(tls::secret(p, &ca, &issued, &names)),
                )
                .await?;
            let until = issued.not_after.date();
            let note = format!("issued the platform's certificate ({reason}), valid until {until}");
            event(
                p,
                ctx,
                EventType::Normal,
                "CertificateIssued",
                "Issue",
                note,
            )
            .await;
            certificates::digest(&issued.cert_pem)
        }
    };
    ctx.trust(p, &ca.cert_pem);
    Ok(Some(Digests {
        ca: certificates::digest(&ca.cert_pem),
        cert,
    }))
}

/// The platform's CA: the one its Secret holds, else a new one (created once; a
/// concurrent reconcile's stands).
async fn ca(
    p: &Platform<'_>,
    ctx: &Context,
    secrets: &Api<Secret>,
    now: time::OffsetDateTime,
) -> Result<Ca> {
    let name = tls::ca_secret_name(p);
    if let Some(ca) = secrets.get_opt(&name).await?.as_ref().and_then(tls::ca_of) {
        return Ok(ca);
    }
    let ca = certificates::new_ca(&p.name, now).map_err(invalid)?;
    ensure_secret(p, ctx, &name, "the platform's CA", || {
        tls::ca_secret(p, &ca)
    })
    .await?;
    secrets
        .get_opt(&name)
        .await?
        .as_ref()
        .and_then(tls::ca_of)
        .ok_or_else(|| invalid(format!("Secret {name} holds no ca.crt and ca.key")))
}

fn invalid(e: impl std::fmt::Display) -> super::Error {
    super::Error::Certificate(e.to_string())
}
