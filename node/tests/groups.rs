//! Groups and pages through the gateway.
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
async fn public_private_and_secret_groups_admit_people_as_they_should() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "olga").await;
    let olga = anon.with_token(access(&t));
    let (pete_id, t) = signed_up(&anon, "pete").await;
    let pete = anon.with_token(access(&t));

    // Public: anyone joins and sees the members.
    let public = olga
        .post(
            "/groups",
            json!({"name": "Rust Readers", "privacy": "public"}),
        )
        .await
        .expect(201);
    assert_eq!(public["membership"], "admin");
    let public_id = public["id"].as_str().unwrap();
    assert_eq!(
        pete.post_empty(&format!("/groups/{public_id}/join"))
            .await
            .expect(200)["status"],
        "joined"
    );
    pete.post_empty(&format!("/groups/{public_id}/join"))
        .await
        .problem(409);
    let members = anon
        .get(&format!("/groups/{public_id}/members"))
        .await
        .expect(200);
    assert_eq!(members["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        anon.get(&format!("/groups/{public_id}")).await.expect(200)["member_count"],
        2
    );

    // Private: a request an admin approves; members only see who is inside.
    let private = olga
        .post(
            "/groups",
            json!({"name": "Book Club", "privacy": "private"}),
        )
        .await
        .expect(201);
    let private_id = private["id"].as_str().unwrap();
    assert_eq!(
        pete.get(&format!("/groups/{private_id}")).await.expect(200)["membership"],
        "none"
    );
    pete.get(&format!("/groups/{private_id}/members"))
        .await
        .problem(403);
    assert_eq!(
        pete.post_empty(&format!("/groups/{private_id}/join"))
            .await
            .expect(200)["status"],
        "requested"
    );
    pete.get(&format!("/groups/{private_id}/requests"))
        .await
        .problem(403);
    let requests = olga
        .get(&format!("/groups/{private_id}/requests"))
        .await
        .expect(200);
    assert_eq!(requests["items"][0]["user_id"], pete_id.as_str());
    olga.post_empty(&format!("/groups/{private_id}/requests/{pete_id}/approve"))
        .await
        .expect(204);
    assert_eq!(
        pete.get(&format!("/groups/{private_id}")).await.expect(200)["membership"],
        "member"
    );
    pete.get(&format!("/groups/{private_id}/members"))
        .await
        .expect(200);

    // Secret: invisible until invited.
    let secret = olga
        .post(
            "/groups",
            json!({"name": "Surprise Party", "privacy": "secret"}),
        )
        .await
        .expect(201);
    let secret_id = secret["id"].as_str().unwrap();
    pete.get(&format!("/groups/{secret_id}")).await.problem(404);
    anon.get(&format!("/groups/{secret_id}")).await.problem(404);
    pete.post_empty(&format!("/groups/{secret_id}/join"))
        .await
        .problem(404);
    // Accounts are known to groups through auth's events: wait for Pete's.
    eventually("groups learns of pete's account", || {
        let (olga, path, body) = (
            olga.clone(),
            format!("/groups/{secret_id}/invitations"),
            json!({"user_id": pete_id}),
        );
        async move { olga.post(&path, body).await.status == 201 }
    })
    .await;
    assert_eq!(
        pete.get(&format!("/groups/{secret_id}")).await.expect(200)["membership"],
        "invited"
    );
    assert_eq!(
        pete.post_empty(&format!("/groups/{secret_id}/join"))
            .await
            .expect(200)["status"],
        "joined"
    );
    let mine = pete.get("/groups/mine").await.expect(200);
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);

    // Bans remove and keep out; members cannot moderate; the last admin cannot leave.
    pete.post_empty(&format!("/groups/{public_id}/bans/{pete_id}"))
        .await
        .problem(403);
    let olga_id = olga.get("/auth/me").await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    pete.delete(&format!("/groups/{public_id}/members/{olga_id}"))
        .await
        .problem(403);
    olga.post_empty(&format!("/groups/{public_id}/bans/{pete_id}"))
        .await
        .expect(204);
    pete.post_empty(&format!("/groups/{public_id}/join"))
        .await
        .problem(403);
    olga.post_empty(&format!("/groups/{private_id}/leave"))
        .await
        .problem(409);
    olga.send(
        "PUT",
        &format!("/groups/{private_id}/members/{pete_id}/role"),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect(204);
    olga.post_empty(&format!("/groups/{private_id}/leave"))
        .await
        .expect(204);
    pete.patch(
        &format!("/groups/{private_id}"),
        json!({"name": "Book Club (new)"}),
    )
    .await
    .expect(200);
    pete.delete(&format!("/groups/{private_id}"))
        .await
        .expect(204);
    pete.get(&format!("/groups/{private_id}"))
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_have_admins_and_followers() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "quinn").await;
    let quinn = anon.with_token(access(&t));
    let (rosa_id, t) = signed_up(&anon, "rosa").await;
    let rosa = anon.with_token(access(&t));
    let page = quinn
        .post(
            "/pages",
            json!({"name": "Agora News", "description": "what is new"}),
        )
        .await
        .expect(201);
    let id = page["id"].as_str().unwrap();
    assert_eq!(page["admin"], true);
    rosa.post_empty(&format!("/pages/{id}/follow"))
        .await
        .expect(204);
    rosa.post_empty(&format!("/pages/{id}/follow"))
        .await
        .problem(409);
    let seen = rosa.get(&format!("/pages/{id}")).await.expect(200);
    assert_eq!(
        (seen["following"].clone(), seen["follower_count"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(
        anon.get(&format!("/pages/{id}/followers"))
            .await
            .expect(200)["items"][0]["user_id"],
        rosa_id.as_str()
    );
    rosa.patch(&format!("/pages/{id}"), json!({"name": "Mine now"}))
        .await
        .problem(403);
    // Accounts are known to groups through auth's events, so wait for Rosa's.
    eventually("groups learns of rosa's account", || {
        let quinn = quinn.clone();
        let path = format!("/pages/{id}/admins");
        let rosa_id = rosa_id.clone();
        async move { quinn.post(&path, json!({"user_id": rosa_id})).await.status == 204 }
    })
    .await;
    rosa.patch(&format!("/pages/{id}"), json!({"name": "Agora Daily"}))
        .await
        .expect(200);
    quinn
        .post(
            &format!("/pages/{id}/admins"),
            json!({"user_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        )
        .await
        .problem(404);
    rosa.delete(&format!("/pages/{id}/follow"))
        .await
        .expect(204);
    rosa.delete(&format!("/pages/{id}/follow"))
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_group_input_is_refused() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "sam").await;
    let sam = anon.with_token(access(&t));
    sam.post("/groups", json!({"name": "", "privacy": "public"}))
        .await
        .problem(422);
    sam.post(
        "/groups",
        json!({"name": "x".repeat(101), "privacy": "public"}),
    )
    .await
    .problem(422);
    sam.post("/groups", json!({"name": "ok", "privacy": "hidden"}))
        .await
        .problem(422);
    sam.post("/groups", json!({"name": "ok"}))
        .await
        .problem(422);
    sam.post(
        "/groups",
        json!({"name": "a\u{202E}b", "privacy": "public"}),
    )
    .await
    .problem(422);
    anon.post("/groups", json!({"name": "ok", "privacy": "public"}))
        .await
        .problem(401);
    sam.get("/groups/not-an-id").await.problem(404);
    sam.get("/groups/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .problem(404);
    sam.get("/pages/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .problem(404);
    assert!(
        sam.get("/groups/mine").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
