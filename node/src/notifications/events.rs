//! The published language of notifications. Notifications themselves go to users over the
//! push channel, not to other contexts; what leaves as an event is only what another
//! context must act on: a digest to mail (auth keeps the addresses).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::platform::envelope::DomainEvent;

pub const CONTEXT: &str = "notifications";

/// A user has unread notifications of kinds they want by e-mail, since their last digest.
/// Counts only, by kind (`comment`, `reaction`, ...): what happened, and who did it, stays
/// in this context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DigestDue {
    pub user_id: String,
    pub counts: BTreeMap<String, u32>,
}
impl DomainEvent for DigestDue {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "DigestDue";
}
