//! The push channel (`/api/v1/stream`) over real WebSocket and SSE clients: live chat,
//! resuming after a reconnect, and the connections it refuses or closes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

async fn connect(node: &Node, c: &Client, query: &str) -> Result<Socket, tungstenite::Error> {
    stream_socket(&node.base, c.token.as_deref(), query).await
}

/// How the server closed the socket: its close code, after any events still queued.
async fn closed_with(ws: &mut Socket) -> Option<CloseCode> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("closed within 20 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

async fn chat(ann: &(String, Client), bob: &(String, Client)) -> String {
    let direct = json!({"kind": "direct", "user_id": bob.0});
    until_status(201, async || {
        ann.1.post("/conversations", direct.clone()).await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn say(c: &Client, conv: &str, text: &str) -> String {
    c.post(
        &format!("/conversations/{conv}/messages"),
        json!({ "text": text }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_arrives_live_with_typing_and_read_receipts() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let conv = chat(&ann, &bob).await;
    let mut bob_ws = connect(&node, &bob.1, "").await.unwrap();
    let mut ann_ws = connect(&node, &ann.1, "").await.unwrap();

    ann.1
        .post_empty(&format!("/conversations/{conv}/typing"))
        .await
        .expect(204);
    let typing = next_of(&mut bob_ws, "typing").await;
    assert_eq!(typing["data"]["user_id"], ann.0.as_str());

    let sent = say(&ann.1, &conv, "hello live").await;
    let got = next_of(&mut bob_ws, "message.created").await;
    assert_eq!(got["id"], sent.as_str());
    assert_eq!(got["data"]["text"], "hello live");
    assert_eq!(got["data"]["conversation_id"], conv.as_str());
    // The sender's other devices hear of it too.
    assert_eq!(
        next_of(&mut ann_ws, "message.created").await["id"],
        sent.as_str()
    );

    bob.1
        .post(
            &format!("/conversations/{conv}/read"),
            json!({"message_id": sent}),
        )
        .await
        .expect(200);
    let read = next_of(&mut ann_ws, "conversation.read").await;
    assert_eq!(read["data"]["user_id"], bob.0.as_str());
    assert_eq!(read["data"]["up_to"], sent.as_str());

    ann.1
        .patch(
            &format!("/conversations/{conv}/messages/{sent}"),
            json!({"text": "hello, live"}),
        )
        .await
        .expect(200);
    let edited = next_of(&mut bob_ws, "message.updated").await;
    assert_eq!(edited["data"]["text"], "hello, live");
    ann.1
        .delete(&format!("/conversations/{conv}/messages/{sent}"))
        .await
        .expect(204);
    let deleted = next_of(&mut bob_ws, "message.deleted").await;
    assert_eq!(deleted["data"]["message_id"], sent.as_str());

    // A stranger's stream hears nothing of it.
    let (_, eve) = user(&anon, "eve").await;
    let mut eve_ws = connect(&node, &eve, "").await.unwrap();
    say(&ann.1, &conv, "private").await;
    next_of(&mut bob_ws, "message.created").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), eve_ws.next())
            .await
            .is_err(),
        "nothing for eve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_gets_exactly_what_it_missed() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let conv = chat(&ann, &bob).await;
    let mut ws = connect(&node, &bob.1, "").await.unwrap();
    let first = say(&ann.1, &conv, "one").await;
    assert_eq!(
        next_of(&mut ws, "message.created").await["id"],
        first.as_str()
    );
    ws.close(None).await.unwrap();
    drop(ws);

    let missed = [
        say(&ann.1, &conv, "two").await,
        say(&ann.1, &conv, "three").await,
    ];
    let mut ws = connect(&node, &bob.1, &format!("?since={first}"))
        .await
        .unwrap();
    for id in &missed {
        assert_eq!(next_of(&mut ws, "message.created").await["id"], id.as_str());
    }
    let live = say(&ann.1, &conv, "four").await;
    assert_eq!(
        next_of(&mut ws, "message.created").await["id"],
        live.as_str(),
        "live after the missed ones, none twice"
    );

    // SSE resumes the same way, from Last-Event-ID.
    let sse = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", node.base))
        .bearer_auth(bob.1.token.as_deref().unwrap())
        .header("accept", "text/event-stream")
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut sse = sse;
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text.contains(&format!("id: {live}")) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, sse.chunk())
            .await
            .expect("SSE events within 10 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The messages, in order; besides them only the notification that messages came
    // while Bob had no connection (it is in his list, so it is replayed too).
    let mut message_ids = Vec::new();
    for block in text.split("\n\n") {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_string)
        };
        match field("event").as_deref() {
            Some("message.created") => message_ids.push(field("id").unwrap()),
            Some("notification") => assert!(block.contains("\"kind\":\"message\""), "{block}"),
            Some(other) => panic!("unexpected {other}: {block}"),
            None => {}
        }
    }
    assert_eq!(
        message_ids,
        [missed[0].as_str(), missed[1].as_str(), live.as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_gets_the_notifications_it_missed() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let post = until_status(201, async || {
        bob.1.post("/posts", json!({"text": "mine"})).await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = connect(&node, &bob.1, "").await.unwrap();
    ann.1
        .post_empty(&format!("/users/{}/friend-request", bob.0))
        .await
        .expect(201);
    let seen = next_of(&mut ws, "notification").await;
    assert_eq!(seen["data"]["notification"]["kind"], "friend_request");
    let seen = seen["id"].as_str().unwrap().to_string();
    ws.close(None).await.unwrap();
    drop(ws);

    until_status(201, async || {
        ann.1
            .post(&format!("/posts/{post}/comments"), json!({"text": "nice"}))
            .await
    })
    .await;
    eventually("the comment is notified", || {
        let bob = bob.1.clone();
        async move {
            bob.get("/notifications").await.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|n| n["kind"] == "comment"))
        }
    })
    .await;
    let mut ws = connect(&node, &bob.1, &format!("?since={seen}"))
        .await
        .unwrap();
    let missed = next_of(&mut ws, "notification").await;
    assert_eq!(
        missed["data"]["notification"]["kind"], "comment",
        "{missed}"
    );
    assert!(missed["id"].as_str().unwrap() > seen.as_str());
    ann.1
        .send(
            "PUT",
            &format!("/posts/{post}/reactions"),
            Some(json!({"kind": "like"})),
        )
        .await
        .expect(200);
    let live = next_of(&mut ws, "notification").await;
    assert_eq!(
        live["data"]["notification"]["kind"], "reaction",
        "live after the missed one, the comment not twice: {live}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_are_refused_or_closed() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let bob = user(&anon, "bob").await;

    // No token, a forged one: refused before any upgrade, as a problem.
    let refused = |e: tungstenite::Error| match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    };
    assert_eq!(refused(connect(&node, &anon, "").await.unwrap_err()), 401);
    let forged = anon.with_token("not.a.token");
    assert_eq!(refused(connect(&node, &forged, "").await.unwrap_err()), 401);
    assert_eq!(
        refused(connect(&node, &bob.1, "?since=garbage").await.unwrap_err()),
        422
    );
    // Neither a WebSocket nor SSE.
    bob.1.get("/stream").await.problem(400);

    // Browsers pass the token in the query.
    let token = bob.1.token.clone().unwrap();
    let mut ws = connect(&node, &anon, &format!("?access_token={token}"))
        .await
        .unwrap();
    // A 10 MB frame (the limit is 64 KiB) ends the connection.
    let _ = ws.send(Message::Binary(vec![0u8; 10 << 20].into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "an oversized frame closes the socket");

    // The token expires mid-connection: closed with 4002. (A two-second token, signed with
    // the platform's key from the data dir, as auth would.)
    let keys = agora_node::platform::tokens::KeyPair::load_or_create(&node.data).unwrap();
    let issuer = agora_node::platform::tokens::TokenIssuer::new(&keys, "dev", 2).unwrap();
    let short = issuer
        .issue(&bob.0, vec![agora_node::platform::tokens::Role::User], "s")
        .unwrap();
    let mut ws = connect(&node, &anon.with_token(&short), "").await.unwrap();
    assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Library(4002)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_not_buffered() {
    let nats = Nats::start();
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_RATE_LIMIT_IP", "1000000"),
            ("AGORA_RATE_LIMIT_USER", "1000000"),
        ],
    );
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let conv = chat(&ann, &bob).await;
    let mut ws = connect(&node, &bob.1, "").await.unwrap();
    // bob reads nothing while ann sends far more than the queue and the socket buffers
    // hold (4 KB each).
    let text = "x".repeat(3_900);
    for _ in 0..1_500 {
        say(&ann.1, &conv, &text).await;
    }
    assert_eq!(
        closed_with(&mut ws).await,
        Some(CloseCode::Library(4008)),
        "dropped with 4008 once its queue was full"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_shows_to_contacts_who_share_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let conv = chat(&ann, &bob).await;
    let mut ann_ws = connect(&node, &ann.1, "").await.unwrap();

    let bob_ws = connect(&node, &bob.1, "").await.unwrap();
    let online = next_of(&mut ann_ws, "presence").await;
    assert_eq!(online["data"]["user_id"], bob.0.as_str());
    assert_eq!(online["data"]["online"], true);
    let member = |v: &Value, who: &str| {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == who)
            .unwrap()
            .clone()
    };
    let seen = ann
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert_eq!(member(&seen, &bob.0)["presence"]["online"], true);

    drop(bob_ws);
    let offline = next_of(&mut ann_ws, "presence").await;
    assert_eq!(offline["data"]["online"], false);
    assert!(offline["data"]["last_seen"].is_string());
    let seen = ann
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert_eq!(member(&seen, &bob.0)["presence"]["online"], false);
    assert!(member(&seen, &bob.0)["presence"]["last_seen"].is_string());

    // bob hides his presence: ann sees none of it (and bob none of hers).
    bob.1
        .send(
            "PUT",
            "/conversations/preferences",
            Some(json!({"read_receipts": true, "presence": false})),
        )
        .await
        .expect(200);
    let seen = ann
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert!(member(&seen, &bob.0)["presence"].is_null());
    let seen = bob
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert!(member(&seen, &ann.0)["presence"].is_null());
    // A stranger, who shares no conversation, is told nothing when bob comes back.
    let (_, eve) = user(&anon, "eve").await;
    let mut eve_ws = connect(&node, &eve, "").await.unwrap();
    bob.1
        .send(
            "PUT",
            "/conversations/preferences",
            Some(json!({"read_receipts": true, "presence": true})),
        )
        .await
        .expect(200);
    let _bob_again = connect(&node, &bob.1, "").await.unwrap();
    assert_eq!(
        next_of(&mut ann_ws, "presence").await["data"]["online"],
        true
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), eve_ws.next())
            .await
            .is_err(),
        "nothing for eve"
    );
    // Bad connection ids are refused.
    bob.1
        .post("/conversations/presence", json!({"connection": ""}))
        .await
        .problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_closes_sockets_with_going_away() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let anon = node.client();
    let (_, ann) = user(&anon, "ann").await;
    let mut ws = connect(&node, &ann, "").await.unwrap();
    let sse = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", node.base))
        .bearer_auth(ann.token.as_deref().unwrap())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let status = tokio::task::spawn_blocking(move || node.terminate())
        .await
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM drains and exits 0 with sockets open"
    );
    assert_eq!(closed_with(&mut ws).await, Some(CloseCode::Away));
}
