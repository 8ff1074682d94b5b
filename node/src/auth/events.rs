//! The published language of auth: events other contexts may consume.

use serde::{Deserialize, Serialize};

use crate::platform::envelope::DomainEvent;
use crate::platform::tokens::Role;

/// An account took a new username. The old one stays reserved to it for a while
/// (`auth::domain::USERNAME_RESERVED_SECS`); lookups by id are unaffected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsernameChanged {
    pub account_id: String,
    pub username: String,
    pub previous: String,
}
impl DomainEvent for UsernameChanged {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "UsernameChanged";
    const PERSONAL: &'static [&'static str] = &["username", "previous"];
    const SUBJECT: &'static str = "account_id";
}

/// Sessions that ended; every process follows these (see `platform::revocation`).
pub use crate::platform::tokens::SessionsRevoked;

pub const CONTEXT: &str = "auth";

/// A new account exists: published when its address is confirmed (an unverified
/// registration stays inside auth and expires there). Streams written before that change
/// also hold this event for accounts never verified; consumers treat both alike.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountRegistered {
    pub account_id: String,
    pub username: String,
    pub roles: Vec<Role>,
}
impl DomainEvent for AccountRegistered {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "AccountRegistered";
    const PERSONAL: &'static [&'static str] = &["username"];
    const SUBJECT: &'static str = "account_id";
}

/// The owner proved they read the mail sent to the account's address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountVerified {
    pub account_id: String,
}
impl DomainEvent for AccountVerified {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "AccountVerified";
}

/// An admin changed the roles of an account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RolesChanged {
    pub account_id: String,
    pub roles: Vec<Role>,
}
impl DomainEvent for RolesChanged {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "RolesChanged";
}

/// The account is erased (`DELETE /users/me`, after its grace period): every context
/// removes what it holds about the person, and what others rely on (their messages in
/// others' conversations) stops naming them. Nothing else about the account follows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountErased {
    pub account_id: String,
}
impl DomainEvent for AccountErased {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "AccountErased";
}
impl crate::platform::erasure::ErasesPerson for AccountErased {
    fn person(&self) -> &str {
        &self.account_id
    }
}
