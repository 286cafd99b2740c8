//! One node's connection to a SuperLink, in the order flwr's own SuperNode makes its calls
//! (`supernode/fleet_http_connection.py`, `start_client_internal.py`): register (unless the
//! key was registered by an operator) → activate → heartbeat thread → pull-messages →
//! pull-object for each object of the tree → confirm-message-received → … → push-messages →
//! push-object for each object the SuperLink asks for, children first → deactivate →
//! unregister (only a node that registered itself).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::error::{FleetError, Result};
use crate::heartbeat::Heartbeat;
use crate::objects::deflate::Deflated;
use crate::objects::head;
use crate::objects::inflate::Verified;
use crate::proto;
use crate::transport::Transport;

/// Bounds on pulling one message's objects.
#[derive(Debug, Clone, Copy)]
pub struct PullLimits {
    /// Most objects in one message tree.
    pub max_objects: usize,
    /// Most bytes of all objects of one message together.
    pub max_total_bytes: u64,
    /// How long an object may stay "not yet available" before giving up.
    pub unavailable_timeout: Duration,
}

impl Default for PullLimits {
    fn default() -> Self {
        Self {
            max_objects: 100_000,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            unavailable_timeout: Duration::from_secs(120),
        }
    }
}

/// What pushing a reply cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Objects the SuperLink asked for and received.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// An activated node with its heartbeat running. Deactivates (and unregisters, if it
/// registered itself) when closed or dropped.
pub struct Session {
    transport: Transport,
    node_id: u64,
    self_registered: bool,
    heartbeat: Option<Heartbeat>,
    closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Registers (if the SuperLink lets nodes register themselves) and activates this
    /// node, then starts heartbeating every ~0.8 × `heartbeat_interval_s`.
    pub fn connect(transport: Transport, heartbeat_interval_s: f64) -> Result<Self> {
        let public_key = transport.key().public_key_pem().to_vec();
        // A refused registration is expected with `--enable-supernode-auth` (an operator
        // registered the key) and after a restart (the key is still registered); activation
        // decides.
        let registered = transport.call::<_, proto::RegisterNodeFleetResponse>(
            "register-node",
            &proto::RegisterNodeFleetRequest {
                public_key: public_key.clone(),
            },
        );
        let activated = transport.call::<_, proto::ActivateNodeResponse>(
            "activate-node",
            &proto::ActivateNodeRequest {
                public_key,
                heartbeat_interval: heartbeat_interval_s,
            },
        );
        let self_registered = registered.is_ok();
        // Activation's refusal says why ("no SuperNode with this key"); a refused
        // registration alone is not an error.
        let node_id = activated?.node_id;
        let heartbeat = Heartbeat::start(transport.clone(), node_id, heartbeat_interval_s);
        Ok(Self {
            self_registered,
            transport,
            node_id,
            heartbeat: Some(heartbeat),
            closed: false,
        })
    }

    /// The node id the SuperLink gave this node.
    #[must_use]
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The signed client (for calls this type does not wrap).
    #[must_use]
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// True once the heartbeat learned that the SuperLink no longer knows this node.
    #[must_use]
    pub fn forgotten(&self) -> bool {
        self.heartbeat.as_ref().is_some_and(|h| {
            h.state()
                .forgotten
                .load(std::sync::atomic::Ordering::SeqCst)
        })
    }

    fn node(&self) -> Option<proto::Node> {
        Some(proto::Node {
            node_id: self.node_id,
        })
    }

    /// The next message for this node (without content) and its object tree, if any.
    pub fn pull_message(&self) -> Result<Option<(proto::Message, proto::ObjectTree)>> {
        let response: proto::PullMessagesResponse = self.transport.call(
            "pull-messages",
            &proto::PullMessagesRequest {
                node: self.node(),
                message_ids: Vec::new(),
            },
        )?;
        let mut messages = response.messages_list.into_iter();
        let mut trees = response.message_object_trees.into_iter();
        Ok(messages.next().zip(trees.next()))
    }

    /// Run details (FAB id and version, run config, status).
    pub fn get_run(&self, run_id: u64) -> Result<proto::Run> {
        let response: proto::GetRunResponse = self.transport.call(
            "get-run",
            &proto::GetRunRequest {
                node: self.node(),
                run_id,
            },
        )?;
        response.run.ok_or_else(|| FleetError::MalformedObject {
            id: format!("run {run_id}"),
            reason: "get-run answered without a run".into(),
        })
    }

    /// Pulls every object of `tree` (children first), verifying each one's hash and head.
    pub fn pull_objects(
        &self,
        run_id: u64,
        tree: &proto::ObjectTree,
        limits: &PullLimits,
    ) -> Result<Verified> {
        let mut ids = Vec::new();
        post_order(tree, &mut ids);
        let mut out: Verified = HashMap::new();
        let mut total: u64 = 0;
        for id in ids {
            if out.contains_key(id) {
                continue;
            }
            if out.len() >= limits.max_objects {
                return Err(FleetError::TooLarge {
                    what: "message tree (objects)".into(),
                    size: out.len() as u64 + 1,
                    limit: limits.max_objects as u64,
                });
            }
            if !head::is_object_id(id) {
                return Err(FleetError::MalformedObject {
                    id: id.to_owned(),
                    reason: "not a SHA-256 object id".into(),
                });
            }
            let content = self.pull_object(run_id, id, limits.unavailable_timeout)?;
            total += content.len() as u64;
            if total > limits.max_total_bytes {
                return Err(FleetError::TooLarge {
                    what: "message".into(),
                    size: total,
                    limit: limits.max_total_bytes,
                });
            }
            let head = head::parse(id, &content)?;
            out.insert(id.to_owned(), (head, content));
        }
        Ok(out)
    }

    fn pull_object(&self, run_id: u64, id: &str, timeout: Duration) -> Result<Vec<u8>> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        loop {
            let response: proto::PullObjectResponse = self.transport.call(
                "pull-object",
                &proto::PullObjectRequest {
                    node: self.node(),
                    run_id,
                    object_id: id.to_owned(),
                },
            )?;
            if !response.object_found {
                return Err(FleetError::ObjectNotFound { id: id.to_owned() });
            }
            if response.object_available {
                return Ok(response.object_content);
            }
            if start.elapsed() > timeout {
                return Err(FleetError::ObjectUnavailable {
                    id: id.to_owned(),
                    waited_s: start.elapsed().as_secs_f64(),
                });
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Tells the SuperLink the message arrived whole (it then drops its copy).
    pub fn confirm_received(&self, run_id: u64, message_id: &str) -> Result<()> {
        let _: proto::ConfirmMessageReceivedResponse = self.transport.call(
            "confirm-message-received",
            &proto::ConfirmMessageReceivedRequest {
                node: self.node(),
                run_id,
                message_object_id: message_id.to_owned(),
            },
        )?;
        Ok(())
    }

    /// Pushes a reply: its metadata (with an empty content, as flwr does) and tree, then
    /// the objects the SuperLink does not have yet, children first.
    pub fn push_reply(
        &self,
        message: proto::Message,
        tree: proto::ObjectTree,
        objects: &Deflated,
        runtime_s: f64,
    ) -> Result<PushStats> {
        let run_id = message.metadata.as_ref().map_or(0, |m| m.run_id);
        let response: proto::PushMessagesResponse = self.transport.call(
            "push-messages",
            &proto::PushMessagesRequest {
                node: self.node(),
                messages_list: vec![message],
                message_object_trees: vec![tree],
                clientapp_runtime_list: vec![runtime_s],
            },
        )?;
        let wanted: HashSet<&str> = response
            .objects_to_push
            .iter()
            .map(String::as_str)
            .collect();
        let mut stats = PushStats::default();
        for id in objects.ids().filter(|id| wanted.contains(id)) {
            let content = objects.get(id).unwrap_or_default();
            let stored: proto::PushObjectResponse = self.transport.call(
                "push-object",
                &proto::PushObjectRequest {
                    node: self.node(),
                    run_id,
                    object_id: id.to_owned(),
                    object_content: content.to_vec(),
                    session_id: response.session_id.clone(),
                },
            )?;
            if !stored.stored {
                return Err(FleetError::PushRefused { id: id.to_owned() });
            }
            stats.objects += 1;
            stats.bytes += content.len() as u64;
        }
        Ok(stats)
    }

    /// Stops the heartbeat, deactivates and unregisters. Errors are returned, not retried:
    /// the SuperLink also notices a silent node by its missing heartbeats.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.heartbeat = None;
        let deactivated = self.transport.call::<_, proto::DeactivateNodeResponse>(
            "deactivate-node",
            &proto::DeactivateNodeRequest {
                node_id: self.node_id,
            },
        );
        if self.self_registered {
            // Refused when an operator manages keys (`--enable-supernode-auth`): fine.
            let _ = self
                .transport
                .call::<_, proto::UnregisterNodeFleetResponse>(
                    "unregister-node",
                    &proto::UnregisterNodeFleetRequest {
                        node_id: self.node_id,
                    },
                );
        }
        deactivated.map(|_| ())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn post_order<'a>(tree: &'a proto::ObjectTree, out: &mut Vec<&'a str>) {
    for child in &tree.children {
        post_order(child, out);
    }
    out.push(&tree.object_id);
}
