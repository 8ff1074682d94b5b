//! The visibility matrix: who may read a post, its comments, an author's timeline, a
//! feed, group and page listings, and shares, for every visibility and audience. Run
//! against `dev` (`posts.rs`) and against replicas behind gateways
//! (`replicated_topology.rs`): the same rules wherever a read lands.

use serde_json::{Value, json};

use super::*;

/// Posts `body` as `c`, retrying while the posts context is still learning (by event) of
/// what it needs; the post's id.
pub async fn post_when_ready(c: &Client, body: Value) -> String {
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

/// Whether `c` may read the post `id` (200) or not (404; anything else fails).
pub async fn readable(c: &Client, id: &str) -> bool {
    let r = c.get(&format!("/posts/{id}")).await;
    assert!(r.status == 200 || r.status == 404, "{}", r.body);
    r.status == 200
}

/// Six people (author, friend, friend of a friend, stranger, blocked, member) signed up by
/// `signed_up` on the platform `anon` reaches, and every rule checked for each of them
/// and for `anon`.
pub async fn exactly_who_should_see_a_post_sees_it(
    anon: &Client,
    signed_up: impl AsyncFn(&str) -> (String, Value),
) {
    let anon = anon.clone();
    let mut users = std::collections::BTreeMap::new();
    for name in ["author", "friend", "fof", "stranger", "blocked", "member"] {
        let (id, t) = signed_up(name).await;
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
