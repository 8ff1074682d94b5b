//! The person who asked for an export learns it is ready (never grouped, no actor).

use crate::platform::context::Event;
use crate::platform::storage::{Tx, TxResult, key};
use crate::users::events::ExportReady;

use super::super::domain::{Kind, Target};
use super::{at, fresh, notification_key};

pub fn export_ready(tx: &Tx, e: &Event<ExportReady>) -> TxResult<()> {
    let d = &e.data;
    let target = Target {
        export_id: Some(d.export_id.clone()),
        ..Default::default()
    };
    let mut n = fresh(e.id, at(e), &d.user_id, Kind::ExportReady, "", target);
    n.actors.clear();
    n.actor_count = 0;
    tx.put(&notification_key(&d.user_id, &n.id), &n)?;
    tx.put_raw(&key("nl/", &[&d.user_id, &n.activity, &n.id]), &[])
}
