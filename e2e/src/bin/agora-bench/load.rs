//! The engine every workload shares: an open-loop, constant-rate load (exponential
//! inter-arrival times; latency measured from the intended send time, so queueing shows)
//! over keep-alive connections, stepped up by 25 % until a p99 bound breaks; and the
//! helpers of seeding (jobs spread over connections, waiting for the platform to settle).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::{Mutex, mpsc};

use crate::{Conn, histogram};

/// How a workload's load is offered and judged.
#[derive(clap::Args, Clone)]
pub struct LoadArgs {
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
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The node's process id: each step then also reports the CPU time the node spent
    /// (user + system, all threads, from `/proc/<pid>/stat`) per request served, a figure
    /// far steadier than a p99 near the knee. Several, comma-separated (the replicas and
    /// gateways of a cluster topology): their CPU time summed.
    #[arg(long, value_delimiter = ',')]
    pub node_pid: Vec<u32>,
}

/// The CPU seconds the processes `pids` have used so far, together; `None` for none.
fn cpu_of(pids: &[u32]) -> anyhow::Result<Option<f64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut total = 0.0;
    for pid in pids {
        total += cpu_seconds(*pid)?;
    }
    Ok(Some(total))
}

/// The CPU seconds (user + system, every thread) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces, so split after its `)`):
    // utime and stime are the 14th and 15th fields, in USER_HZ ticks (100 per second).
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse::<f64>()?)
    };
    // Fields counted from 1 with the pid; `after` starts at the 3rd (the state).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// What a load offers: requests drawn at random, each of a named type.
pub(crate) trait Workload: Send + Sync + 'static {
    type Request: Send + 'static;
    /// The next request.
    fn draw(&self, rng: &mut StdRng) -> Self::Request;
    /// Its type, as the tables name it.
    fn kind(request: &Self::Request) -> &'static str;
    /// Sends it; returns the status.
    fn send(
        &self,
        conn: &mut Conn,
        request: Self::Request,
    ) -> impl Future<Output = anyhow::Result<u16>> + Send;
}

/// One step's results per request type: histogram (µs from the intended send) and errors.
type StepResult = BTreeMap<&'static str, (Histogram<u64>, u64)>;

struct Timed<R> {
    request: R,
    intended: Instant,
}

/// Offers `rate` requests/s of `workload` for `args.seconds`, open loop.
async fn step<W: Workload>(
    addr: &str,
    workload: &Arc<W>,
    rate: f64,
    args: &LoadArgs,
    seed: u64,
) -> anyhow::Result<(StepResult, f64, Option<f64>)> {
    let (tx, rx) = mpsc::unbounded_channel::<Timed<W::Request>>();
    let rx = Arc::new(Mutex::new(rx));
    let results: Arc<Mutex<StepResult>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (rx, results, workload, addr) = (
            rx.clone(),
            results.clone(),
            workload.clone(),
            addr.to_string(),
        );
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            let mut local: StepResult = BTreeMap::new();
            loop {
                let Some(timed) = rx.lock().await.recv().await else {
                    break;
                };
                let kind = W::kind(&timed.request);
                let status = workload.send(&mut conn, timed.request).await?;
                let entry = local.entry(kind).or_insert_with(|| (histogram(), 0));
                entry
                    .0
                    .saturating_record(timed.intended.elapsed().as_micros().max(1) as u64);
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
    let cpu_before = cpu_of(&args.node_pid)?;
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut next = start;
    while next < end {
        let now = Instant::now();
        if next > now {
            tokio::time::sleep(next - now).await;
        }
        let request = workload.draw(&mut rng);
        if tx
            .send(Timed {
                request,
                intended: next,
            })
            .is_err()
        {
            anyhow::bail!("every connection of the load failed");
        }
        // Exponential inter-arrival times: a Poisson process at `rate`.
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        next += Duration::from_secs_f64(-u.ln() / rate);
    }
    drop(tx);
    for w in workers {
        w.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = match (cpu_of(&args.node_pid)?, cpu_before) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    let results = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner();
    Ok((results, elapsed, cpu))
}

pub(crate) fn ms(v: u64) -> f64 {
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
pub(crate) async fn find_max<W: Workload>(
    addr: &str,
    workload: &Arc<W>,
    args: &LoadArgs,
    mut rate: f64,
) -> anyhow::Result<(Vec<serde_json::Value>, Option<f64>)> {
    let mut steps = Vec::new();
    let mut best: Option<f64> = None;
    loop {
        let seed = args.seed + steps.len() as u64;
        let (results, elapsed, cpu) = step(addr, workload, rate, args, seed).await?;
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(k, (h, e))| summary(k, h, *e, elapsed))
            .collect();
        let worst_p99 = rows
            .iter()
            .filter_map(|r| r["p99_ms"].as_f64())
            .fold(0.0, f64::max);
        let errors: u64 = rows.iter().filter_map(|r| r["errors"].as_u64()).sum();
        let served: u64 = rows.iter().filter_map(|r| r["count"].as_u64()).sum();
        let node_cpu = cpu.map(|seconds| {
            json!({"seconds": seconds, "cores": seconds / elapsed, "us_per_request": seconds * 1e6 / served.max(1) as f64})
        });
        if !args.json {
            print_table(rate, &rows);
            if let Some(c) = &node_cpu {
                println!(
                    "node CPU: {:.2} s in {elapsed:.1} s ({:.2} cores), {:.0} µs per request",
                    c["seconds"].as_f64().unwrap_or_default(),
                    c["cores"].as_f64().unwrap_or_default(),
                    c["us_per_request"].as_f64().unwrap_or_default()
                );
            }
        }
        steps.push(json!({"offered_rate": rate, "requests": rows, "worst_p99_ms": worst_p99, "node_cpu": node_cpu}));
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

pub(crate) type Job<I> = Arc<
    dyn Fn(
            Conn,
            I,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Conn>> + Send>>
        + Send
        + Sync,
>;

/// Runs `job` over `items` on `workers` connections of their own.
pub(crate) async fn on_connections<I: Send + 'static>(
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

/// Waits until the platform has no work left from the seeding: every consumer's lag
/// (`agora_consumer_pending_events`) and every outbox (`agora_outbox_depth`) at zero, as
/// `/metrics` says (answered to loopback). Search indexing, notifications, analytics and
/// moderation apply the seeded history long after the feed has it; measuring before they
/// are done measures their backlog. Returns how much work there was at first.
pub(crate) async fn quiet(addr: &str, within: Duration) -> anyhow::Result<String> {
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
