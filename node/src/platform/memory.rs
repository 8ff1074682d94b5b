//! One memory budget per process, from which every large cache is sized.
//!
//! The budget is `AGORA_MEMORY_MIB` when given, else the memory limit of the process's
//! cgroup (what Kubernetes sets from the container's `resources.limits.memory`), else
//! [`FALLBACK_MIB`]. A quarter of it goes to sled's page caches, shared equally by the
//! stores the process opens; at most another quarter to the projections held in memory
//! ([`crate::platform::storage::Resident`]), the same share per store; a sixteenth to the
//! search index's opened reads (its files are sealed at rest, so the page cache holds
//! them sealed; `search/storage/sealed_directory.rs`); the rest is left to
//! the heap (requests, the push channel's queues, the records read per request) and to the
//! argon2 pool (19 MiB per hashing thread in auth). sled's own default is 1 GiB per database, whatever the pod may use:
//! seven stores in `dev` or in the compact pod could ask for 7 GiB.

/// The budget when neither the flag nor a cgroup limit gives one.
pub const FALLBACK_MIB: u64 = 1_024;

/// The share of the budget that sled's page caches get, over all stores.
const SLED_SHARE: u64 = 4;

/// The smallest page cache a store gets, however small the budget.
const MIN_CACHE_BYTES: u64 = 8 << 20;

/// The process's memory budget in bytes: the flag, the cgroup's limit, or the fallback.
pub fn budget_bytes(flag_mib: Option<u64>) -> u64 {
    flag_mib
        .map(|mib| mib << 20)
        .or_else(cgroup_limit_bytes)
        .unwrap_or(FALLBACK_MIB << 20)
}

/// One store's part of the `1/share` of a budget that `stores` stores split equally.
fn per_store(budget_bytes: u64, share: u64, stores: usize) -> u64 {
    let stores = u64::try_from(stores.max(1)).unwrap_or(1);
    budget_bytes / share / stores
}

/// The page cache each of `stores` stores gets from a budget.
pub fn cache_per_store(budget_bytes: u64, stores: usize) -> u64 {
    per_store(budget_bytes, SLED_SHARE, stores).max(MIN_CACHE_BYTES)
}

/// The most a store's resident projections may hold, from a budget (a store whose
/// projections outgrow it reads them from sled instead).
pub fn resident_per_store(budget_bytes: u64, stores: usize) -> u64 {
    per_store(budget_bytes, RESIDENT_SHARE, stores)
}

/// The share of the budget that resident projections may take, over all stores.
const RESIDENT_SHARE: u64 = 4;

/// The share of the budget that the search index's opened reads may take.
const INDEX_SHARE: u64 = 16;

/// The most the search index's opened reads may hold, from a budget.
pub fn index_cache_bytes(budget_bytes: u64) -> u64 {
    budget_bytes / INDEX_SHARE
}

/// The memory limit of this process's cgroup (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`), if it has one.
fn cgroup_limit_bytes() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| parse_limit(&std::fs::read_to_string(path).ok()?))
}

/// A cgroup limit file's value: a number of bytes; `max` (v2) or a near-`u64::MAX` value
/// (v1) mean no limit.
fn parse_limit(text: &str) -> Option<u64> {
    let bytes = text.trim().parse::<u64>().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_comes_from_the_flag_then_the_cgroup_and_is_shared_by_the_stores() {
        assert_eq!(budget_bytes(Some(512)), 512 << 20);
        assert_eq!(parse_limit("536870912\n"), Some(512 << 20));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712"), None, "v1's 'no limit'");
        // A 512 MiB pod with the seven contexts of the compact topology: 18 MiB each.
        assert_eq!(cache_per_store(512 << 20, 7), (512 << 20) / 4 / 7);
        assert_eq!(cache_per_store(64 << 20, 7), MIN_CACHE_BYTES);
        assert_eq!(cache_per_store(1 << 30, 0), (1 << 30) / 4);
        // The feed's pod of the distributed topology (one store, 512 MiB): 128 MiB.
        assert_eq!(resident_per_store(512 << 20, 1), 128 << 20);
    }
}
