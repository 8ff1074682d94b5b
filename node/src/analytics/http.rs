//! The HTTP API of analytics: platform figures, retention and top content (admins), and a
//! post's or page's figures (for whoever runs them).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Query, path_id};
use crate::platform::tokens::{Admin, AuthUser, RequireRole, Role};
use crate::platform::{ContextState, unix_now};
use crate::posts::events::ReactionKind;

use super::domain::{self, MAX_DAYS, MAX_WEEKS, Metric};
use super::error::Error;
use super::storage;

pub fn routes(state: ContextState) -> Router {
    Router::new()
        .route("/api/v1/analytics/platform", get(platform_figures))
        .route("/api/v1/analytics/retention", get(retention))
        .route("/api/v1/analytics/top", get(top))
        .route("/api/v1/analytics/posts/{id}", get(post_figures))
        .route("/api/v1/analytics/pages/{id}", get(page_figures))
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(platform_figures, retention, top, post_figures, page_figures),
    components(schemas(
        PlatformFigures,
        DayFigures,
        Period,
        Retention,
        Cohort,
        Top,
        Ranked,
        PostFigures,
        PageFigures,
        PageDay,
        Window,
        TopKind
    ))
)]
pub struct AnalyticsApi;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DaysParams {
    /// Days up to and including today (UTC), 1 to 366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
}

impl DaysParams {
    fn days(&self) -> ApiResult<u32> {
        match self.days {
            None => Ok(30),
            Some(d @ 1..=MAX_DAYS) => Ok(d),
            Some(_) => Err(Error::field("days", "must be between 1 and 366").into()),
        }
    }
}

/// One day's figures (UTC).
#[derive(Serialize, ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Distinct users who did anything (wrote, reacted, read their feed, opened a post).
    pub active_users: u64,
    pub registrations: u64,
    pub posts: u64,
    pub comments: u64,
    pub reactions: u64,
    pub shares: u64,
    pub messages: u64,
}

/// Distinct active users of a calendar week (from Monday) or month.
#[derive(Serialize, ToSchema)]
pub struct Period {
    /// The week's Monday (`YYYY-MM-DD`) or the month (`YYYY-MM`).
    pub period: String,
    pub active_users: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PlatformFigures {
    /// Always `day` for `days`; `weeks` and `months` are calendar periods (UTC).
    pub granularity: &'static str,
    /// Oldest first, today last.
    pub days: Vec<DayFigures>,
    /// The calendar weeks the days touch, oldest first.
    pub weeks: Vec<Period>,
    /// The calendar months the days touch, oldest first.
    pub months: Vec<Period>,
}

fn day_figures(store: &crate::platform::storage::Store, day: i64) -> ApiResult<DayFigures> {
    let counts = storage::day(store, day)?;
    let get = |m: Metric| counts.get(m.name()).copied().unwrap_or(0);
    Ok(DayFigures {
        date: domain::date(day),
        active_users: counts.get("active").copied().unwrap_or(0),
        registrations: get(Metric::Registrations),
        posts: get(Metric::Posts),
        comments: get(Metric::Comments),
        reactions: get(Metric::Reactions),
        shares: get(Metric::Shares),
        messages: get(Metric::Messages),
    })
}

/// Daily figures, and the weekly and monthly active users, of the last `days` days.
#[utoipa::path(get, path = "/api/v1/analytics/platform", tag = "analytics", params(DaysParams),
    responses((status = 200, body = PlatformFigures), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn platform_figures(
    State(s): State<ContextState>,
    _admin: RequireRole<Admin>,
    Query(q): Query<DaysParams>,
) -> ApiResult<Json<PlatformFigures>> {
    let now = unix_now();
    let (from, to) = domain::window(domain::day_of(now), q.days()?);
    let days = (from..=to)
        .map(|d| day_figures(&s.store, d))
        .collect::<ApiResult<Vec<_>>>()?;
    let at = |d: i64| d * domain::DAY_SECS;
    let mut weeks = Vec::new();
    for w in domain::week_of(at(from))..=domain::week_of(at(to)) {
        weeks.push(Period {
            period: domain::week_start(w),
            active_users: storage::weekly_active(&s.store, w)?,
        });
    }
    let mut months = Vec::new();
    for m in domain::month_of(at(from))..=domain::month_of(at(to)) {
        months.push(Period {
            period: domain::month_name(m),
            active_users: storage::monthly_active(&s.store, m)?,
        });
    }
    Ok(Json(PlatformFigures {
        granularity: "day",
        days,
        weeks,
        months,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WeeksParams {
    /// Cohorts (weeks of registration) up to and including this week, 1 to 52 (default 8).
    #[param(minimum = 1, maximum = 52)]
    weeks: Option<u32>,
}

/// The users who registered in one week, and how many of them were active each week since.
#[derive(Serialize, ToSchema)]
pub struct Cohort {
    /// The week's Monday.
    pub week: String,
    pub size: u64,
    /// Percent of the cohort active in its week 0 (the week it registered), 1, 2, …
    /// up to this week.
    pub retained_percent: Vec<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct Retention {
    /// Oldest cohort first.
    pub cohorts: Vec<Cohort>,
}

/// Weekly retention by cohort (the week users registered).
#[utoipa::path(get, path = "/api/v1/analytics/retention", tag = "analytics", params(WeeksParams),
    responses((status = 200, body = Retention), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn retention(
    State(s): State<ContextState>,
    _admin: RequireRole<Admin>,
    Query(q): Query<WeeksParams>,
) -> ApiResult<Json<Retention>> {
    let weeks = match q.weeks {
        None => 8,
        Some(w @ 1..=MAX_WEEKS) => w,
        Some(_) => return Err(Error::field("weeks", "must be between 1 and 52").into()),
    };
    let this_week = domain::week_of(unix_now());
    let mut cohorts = Vec::new();
    for cohort in this_week - i64::from(weeks) + 1..=this_week {
        let size = storage::cohort_size(&s.store, cohort)?;
        let retained_percent = (cohort..=this_week)
            .map(|w| {
                Ok(domain::percent(
                    storage::retained(&s.store, cohort, w)?,
                    size,
                ))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        cohorts.push(Cohort {
            week: domain::week_start(cohort),
            size,
            retained_percent,
        });
    }
    Ok(Json(Retention { cohorts }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TopKind {
    Posts,
    Pages,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopParams {
    /// The last day, 7 days or 30 days, today included (default `week`).
    window: Option<Window>,
    /// Posts or pages (default `posts`).
    kind: Option<TopKind>,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Ranked {
    pub id: String,
    /// Reactions, comments and shares in the window.
    pub engagement: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Top {
    pub window: Window,
    pub kind: TopKind,
    /// Best first.
    pub items: Vec<Ranked>,
}

/// The posts or pages with the most engagement over a window.
#[utoipa::path(get, path = "/api/v1/analytics/top", tag = "analytics", params(TopParams),
    responses((status = 200, body = Top), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn top(
    State(s): State<ContextState>,
    _admin: RequireRole<Admin>,
    Query(q): Query<TopParams>,
) -> ApiResult<Json<Top>> {
    let window = q.window.unwrap_or(Window::Week);
    let kind = q.kind.unwrap_or(TopKind::Posts);
    let limit = match q.limit {
        None => 10,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return Err(Error::field("limit", "must be between 1 and 100").into()),
    };
    let days = match window {
        Window::Day => 1,
        Window::Week => 7,
        Window::Month => 30,
    };
    let (from, to) = domain::window(domain::day_of(unix_now()), days);
    let totals = storage::engagement(&s.store, from, to, matches!(kind, TopKind::Pages))?;
    let items = domain::top(totals, limit)
        .into_iter()
        .map(|(id, engagement)| Ranked { id, engagement })
        .collect();
    Ok(Json(Top {
        window,
        kind,
        items,
    }))
}

/// A post's figures.
#[derive(Serialize, ToSchema)]
pub struct PostFigures {
    pub id: String,
    pub reactions: BTreeMap<ReactionKind, u64>,
    pub comments: u64,
    pub shares: u64,
    /// Times it was shown in a feed or opened by a signed-in reader.
    pub impressions: u64,
    /// Distinct signed-in readers who had it in a feed or opened it (estimated; exact in
    /// practice below a few hundred, within about 3 % above).
    pub reach: u64,
}

/// A post's figures: for its author, the admins of its page or group, and platform
/// admins (404 to anyone else).
#[utoipa::path(get, path = "/api/v1/analytics/posts/{id}", tag = "analytics",
    params(("id" = String, Path)),
    responses((status = 200, body = PostFigures), (status = 404)), security(("bearer" = [])))]
async fn post_figures(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PostFigures>> {
    let id = path_id(&id, "post")?;
    let stats = storage::post(&s.store, &id)?.ok_or(Error::PostNotFound)?;
    let me = user.id();
    let allowed = user.0.has_role(Role::Admin)
        || stats.author == me
        || match &stats.page {
            Some(page) => storage::page_admin(&s.store, page, me)?,
            None => false,
        }
        || match &stats.group {
            Some(group) => storage::group_admin(&s.store, group, me)?,
            None => false,
        };
    if !allowed {
        return Err(Error::PostNotFound.into());
    }
    Ok(Json(PostFigures {
        reach: storage::reach(&s.store, &id)?,
        id,
        reactions: stats.reactions,
        comments: stats.comments,
        shares: stats.shares,
        impressions: stats.impressions,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PageDay {
    pub date: String,
    /// Reactions, comments and shares of the page's posts that day.
    pub engagement: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PageFigures {
    pub id: String,
    pub granularity: &'static str,
    /// Oldest first.
    pub days: Vec<PageDay>,
    pub engagement: u64,
}

/// A page's engagement per day: for its admins and platform admins (404 to anyone else).
#[utoipa::path(get, path = "/api/v1/analytics/pages/{id}", tag = "analytics",
    params(("id" = String, Path), DaysParams),
    responses((status = 200, body = PageFigures), (status = 404), (status = 422)),
    security(("bearer" = [])))]
async fn page_figures(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<DaysParams>,
) -> ApiResult<Json<PageFigures>> {
    let id = path_id(&id, "page")?;
    if !user.0.has_role(Role::Admin) && !storage::page_admin(&s.store, &id, user.id())? {
        return Err(Error::PageNotFound.into());
    }
    let (from, to) = domain::window(domain::day_of(unix_now()), q.days()?);
    let per_day = storage::page_engagement(&s.store, &id, from, to)?;
    let engagement = per_day.iter().sum();
    let days = (from..=to)
        .zip(per_day)
        .map(|(d, engagement)| PageDay {
            date: domain::date(d),
            engagement,
        })
        .collect();
    Ok(Json(PageFigures {
        id,
        granularity: "day",
        days,
        engagement,
    }))
}
