//! Replicas of one context's store through its change stream, on a real NATS: a follower
//! holds the writer's data byte for byte, a writer that is not at the stream's head cannot
//! append, and a follower resumes where it stopped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::time::Duration;

use agora_node::platform::bus::{Bus, StreamSettings};
use agora_node::platform::error::ApiError;
use agora_node::platform::replication::publish::{self, Fenced};
use agora_node::platform::replication::{ChangeStream, follow};
use agora_node::platform::storage::{Role, Store};
use common::Nats;
use futures::StreamExt as _;
use tokio::sync::watch;

const CONTEXT: &str = "posts";

async fn bus(nats: &Nats) -> Bus {
    let settings = StreamSettings {
        prefix: "rep".into(),
        replicas: 1,
        max_age: Duration::ZERO,
    };
    Bus::connect(&nats.url(), None, None, settings)
        .await
        .unwrap()
}

/// A store of its own in a temporary directory, logging its changes.
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap().with_change_log().unwrap();
    (dir, store)
}

fn contents(tree: &sled::Tree) -> Vec<(sled::IVec, sled::IVec)> {
    tree.iter()
        .map(Result::unwrap)
        .filter(|(k, _)| k.as_ref() != b"_/changes-seq")
        .collect()
}

fn writing(
    store: &Store,
    bus: &Bus,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), Fenced>>,
) {
    store.set_role(Role::Writer).unwrap();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(publish::run(store.clone(), bus.clone(), CONTEXT, shutdown));
    (stop, task)
}

fn following(store: &Store, bus: &Bus) -> watch::Sender<bool> {
    let (stop, shutdown) = watch::channel(false);
    let metrics = agora_node::platform::telemetry::Metrics::new();
    tokio::spawn(follow::run(
        store.clone(),
        bus.clone(),
        CONTEXT,
        metrics,
        shutdown,
    ));
    stop
}

/// Waits until `store` holds LSN `target` and the change stream holds it too.
async fn settled(store: &Store, target: u64) {
    let mut lsn = store.stream_lsn.subscribe();
    tokio::time::timeout(Duration::from_secs(20), lsn.wait_for(|l| *l >= target))
        .await
        .unwrap_or_else(|_| panic!("LSN {target} never settled"))
        .unwrap();
}

async fn caught_up(follower: &Store, writer: &Store) {
    settled(follower, writer.lsn().unwrap()).await;
}

async fn put_many(store: &Store, from: usize, n: usize, value_len: usize) {
    for i in from..from + n {
        let value = vec![b'v'; value_len];
        store
            .write(|tx| tx.put_raw(format!("k/{i:06}").as_bytes(), &value))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_follower_holds_the_writers_data_through_the_change_stream() {
    let nats = Nats::start();
    let bus = bus(&nats).await;
    let (_w, writer) = store();
    let (_f, follower) = store();
    let (_stop_writing, _) = writing(&writer, &bus);
    let _stop_following = following(&follower, &bus);

    put_many(&writer, 0, 50, 100).await;
    writer.write(|tx| tx.remove(b"k/000007")).await.unwrap();
    // One transaction bigger than a NATS message (1 MiB): it goes in parts, applied whole.
    writer
        .write(|tx| {
            (0..3_000).try_for_each(|i| tx.put_raw(format!("big/{i:05}").as_bytes(), &[b'b'; 500]))
        })
        .await
        .unwrap();
    caught_up(&follower, &writer).await;

    assert_eq!(contents(&follower.data), contents(&writer.data));
    assert!(!follower.contains(b"k/000007").unwrap());
    assert_eq!(follower.lsn().unwrap(), 52);
    let head = ChangeStream::of(&bus, CONTEXT).head(&bus).await.unwrap();
    assert!(
        head.sequence > 52,
        "the big transaction took several messages"
    );
}

#[tokio::test]
async fn a_follower_resumes_where_it_stopped_and_outlives_a_nats_restart() {
    let mut nats = Nats::start();
    let bus = bus(&nats).await;
    let (_w, writer) = store();
    let (_f, follower) = store();
    let (_stop_writing, _) = writing(&writer, &bus);
    let stop_following = following(&follower, &bus);
    put_many(&writer, 0, 20, 10).await;
    caught_up(&follower, &writer).await;
    stop_following.send_replace(true);

    // Written while the follower is away, and across a restart of NATS.
    put_many(&writer, 20, 10, 10).await;
    nats.stop();
    // With the stream away, a write cannot be confirmed: the client is told to retry, and
    // the write, committed here, goes out once the stream is back.
    let unconfirmed = writer.write(|tx| tx.put_raw(b"k/000030", b"v")).await;
    assert!(
        matches!(unconfirmed, Err(ApiError::Unconfirmed(_))),
        "{unconfirmed:?}"
    );
    nats.restart();
    put_many(&writer, 31, 9, 10).await;

    // It starts from the position its store records, as after a restart of the process.
    let _stop_following = following(&follower, &bus);
    caught_up(&follower, &writer).await;
    assert_eq!(contents(&follower.data), contents(&writer.data));
    assert_eq!(follower.lsn().unwrap(), 40);
}

#[tokio::test]
async fn a_writer_behind_the_stream_cannot_append_until_it_has_followed() {
    let nats = Nats::start();
    let bus = bus(&nats).await;
    let (_a, first) = store();
    let (_b, second) = store();
    let (stop_first, first_task) = writing(&first, &bus);
    put_many(&first, 0, 5, 10).await;
    settled(&first, 5).await;

    // The second store wrote on its own while the first was the writer: fenced.
    second.set_role(Role::Writer).unwrap();
    second.write_now(|tx| tx.put_raw(b"mine", b"1")).unwrap();
    let (_, second_task) = writing(&second, &bus);
    let fenced = second_task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            fenced,
            Fenced::Diverged {
                first_unpublished: 1
            }
        ),
        "{fenced}"
    );

    // A fresh store follows, then takes the writing over once the first stopped.
    stop_first.send_replace(true);
    first_task.await.unwrap().unwrap();
    let (_c, third) = store();
    let stop_following = following(&third, &bus);
    caught_up(&third, &first).await;
    stop_following.send_replace(true);
    let (_stop_third, _) = writing(&third, &bus);
    put_many(&third, 5, 3, 10).await;
    settled(&third, 8).await;

    // The old writer comes back with a write of its own: refused, and told why.
    first.write_now(|tx| tx.put_raw(b"mine", b"1")).unwrap();
    let (_, again) = writing(&first, &bus);
    let fenced = again.await.unwrap().unwrap_err();
    assert!(
        matches!(
            fenced,
            Fenced::Diverged {
                first_unpublished: 6
            }
        ),
        "{fenced}"
    );
    let head = ChangeStream::of(&bus, CONTEXT).head(&bus).await.unwrap();
    assert_eq!(
        head.last,
        Some((8, true)),
        "nothing of the old writer's got in"
    );
}

#[tokio::test]
async fn a_store_that_ran_without_replicas_goes_out_whole_as_the_base() {
    let nats = Nats::start();
    let bus = bus(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let alone = Store::open(dir.path()).unwrap();
    put_many(&alone, 0, 30, 10).await;
    alone.write(|tx| tx.remove(b"k/000003")).await.unwrap();

    // Replicas are turned on: the writer's first change set is everything it held.
    let writer = alone.clone().with_change_log().unwrap();
    let (_f, follower) = store();
    let (_stop_writing, _) = writing(&writer, &bus);
    let _stop_following = following(&follower, &bus);
    settled(&writer, 1).await;
    put_many(&writer, 30, 2, 10).await;
    caught_up(&follower, &writer).await;
    assert_eq!(contents(&follower.data), contents(&writer.data));
    assert_eq!(follower.lsn().unwrap(), 3, "the base, then two writes");
    assert!(follower.contains(b"k/000029").unwrap());
    assert!(!follower.contains(b"k/000003").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_bus_loses_a_server_under_writes_and_no_acknowledged_write() {
    let mut servers = Nats::cluster(3);
    let settings = StreamSettings {
        prefix: "rep".into(),
        replicas: 3,
        max_age: Duration::ZERO,
    };
    // The writer talks to server 0, the follower to server 1; each learns the others.
    let connect = |i: usize| {
        let url = servers[i].url();
        let settings = settings.clone();
        async move { Bus::connect(&url, None, None, settings).await.unwrap() }
    };
    let (writer_bus, follower_bus) = (connect(0).await, connect(1).await);
    let (_w, writer) = store();
    let (_f, follower) = store();
    let (_stop_writing, _) = writing(&writer, &writer_bus);
    let _stop_following = following(&follower, &follower_bus);

    let mut acknowledged = Vec::new();
    let mut unconfirmed = 0;
    for i in 0..150 {
        if i == 50 {
            servers[0].stop();
        }
        let key = format!("k/{i:06}");
        match writer.write(|tx| tx.put_raw(key.as_bytes(), b"v")).await {
            Ok(()) => acknowledged.push(key),
            Err(ApiError::Unconfirmed(_)) => unconfirmed += 1,
            Err(e) => panic!("write {i}: {e}"),
        }
    }
    println!(
        "{} acknowledged, {unconfirmed} unconfirmed while the cluster lost a server",
        acknowledged.len()
    );
    assert!(acknowledged.len() > 100, "writing went on on two servers");
    // Every write, acknowledged or not, reaches the follower through the survivors.
    caught_up(&follower, &writer).await;
    for key in &acknowledged {
        assert!(follower.contains(key.as_bytes()).unwrap(), "{key} lost");
    }
    assert_eq!(contents(&follower.data), contents(&writer.data));
}

#[tokio::test]
async fn a_checkpoint_compacts_the_stream_and_what_was_erased_leaves_it() {
    let nats = Nats::start();
    let bus = bus(&nats).await;
    let (_w, writer) = store();
    let (_f, early) = store();
    let (_stop_writing, _) = writing(&writer, &bus);
    let stop_early = following(&early, &bus);
    put_many(&writer, 0, 20, 10).await;
    writer
        .write(|tx| tx.put_raw(b"person/erased-one", b"her address"))
        .await
        .unwrap();
    caught_up(&early, &writer).await;
    // This follower is away while the record is erased and the stream compacted.
    stop_early.send_replace(true);
    writer
        .write(|tx| tx.remove(b"person/erased-one").map(|_| ()))
        .await
        .unwrap();

    let checkpoint = writer.log_checkpoint().unwrap();
    settled(&writer, checkpoint).await;
    put_many(&writer, 20, 3, 10).await;
    let changes = ChangeStream::of(&bus, CONTEXT);
    let mut stream = bus.js.get_stream(&changes.name).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    // Only the checkpoint and what came after it are left.
    assert_eq!(state.messages, 4, "{state:?}");
    for seq in state.first_sequence..=state.last_sequence {
        let message = stream.get_raw_message(seq).await.unwrap();
        let text = String::from_utf8_lossy(&message.payload);
        assert!(
            !text.contains("her address"),
            "erased data still in the stream"
        );
    }

    // A follower from nothing starts at the checkpoint; one that was away takes the
    // checkpoint in place of what it held, the erased record included.
    let (_l, late) = store();
    let _stop_late = following(&late, &bus);
    let _stop_early = following(&early, &bus);
    caught_up(&late, &writer).await;
    caught_up(&early, &writer).await;
    assert_eq!(contents(&late.data), contents(&writer.data));
    assert_eq!(contents(&early.data), contents(&writer.data));
    assert!(!late.contains(b"person/erased-one").unwrap());
    assert!(!early.contains(b"person/erased-one").unwrap());
}

/// A follower away while the stream was cut past its place cannot go on set by set: it
/// says so (not ready, never the writer), asks the writer for a checkpoint, and is whole
/// again once that checkpoint comes, writes made meanwhile included.
#[tokio::test]
async fn a_follower_that_missed_part_of_the_stream_copies_itself_afresh_from_a_checkpoint() {
    let nats = Nats::start();
    let bus = bus(&nats).await;
    let (_w, writer) = store();
    let (_f, follower) = store();
    let (_stop_writing, _) = writing(&writer, &bus);
    let stop = following(&follower, &bus);
    put_many(&writer, 0, 3, 10).await;
    caught_up(&follower, &writer).await;
    stop.send_replace(true);

    put_many(&writer, 3, 10, 10).await;
    let stream = ChangeStream::of(&bus, CONTEXT);
    let head = stream.head(&bus).await.unwrap();
    bus.js
        .get_stream(&stream.name)
        .await
        .unwrap()
        .purge()
        .sequence(head.sequence - 2)
        .await
        .unwrap();
    let held = follower.lsn().unwrap();
    // Whoever asks for a copy, the writer hears it on the stream's copy subject.
    let mut requests = bus
        .client
        .subscribe(stream.copy_requests.clone())
        .await
        .unwrap();
    let _follow = following(&follower, &bus);
    let request = tokio::time::timeout(Duration::from_secs(20), requests.next())
        .await
        .expect("the follower asks for a copy")
        .unwrap();
    assert_eq!(
        request.payload.as_ref(),
        follower.replica_id().unwrap().as_bytes()
    );
    // (It says it needs one until the checkpoint is applied.)
    assert!(follower.needs_copy() || follower.lsn().unwrap() > held);
    put_many(&writer, 13, 2, 10).await;
    caught_up(&follower, &writer).await;
    assert!(!follower.needs_copy(), "whole and ready again");
    assert_eq!(
        contents(&follower.data),
        contents(&writer.data),
        "the writer's data, the writes after the gap included"
    );
}
