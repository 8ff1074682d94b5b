//! Pure rules of notifications: the kinds, which ones group ("A and 12 others reacted"),
//! who is told what, and what a recipient may read of a post.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::groups::events::GroupPrivacy;
use crate::posts::events::Visibility;

/// Actors kept by name on a grouped notification (the rest are counted).
pub const ACTORS_KEPT: usize = 3;
/// Unread notifications counted at most (clients show "999+").
pub const UNREAD_CAP: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Someone asked you for friendship.
    FriendRequest,
    /// Someone accepted your friend request.
    FriendAccepted,
    /// Someone commented on your post (grouped per post).
    Comment,
    /// Someone replied to your comment.
    Reply,
    /// Someone reacted to your post or comment (grouped per post or comment).
    Reaction,
    /// Someone mentioned you in a post you may read.
    Mention,
    /// Someone shared your post.
    Share,
    /// Someone invited you to a group.
    GroupInvitation,
    /// Someone asked to join a group you moderate.
    GroupRequest,
    /// Messages arrived while you had no connection open (grouped per conversation).
    Message,
    /// A moderator acted on your content or account (`moderation` says what and why).
    Moderation,
    /// The export you asked for is ready to download (`target.export_id`).
    ExportReady,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::FriendRequest,
        Kind::FriendAccepted,
        Kind::Comment,
        Kind::Reply,
        Kind::Reaction,
        Kind::Mention,
        Kind::Share,
        Kind::GroupInvitation,
        Kind::GroupRequest,
        Kind::Message,
        Kind::Moderation,
        Kind::ExportReady,
    ];

    /// Kinds that gather every actor on one notification per target.
    pub fn grouped(self) -> bool {
        matches!(self, Kind::Comment | Kind::Reaction | Kind::Message)
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_id: Option<String>,
}

/// What a moderator did, as the affected user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModerationOutcome {
    /// Your post or comment was removed.
    Removed,
    /// A removal of yours was taken back.
    Restored,
    /// You were warned.
    Warned,
    /// Your account is suspended until `until`.
    Suspended,
    /// Your account is banned.
    Banned,
    /// Your suspension or ban was lifted.
    Reinstated,
}

/// The moderation part of a `moderation` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModerationNote {
    pub outcome: ModerationOutcome,
    /// The moderator's reason (absent on a restore or a lifted suspension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A suspension's end, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The id of the event that created it: the same after a rebuild.
    pub id: String,
    pub user_id: String,
    pub kind: Kind,
    /// The newest actors first, at most [`ACTORS_KEPT`].
    pub actors: Vec<String>,
    /// How many actors in all (grouped kinds).
    pub actor_count: u64,
    pub target: Target,
    pub created_at: i64,
    /// The id of the newest event that touched it: orders the list, and a read mark older
    /// than it makes it unread again.
    pub activity: String,
    pub updated_at: i64,
    /// `moderation` notifications: what was done and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationNote>,
}

impl Notification {
    /// Adds an actor to a grouped notification (a repeat actor moves to the front).
    pub fn add_actor(&mut self, actor: &str, activity: &str, at: i64) {
        let known = self.actors.iter().any(|a| a == actor);
        self.actors.retain(|a| a != actor);
        self.actors.insert(0, actor.to_string());
        self.actors.truncate(ACTORS_KEPT);
        if !known {
            self.actor_count += 1;
        }
        self.activity = activity.to_string();
        self.updated_at = at;
    }
}

/// Whether each kind shows in the list, is pushed, and is counted in the e-mail digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KindSettings {
    /// Kept in the notification list.
    pub in_app: bool,
    /// Pushed live to connected devices.
    pub push: bool,
    /// Counted in the e-mail digest (off unless turned on).
    #[serde(default)]
    pub email: bool,
}

impl Default for KindSettings {
    fn default() -> Self {
        KindSettings {
            in_app: true,
            push: true,
            email: false,
        }
    }
}

/// A user's notification preferences: per kind; kinds not named keep the default (in the
/// list and pushed, not mailed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NotificationPreferences)]
#[schema(example = json!({"kinds": {"reaction": {"in_app": true, "push": false, "email": false}}}))]
pub struct Preferences {
    #[serde(default)]
    pub kinds: BTreeMap<Kind, KindSettings>,
}

impl Kind {
    /// The kind as the API spells it (`friend_request`, ...).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl Preferences {
    pub fn of(&self, kind: Kind) -> KindSettings {
        self.kinds.get(&kind).copied().unwrap_or_default()
    }
}

/// What notifications know of a post: enough to decide who may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostAccess {
    pub author_id: String,
    pub visibility: Visibility,
    /// The group of a group post.
    pub group: Option<String>,
    /// Page posts are public.
    pub page: bool,
}

/// How a recipient stands to a post's author and group.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    pub friends: bool,
    pub friend_of_friend: bool,
    pub group_privacy: Option<GroupPrivacy>,
    pub group_member: bool,
}

/// Whether the recipient may read the post (the rules of posts, on the projections
/// notifications keep): what they may not read never notifies them.
pub fn may_read(post: &PostAccess, recipient: &str, s: Standing) -> bool {
    if post.author_id == recipient || post.page {
        return true;
    }
    if post.group.is_some() {
        return match s.group_privacy {
            Some(GroupPrivacy::Public) => true,
            Some(_) => s.group_member,
            None => false,
        };
    }
    match post.visibility {
        Visibility::Public => true,
        Visibility::FriendsOfFriends => s.friends || s.friend_of_friend,
        Visibility::Friends => s.friends,
        Visibility::OnlyMe => false,
    }
}

/// Nobody is told of their own doing.
pub fn worth_telling(recipient: &str, actor: &str) -> bool {
    recipient != actor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification() -> Notification {
        Notification {
            id: "n".into(),
            user_id: "u".into(),
            kind: Kind::Reaction,
            actors: vec!["a".into()],
            actor_count: 1,
            target: Target::default(),
            created_at: 0,
            activity: "1".into(),
            updated_at: 0,
            moderation: None,
        }
    }

    #[test]
    fn grouped_notifications_count_each_actor_once_and_keep_the_newest() {
        let mut n = notification();
        for (actor, at) in [("b", "2"), ("c", "3"), ("d", "4"), ("b", "5")] {
            n.add_actor(actor, at, 0);
        }
        assert_eq!(n.actors, ["b", "d", "c"]);
        assert_eq!(n.actor_count, 4, "a, b, c, d");
        assert_eq!(n.activity, "5");
    }

    #[test]
    fn mentions_follow_the_post_rules() {
        let post = |visibility, group: Option<&str>| PostAccess {
            author_id: "author".into(),
            visibility,
            group: group.map(String::from),
            page: false,
        };
        let stranger = Standing::default();
        let friend = Standing {
            friends: true,
            ..Default::default()
        };
        assert!(may_read(&post(Visibility::Public, None), "x", stranger));
        assert!(!may_read(&post(Visibility::Friends, None), "x", stranger));
        assert!(may_read(&post(Visibility::Friends, None), "x", friend));
        assert!(!may_read(&post(Visibility::OnlyMe, None), "x", friend));
        let private_group = Standing {
            group_privacy: Some(GroupPrivacy::Private),
            ..Default::default()
        };
        assert!(!may_read(
            &post(Visibility::Public, Some("g")),
            "x",
            private_group
        ));
        assert!(may_read(
            &post(Visibility::Public, Some("g")),
            "x",
            Standing {
                group_member: true,
                ..private_group
            }
        ));
        assert!(!worth_telling("a", "a"));
    }
}
