//! Erasure's common part (GDPR article 17). When an account is erased, every context finds
//! the records that name the person (a scan of its store for the id, in keys and values,
//! so a record kind added later cannot be forgotten) and decides for each, by its own
//! [`Policy`]: remove it (the person's own, or about them), or keep it with the person's
//! id replaced by [`ERASED`] (another's record that only refers to them: a message they
//! sent in someone else's conversation, a report they filed). A record whose key names
//! the person is always removed.
//!
//! The scan reads the whole store: erasure is rare, runs on the consumer, off the request
//! path, and needs no index kept for it on every write.

use serde::de::DeserializeOwned;

use super::envelope::DomainEvent;
use super::error::ApiResult;
use super::storage::{Store, Tx, TxResult};

/// What stands in for an erased person where a record of someone else keeps its place.
pub const ERASED: &str = "erased";

/// A record that names the person.
#[derive(Debug, Clone)]
pub struct Named {
    pub key: Vec<u8>,
    /// The value, when it is JSON (index entries are empty).
    pub value: Option<serde_json::Value>,
    key_names: bool,
}

impl Named {
    /// The key's record kind and the rest: `("p/", "<id>...")`.
    pub fn prefix(&self) -> &[u8] {
        let end = self
            .key
            .iter()
            .position(|b| *b == b'/')
            .map_or(0, |i| i + 1);
        self.key.get(..end).unwrap_or_default()
    }

    /// A string field of the value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.value.as_ref()?.get(name)?.as_str()
    }
}

/// What a context does with one record that names the erased person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    Remove,
    /// Keep it, with every string equal to the person's id replaced by [`ERASED`].
    Anonymize,
}

/// A context's erasure policy: given a record naming the person (`id`), what to do.
pub type Policy = fn(&Named, &str) -> Erase;

/// The policy of a context whose every record naming a person is about that person.
pub fn remove_all(_: &Named, _: &str) -> Erase {
    Erase::Remove
}

/// Events that erase a person (auth's `AccountErased`).
pub trait ErasesPerson: DomainEvent + DeserializeOwned + 'static {
    fn person(&self) -> &str;
}

/// Every record of `store` whose key or value names `id`.
pub fn records_naming(store: &Store, id: &str) -> ApiResult<Vec<Named>> {
    let needle = id.as_bytes();
    let names =
        |bytes: &[u8]| !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle);
    let mut found = Vec::new();
    for item in store.records() {
        let (k, v) = item?;
        let key_names = names(&k);
        if key_names || names(&v) {
            found.push(Named {
                key: k.to_vec(),
                value: serde_json::from_slice(&v).ok(),
                key_names,
            });
        }
    }
    Ok(found)
}

/// Applies `policy` to the records found, in the transaction.
pub fn apply(tx: &Tx, id: &str, found: &[Named], policy: Policy) -> TxResult<()> {
    for named in found {
        let erase = if named.key_names {
            Erase::Remove
        } else {
            policy(named, id)
        };
        match erase {
            Erase::Remove => {
                tx.remove(&named.key)?;
            }
            Erase::Anonymize => {
                // Read again: the record may have changed since the scan.
                if let Some(value) = tx.get::<serde_json::Value>(&named.key)? {
                    tx.put(&named.key, &anonymized(value, id))?;
                }
            }
        }
    }
    Ok(())
}

/// `value` with every string equal to `id` replaced by [`ERASED`], and every map entry
/// keyed by `id` (something about the person, like their membership) left out.
pub fn anonymized(value: serde_json::Value, id: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s == id => Value::String(ERASED.into()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| anonymized(v, id)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != id)
                .map(|(k, v)| (k, anonymized(v, id)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anonymizing_replaces_the_id_wherever_it_stands_and_nothing_else() {
        let v = json!({"sender": "ID", "members": ["ID", "bob"], "text": "hi ID", "n": 3,
            "nested": {"by": "ID"}, "roles": {"ID": "admin", "bob": "member"}});
        assert_eq!(
            anonymized(v, "ID"),
            json!({"sender": "erased", "members": ["erased", "bob"], "text": "hi ID", "n": 3,
                "nested": {"by": "erased"}, "roles": {"bob": "member"}})
        );
    }

    #[tokio::test]
    async fn records_naming_the_person_are_removed_or_anonymized_by_policy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = "01KPERSONPERSONPERSONPERSO";
        store
            .write(|tx| {
                tx.put(&[b"p/", id.as_bytes()].concat(), &json!({"name": "Per"}))?;
                tx.put(b"m/1", &json!({"sender": id, "text": "kept"}))?;
                tx.put(b"m/2", &json!({"sender": "other"}))?;
                tx.put(b"x/1", &json!({"about": id}))
            })
            .await
            .unwrap();
        let found = records_naming(&store, id).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].prefix(), b"m/");
        fn policy(n: &Named, _: &str) -> Erase {
            if n.prefix() == b"m/" {
                Erase::Anonymize
            } else {
                Erase::Remove
            }
        }
        store
            .write(|tx| apply(tx, id, &found, policy))
            .await
            .unwrap();
        assert!(records_naming(&store, id).unwrap().is_empty());
        let kept: serde_json::Value = store.get(b"m/1").unwrap().unwrap();
        assert_eq!(kept, json!({"sender": "erased", "text": "kept"}));
        assert!(store.get::<serde_json::Value>(b"m/2").unwrap().is_some());
        assert!(store.get::<serde_json::Value>(b"x/1").unwrap().is_none());
    }
}
