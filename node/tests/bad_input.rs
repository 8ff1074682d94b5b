//! Bad input gets a problem+json 4xx and changes nothing; nothing gets a 500.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_with_problems_and_change_nothing() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let c = node.client();
    let (alice_id, _) = signed_up(&c, "alice").await;
    let ok = |name: &str| json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});

    c.raw(
        "POST",
        "/auth/register",
        "application/json",
        b"{\"username\":".to_vec(),
    )
    .await
    .problem(400);
    c.raw(
        "POST",
        "/auth/register",
        "text/plain",
        serde_json::to_vec(&ok("zed")).unwrap(),
    )
    .await
    .problem(415);
    let big =
        json!({"username": "zed", "email": "zed@example.org", "password": "x".repeat(100_000)});
    c.raw(
        "POST",
        "/auth/register",
        "application/json",
        serde_json::to_vec(&big).unwrap(),
    )
    .await
    .problem(413);

    let wrong_type = c
        .post(
            "/auth/register",
            json!({"username": 7, "email": "zed@example.org", "password": PASSWORD}),
        )
        .await
        .problem(422);
    assert_eq!(wrong_type["errors"][0]["field"], "username");
    let missing = c
        .post(
            "/auth/register",
            json!({"username": "zed", "password": PASSWORD}),
        )
        .await
        .problem(422);
    assert_eq!(missing["errors"][0]["field"], "email");
    let unknown = c.post("/auth/register", json!({"username": "zed", "email": "zed@example.org", "password": PASSWORD, "admin": true})).await.problem(422);
    assert_eq!(unknown["errors"][0]["field"], "admin");

    for username in [
        "zz",
        &"z".repeat(31),
        "zéd",
        "z\u{202E}d",
        "z d",
        "ze\u{0}d",
        "👩‍💻👩‍💻👩‍💻",
    ] {
        let body = json!({"username": username, "email": "zed@example.org", "password": PASSWORD});
        let p = c.post("/auth/register", body).await.problem(422);
        assert_eq!(p["errors"][0]["field"], "username", "{username:?}: {p}");
    }
    for email in [
        "zed",
        "zed@localhost",
        "z ed@example.org",
        &format!("{}@example.org", "z".repeat(250)),
    ] {
        let p = c
            .post(
                "/auth/register",
                json!({"username": "zed", "email": email, "password": PASSWORD}),
            )
            .await
            .problem(422);
        assert_eq!(p["errors"][0]["field"], "email", "{email:?}: {p}");
    }
    let weak = c
        .post(
            "/auth/register",
            json!({"username": "zed", "email": "zed@example.org", "password": "password123"}),
        )
        .await
        .problem(422);
    assert!(
        weak["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("is too weak"),
        "{weak}"
    );
    c.post(
        "/auth/register",
        json!({"username": "zed", "email": "zed@example.org", "password": "x".repeat(129)}),
    )
    .await
    .problem(422);

    let taken = c
        .post(
            "/auth/register",
            json!({"username": "ALICE", "email": "new@example.org", "password": PASSWORD}),
        )
        .await
        .problem(409);
    assert!(taken["detail"].as_str().unwrap().contains("username"));

    // Nothing was created by any of it: "zed" is still free, alice is untouched.
    assert!(
        c.get("/dev/mailbox?to=zed@example.org").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    register(&c, "zed").await;
    let t = c
        .post(
            "/auth/login",
            json!({"login": "alice@example.org", "password": PASSWORD}),
        )
        .await
        .expect(200);
    assert_eq!(t["account_id"], alice_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_profile_edits_and_unknown_ids_change_nothing() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "bea").await;
    let bea = anon.with_token(access(&t));
    profile_appears(&bea).await;
    bea.patch("/users/me", json!({"display_name": "Bea", "bio": "hello"}))
        .await
        .expect(200);

    let bad = [
        json!({"display_name": "x".repeat(65)}),
        json!({"display_name": ""}),
        json!({"display_name": "a\u{202E}b"}),
        json!({"display_name": "\u{3164}"}),
        json!({"display_name": "Bea\u{1160}"}),
        json!({"bio": "b".repeat(501)}),
        json!({"bio": "zero\u{200B}width"}),
        json!({"website": "javascript:alert(1)"}),
        json!({"display_name": "ok", "bio": 5}),
        json!({"nickname": "x"}),
        json!({}),
        json!({"bio": null, "location": null}),
    ];
    for body in bad {
        bea.patch("/users/me", body.clone()).await.problem(422);
    }
    bea.patch("/users/me/privacy", json!({"profile": "everybody"}))
        .await
        .problem(422);
    let me = bea.get("/users/me").await.expect(200);
    assert_eq!(
        (me["display_name"].as_str(), me["bio"].as_str()),
        (Some("Bea"), Some("hello")),
        "nothing changed"
    );
    assert_eq!(me["privacy"]["profile"], "public");

    let nobody = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    for path in [
        format!("/users/{nobody}"),
        "/users/not-an-id".into(),
        "/users?username=nobody".into(),
        "/no/such/route".into(),
    ] {
        bea.get(&path).await.problem(404);
    }
    bea.post_empty(&format!("/users/{nobody}/friend-request"))
        .await
        .problem(404);
    bea.post_empty(&format!("/friend-requests/{nobody}/accept"))
        .await
        .problem(404);
    bea.post_empty(&format!("/users/{nobody}/block"))
        .await
        .problem(404);
    bea.delete(&format!("/users/{nobody}/block"))
        .await
        .problem(404);
    bea.delete(&format!("/users/me/friends/{nobody}"))
        .await
        .problem(404);
    bea.get("/users/me/friends?limit=abc").await.problem(422);
    bea.get("/users/me/friends?limit=101").await.problem(422);
    bea.send("PUT", "/users/me", Some(json!({})))
        .await
        .problem(405);
    assert!(
        bea.get("/users/me/blocks").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_shape_gets_a_500() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "fuzz").await;
    let c = anon.with_token(access(&t));
    profile_appears(&c).await;
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let bodies: Vec<Vec<u8>> = [
        "",
        "null",
        "[]",
        "{}",
        "\"x\"",
        "1e999",
        "{\"a\":1}",
        "\u{FEFF}{}",
        "{\"username\":null}",
        &deep,
    ]
    .iter()
    .map(|b| b.as_bytes().to_vec())
    .chain([vec![0xff, 0xfe, 0x00]])
    .collect();
    let routes = [
        ("POST", "/auth/register"),
        ("POST", "/auth/verify"),
        ("POST", "/auth/verify/resend"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/password"),
        ("POST", "/auth/mfa/confirm"),
        ("POST", "/auth/mfa/challenge"),
        ("POST", "/auth/mfa/disable"),
        ("POST", "/auth/mfa/recovery-codes"),
        ("PATCH", "/users/me"),
        ("PATCH", "/users/me/privacy"),
    ];
    for (method, path) in routes {
        for body in &bodies {
            let r = c.raw(method, path, "application/json", body.clone()).await;
            let shown = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
            assert!(
                r.status < 500,
                "{method} {path} with {shown:?}: {} {}",
                r.status,
                r.body
            );
            if r.status >= 400 {
                assert_eq!(
                    r.content_type, "application/problem+json",
                    "{method} {path} with {shown:?}"
                );
            }
        }
    }
    // A struct is not read from an array (serde would, field by field): the body must be
    // an object, and nothing changes.
    let before = c.get("/users/me").await.expect(200);
    let array = c
        .raw(
            "PATCH",
            "/users/me",
            "application/json",
            b"[\"Someone else\", null]".to_vec(),
        )
        .await
        .problem(422);
    assert_eq!(array["errors"][0]["field"], "body", "{array}");
    assert_eq!(c.get("/users/me").await.expect(200), before);
}

/// A client sending a body past the limit reads the 413, every time: the edge reads (and
/// drops) what it was sent before it answers, so the connection is not reset under a
/// client still writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_always_gets_a_readable_413() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let c = node.client();
    let big =
        serde_json::to_vec(&json!({"login": "x".repeat(2_000_000), "password": "y"})).unwrap();
    for _ in 0..20 {
        c.raw("POST", "/auth/login", "application/json", big.clone())
            .await
            .problem(413);
    }
}
