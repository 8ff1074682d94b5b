//! Hibernation (`spec.hibernate`), as pure functions of what was observed: whether the
//! managed bus may stop yet, and the `Hibernated` condition.
//!
//! Going to sleep, the contexts and the gateway go to zero pods at once (each flushes sled
//! on SIGTERM; events still in an outbox stay there, durable, until the platform wakes);
//! the bus follows once no pod of them exists, so nothing is cut off from it while it
//! stops. Waking, everything is scaled back at once: contexts wait for the bus as they do
//! after any outage. Volume claims are kept throughout (`whenScaled: Retain`).

use std::collections::BTreeMap;

use crate::observed::Observed;

/// Where a platform stands with hibernation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sleep {
    /// Not asked to hibernate.
    Awake,
    /// Asked to; `pods` of the contexts, the gateway and the bus still exist.
    Hibernating { pods: i32 },
    /// Asked to, and no pod exists.
    Hibernated,
}

/// Whether no pod of the contexts and the gateway exists (absent workloads have none).
pub fn drained(workloads: &BTreeMap<String, Observed>) -> bool {
    workloads
        .values()
        .all(|o| o.pods == 0 && o.ready_replicas == 0)
}

/// Whether the managed bus is to run at zero pods: hibernating, and nothing that talks to
/// it runs any more.
pub fn bus_asleep(hibernate: bool, workloads: &BTreeMap<String, Observed>) -> bool {
    hibernate && drained(workloads)
}

pub fn state(
    hibernate: bool,
    workloads: &BTreeMap<String, Observed>,
    bus: Option<&Observed>,
) -> Sleep {
    if !hibernate {
        return Sleep::Awake;
    }
    let pods: i32 = workloads
        .values()
        .chain(bus)
        .map(|o| o.pods.max(o.ready_replicas))
        .sum();
    match pods {
        0 => Sleep::Hibernated,
        pods => Sleep::Hibernating { pods },
    }
}

/// The `Hibernated` condition: whether it is true, its reason and message.
pub fn condition_of(sleep: &Sleep) -> (bool, &'static str, String) {
    let (on, reason, message) = match sleep {
        Sleep::Awake => (false, "Awake", "spec.hibernate is false".to_string()),
        Sleep::Hibernating { pods } => (
            false,
            "Hibernating",
            format!("scaling to zero: {pods} pods still running"),
        ),
        Sleep::Hibernated => (
            true,
            "Hibernated",
            "no pod runs; every volume is kept".to_string(),
        ),
    };
    (on, reason, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(pods: i32) -> Observed {
        Observed {
            image: "v1".into(),
            replicas: pods,
            ready_replicas: pods,
            pods,
            rolled_out: true,
        }
    }

    #[test]
    fn the_bus_sleeps_only_after_every_context_and_the_gateway() {
        let mut seen =
            BTreeMap::from([("auth".into(), running(1)), ("gateway".into(), running(0))]);
        assert!(!bus_asleep(false, &seen), "awake platforms keep their bus");
        assert!(!bus_asleep(true, &seen), "auth still runs");
        seen.insert(
            "auth".into(),
            Observed {
                ready_replicas: 0,
                pods: 1,
                ..running(0)
            },
        );
        assert!(
            !bus_asleep(true, &seen),
            "a pod shutting down still talks to the bus"
        );
        seen.insert("auth".into(), running(0));
        assert!(bus_asleep(true, &seen));
        assert!(bus_asleep(true, &BTreeMap::new()), "nothing created yet");
    }

    #[test]
    fn hibernated_once_no_pod_of_any_part_exists() {
        let seen = BTreeMap::from([("auth".into(), running(0)), ("gateway".into(), running(0))]);
        assert_eq!(state(false, &seen, None), Sleep::Awake);
        assert_eq!(
            state(true, &seen, Some(&running(3))),
            Sleep::Hibernating { pods: 3 }
        );
        assert_eq!(state(true, &seen, Some(&running(0))), Sleep::Hibernated);
        assert_eq!(state(true, &seen, None), Sleep::Hibernated, "external bus");
        assert!(condition_of(&Sleep::Hibernated).0);
        assert!(!condition_of(&Sleep::Hibernating { pods: 1 }).0);
    }
}
