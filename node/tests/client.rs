//! An app written against the typed client (`agora-client`, generated from the committed
//! OpenAPI document), through the gateway of a real `dev` platform: the lifecycles an app
//! developer starts with, in types rather than hand-built JSON. A change to the document
//! that breaks such an app breaks the build of this test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use agora_client::{Client, Error, types};
use common::{Nats, Node, PASSWORD, eventually, mailed_token};

/// The problem an operation answered, or a panic naming what came instead.
#[track_caller]
fn problem<T: std::fmt::Debug>(result: Result<T, Error<types::Problem>>) -> types::Problem {
    match result {
        Err(Error::ErrorResponse(answer)) => answer.into_inner(),
        other => panic!("expected a documented problem, got {other:?}"),
    }
}

/// Registers `name`, verifies the address from the dev mailbox, logs in: the account id
/// and a client that sends the access token.
async fn signed_in(node: &Node, base: &str, name: &str) -> (String, Client) {
    let anon = Client::new(base);
    let account = anon
        .register()
        .body(
            types::RegisterRequest::builder()
                .username(name)
                .email(format!("{name}@example.org"))
                .password(PASSWORD),
        )
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.username, name);
    assert!(!account.verified);
    let token = mailed_token(&node.client(), name).await;
    anon.verify()
        .body(
            types::VerifyRequest::builder()
                .token(token)
                .password(PASSWORD),
        )
        .send()
        .await
        .unwrap();
    let tokens = anon
        .login()
        .body(
            types::LoginRequest::builder()
                .login(name)
                .password(PASSWORD),
        )
        .send()
        .await
        .unwrap()
        .into_inner();
    let me = agora_client::authenticated(base, &tokens.access_token);
    // The profile comes from the account's event.
    eventually("the profile appears", || async {
        me.my_profile().send().await.is_ok()
    })
    .await;
    (account.id, me)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_the_typed_client_befriends_posts_comments_and_reacts() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let base = node.base.clone();
    let (alice_id, alice) = signed_in(&node, &base, "alice").await;
    let (bob_id, bob) = signed_in(&node, &base, "bob").await;
    let (_, carol) = signed_in(&node, &base, "carol").await;

    // Bad input is a documented problem naming the field, typed.
    let refused = problem(
        alice
            .create_post()
            .body(types::NewPost::builder().text("x".repeat(10_001)))
            .send()
            .await,
    );
    assert_eq!(refused.status, 422);
    assert!(refused.type_.ends_with("/validation-failed"), "{refused:?}");
    assert!(
        refused.errors.iter().any(|e| e.field == "text"),
        "{refused:?}"
    );

    // Alice and Bob become friends.
    let asked = alice
        .send_friend_request()
        .id(&bob_id)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.relationship, types::Relationship::RequestSent);
    bob.accept_request().id(&alice_id).send().await.unwrap();

    // Alice posts for her friends; Bob comments and reacts.
    let post = alice
        .create_post()
        .body(
            types::NewPost::builder()
                .text("Typed all the way down")
                .visibility(Some(types::Visibility::Friends)),
        )
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(post.author_id, alice_id);
    eventually("bob may read the post", || async {
        bob.get_post().id(&post.id).send().await.is_ok()
    })
    .await;
    bob.add_comment()
        .id(&post.id)
        .body(types::NewComment::builder().text(Some("Nice".to_string())))
        .send()
        .await
        .unwrap();
    bob.react_to_post()
        .id(&post.id)
        .body(types::ReactionRequest::builder().kind(types::ReactionKind::Love))
        .send()
        .await
        .unwrap();
    let seen = alice.get_post().id(&post.id).send().await.unwrap();
    assert_eq!(seen.comment_count, 1);
    assert_eq!(seen.reactions.get("love"), Some(&1));

    // It reaches Bob's feed, with his reaction once its event is applied there too (the
    // post's event and the reaction's are applied one after the other); a stranger gets
    // 404, as for a post that does not exist.
    eventually("the post reaches bob's feed with his reaction", || async {
        let page = bob.home_feed().send().await.unwrap().into_inner();
        page.items
            .iter()
            .any(|item| item.id == post.id && item.my_reaction == Some(types::ReactionKind::Love))
    })
    .await;
    // The item carries what the app draws: the author's card and Bob's own reaction.
    let page = bob.home_feed().send().await.unwrap().into_inner();
    let item = page.items.iter().find(|i| i.id == post.id).unwrap();
    let author = item.author.as_ref().expect("the author's card");
    assert_eq!(
        (author.id.as_str(), author.username.as_str()),
        (alice_id.as_str(), "alice")
    );
    assert_eq!(item.my_reaction, Some(types::ReactionKind::Love));
    assert_eq!(
        problem(carol.get_post().id(&post.id).send().await).status,
        404
    );

    // Deleted, it is gone for Bob too.
    alice.delete_post().id(&post.id).send().await.unwrap();
    eventually("the post is gone for bob", || async {
        matches!(
            bob.get_post().id(&post.id).send().await,
            Err(Error::ErrorResponse(answer)) if answer.status() == 404
        )
    })
    .await;
}
