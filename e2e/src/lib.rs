//! # agora-e2e
//!
//! - `tests/kind.rs`: the end-to-end suite against a kind cluster (runs where Docker is,
//!   skipped elsewhere with a message saying so);
//! - `src/bin/agora-bench.rs`: the load generator behind docs/benchmarks.md.
