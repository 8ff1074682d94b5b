//! The social-network workload, modelled on DeathStarBench's: a generated graph of the
//! size and shape of socfb-Reed98 (962 users, 18,812 friendships), a history of posts,
//! then an open-loop, constant-rate load (exponential inter-arrival times; latency measured
//! from the intended send time, so queueing shows) with the mix 60 % home feed, 30 % a
//! user's timeline, 10 % compose; plus the compose-to-feed propagation delay.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::{Mutex, mpsc};

use crate::{Conn, histogram, login, sign_up};

#[derive(clap::Args, Clone)]
pub struct SocialArgs {
    /// Users in the generated graph (Reed98: 962; 81,306 for the larger socfb graphs).
    #[arg(long, default_value_t = 962)]
    pub users: usize,
    /// Friendships in the generated graph (Reed98: 18,812).
    #[arg(long, default_value_t = 18_812)]
    pub friendships: usize,
    /// Posts each user has before the load starts.
    #[arg(long, default_value_t = 5)]
    pub history: usize,
    /// Requests per second to offer (open loop).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Seconds per load step.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Connections the load is sent over.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Step the rate up by 25 % until p99 of any request type exceeds this (ms); report the
    /// highest rate that stayed under it.
    #[arg(long)]
    pub find_max_p99_ms: Option<f64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also measure the machine's ceiling in the same run, first: a bare axum server in this
    /// process ([`crate::ceiling`]) driven by the same open-loop engine, connections, step
    /// length and p99 bound; the mix's highest rate is then also given as a ratio to it.
    #[arg(long)]
    pub with_ceiling: bool,
    /// The first rate offered to the bare server (it goes far beyond the mix's).
    #[arg(long, default_value_t = 5_000.0)]
    pub ceiling_rate: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub(crate) struct User {
    id: String,
    token: String,
    friends: Vec<usize>,
}

impl User {
    /// A stand-in for requests that need no account (the bare server's).
    pub(crate) fn nobody() -> User {
        User {
            id: String::new(),
            token: String::new(),
            friends: Vec::new(),
        }
    }
}

/// A graph with `n` nodes and `m` edges, every node connected (a ring first), the rest
/// attached preferentially (heavy-tailed degrees, like Facebook graphs).
fn graph(n: usize, m: usize, rng: &mut StdRng) -> Vec<(usize, usize)> {
    let mut edges = HashSet::new();
    let mut ends: Vec<usize> = Vec::new();
    for i in 0..n {
        let j = (i + 1) % n;
        if i != j && edges.insert((i.min(j), i.max(j))) {
            ends.extend([i, j]);
        }
    }
    while edges.len() < m.min(n * (n - 1) / 2) {
        let a = rng.random_range(0..n);
        let b = if rng.random_bool(0.8) && !ends.is_empty() {
            ends[rng.random_range(0..ends.len())]
        } else {
            rng.random_range(0..n)
        };
        if a != b && edges.insert((a.min(b), a.max(b))) {
            ends.extend([a, b]);
        }
    }
    edges.into_iter().collect()
}

type Job<I> = Arc<
    dyn Fn(
            Conn,
            I,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Conn>> + Send>>
        + Send
        + Sync,
>;

/// Runs `job` over `items` on `workers` connections of their own.
async fn on_connections<I: Send + 'static>(
    addr: &str,
    items: Vec<I>,
    workers: usize,
    job: Job<I>,
) -> anyhow::Result<()> {
    let queue = Arc::new(Mutex::new(items));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (queue, job, addr) = (queue.clone(), job.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            loop {
                let Some(item) = queue.lock().await.pop() else {
                    return anyhow::Ok(());
                };
                conn = job(conn, item).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Registers, verifies and logs in every user; befriends the graph; gives each a history.
async fn seed(addr: &str, args: &SocialArgs) -> anyhow::Result<Vec<User>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Names unique per run, so a platform can be benchmarked more than once.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        % 100_000_000;
    let names: Vec<(usize, String)> = (0..args.users)
        .map(|i| (i, format!("s{run}u{i}")))
        .collect();
    let users: Arc<Mutex<BTreeMap<usize, (String, String)>>> = Arc::default();
    let out = users.clone();
    let register: Job<(usize, String)> = Arc::new(move |mut conn, (i, name)| {
        let out = out.clone();
        Box::pin(async move {
            let id = sign_up(&mut conn, &name).await?;
            let access = login(&mut conn, &name).await?;
            out.lock().await.insert(i, (id, access));
            Ok(conn)
        })
    });
    on_connections(addr, names, 8, register).await?;
    let accounts = Arc::try_unwrap(users)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner();
    eprintln!(
        "seed: {} users in {:.1}s",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );
    let mut users: Vec<User> = accounts
        .into_values()
        .map(|(id, token)| User {
            id,
            token,
            friends: Vec::new(),
        })
        .collect();

    // Profiles come from auth's events: wait for the last one.
    let mut conn = Conn::open(addr).await?;
    let last = users.last().context("no users")?.token.clone();
    while conn
        .call("GET", "/api/v1/users/me", Some(&last), None)
        .await?
        .0
        != 200
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let edges = graph(users.len(), args.friendships, &mut rng);
    for &(a, b) in &edges {
        users[a].friends.push(b);
        users[b].friends.push(a);
    }
    let ids: Arc<Vec<(String, String)>> = Arc::new(
        users
            .iter()
            .map(|u| (u.id.clone(), u.token.clone()))
            .collect(),
    );
    let lookup = ids.clone();
    let befriend: Job<(usize, usize)> = Arc::new(move |mut conn, (a, b)| {
        let ids = lookup.clone();
        Box::pin(async move {
            let ((a_id, a_token), (b_id, b_token)) = (&ids[a], &ids[b]);
            conn.json(
                "POST",
                &format!("/api/v1/users/{b_id}/friend-request"),
                Some(a_token),
                None,
            )
            .await?;
            conn.json(
                "POST",
                &format!("/api/v1/friend-requests/{a_id}/accept"),
                Some(b_token),
                None,
            )
            .await?;
            Ok(conn)
        })
    });
    let t = Instant::now();
    on_connections(addr, edges.clone(), 32, befriend).await?;
    eprintln!(
        "seed: {} friendships in {:.1}s",
        edges.len(),
        t.elapsed().as_secs_f64()
    );

    // Everyone opens the feed once (so they count as active), then posts a history.
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    let open: Job<String> = Arc::new(|mut conn, token| {
        Box::pin(async move {
            conn.json("GET", "/api/v1/feed?limit=1", Some(&token), None)
                .await?;
            Ok(conn)
        })
    });
    on_connections(addr, tokens.clone(), 32, open).await?;
    let posts: Vec<(String, usize)> = tokens
        .iter()
        .flat_map(|t| (0..args.history).map(move |i| (t.clone(), i)))
        .collect();
    let compose: Job<(String, usize)> = Arc::new(|mut conn, (token, i)| {
        Box::pin(async move {
            let text = format!("history post {i} #bench");
            conn.json(
                "POST",
                "/api/v1/posts",
                Some(&token),
                Some(json!({"text": text, "visibility": "friends"})),
            )
            .await?;
            Ok(conn)
        })
    });
    let t = Instant::now();
    let n = posts.len();
    on_connections(addr, posts, 32, compose).await?;
    eprintln!(
        "seed: {n} posts in {:.1}s; seeding took {:.1}s",
        t.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(users)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Feed,
    Timeline,
    Compose,
    /// `GET /ceiling` on the bare server.
    Ceiling,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Feed => "read home feed",
            Kind::Timeline => "read user timeline",
            Kind::Compose => "compose post",
            Kind::Ceiling => "bare server",
        }
    }
}

struct Request {
    kind: Kind,
    intended: Instant,
    user: usize,
    other: usize,
}

/// One step's results per request type: histogram (µs from the intended send) and errors.
type StepResult = BTreeMap<Kind, (Histogram<u64>, u64)>;

/// What a step offers: the social mix, or only the bare server's request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mix {
    Social,
    Ceiling,
}

/// Offers `rate` requests/s for `seconds`, open loop.
async fn step(
    addr: &str,
    users: &Arc<Vec<User>>,
    rate: f64,
    (seconds, connections, seed): (u64, usize, u64),
    mix: Mix,
) -> anyhow::Result<(StepResult, f64)> {
    let (tx, rx) = mpsc::unbounded_channel::<Request>();
    let rx = Arc::new(Mutex::new(rx));
    let results: Arc<Mutex<StepResult>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (rx, results, users, addr) =
            (rx.clone(), results.clone(), users.clone(), addr.to_string());
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            let mut local: StepResult = BTreeMap::new();
            loop {
                let Some(req) = rx.lock().await.recv().await else {
                    break;
                };
                let u = &users[req.user];
                let (status, _) = match req.kind {
                    Kind::Feed => {
                        conn.call(
                            "GET",
                            "/api/v1/feed?order=ranked&limit=10",
                            Some(&u.token),
                            None,
                        )
                        .await?
                    }
                    Kind::Timeline => {
                        conn.call(
                            "GET",
                            &format!("/api/v1/users/{}/posts?limit=10", users[req.other].id),
                            Some(&u.token),
                            None,
                        )
                        .await?
                    }
                    Kind::Compose => {
                        let body = json!({"text": "a fresh post #load", "visibility": "friends"});
                        conn.call("POST", "/api/v1/posts", Some(&u.token), Some(body))
                            .await?
                    }
                    Kind::Ceiling => conn.call("GET", "/ceiling", None, None).await?,
                };
                let entry = local.entry(req.kind).or_insert_with(|| (histogram(), 0));
                entry
                    .0
                    .record(req.intended.elapsed().as_micros().max(1) as u64)?;
                entry.1 += u64::from(!(200..300).contains(&status));
            }
            let mut all = results.lock().await;
            for (k, (h, e)) in local {
                let entry = all.entry(k).or_insert_with(|| (histogram(), 0));
                entry.0.add(h)?;
                entry.1 += e;
            }
            anyhow::Ok(())
        }));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut next = start;
    while next < end {
        let now = Instant::now();
        if next > now {
            tokio::time::sleep(next - now).await;
        }
        let user = rng.random_range(0..users.len());
        let friends = &users[user].friends;
        let other = if friends.is_empty() {
            user
        } else {
            friends[rng.random_range(0..friends.len())]
        };
        let roll: f64 = rng.random();
        let kind = if mix == Mix::Ceiling {
            Kind::Ceiling
        } else if roll < 0.6 {
            Kind::Feed
        } else if roll < 0.9 {
            Kind::Timeline
        } else {
            Kind::Compose
        };
        tx.send(Request {
            kind,
            intended: next,
            user,
            other,
        })?;
        // Exponential inter-arrival times: a Poisson process at `rate`.
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        next += Duration::from_secs_f64(-u.ln() / rate);
    }
    drop(tx);
    for w in workers {
        w.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let results = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner();
    Ok((results, elapsed))
}

/// Waits until the platform has no work left from the seeding: every consumer's lag
/// (`agora_consumer_pending_events`) and every outbox (`agora_outbox_depth`) at zero, as
/// `/metrics` says (answered to loopback). Search indexing, notifications, analytics and
/// moderation apply the seeded history long after the feed has it; measuring before they
/// are done measures their backlog. Returns how much work there was at first.
async fn quiet(addr: &str, within: Duration) -> anyhow::Result<String> {
    let mut conn = Conn::open(addr).await?;
    let deadline = Instant::now() + within;
    let mut first = None;
    loop {
        let (status, body) = conn.call("GET", "/metrics", None, None).await?;
        anyhow::ensure!(
            status == 200,
            "GET /metrics: {status} (not loopback, or not a dev node?)"
        );
        let text = String::from_utf8_lossy(&body);
        let sum = |metric: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(metric))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let (pending, outbox) = (
            sum("agora_consumer_pending_events{"),
            sum("agora_outbox_depth{"),
        );
        let now = format!("{pending:.0} events pending in consumers, {outbox:.0} in outboxes");
        let first = first.get_or_insert(now).clone();
        if pending == 0.0 && outbox == 0.0 {
            return Ok(format!("at first {first}"));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the platform did not settle: {first}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Compose-to-feed delay: a user posts, a friend polls their recent feed until it is there.
async fn propagation(
    addr: &str,
    users: &[User],
    samples: usize,
    seed: u64,
    timeout: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let mut conn = Conn::open(addr).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = histogram();
    for _ in 0..samples {
        let author = rng.random_range(0..users.len());
        let Some(&reader) = users[author].friends.first() else {
            continue;
        };
        let post = conn
            .json(
                "POST",
                "/api/v1/posts",
                Some(&users[author].token),
                Some(json!({"text": "propagation probe", "visibility": "friends"})),
            )
            .await?;
        let id = post["id"].as_str().context("no post id")?.to_string();
        let sent = Instant::now();
        loop {
            let feed = conn
                .json(
                    "GET",
                    "/api/v1/feed?order=recent&limit=10",
                    Some(&users[reader].token),
                    None,
                )
                .await?;
            if feed["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str()))
            {
                break;
            }
            anyhow::ensure!(
                sent.elapsed() < timeout,
                "post {id} did not reach a friend's feed in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Past the histogram's 60 s (the settling probe after a seed may wait longer):
        // recorded as its highest value rather than failing the run.
        h.saturating_record(sent.elapsed().as_micros().max(1) as u64);
    }
    Ok(h)
}

fn ms(v: u64) -> f64 {
    v as f64 / 1000.0
}

fn summary(kind: &str, h: &Histogram<u64>, errors: u64, elapsed: f64) -> serde_json::Value {
    json!({
        "type": kind, "count": h.len(), "rate": h.len() as f64 / elapsed, "errors": errors,
        "p50_ms": ms(h.value_at_quantile(0.5)), "p90_ms": ms(h.value_at_quantile(0.9)), "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)), "max_ms": ms(h.max()),
    })
}

fn print_table(rate: f64, rows: &[serde_json::Value]) {
    println!("offered {rate:.0} req/s");
    println!(
        "{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "request", "rate/s", "errors", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for r in rows {
        println!(
            "{:<20} {:>9.0} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            r["type"].as_str().unwrap_or_default(),
            r["rate"].as_f64().unwrap_or_default(),
            r["errors"],
            r["p50_ms"].as_f64().unwrap_or_default(),
            r["p90_ms"].as_f64().unwrap_or_default(),
            r["p99_ms"].as_f64().unwrap_or_default(),
            r["p999_ms"].as_f64().unwrap_or_default(),
            r["max_ms"].as_f64().unwrap_or_default()
        );
    }
}

/// Steps the offered rate up from `rate` by 25 % while every p99 stays within the bound
/// (one step without a bound); returns every step and the highest rate within it.
pub(crate) async fn find_max(
    addr: &str,
    users: &Arc<Vec<User>>,
    args: &SocialArgs,
    mut rate: f64,
    mix: Mix,
) -> anyhow::Result<(Vec<serde_json::Value>, Option<f64>)> {
    let mut steps = Vec::new();
    let mut best: Option<f64> = None;
    loop {
        let shape = (
            args.seconds,
            args.connections,
            args.seed + steps.len() as u64,
        );
        let (results, elapsed) = step(addr, users, rate, shape, mix).await?;
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(k, (h, e))| summary(k.name(), h, *e, elapsed))
            .collect();
        let worst_p99 = rows
            .iter()
            .filter_map(|r| r["p99_ms"].as_f64())
            .fold(0.0, f64::max);
        let errors: u64 = rows.iter().filter_map(|r| r["errors"].as_u64()).sum();
        if !args.json {
            print_table(rate, &rows);
        }
        steps.push(json!({"offered_rate": rate, "requests": rows, "worst_p99_ms": worst_p99}));
        match args.find_max_p99_ms {
            Some(bound) if worst_p99 <= bound && errors == 0 && steps.len() < 16 => {
                best = Some(rate);
                rate *= 1.25;
            }
            _ => break,
        }
    }
    Ok((steps, best))
}

pub async fn run(addr: &str, args: SocialArgs) -> anyhow::Result<()> {
    let ceiling = match args.with_ceiling {
        true => {
            let bare = crate::ceiling::start()?;
            let nobody = Arc::new(vec![User::nobody()]);
            if !args.json {
                println!("ceiling: a bare axum server in this process, same engine");
            }
            let (steps, best) =
                find_max(&bare, &nobody, &args, args.ceiling_rate, Mix::Ceiling).await?;
            Some(json!({"steps": steps, "highest_rate_within_bound": best}))
        }
        false => None,
    };
    let users = Arc::new(seed(addr, &args).await?);
    // The history's fan-out runs behind the API: wait until a fresh post reaches a friend's
    // feed, so the load measures a settled platform (and the wait measures fan-out).
    let settle = Instant::now();
    propagation(addr, &users, 1, args.seed, Duration::from_secs(600)).await?;
    eprintln!(
        "seed: fan-out settled {:.1}s after the last history post",
        settle.elapsed().as_secs_f64()
    );
    let backlog = quiet(addr, Duration::from_secs(900)).await?;
    eprintln!(
        "seed: every consumer and outbox empty {:.1}s after the last history post ({backlog})",
        settle.elapsed().as_secs_f64()
    );
    let (steps, best) = find_max(addr, &users, &args, args.rate, Mix::Social).await?;
    let delays = propagation(addr, &users, 50, args.seed, Duration::from_secs(10)).await?;
    let propagation = json!({
        "samples": delays.len(), "p50_ms": ms(delays.value_at_quantile(0.5)), "p99_ms": ms(delays.value_at_quantile(0.99)), "max_ms": ms(delays.max()),
    });
    let ceiling_best = ceiling
        .as_ref()
        .and_then(|c| c["highest_rate_within_bound"].as_f64());
    let ratio = best.zip(ceiling_best).map(|(b, c)| b / c);
    if args.json {
        let out = json!({"users": args.users, "friendships": args.friendships, "steps": steps, "highest_rate_within_bound": best, "propagation": propagation, "ceiling": ceiling, "ratio_to_ceiling": ratio});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let (Some(bound), Some(best)) = (args.find_max_p99_ms, best) {
            println!("highest offered rate with every p99 under {bound} ms: {best:.0} req/s");
        }
        if let (Some(c), Some(r)) = (ceiling_best, ratio) {
            println!("the bare server's, same bound: {c:.0} req/s; the mix reaches {r:.3} of it");
        }
        println!(
            "compose-to-feed propagation: n={} p50={} ms p99={} ms max={} ms",
            propagation["samples"],
            propagation["p50_ms"],
            propagation["p99_ms"],
            propagation["max_ms"]
        );
    }
    Ok(())
}
