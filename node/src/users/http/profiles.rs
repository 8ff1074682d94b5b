//! Profiles: one's own, another's as the caller may see it, privacy settings, and finding
//! a user by username.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Query};
use crate::platform::tokens::{AuthUser, MaybeUser};

use super::super::UsersState;
use super::super::domain::{
    self, MessagePolicy, Privacy, Profile, ProfileFields, ProfileVisibility, Relationship,
    RequestPolicy, parse_user_id,
};
use super::super::error::Error;
use super::super::storage;
use super::{ProfileView, view, visible_profile};

fn own_profile(s: &UsersState, user: &AuthUser) -> ApiResult<Profile> {
    Ok(storage::profile(&s.store, user.id())?.ok_or(Error::ProfileNotYet)?)
}

/// The caller's own profile, privacy settings included.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", responses((status = 200, body = ProfileView)), security(("bearer" = [])))]
pub(super) async fn my_profile(
    State(s): State<UsersState>,
    user: AuthUser,
) -> ApiResult<Json<ProfileView>> {
    Ok(Json(view(&s, own_profile(&s, &user)?, Relationship::Me)?))
}

/// Fields to change (at least one); absent or null fields stay, an empty string clears.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
#[schema(example = json!({"display_name": "Ada Lovelace", "bio": "Analyst of engines.", "location": "London", "website": "https://ada.example.org"}))]
pub struct ProfileChange {
    /// 1 to 64 characters.
    display_name: Option<String>,
    /// At most 500 characters; newlines allowed.
    bio: Option<String>,
    /// At most 100 characters.
    location: Option<String>,
    /// An http(s) URL of at most 200 characters.
    website: Option<String>,
    /// One of the caller's pictures (`POST /media`; JPEG, PNG, WebP or GIF) to show beside
    /// their name; an empty string removes it. A replaced avatar is deleted unless
    /// something else shows it.
    avatar_id: Option<String>,
    /// One of the caller's pictures to show atop the profile; an empty string removes it.
    cover_id: Option<String>,
}

impl From<ProfileChange> for ProfileFields {
    fn from(c: ProfileChange) -> Self {
        ProfileFields {
            display_name: c.display_name,
            bio: c.bio,
            location: c.location,
            website: c.website,
            avatar_id: c.avatar_id,
            cover_id: c.cover_id,
        }
    }
}

/// How long a change waits for media it names that this context has not heard of yet (an
/// upload answered a moment ago).
const MEDIA_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Checks that `id` is a picture the caller uploaded (another's is as unknown as none).
async fn own_picture(
    s: &UsersState,
    owner: &str,
    field: &str,
    id: &str,
    until: tokio::time::Instant,
) -> ApiResult<()> {
    let media = storage::media::owned_media(&s.store, id, owner, until).await?;
    let media = media.ok_or_else(|| Error::invalid(field, format!("no media {id} of yours")))?;
    Ok(domain::profile_picture(field, media.kind)?)
}

/// Changes the caller's profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = ProfileChange,
    responses((status = 200, body = ProfileView), (status = 422, description = "invalid field")), security(("bearer" = [])))]
pub(super) async fn update_my_profile(
    State(s): State<UsersState>,
    user: AuthUser,
    Json(change): Json<ProfileChange>,
) -> ApiResult<Json<ProfileView>> {
    let change = domain::clean_profile(change.into())?;
    // One wait for both pictures, not one each.
    let until = tokio::time::Instant::now() + MEDIA_WAIT;
    for (field, id) in [
        ("avatar_id", &change.avatar_id),
        ("cover_id", &change.cover_id),
    ] {
        if let Some(id) = id.as_ref().filter(|id| !id.is_empty()) {
            own_picture(&s, user.id(), field, id, until).await?;
        }
    }
    let profile = storage::update_profile(&s.store, user.id(), |p| {
        let picture = |field: &mut Option<String>, value: &Option<String>| {
            if let Some(v) = value {
                *field = Some(v.clone()).filter(|v| !v.is_empty());
            }
        };
        picture(&mut p.avatar_id, &change.avatar_id);
        picture(&mut p.cover_id, &change.cover_id);
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut p.display_name, &change.display_name);
        set(&mut p.bio, &change.bio);
        set(&mut p.location, &change.location);
        set(&mut p.website, &change.website);
    })
    .await?;
    Ok(Json(view(&s, profile, Relationship::Me)?))
}

/// The caller's privacy settings.
#[utoipa::path(get, path = "/api/v1/users/me/privacy", tag = "users", responses((status = 200, body = Privacy)), security(("bearer" = [])))]
pub(super) async fn my_privacy(
    State(s): State<UsersState>,
    user: AuthUser,
) -> ApiResult<Json<Privacy>> {
    Ok(Json(own_profile(&s, &user)?.privacy))
}

/// Privacy settings to change; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"searchable": false}))]
pub struct PrivacyChange {
    profile: Option<ProfileVisibility>,
    friend_requests: Option<RequestPolicy>,
    messages: Option<MessagePolicy>,
    searchable: Option<bool>,
}

/// Changes the caller's privacy settings.
#[utoipa::path(patch, path = "/api/v1/users/me/privacy", tag = "users", request_body = PrivacyChange, responses((status = 200, body = Privacy)), security(("bearer" = [])))]
pub(super) async fn update_my_privacy(
    State(s): State<UsersState>,
    user: AuthUser,
    Json(change): Json<PrivacyChange>,
) -> ApiResult<Json<Privacy>> {
    let profile = storage::update_profile(&s.store, user.id(), |p| {
        let privacy = &mut p.privacy;
        privacy.profile = change.profile.unwrap_or(privacy.profile);
        privacy.friend_requests = change.friend_requests.unwrap_or(privacy.friend_requests);
        privacy.messages = change.messages.unwrap_or(privacy.messages);
        privacy.searchable = change.searchable.unwrap_or(privacy.searchable);
    })
    .await?;
    Ok(Json(profile.privacy))
}

/// A user's profile with the caller's view of it.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id (ULID)")),
    responses((status = 200, body = ProfileView), (status = 404, description = "no such user, or blocked")))]
pub(super) async fn user_profile(
    State(s): State<UsersState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ProfileView>> {
    let id = parse_user_id(&id)?;
    Ok(Json(visible_profile(
        &s,
        viewer.as_ref().map(|c| c.sub.as_str()),
        &id,
    )?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FindUser {
    /// The exact username.
    username: String,
}

/// Finds a user by exact username. Profiles that are not searchable are found only by friends.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(FindUser), responses((status = 200, body = ProfileView), (status = 404)))]
pub(super) async fn find_user(
    State(s): State<UsersState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<FindUser>,
) -> ApiResult<Json<ProfileView>> {
    let id =
        storage::id_by_username(&s.store, q.username.trim())?.ok_or(Error::UsernameNotFound)?;
    let profile = visible_profile(&s, viewer.as_ref().map(|c| c.sub.as_str()), &id)?;
    let searchable = storage::profile(&s.store, &id)?.is_some_and(|p| p.privacy.searchable);
    if !searchable
        && !matches!(
            profile.relationship,
            Relationship::Me | Relationship::Friends
        )
    {
        return Err(Error::UsernameNotFound.into());
    }
    Ok(Json(profile))
}
