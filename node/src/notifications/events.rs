//! The published language of notifications: nothing yet. Notifications are made from
//! other contexts' events and go to users over the push channel, not to other contexts.

pub const CONTEXT: &str = "notifications";
