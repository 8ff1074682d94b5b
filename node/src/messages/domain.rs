//! Pure rules of messages: who may message whom, who manages a conversation, the edit and
//! delete windows, text, and whose read receipts a member sees.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::text::clean_text;
use crate::posts::events::ReactionKind;
use crate::users::events::MessagePolicy;

use super::error::Error;
pub use super::events::ConversationKind;

/// Most members a group conversation holds (WhatsApp: 1,024; Signal: 1,000; Messenger: 250).
pub const GROUP_MAX_MEMBERS: usize = 250;
/// Longest message, in characters (Telegram: 4,096).
pub const TEXT_MAX_CHARS: usize = 4_000;
/// Longest group title, in characters.
pub const TITLE_MAX_CHARS: usize = 100;
/// Media ids one message carries.
pub const MEDIA_MAX: usize = 10;
/// A message can be edited this long after it was sent (WhatsApp: 15 minutes).
pub const EDIT_WINDOW_SECS: i64 = 15 * 60;
/// A message can be deleted for everyone this long after it was sent (WhatsApp: about 2 days).
pub const DELETE_WINDOW_SECS: i64 = 48 * 3600;

/// A member's role in a group conversation: its creator is admin; direct ones have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Member,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub role: MemberRole,
    pub joined_at: i64,
    /// The newest message this member has read.
    pub last_read: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub kind: ConversationKind,
    /// Empty for direct conversations.
    pub title: String,
    pub created_by: String,
    pub created_at: i64,
    pub members: BTreeMap<String, Member>,
    pub last_message: Option<String>,
}

impl Conversation {
    pub fn is_member(&self, user: &str) -> bool {
        self.members.contains_key(user)
    }

    /// The other members.
    pub fn others(&self, user: &str) -> Vec<String> {
        self.members
            .keys()
            .filter(|m| *m != user)
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    /// Empty once deleted.
    pub text: String,
    pub reply_to: Option<String>,
    pub media_ids: Vec<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
    /// One reaction per member.
    pub reactions: BTreeMap<String, ReactionKind>,
    /// Removed by a moderator: shown blank to everyone while the removal holds. Never
    /// stored (the removal is a projection, `rm/`): set when the message is read.
    #[serde(skip)]
    pub removed: bool,
}

impl Message {
    /// What everyone sees of a message a moderator removed: that it was there.
    pub fn hide_removed(mut self) -> Self {
        self.removed = true;
        self.text.clear();
        self.media_ids.clear();
        self.reactions.clear();
        self
    }
}

/// What the sender knows of how the recipient stands to them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    pub policy: MessagePolicy,
    pub friends: bool,
    /// A block in either direction.
    pub blocked: bool,
}

/// Whether the sender may message (or add to a conversation) a user who stands so: a
/// block either way forbids it, then the recipient's `messages` privacy decides.
pub fn may_message(standing: Standing) -> Result<(), Error> {
    if standing.blocked {
        return Err(Error::Blocked);
    }
    match standing.policy {
        MessagePolicy::Everyone => Ok(()),
        MessagePolicy::Friends if standing.friends => Ok(()),
        MessagePolicy::Friends => Err(Error::FriendsOnly),
        MessagePolicy::Nobody => Err(Error::NotAccepting),
    }
}

/// Group admins rename the conversation and add or remove others; direct conversations
/// never change members.
pub fn may_manage(conversation: &Conversation, actor: &str) -> Result<(), Error> {
    if conversation.kind == ConversationKind::Direct {
        return Err(Error::DirectIsFixed);
    }
    match conversation.members.get(actor) {
        Some(m) if m.role == MemberRole::Admin => Ok(()),
        _ => Err(Error::AdminsOnly),
    }
}

/// The sender edits their message within [`EDIT_WINDOW_SECS`].
pub fn may_edit(message: &Message, actor: &str, now: i64) -> Result<(), Error> {
    if message.sender_id != actor {
        return Err(Error::NotSender);
    }
    if message.deleted {
        return Err(Error::Deleted);
    }
    if now - message.created_at > EDIT_WINDOW_SECS {
        return Err(Error::EditWindowOver(EDIT_WINDOW_SECS / 60));
    }
    Ok(())
}

/// The sender deletes their message for everyone within [`DELETE_WINDOW_SECS`].
pub fn may_delete(message: &Message, actor: &str, now: i64) -> Result<(), Error> {
    if message.sender_id != actor {
        return Err(Error::NotSender);
    }
    if now - message.created_at > DELETE_WINDOW_SECS {
        return Err(Error::DeleteWindowOver(DELETE_WINDOW_SECS / 3600));
    }
    Ok(())
}

/// A message's text, trimmed and checked; empty only when it carries media.
pub fn message_text(text: &str, has_media: bool) -> Result<String, Error> {
    let text = clean_text("text", text, TEXT_MAX_CHARS, true)?;
    if text.is_empty() && !has_media {
        return Err(Error::invalid("text", "must not be empty"));
    }
    Ok(text)
}

/// A group title: 1 to 100 characters on one line.
pub fn title(text: &str) -> Result<String, Error> {
    let title = clean_text("title", text, TITLE_MAX_CHARS, false)?;
    if title.is_empty() {
        return Err(Error::invalid("title", "must not be empty"));
    }
    Ok(title)
}

/// An `Idempotency-Key`: 1 to 64 visible ASCII characters.
pub fn idempotency_key(key: &str) -> Result<String, Error> {
    let ok = (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 64 visible ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// A connection reported alive stays so this long without another heartbeat (a device
/// repeats it every 30 s; a gateway that dies takes its users offline within this).
pub const PRESENCE_TTL_SECS: i64 = 75;

/// A connection id: 1 to 64 visible ASCII characters.
pub fn connection_id(id: &str) -> Result<String, Error> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Error::invalid(
            "connection",
            "must be 1 to 64 visible ASCII characters",
        ));
    }
    Ok(id.to_string())
}

/// Whether `viewer` sees `member`'s read position: both must share read receipts, as in
/// the big messengers (who hides theirs sees no one's).
pub fn sees_receipt(viewer_shares: bool, member_shares: bool) -> bool {
    viewer_shares && member_shares
}

/// The one who keeps a group running when its last admin leaves: the longest-standing
/// remaining member.
pub fn successor(conversation: &Conversation, leaving: &str) -> Option<String> {
    let has_admin = conversation
        .members
        .iter()
        .any(|(id, m)| id != leaving && m.role == MemberRole::Admin);
    if has_admin {
        return None;
    }
    conversation
        .members
        .iter()
        .filter(|(id, _)| *id != leaving)
        .min_by_key(|(id, m)| (m.joined_at, (*id).clone()))
        .map(|(id, _)| id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(created_at: i64) -> Message {
        Message {
            id: "m".into(),
            conversation_id: "c".into(),
            sender_id: "s".into(),
            text: "hi".into(),
            reply_to: None,
            media_ids: vec![],
            created_at,
            edited_at: None,
            deleted: false,
            reactions: BTreeMap::new(),
            removed: false,
        }
    }

    #[test]
    fn privacy_and_blocks_decide_who_may_message() {
        let stand = |policy, friends, blocked| Standing {
            policy,
            friends,
            blocked,
        };
        assert!(may_message(stand(MessagePolicy::Everyone, false, false)).is_ok());
        assert!(matches!(
            may_message(stand(MessagePolicy::Everyone, true, true)),
            Err(Error::Blocked)
        ));
        assert!(matches!(
            may_message(stand(MessagePolicy::Friends, false, false)),
            Err(Error::FriendsOnly)
        ));
        assert!(may_message(stand(MessagePolicy::Friends, true, false)).is_ok());
        assert!(matches!(
            may_message(stand(MessagePolicy::Nobody, true, false)),
            Err(Error::NotAccepting)
        ));
    }

    #[test]
    fn edits_and_deletes_have_windows_and_belong_to_the_sender() {
        let m = message(1_000);
        assert!(may_edit(&m, "s", 1_000 + EDIT_WINDOW_SECS).is_ok());
        assert!(matches!(
            may_edit(&m, "s", 1_001 + EDIT_WINDOW_SECS),
            Err(Error::EditWindowOver(15))
        ));
        assert!(matches!(may_edit(&m, "x", 1_000), Err(Error::NotSender)));
        assert!(may_delete(&m, "s", 1_000 + DELETE_WINDOW_SECS).is_ok());
        assert!(may_delete(&m, "s", 1_001 + DELETE_WINDOW_SECS).is_err());
        let gone = Message {
            deleted: true,
            ..message(1_000)
        };
        assert!(matches!(may_edit(&gone, "s", 1_000), Err(Error::Deleted)));
    }

    #[test]
    fn the_longest_standing_member_inherits_a_group() {
        let member = |role, joined_at| Member {
            role,
            joined_at,
            last_read: None,
        };
        let mut c = Conversation {
            id: "c".into(),
            kind: ConversationKind::Group,
            title: "t".into(),
            created_by: "a".into(),
            created_at: 0,
            members: BTreeMap::from([
                ("a".into(), member(MemberRole::Admin, 0)),
                ("b".into(), member(MemberRole::Member, 5)),
                ("c".into(), member(MemberRole::Member, 3)),
            ]),
            last_message: None,
        };
        assert_eq!(successor(&c, "a").as_deref(), Some("c"));
        assert_eq!(successor(&c, "b"), None, "an admin remains");
        c.kind = ConversationKind::Direct;
        assert!(matches!(may_manage(&c, "a"), Err(Error::DirectIsFixed)));
    }

    #[test]
    fn receipts_are_mutual_and_keys_are_bounded() {
        assert!(sees_receipt(true, true));
        assert!(!sees_receipt(false, true), "who hides theirs sees no one's");
        assert!(!sees_receipt(true, false));
        assert!(idempotency_key("retry-7f3a").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key(&"k".repeat(65)).is_err());
        assert!(message_text("   ", false).is_err());
        assert_eq!(message_text("  hi ", false).unwrap(), "hi");
        assert!(message_text("", true).is_ok(), "media alone is a message");
    }
}
