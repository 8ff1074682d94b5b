//! `agora-node dev` as a process: the nats-server it starts dies with it, and it refuses a
//! JetStream store that another server holds (two servers on one store corrupt it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, free_port, nats_binary, wait_until};

/// Pids of live processes whose command line mentions `needle` (independent of the code
/// under test, which has its own reading of `/proc`).
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn nats_env() -> (&'static str, String) {
    ("AGORA_NATS_SERVER", nats_binary().display().to_string())
}

#[test]
fn a_dev_killed_with_sigkill_takes_its_nats_server_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (key, value) = nats_env();
    let mut dev = Process::start(
        &["dev", "--data-dir", data.to_str().unwrap()],
        &[(key, &value)],
    );
    let store = data.join("nats");
    assert_eq!(
        processes_mentioning(&store).len(),
        1,
        "dev runs one nats-server on its store"
    );
    dev.kill();
    wait_until(
        Duration::from_secs(10),
        "no nats-server of the killed dev's data dir is left",
        || processes_mentioning(&store).is_empty(),
    );
}

#[test]
fn dev_refuses_a_store_another_nats_server_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = data.join("nats");
    std::fs::create_dir_all(&store).unwrap();
    let mut stray = Command::new(nats_binary())
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-sd",
        ])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "the stray server runs", || {
        !processes_mentioning(&store).is_empty()
    });
    let (key, value) = nats_env();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(["dev", "--data-dir", data.to_str().unwrap()])
        .args(["--http-addr", "127.0.0.1:0"])
        .env(key, value)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = dev.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            dev.kill().unwrap();
            panic!("dev started beside a server that holds its store");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut dev.stderr.take().unwrap(), &mut stderr).unwrap();
    stray.kill().unwrap();
    stray.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let refusal: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("agora-node: error:"))
        .collect();
    assert_eq!(refusal.len(), 1, "one line says why: {stderr}");
    assert!(
        refusal[0].contains(&format!("pid {}", stray.id())) && refusal[0].contains("--nats-url"),
        "the refusal names the holder and what to do: {stderr}"
    );
}
