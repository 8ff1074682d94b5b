//! The machine's ceiling: a bare axum server answering a fixed small JSON body, which the
//! same load engine drives over the same kind of connections, so every figure can also be
//! given as a ratio to what this machine serves at all (figures then compare across
//! machines). It runs on its own two-thread runtime, as a server process would, beside
//! the load generator's.

use std::net::SocketAddr;

/// Starts the bare server on a free loopback port and returns its address.
pub fn start() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr: SocketAddr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/ceiling",
                axum::routing::get(|| async {
                    axum::Json(serde_json::json!({"id": "01JCEILING0000000000000000", "ok": true}))
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app).await
        })
    });
    Ok(addr.to_string())
}

/// The bare server's one request.
pub struct Bare;

impl crate::load::Workload for Bare {
    type Request = ();

    fn draw(&self, _rng: &mut rand::rngs::StdRng) {}

    fn kind(_request: &()) -> &'static str {
        "bare server"
    }

    async fn send(&self, conn: &mut crate::Conn, _request: ()) -> anyhow::Result<u16> {
        Ok(conn.call("GET", "/ceiling", None, None).await?.0)
    }
}
