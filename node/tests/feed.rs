//! The home feed through the gateway: what goes in, ordering and paging, and convergence
//! after deletes, unfriends, blocks and leaving a group.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn post_when_ready(c: &Client, body: Value) -> String {
    let start = Instant::now();
    loop {
        let r = c.post("/posts", body.clone()).await;
        if r.status == 201 {
            return r.body["id"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never accepted: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn feed_ids(c: &Client, query: &str) -> Vec<String> {
    let page = c.get(&format!("/feed?{query}")).await.expect(200);
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits (bounded) until `post` is in (or, with `present = false`, out of) the feed.
async fn feed_has(c: &Client, post: &str, present: bool) {
    let start = Instant::now();
    loop {
        if feed_ids(c, "order=recent&limit=100")
            .await
            .contains(&post.to_string())
            == present
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "post {post} never became present={present}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn user(anon: &Client, name: &str) -> (String, Client) {
    let (id, t) = signed_up(anon, name).await;
    (id, anon.with_token(access(&t)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_holds_friends_groups_and_pages_and_converges() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob, cat, mia) = (
        user(&anon, "ann").await,
        user(&anon, "bob").await,
        user(&anon, "cat").await,
        user(&anon, "mia").await,
    );
    befriend(&ann, &bob).await;
    for reader in [&bob, &cat, &mia] {
        feed_ids(&reader.1, "").await; // seen recently: they get fan-out
    }
    let group = ann
        .1
        .post(
            "/groups",
            json!({"name": "inner circle", "privacy": "private"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    mia.1
        .post_empty(&format!("/groups/{group}/join"))
        .await
        .expect(200);
    ann.1
        .post_empty(&format!("/groups/{group}/requests/{}/approve", mia.0))
        .await
        .expect(204);
    let page = ann
        .1
        .post("/pages", json!({"name": "Ann's Page"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    bob.1
        .post_empty(&format!("/pages/{page}/follow"))
        .await
        .expect(204);

    let friends_post = post_when_ready(
        &ann.1,
        json!({"text": "for friends", "visibility": "friends"}),
    )
    .await;
    let secret_post =
        post_when_ready(&ann.1, json!({"text": "only me", "visibility": "only_me"})).await;
    let group_post = post_when_ready(
        &ann.1,
        json!({"text": "for the circle", "audience": {"type": "group", "id": group}}),
    )
    .await;
    let page_post = post_when_ready(
        &ann.1,
        json!({"text": "news", "audience": {"type": "page", "id": page}}),
    )
    .await;

    feed_has(&bob.1, &friends_post, true).await;
    feed_has(&bob.1, &page_post, true).await;
    feed_has(&mia.1, &group_post, true).await;
    feed_has(&ann.1, &secret_post, true).await;
    let bob_feed = feed_ids(&bob.1, "order=recent&limit=100").await;
    assert!(
        !bob_feed.contains(&group_post) && !bob_feed.contains(&secret_post),
        "{bob_feed:?}"
    );
    assert!(
        feed_ids(&cat.1, "order=recent&limit=100").await.is_empty(),
        "a stranger's feed has none of it"
    );
    assert!(
        !feed_ids(&mia.1, "order=recent&limit=100")
            .await
            .contains(&friends_post)
    );

    // Convergence: delete, unfollow, leave, block, unfriend.
    ann.1
        .delete(&format!("/posts/{page_post}"))
        .await
        .expect(204);
    feed_has(&bob.1, &page_post, false).await;
    mia.1
        .post_empty(&format!("/groups/{group}/leave"))
        .await
        .expect(204);
    feed_has(&mia.1, &group_post, false).await;
    bob.1
        .delete(&format!("/users/me/friends/{}", ann.0))
        .await
        .expect(204);
    feed_has(&bob.1, &friends_post, false).await;
    befriend(&ann, &bob).await;
    feed_has(&bob.1, &friends_post, true).await;
    bob.1
        .post_empty(&format!("/users/{}/block", ann.0))
        .await
        .expect(204);
    feed_has(&bob.1, &friends_post, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_stable_while_new_posts_arrive_and_away_readers_are_rebuilt() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (dan, eve) = (user(&anon, "dan").await, user(&anon, "eve").await);
    befriend(&dan, &eve).await;
    feed_ids(&eve.1, "").await;
    let mut posts = Vec::new();
    for i in 0..5 {
        posts.push(
            post_when_ready(
                &dan.1,
                json!({"text": format!("post {i}"), "visibility": "friends"}),
            )
            .await,
        );
    }
    feed_has(&eve.1, &posts[4], true).await;
    for order in ["recent", "ranked"] {
        let first = eve
            .1
            .get(&format!("/feed?order={order}&limit=2"))
            .await
            .expect(200);
        let mut seen: Vec<String> = first["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        if order == "ranked" {
            let scores: Vec<f64> = first["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["score"].as_f64().unwrap())
                .collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        }
        // A new post arrives between pages; it must not shift the pages already served.
        let newcomer = post_when_ready(
            &dan.1,
            json!({"text": format!("late {order}"), "visibility": "friends"}),
        )
        .await;
        feed_has(&eve.1, &newcomer, true).await;
        let mut cursor = first["next_cursor"].as_str().map(String::from);
        while let Some(c) = cursor {
            let page = eve
                .1
                .get(&format!("/feed?order={order}&limit=2&cursor={c}"))
                .await
                .expect(200);
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_string()),
            );
            cursor = page["next_cursor"].as_str().map(String::from);
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{order}: no post twice: {seen:?}");
        assert!(
            !seen.contains(&newcomer),
            "{order}: the newcomer waits for a fresh first page"
        );
        for p in &posts {
            assert!(seen.contains(p), "{order}: no post missed");
        }
        posts.push(newcomer);
    }
    // A reader who never opened the feed gets no fan-out; their feed is rebuilt on arrival.
    let fay = user(&anon, "fay").await;
    befriend(&dan, &fay).await;
    let ids = {
        let start = Instant::now();
        loop {
            let ids = feed_ids(&fay.1, "order=recent&limit=100").await;
            if ids.len() >= posts.len() || start.elapsed() > Duration::from_secs(20) {
                break ids;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    for p in &posts {
        assert!(ids.contains(p), "rebuilt feed misses {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_feed_requests_are_refused() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, gus) = user(&anon, "gus").await;
    anon.get("/feed").await.problem(401);
    gus.get("/feed?limit=0").await.problem(422);
    gus.get("/feed?order=popular").await.problem(422);
    gus.get("/feed?cursor=garbage").await.problem(422);
    gus.get("/feed?surprise=1").await.problem(422);
    assert_eq!(gus.get("/feed").await.expect(200)["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_posts_surface_when_the_newest_are_hidden() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ada, bea, cy) = (
        user(&anon, "ada").await,
        user(&anon, "bea").await,
        user(&anon, "cyd").await,
    );
    befriend(&ada, &cy).await;
    befriend(&bea, &cy).await;
    feed_ids(&cy.1, "").await;
    let mut older = Vec::new();
    for i in 0..3 {
        older.push(
            post_when_ready(
                &ada.1,
                json!({"text": format!("ada {i}"), "visibility": "friends"}),
            )
            .await,
        );
    }
    // More than one candidate window of newer posts from someone cy then blocks.
    let mut last = String::new();
    for i in 0..130 {
        last = post_when_ready(
            &bea.1,
            json!({"text": format!("bea {i}"), "visibility": "friends"}),
        )
        .await;
    }
    feed_has(&cy.1, &last, true).await;
    cy.1.post_empty(&format!("/users/{}/block", bea.0))
        .await
        .expect(204);
    feed_has(&cy.1, &last, false).await;
    let ids = feed_ids(&cy.1, "order=recent&limit=10").await;
    // Newest first by id (posts made in the same millisecond order by their random part).
    older.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, older);
}

/// A reader whose timeline is rebuilt (first read) gets the newest posts of all their
/// friends in time order down to the timeline's depth (800), not each friend's newest few.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_timeline_is_complete_down_to_its_depth() {
    const PER_FRIEND: usize = 300;
    const DEPTH: usize = 800;
    let nats = Nats::start();
    // 900 posts in a few seconds from one address: the rate limits are not under test here.
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_RATE_LIMIT_IP", "1000000"),
            ("AGORA_RATE_LIMIT_USER", "1000000"),
        ],
    );
    let anon = node.client();
    let reader = user(&anon, "reader").await;
    let mut friends = Vec::new();
    for name in ["ann", "bob", "cat"] {
        let friend = user(&anon, name).await;
        befriend(&reader, &friend).await;
        friends.push(friend);
    }
    // Interleaved, as friends post in real life; the reader does not read meanwhile.
    let mut posted = Vec::new();
    for i in 0..PER_FRIEND {
        for friend in &friends {
            posted.push(
                post_when_ready(
                    &friend.1,
                    json!({"text": format!("{i}"), "visibility": "friends"}),
                )
                .await,
            );
        }
    }
    // The feed applies the stream in order: the last post in its author's own feed means
    // every post before it was applied too.
    let last_author = &friends.last().unwrap().1;
    feed_has(last_author, posted.last().unwrap(), true).await;
    posted.sort_unstable_by(|a, b| b.cmp(a));
    posted.truncate(DEPTH);
    assert_eq!(
        whole_recent_feed(&reader.1).await,
        posted,
        "the newest {DEPTH} posts of the reader's friends, newest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_in_the_feed_never_reveals_an_original_the_reader_may_not_see() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ana, ben, cy) = (
        user(&anon, "ana").await,
        user(&anon, "ben").await,
        user(&anon, "cyd").await,
    );
    // Ben is friends with both; Ana and Cy are not friends.
    befriend(&ana, &ben).await;
    befriend(&ben, &cy).await;
    let friends_only = post_when_ready(
        &ana.1,
        json!({"text": "for my friends", "visibility": "friends"}),
    )
    .await;
    let public = post_when_ready(&ana.1, json!({"text": "for everyone"})).await;
    let share = |original: &str| {
        let (ben, original) = (ben.1.clone(), original.to_string());
        async move {
            until_status(201, async || {
                ben.post(&format!("/posts/{original}/shares"), json!({}))
                    .await
            })
            .await
            .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (hidden, shown) = (share(&friends_only).await, share(&public).await);
    feed_has(&cy.1, &hidden, true).await;
    feed_has(&cy.1, &shown, true).await;
    let items = cy.1.get("/feed?order=recent&limit=100").await.expect(200)["items"].clone();
    let find = |id: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap()
            .clone()
    };
    let of_hidden = find(&hidden);
    assert!(of_hidden.get("shared_post").is_none(), "{of_hidden}");
    assert_eq!(of_hidden["shared_unavailable"], true);
    assert_eq!(find(&shown)["shared_post"], public.as_str());
    // Ana's friend Ben sees both originals' ids in his own feed.
    let bens = ben.1.get("/feed?order=recent&limit=100").await.expect(200)["items"].clone();
    let of_hidden_for_ben = bens
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == hidden.as_str())
        .unwrap()
        .clone();
    assert_eq!(of_hidden_for_ben["shared_post"], friends_only.as_str());
}

/// An item carries what an app needs to draw it without another request: the author's
/// card (name and avatar, following profile changes; on comments too) and the reader's
/// own reaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_carry_the_authors_card_and_the_readers_own_reaction() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    befriend(&ann, &bob).await;
    feed_ids(&bob.1, "").await; // seen recently: he gets fan-out
    let avatar = uploaded_picture(&ann.1).await;
    ann.1
        .patch(
            "/users/me",
            json!({"display_name": "Ann Arbor", "avatar_id": avatar}),
        )
        .await
        .expect(200);
    let post = post_when_ready(&ann.1, json!({"text": "cards on the table"})).await;
    bob.1
        .send(
            "PUT",
            &format!("/posts/{post}/reactions"),
            Some(json!({"kind": "wow"})),
        )
        .await
        .expect(200);

    let item = |feed: &Value| {
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == post.as_str())
            .cloned()
    };
    eventually("bob's item shows ann's card and his reaction", || async {
        let feed = bob.1.get("/feed").await.expect(200);
        item(&feed).is_some_and(|i| {
            i["author"]["display_name"] == "Ann Arbor" && i["my_reaction"] == "wow"
        })
    })
    .await;
    let seen = item(&bob.1.get("/feed").await.expect(200)).unwrap();
    assert_eq!(seen["author"]["id"], ann.0.as_str());
    assert_eq!(seen["author"]["username"], "ann");
    assert_eq!(seen["reactions"], 1);
    let url = seen["author"]["avatar_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("/api/v1/media/{avatar}/thumbnails/small?")),
        "{url}"
    );
    // The signed URL is the reader's way to the picture, with no token.
    let fetched = reqwest::get(format!("{}{url}", node.base)).await.unwrap();
    assert_eq!(fetched.status(), 200);
    // An opaque picture's thumbnail is a JPEG.
    assert_eq!(
        fetched.headers()["content-type"].to_str().unwrap(),
        "image/jpeg"
    );

    // Her own item shows no reaction of hers; the timeline carries the same card.
    let hers = item(&ann.1.get("/feed").await.expect(200)).unwrap();
    assert!(hers.get("my_reaction").is_none(), "{hers}");
    let timeline = bob
        .1
        .get(&format!("/users/{}/posts", ann.0))
        .await
        .expect(200);
    assert_eq!(timeline["items"][0]["author"]["display_name"], "Ann Arbor");
    assert_eq!(timeline["items"][0]["my_reaction"], "wow");
    // Comments carry their author's card too, and the reader's own reaction.
    let comment = bob
        .1
        .post(
            &format!("/posts/{post}/comments"),
            json!({"text": "lovely"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    ann.1
        .send(
            "PUT",
            &format!("/posts/{post}/comments/{comment}/reactions"),
            Some(json!({"kind": "haha"})),
        )
        .await
        .expect(200);
    eventually("the comment shows bob's card", || async {
        let comments = ann
            .1
            .get(&format!("/posts/{post}/comments"))
            .await
            .expect(200);
        comments["items"][0]["author"]["username"] == "bob"
    })
    .await;
    let comments = ann
        .1
        .get(&format!("/posts/{post}/comments"))
        .await
        .expect(200);
    assert_eq!(comments["items"][0]["my_reaction"], "haha");
    let comments = bob
        .1
        .get(&format!("/posts/{post}/comments"))
        .await
        .expect(200);
    assert!(
        comments["items"][0].get("my_reaction").is_none(),
        "{comments}"
    );

    // A removed reaction leaves the item; a changed name reaches it.
    bob.1
        .delete(&format!("/posts/{post}/reactions"))
        .await
        .expect(204);
    ann.1
        .patch("/users/me", json!({"display_name": "Ann B. Arbor"}))
        .await
        .expect(200);
    eventually("the change reaches bob's item", || async {
        let feed = bob.1.get("/feed").await.expect(200);
        let now = item(&feed).unwrap_or_default();
        now["author"]["display_name"] == "Ann B. Arbor"
            && now.get("my_reaction").is_none()
            && now["reactions"] == 0
    })
    .await;
}

/// The feed keeps what its reads look up in memory, loaded from its store when it starts:
/// after a SIGKILL and a restart the same reader gets the same items (authors' cards,
/// counts, their own reaction), and the relations held in memory go on following events
/// (an unfriend still takes her posts out of his feed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_answers_the_same_after_a_crash_and_goes_on_following_events() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    befriend(&ann, &bob).await;
    feed_ids(&bob.1, "").await; // seen recently: he gets fan-out
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(post_when_ready(&ann.1, json!({"text": format!("post {i}")})).await);
    }
    bob.1
        .send(
            "PUT",
            &format!("/posts/{}/reactions", posts[1]),
            Some(json!({"kind": "love"})),
        )
        .await
        .expect(200);
    let settled = |feed: &Value| {
        let items = feed["items"].as_array().cloned().unwrap_or_default();
        items.len() == 3
            && items.iter().all(|i| i["author"]["username"] == "ann")
            && items
                .iter()
                .any(|i| i["my_reaction"] == "love" && i["reactions"] == 1)
    };
    eventually(
        "bob's feed holds her three posts and his reaction",
        || async { settled(&bob.1.get("/feed?order=recent").await.expect(200)) },
    )
    .await;
    let before = bob.1.get("/feed?order=recent").await.expect(200);

    node.kill();
    node.restart();
    let anon = node.client();
    let bob_again = anon.with_token(bob.1.token.as_deref().unwrap());
    let after = bob_again.get("/feed?order=recent").await.expect(200);
    // The items as they were (media URLs aside: none here, and signed per read).
    assert_eq!(after["items"], before["items"]);

    let ann_again = anon.with_token(ann.1.token.as_deref().unwrap());
    ann_again
        .delete(&format!("/users/me/friends/{}", bob.0))
        .await
        .expect(204);
    eventually(
        "an unfriend after the restart empties his feed of her posts",
        || async { feed_ids(&bob_again, "order=recent").await.is_empty() },
    )
    .await;
}

/// `dev --bulk-seeding` makes generated accounts and friendships that behave as any: their
/// sessions work, their friendships reach the feed. Without the flag the routes are absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_seeded_accounts_and_friendships_behave_as_any() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_DEV_BULK_SEEDING", "true")]);
    let anon = node.client();
    let seed = json!({"prefix": "gen", "count": 3, "password": "seeded accounts only"});
    let seeded = anon.post("/dev/accounts", seed.clone()).await.expect(201);
    let sessions = seeded.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| s["account_id"].as_str().unwrap().to_string())
        .collect();
    let people: Vec<Client> = sessions
        .iter()
        .map(|s| anon.with_token(s["access_token"].as_str().unwrap()))
        .collect();
    // The same usernames again: refused, nothing made.
    anon.post("/dev/accounts", seed).await.problem(409);
    let bad = json!({"prefix": "gen", "count": 0, "password": "seeded accounts only"});
    anon.post("/dev/accounts", bad).await.problem(422);
    let huge =
        json!({"prefix": "gen", "count": 2, "first": u64::MAX, "password": "seeded accounts only"});
    anon.post("/dev/accounts", huge).await.problem(422);

    let pairs = json!({"pairs": [[ids[0], ids[1]], [ids[1], ids[2]]]});
    let made = until_status(201, async || {
        anon.post("/dev/friendships", pairs.clone()).await
    })
    .await
    .expect(201);
    assert_eq!(made["created"], 2);
    let again = anon.post("/dev/friendships", pairs).await.expect(201);
    assert_eq!(
        (again["created"].clone(), again["existing"].clone()),
        (json!(0), json!(2))
    );
    let friends = people[1].get("/users/me/friends").await.expect(200);
    assert_eq!(friends["items"].as_array().unwrap().len(), 2);

    let post = post_when_ready(
        &people[0],
        json!({"text": "seeded", "visibility": "friends"}),
    )
    .await;
    eventually("the seeded friend's feed has the post", || async {
        let feed = people[1].get("/feed?order=recent").await.expect(200);
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == post.as_str())
    })
    .await;
    let stranger = people[2].get("/feed?order=recent").await.expect(200);
    assert!(
        stranger["items"].as_array().unwrap().is_empty(),
        "{stranger}"
    );
    // A seeded account logs in with its password as any account does.
    let login = json!({"login": "gen0", "password": "seeded accounts only"});
    anon.post("/auth/login", login).await.expect(200);

    let plain = Node::start(&nats);
    let off = json!({"prefix": "other", "count": 1, "password": "seeded accounts only"});
    plain.client().post("/dev/accounts", off).await.problem(404);
}
