//! Outgoing mail. In `dev` mail lands in an in-memory mailbox served at
//! `GET /api/v1/dev/mailbox`; otherwise it is written to the log (SMTP: see docs).

use std::sync::{Arc, Mutex};

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
    /// Written to the log at `info` (for evaluation clusters without SMTP).
    Log,
}

impl Mailer {
    pub fn dev() -> Self {
        Mailer::DevMailbox(Arc::default())
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
                let mut mailbox = mailbox.lock().expect("mailbox lock");
                mailbox.push(mail);
                let excess = mailbox.len().saturating_sub(1_000);
                mailbox.drain(..excess);
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
                .expect("mailbox lock")
                .iter()
                .filter(|m| to.is_none_or(|to| m.to.eq_ignore_ascii_case(to)))
                .cloned()
                .collect(),
            Mailer::Log => Vec::new(),
        }
    }
}
