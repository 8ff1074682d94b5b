//! # analytics
//!
//! Engagement and content performance, fed only by events: per day, active users,
//! registrations, posts, comments, reactions, shares and messages; weekly and monthly
//! active users; retention by weekly cohort; per post, reactions by kind, comments,
//! shares, impressions and reach (distinct readers, estimated without keeping who); per
//! page, engagement per day; top posts and pages over a window. Platform figures are also
//! Prometheus gauges (`agora_platform{figure}`), refreshed every 5 seconds.
//!
//! Publishes: nothing.
//! Consumes: `auth.AccountRegistered`, `posts.PostCreated|PostDeleted|CommentAdded|CommentDeleted|ReactionSet|ReactionRemoved|PostsOpened`,
//! `feed.PostsSeen`, `messages.MessageSent`, `groups.PageAdminAdded|MemberJoined|MemberLeft`.

pub mod domain;
pub mod error;
pub mod http;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::auth::events as auth;
use crate::feed::events as feed;
use crate::groups::events as groups;
use crate::messages::events as messages;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;
use crate::platform::telemetry::{FigureLabel, Metrics};
use crate::platform::{Platform, unix_now};
use crate::posts::events as posts;

/// How often the Prometheus gauges are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// The analytics context.
pub struct Analytics;

impl BoundedContext for Analytics {
    fn name(&self) -> &'static str {
        Context::Analytics.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["analytics"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::AnalyticsApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_erasure::<crate::auth::events::AccountErased>(crate::platform::erasure::remove_all)
            .on::<auth::AccountRegistered>(storage::account_registered)
            .on::<posts::PostCreated>(storage::post_created)
            .on::<posts::PostDeleted>(storage::post_deleted)
            .on::<posts::CommentAdded>(storage::comment_added)
            .on::<posts::CommentDeleted>(storage::comment_deleted)
            .on::<posts::ReactionSet>(storage::reaction_set)
            .on::<posts::ReactionRemoved>(storage::reaction_removed)
            .on::<posts::PostsOpened>(storage::posts_opened)
            .on::<feed::PostsSeen>(storage::posts_seen)
            .on::<messages::MessageSent>(storage::message_sent)
            .on::<groups::PageAdminAdded>(storage::page_admin_added)
            .on::<groups::MemberJoined>(storage::member_joined)
            .on::<groups::MemberLeft>(storage::member_left)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        tokio::spawn(refresh_gauges(
            store.clone(),
            platform.metrics.clone(),
            platform.shutdown.clone(),
        ));
        Ok(http::routes(platform.state(store)))
    }
}

/// Sets the platform gauges from the store, every [`GAUGES_EVERY`], until shutdown.
async fn refresh_gauges(
    store: Store,
    metrics: Arc<Metrics>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = set_gauges(&store, &metrics) {
            tracing::warn!(error = %e, "platform gauges not refreshed");
        }
        tokio::select! {
            _ = tokio::time::sleep(GAUGES_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn set_gauges(store: &Store, metrics: &Metrics) -> crate::platform::error::ApiResult<()> {
    let now = unix_now();
    let set = |figure: &str, value: u64| {
        metrics
            .platform_figures
            .get_or_create(&FigureLabel {
                figure: figure.to_string(),
            })
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    };
    let today = storage::day(store, domain::day_of(now))?;
    set(
        "active_users_day",
        today.get("active").copied().unwrap_or(0),
    );
    set(
        "active_users_week",
        storage::weekly_active(store, domain::week_of(now))?,
    );
    set(
        "active_users_month",
        storage::monthly_active(store, domain::month_of(now))?,
    );
    for metric in domain::Metric::ALL {
        set(
            &format!("{}_today", metric.name()),
            today.get(metric.name()).copied().unwrap_or(0),
        );
    }
    Ok(())
}
