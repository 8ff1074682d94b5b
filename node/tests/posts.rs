//! Posts through the gateway: the visibility matrix, comments, reactions, shares, edits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

/// Posts until the posts context has the projections it needs (events arrive in ms).
async fn post_when_ready(c: &Client, body: Value) -> String {
    let start = std::time::Instant::now();
    loop {
        let r = c.post("/posts", body.clone()).await;
        if r.status == 201 {
            return r.body["id"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the post was never accepted: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

async fn readable(c: &Client, id: &str) -> bool {
    let r = c.get(&format!("/posts/{id}")).await;
    assert!(r.status == 200 || r.status == 404, "{}", r.body);
    r.status == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_who_should_see_a_post_sees_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let mut users = std::collections::BTreeMap::new();
    for name in ["author", "friend", "fof", "stranger", "blocked", "member"] {
        let (id, t) = signed_up(&anon, name).await;
        users.insert(name, (id, anon.with_token(access(&t))));
    }
    let c = |n: &str| users[n].1.clone();
    let id = |n: &str| users[n].0.clone();
    for (a, b) in [
        ("author", "friend"),
        ("friend", "fof"),
        ("author", "blocked"),
    ] {
        profile_appears(&c(a)).await;
        profile_appears(&c(b)).await;
        c(a).post_empty(&format!("/users/{}/friend-request", id(b)))
            .await
            .expect(201);
        c(b).post_empty(&format!("/friend-requests/{}/accept", id(a)))
            .await
            .expect(204);
    }
    c("author")
        .post_empty(&format!("/users/{}/block", id("blocked")))
        .await
        .expect(204);

    // Groups of each privacy with `member` in the private and secret ones; a page.
    let group = |privacy: &str| {
        let author = c("author");
        let privacy = privacy.to_string();
        async move {
            author
                .post("/groups", json!({"name": privacy, "privacy": privacy}))
                .await
                .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (public_g, private_g, secret_g) = (
        group("public").await,
        group("private").await,
        group("secret").await,
    );
    c("member")
        .post_empty(&format!("/groups/{private_g}/join"))
        .await
        .expect(200);
    c("author")
        .post_empty(&format!(
            "/groups/{private_g}/requests/{}/approve",
            id("member")
        ))
        .await
        .expect(204);
    eventually("groups knows the member", || {
        let (author, path, body) = (
            c("author"),
            format!("/groups/{secret_g}/invitations"),
            json!({"user_id": id("member")}),
        );
        async move { author.post(&path, body).await.status == 201 }
    })
    .await;
    c("member")
        .post_empty(&format!("/groups/{secret_g}/join"))
        .await
        .expect(200);
    let page = c("author")
        .post("/pages", json!({"name": "The Page"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();

    let author = c("author");
    let mut posts = Vec::new();
    for visibility in ["public", "friends_of_friends", "friends", "only_me"] {
        posts.push((
            visibility.to_string(),
            post_when_ready(
                &author,
                json!({"text": format!("{visibility} post"), "visibility": visibility}),
            )
            .await,
        ));
    }
    for (name, g) in [
        ("public group", &public_g),
        ("private group", &private_g),
        ("secret group", &secret_g),
    ] {
        posts.push((
            name.to_string(),
            post_when_ready(
                &author,
                json!({"text": name, "audience": {"type": "group", "id": g}}),
            )
            .await,
        ));
    }
    // A group post follows its group: asking for a visibility is refused on create as on
    // edit, and none is echoed.
    let asked = author
        .post(
            "/posts",
            json!({"text": "x", "visibility": "public", "audience": {"type": "group", "id": secret_g}}),
        )
        .await
        .problem(422);
    assert_eq!(asked["errors"][0]["field"], "visibility");
    let secret_post = &posts.last().unwrap().1;
    let shown = author
        .get(&format!("/posts/{secret_post}"))
        .await
        .expect(200);
    assert!(shown.get("visibility").is_none(), "{shown}");
    author
        .patch(
            &format!("/posts/{secret_post}"),
            json!({"visibility": "public"}),
        )
        .await
        .problem(422);
    posts.push((
        "page".into(),
        post_when_ready(
            &author,
            json!({"text": "as the page", "audience": {"type": "page", "id": page}}),
        )
        .await,
    ));

    // Wait until the last projections (friendships, blocks, memberships) have arrived.
    let (friends_post, private_post) = (posts[2].1.clone(), posts[5].1.clone());
    eventually("posts knows the friendships", || {
        let (f, p) = (c("friend"), friends_post.clone());
        async move { readable(&f, &p).await }
    })
    .await;
    eventually("posts knows the memberships", || {
        let (m, p) = (c("member"), private_post.clone());
        async move { readable(&m, &p).await }
    })
    .await;

    // A block stops mentions both ways: the name stays in the text, nobody is mentioned.
    let public_post = posts[0].1.clone();
    eventually("posts knows the block", || {
        let (b, p) = (c("blocked"), public_post.clone());
        async move { !readable(&b, &p).await }
    })
    .await;
    let mentioning = |who: &str, whom: &str| {
        let (client, text) = (c(who), format!("hello @{whom}"));
        async move {
            client
                .post("/posts", json!({"text": text}))
                .await
                .expect(201)["mentions"]
                .clone()
        }
    };
    assert_eq!(mentioning("blocked", "author").await, json!([]));
    assert_eq!(mentioning("author", "blocked").await, json!([]));
    assert_eq!(
        mentioning("stranger", "author").await,
        json!([id("author")])
    );

    let readers = [
        "author",
        "friend",
        "fof",
        "stranger",
        "blocked",
        "member",
        "anonymous",
    ];
    let expected: [(&str, [bool; 7]); 8] = [
        ("public", [true, true, true, true, false, true, true]),
        (
            "friends_of_friends",
            [true, true, true, false, false, false, false],
        ),
        ("friends", [true, true, false, false, false, false, false]),
        ("only_me", [true, false, false, false, false, false, false]),
        ("public group", [true, true, true, true, false, true, true]),
        (
            "private group",
            [true, false, false, false, false, true, false],
        ),
        (
            "secret group",
            [true, false, false, false, false, true, false],
        ),
        ("page", [true, true, true, true, false, true, true]),
    ];
    let timeline = |reader: &Client| {
        let (reader, path) = (
            reader.clone(),
            format!("/users/{}/posts?limit=100", id("author")),
        );
        async move {
            let r = reader.get(&path).await;
            if r.status == 404 {
                return Vec::new();
            }
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    for (i, reader) in readers.iter().enumerate() {
        let client = if *reader == "anonymous" {
            anon.clone()
        } else {
            c(reader)
        };
        let own_timeline = timeline(&client).await;
        for ((name, post), (expected_name, row)) in posts.iter().zip(expected.iter()) {
            assert_eq!(name, expected_name);
            let sees = row[i];
            assert_eq!(
                readable(&client, post).await,
                sees,
                "{reader} reading the {name} post"
            );
            let comments = client.get(&format!("/posts/{post}/comments")).await.status;
            assert_eq!(
                comments == 200,
                sees,
                "{reader} reading comments of the {name} post"
            );
            if !name.contains("group") && *name != "page" {
                assert_eq!(
                    own_timeline.contains(post),
                    sees,
                    "{reader}: the {name} post in the author's timeline"
                );
            }
        }
    }
    // The home feed: the author's own posts; friends' posts they may read; group posts for
    // members. Strangers get nothing, public or not, and the secret group stays invisible.
    let in_feed: [(&str, [bool; 6]); 8] = [
        ("public", [true, true, false, false, false, false]),
        (
            "friends_of_friends",
            [true, true, false, false, false, false],
        ),
        ("friends", [true, true, false, false, false, false]),
        ("only_me", [true, false, false, false, false, false]),
        ("public group", [true, false, false, false, false, false]),
        ("private group", [true, false, false, false, false, true]),
        ("secret group", [true, false, false, false, false, true]),
        ("page", [true, false, false, false, false, false]),
    ];
    for (i, reader) in readers.iter().take(6).enumerate() {
        let start = std::time::Instant::now();
        loop {
            let feed = c(reader)
                .get("/feed?order=recent&limit=100")
                .await
                .expect(200);
            let ids: Vec<String> = feed["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect();
            let got: Vec<bool> = posts.iter().map(|(_, p)| ids.contains(p)).collect();
            let want: Vec<bool> = in_feed.iter().map(|(_, row)| row[i]).collect();
            if got == want {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "{reader}'s feed: got {got:?}, want {want:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    // Group and page listings follow the same rules.
    c("stranger")
        .get(&format!("/posts?group={secret_g}"))
        .await
        .problem(404);
    assert!(
        c("stranger")
            .get(&format!("/posts?group={private_g}"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c("member")
            .get(&format!("/posts?group={private_g}"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        anon.get(&format!("/posts?page={page}")).await.expect(200)["items"][0]["id"],
        posts[7].1.as_str()
    );

    // Shares never widen: the friend shares the friends-only post publicly; the stranger
    // sees the share but not the original.
    let share = c("friend")
        .post(
            &format!("/posts/{friends_post}/shares"),
            json!({"text": "look", "visibility": "public"}),
        )
        .await
        .expect(201);
    assert_eq!(share["visibility"], "friends");
    let public_post = &posts[0].1;
    let share = c("friend")
        .post(
            &format!("/posts/{public_post}/shares"),
            json!({"text": "look"}),
        )
        .await
        .expect(201);
    let share_id = share["id"].as_str().unwrap();
    assert_eq!(
        anon.get(&format!("/posts/{public_post}")).await.expect(200)["share_count"],
        1
    );
    assert_eq!(
        c("stranger")
            .get(&format!("/posts/{share_id}"))
            .await
            .expect(200)["shared"]["id"],
        public_post.as_str()
    );
    c("author")
        .patch(
            &format!("/posts/{public_post}"),
            json!({"visibility": "only_me"}),
        )
        .await
        .expect(200);
    let now_hidden = c("stranger")
        .get(&format!("/posts/{share_id}"))
        .await
        .expect(200);
    assert_eq!(now_hidden["shared_unavailable"], true);
    assert!(now_hidden.get("shared").is_none());
    // Deleting the share takes its count off the original.
    c("friend")
        .delete(&format!("/posts/{share_id}"))
        .await
        .expect(204);
    assert_eq!(
        c("author")
            .get(&format!("/posts/{public_post}"))
            .await
            .expect(200)["share_count"],
        0
    );
    c("member")
        .post(&format!("/posts/{private_post}/shares"), json!({}))
        .await
        .problem(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_reactions_edits_and_deletes() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "tess").await;
    let tess = anon.with_token(access(&t));
    let (_, t) = signed_up(&anon, "uma").await;
    let uma = anon.with_token(access(&t));
    profile_appears(&uma).await;
    let post = post_when_ready(
        &tess,
        json!({"text": "Hello @uma, see #Rust and #rust2026"}),
    )
    .await;
    let seen = uma.get(&format!("/posts/{post}")).await.expect(200);
    assert_eq!(seen["hashtags"], json!(["rust", "rust2026"]));
    assert_eq!(
        seen["mentions"].as_array().unwrap().len(),
        1,
        "@uma resolves to her id"
    );

    // Comments with one level of replies.
    let top = uma
        .post(
            &format!("/posts/{post}/comments"),
            json!({"text": "first!"}),
        )
        .await
        .expect(201);
    let top_id = top["id"].as_str().unwrap();
    let reply = tess
        .post(
            &format!("/posts/{post}/comments"),
            json!({"text": "welcome", "parent_id": top_id}),
        )
        .await
        .expect(201);
    let reply_id = reply["id"].as_str().unwrap();
    tess.post(
        &format!("/posts/{post}/comments"),
        json!({"text": "deeper", "parent_id": reply_id}),
    )
    .await
    .problem(422);
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["comment_count"],
        2
    );
    tess.patch(
        &format!("/posts/{post}/comments/{top_id}"),
        json!({"text": "not yours"}),
    )
    .await
    .problem(403);
    uma.patch(
        &format!("/posts/{post}/comments/{top_id}"),
        json!({"text": "first (edited)"}),
    )
    .await
    .expect(200);
    let comments = anon
        .get(&format!("/posts/{post}/comments"))
        .await
        .expect(200);
    assert_eq!(comments["items"][0]["text"], "first (edited)");
    assert_eq!(comments["items"][1]["parent_id"], top_id);

    // Reactions: one per user, changeable, removable, counted per kind.
    uma.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "like"})),
    )
    .await
    .expect(200);
    tess.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "love"})),
    )
    .await
    .expect(200);
    let r = uma
        .send(
            "PUT",
            &format!("/posts/{post}/reactions"),
            Some(json!({"kind": "haha"})),
        )
        .await
        .expect(200);
    assert_eq!(r["counts"], json!({"love": 1, "haha": 1}));
    assert_eq!(
        uma.get(&format!("/posts/{post}/reactions"))
            .await
            .expect(200)["mine"],
        "haha"
    );
    uma.delete(&format!("/posts/{post}/reactions"))
        .await
        .expect(204);
    uma.delete(&format!("/posts/{post}/reactions"))
        .await
        .problem(404);
    let c = tess
        .send(
            "PUT",
            &format!("/posts/{post}/comments/{top_id}/reactions"),
            Some(json!({"kind": "wow"})),
        )
        .await
        .expect(200);
    assert_eq!(c["counts"], json!({"wow": 1}));
    uma.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "meh"})),
    )
    .await
    .problem(422);

    // Edits keep their history; only the author edits; deleting a comment takes its replies.
    uma.patch(&format!("/posts/{post}"), json!({"text": "mine now"}))
        .await
        .problem(403);
    tess.patch(&format!("/posts/{post}"), json!({"text": "Hello again"}))
        .await
        .expect(200);
    let history = anon
        .get(&format!("/posts/{post}/history"))
        .await
        .expect(200);
    assert_eq!(
        history["revisions"][0]["text"],
        "Hello @uma, see #Rust and #rust2026"
    );
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["hashtags"],
        json!([])
    );
    tess.delete(&format!("/posts/{post}/comments/{top_id}"))
        .await
        .expect(204);
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["comment_count"],
        0
    );
    uma.delete(&format!("/posts/{post}")).await.problem(403);
    tess.delete(&format!("/posts/{post}")).await.expect(204);
    anon.get(&format!("/posts/{post}")).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reactions_give_exact_counts() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_LOGIN_ATTEMPTS_PER_IP", "1000")]);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "vera").await;
    let vera = anon.with_token(access(&t));
    let post = post_when_ready(&vera, json!({"text": "react to me"})).await;
    let mut people = Vec::new();
    for i in 0..16 {
        let (_, t) = signed_up(&anon, &format!("fan{i}")).await;
        people.push(anon.with_token(access(&t)));
    }
    let path = format!("/posts/{post}/reactions");
    let all = people.iter().enumerate().map(|(i, p)| {
        let (p, path) = (p.clone(), path.clone());
        async move {
            let kind = if i % 2 == 0 { "like" } else { "love" };
            p.send("PUT", &path, Some(json!({"kind": kind})))
                .await
                .expect(200);
            p.send("PUT", &path, Some(json!({"kind": "wow"})))
                .await
                .expect(200);
            if i % 4 == 0 {
                p.delete(&path).await.expect(204);
            }
        }
    });
    futures::future::join_all(all).await;
    let counts = anon.get(&path).await.expect(200)["counts"].clone();
    assert_eq!(counts, json!({"wow": 12}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_post_input_is_refused() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "walt").await;
    let walt = anon.with_token(access(&t));
    walt.post("/posts", json!({"text": ""})).await.problem(422);
    walt.post("/posts", json!({"text": "x".repeat(5_001)}))
        .await
        .problem(422);
    walt.post("/posts", json!({"text": "ok", "visibility": "everyone"}))
        .await
        .problem(422);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "group", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}),
    )
    .await
    .problem(404);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "page", "id": "nope"}}),
    )
    .await
    .problem(404);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "planet"}}),
    )
    .await
    .problem(422);
    anon.post("/posts", json!({"text": "ok"}))
        .await
        .problem(401);
    walt.get("/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .problem(404);
    walt.get("/posts").await.problem(422);
    walt.get("/users/not-an-id/posts").await.problem(404);
    let post = post_when_ready(&walt, json!({"text": "fine"})).await;
    walt.post(&format!("/posts/{post}/comments"), json!({"text": ""}))
        .await
        .problem(422);
    walt.post(
        &format!("/posts/{post}/comments"),
        json!({"text": "x", "parent_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    )
    .await
    .problem(422);
    walt.patch(&format!("/posts/{post}"), json!({"text": "a\u{202E}b"}))
        .await
        .problem(422);
    assert_eq!(
        walt.get(&format!("/posts/{post}")).await.expect(200)["text"],
        "fine"
    );
}
