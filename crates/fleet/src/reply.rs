//! A reply to a message, addressed and timed the way flwr's `Message(content,
//! reply_to=...)` does it, so the SuperLink's `validate_message` and its TTL check accept it.

use crate::objects::deflate::{self, Deflated, OutRecord};
use crate::proto;
use crate::records::arrays::Arrays;
use crate::records::metrics::Metrics;
use crate::timestamp;

/// flwr's `ErrorCode.CLIENT_APP_RAISED_EXCEPTION`: the local task failed.
pub const ERROR_TASK_FAILED: i64 = 2;

/// A reply ready to push: its content-free message, tree and objects.
#[derive(Debug)]
pub struct Reply {
    pub message: proto::Message,
    pub tree: proto::ObjectTree,
    pub objects: Deflated,
}

/// The metadata of a reply to `to`: swapped nodes and tasks, same run, group and type,
/// created now, and living no longer than the message it answers.
#[must_use]
pub fn metadata(to: &proto::Metadata) -> proto::Metadata {
    let now = timestamp::unix_now();
    proto::Metadata {
        run_id: to.run_id,
        message_id: String::new(),
        src_node_id: to.dst_node_id,
        dst_node_id: to.src_node_id,
        reply_to_message_id: to.message_id.clone(),
        group_id: to.group_id.clone(),
        ttl: (to.created_at + to.ttl - now).max(f64::MIN_POSITIVE),
        message_type: to.message_type.clone(),
        created_at: now,
        src_task_id: to.dst_task_id,
        dst_task_id: to.src_task_id,
    }
}

/// A reply carrying `arrays` (train) and `metrics` as records `arrays` and `metrics`,
/// the names FedAvg and flwr's templates use.
#[must_use]
pub fn content(to: &proto::Metadata, arrays: Option<&Arrays>, metrics: &Metrics) -> Reply {
    let mut records = Vec::new();
    if let Some(a) = arrays {
        records.push(("arrays", OutRecord::Arrays(a)));
    }
    records.push(("metrics", OutRecord::Metrics(metrics)));
    finish(metadata(to), Some(&records), None)
}

/// A reply saying the task failed, with `reason`.
#[must_use]
pub fn error(to: &proto::Metadata, code: i64, reason: &str) -> Reply {
    let error = proto::Error {
        code,
        reason: reason.to_owned(),
    };
    finish(metadata(to), None, Some(error))
}

fn finish(
    mut metadata: proto::Metadata,
    records: Option<&[(&str, OutRecord<'_>)]>,
    error: Option<proto::Error>,
) -> Reply {
    let (id, tree, objects) = deflate::message(&metadata, records, error.clone());
    metadata.message_id = id;
    // Like flwr's `remove_content_from_message`: content travels as objects, the message
    // itself carries an empty RecordDict (or the error).
    let message = proto::Message {
        metadata: Some(metadata),
        content: error.is_none().then(proto::RecordDict::default),
        error,
    };
    Reply {
        message,
        tree,
        objects,
    }
}
