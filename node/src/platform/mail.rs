//! Outgoing mail. In `dev` mail lands in an in-memory mailbox served at
//! `GET /api/v1/dev/mailbox`; with `AGORA_SMTP_URL` it goes out over SMTP (lettre, rustls);
//! otherwise it is written to the log.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub sent_at: time::OffsetDateTime,
}

#[derive(Clone)]
pub enum Mailer {
    /// Kept in memory, readable through the dev mailbox route.
    DevMailbox(Arc<Mutex<Vec<Mail>>>),
    /// Sent through an SMTP server, in the background with retries.
    Smtp(Arc<SmtpMailer>),
    /// Written to the log at `info` (for evaluation clusters without SMTP).
    Log,
}

/// Where SMTP mail goes and who sends it.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// How often a mail is tried before it is given up (and logged as lost).
const SMTP_ATTEMPTS: u32 = 4;

impl Mailer {
    pub fn dev() -> Self {
        Mailer::DevMailbox(Arc::default())
    }

    /// An SMTP mailer from a URL such as `smtp://user:pass@mail.example.org:587?tls=required`
    /// or `smtps://mail.example.org`, and a sender such as `Agora <no-reply@example.org>`.
    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("AGORA_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("AGORA_MAIL_FROM: {e}"))?;
        Ok(Mailer::Smtp(Arc::new(SmtpMailer { transport, from })))
    }

    pub fn send(&self, to: &str, subject: &str, body: String) {
        let mail = Mail {
            to: to.into(),
            subject: subject.into(),
            body,
            sent_at: time::OffsetDateTime::now_utc(),
        };
        match self {
            Mailer::DevMailbox(mailbox) => {
                let mut mailbox = mailbox.lock().unwrap_or_else(PoisonError::into_inner);
                mailbox.push(mail);
                let excess = mailbox.len().saturating_sub(1_000);
                mailbox.drain(..excess);
            }
            Mailer::Smtp(smtp) => {
                tokio::spawn(deliver(smtp.clone(), mail));
            }
            Mailer::Log => {
                tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail")
            }
        }
    }

    /// Mails sent to `to` (all when `None`), newest last.
    pub fn mailbox(&self, to: Option<&str>) -> Vec<Mail> {
        match self {
            Mailer::DevMailbox(mailbox) => mailbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|m| to.is_none_or(|to| m.to.eq_ignore_ascii_case(to)))
                .cloned()
                .collect(),
            Mailer::Smtp(_) | Mailer::Log => Vec::new(),
        }
    }
}

async fn deliver(smtp: Arc<SmtpMailer>, mail: Mail) {
    let message = match mail
        .to
        .parse::<Mailbox>()
        .map_err(|e| e.to_string())
        .and_then(|to| {
            Message::builder()
                .from(smtp.from.clone())
                .to(to)
                .subject(&mail.subject)
                .body(mail.body.clone())
                .map_err(|e| e.to_string())
        }) {
        Ok(message) => message,
        Err(e) => return tracing::error!(to = %mail.to, error = %e, "mail cannot be built"),
    };
    for attempt in 1..=SMTP_ATTEMPTS {
        match smtp.transport.send(message.clone()).await {
            Ok(_) => return tracing::debug!(to = %mail.to, "mail sent"),
            Err(e) if attempt < SMTP_ATTEMPTS => {
                tracing::warn!(to = %mail.to, attempt, error = %e, "mail not sent, retrying");
                tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
            }
            Err(e) => tracing::error!(to = %mail.to, error = %e, "mail lost after retries"),
        }
    }
}
