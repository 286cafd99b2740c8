//! Byte compatibility with flwr 1.42.0's own object encoding, checked by running Python:
//! a reply built here has the ids `flwr` computes for the same content (so the SuperLink and
//! ServerApp see exactly Flower's format), and objects `flwr` deflates inflate here to the
//! same values. Skips, saying why, when the project's `.venv` has no flwr 1.42.0.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_ssl_fleet::objects::{head, inflate};
use edge_ssl_fleet::{Arrays, ConfigValue, Metrics, NdArray, proto, reply};

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("EDGE_SSL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    let ok = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; assert m.version('flwr') == '1.42.0'",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: {} has no flwr 1.42.0", python.display());
    }
    ok.then_some(python)
}

fn run_python(python: &Path, script: &str, args: &[String]) -> serde_json::Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn test_arrays() -> Arrays {
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
    Arrays::new()
        .with("w", NdArray::new(vec![4, 3], w).unwrap())
        .with("b", NdArray::new(vec![2], vec![1.5, -2.0]).unwrap())
        // 16 MB: four 5 MiB chunks, two of them identical (zeros), deduplicated by id.
        .with(
            "z",
            NdArray::new(vec![4_000_000], vec![0.0; 4_000_000]).unwrap(),
        )
}

const REPLY_SCRIPT: &str = r#"
import json, sys
import numpy as np
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from flwr.app.metadata import Metadata
from flwr.app.message import Message
from flwr.app.message.message import make_message
m = json.loads(sys.argv[1])
arrays = ArrayRecord({
    "w": Array(np.arange(12, dtype=np.float32).reshape(4, 3) * np.float32(0.5) - np.float32(1.0)),
    "b": Array(np.array([1.5, -2.0], dtype=np.float32)),
    "z": Array(np.zeros(4_000_000, dtype=np.float32)),
})
metrics = MetricRecord({"num-examples": 10, "loss": 0.25, "big": 2**63 + 5})
content = RecordDict({"arrays": arrays, "metrics": metrics})
md = Metadata(run_id=m["run_id"], message_id="", src_node_id=m["src"], dst_node_id=m["dst"],
              reply_to_message_id=m["reply_to"], group_id=m["group"], created_at=m["created_at"],
              ttl=m["ttl"], message_type=m["type"], src_task_id=m["src_task"], dst_task_id=m["dst_task"])
msg = make_message(metadata=md, content=content)
print(json.dumps({"message": msg.object_id, "recorddict": content.object_id,
                  "arrayrecord": arrays.object_id, "metricrecord": metrics.object_id,
                  "arrays": {k: a.object_id for k, a in arrays.items()}}))
"#;

#[test]
fn a_reply_has_the_object_ids_flwr_computes() {
    let Some(python) = python() else { return };
    let to = proto::Metadata {
        run_id: 42,
        message_id: "ab".repeat(32),
        src_node_id: 1,
        dst_node_id: 77,
        reply_to_message_id: String::new(),
        group_id: "round-1".into(),
        ttl: 3600.0,
        message_type: "train".into(),
        created_at: edge_ssl_fleet::timestamp::unix_now(),
        src_task_id: Some(9),
        dst_task_id: None,
    };
    let metrics = Metrics::with_num_examples(10)
        .with("loss", 0.25)
        .with("big", (1u64 << 63) + 5);
    let r = reply::content(&to, Some(&test_arrays()), &metrics);
    let md = r.message.metadata.as_ref().unwrap();
    let args = serde_json::json!({
        "run_id": md.run_id, "src": md.src_node_id, "dst": md.dst_node_id,
        "reply_to": md.reply_to_message_id, "group": md.group_id, "created_at": md.created_at,
        "ttl": md.ttl, "type": md.message_type, "src_task": md.src_task_id, "dst_task": md.dst_task_id,
    });
    let py = run_python(&python, REPLY_SCRIPT, &[args.to_string()]);

    let record_dict = &r.tree.children[0];
    let array_record = &record_dict.children[0];
    assert_eq!(py["arrayrecord"], array_record.object_id.as_str());
    assert_eq!(
        py["metricrecord"],
        record_dict.children[1].object_id.as_str()
    );
    assert_eq!(py["recorddict"], record_dict.object_id.as_str());
    assert_eq!(py["message"], md.message_id.as_str());
    assert_eq!(r.tree.object_id, md.message_id);
    // The zeros array: 4 chunks, 3 distinct (two identical zero chunks share one id).
    let z_id = py["arrays"]["z"].as_str().unwrap();
    let z_tree = array_record
        .children
        .iter()
        .find(|t| t.object_id == z_id)
        .expect("same Array id");
    assert_eq!(z_tree.children.len(), 3);
    // Every object we would push is a valid, self-consistent Flower object.
    for id in r.objects.ids() {
        head::parse(id, r.objects.get(id).unwrap()).unwrap();
    }
}

const INSTRUCTION_SCRIPT: &str = r#"
import json
import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from flwr.app.metadata import Metadata
from flwr.app.message.message import make_message
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
content = RecordDict({
    "arrays": ArrayRecord({"w": Array(np.arange(6, dtype=np.float32).reshape(2, 3)),
                           "d": Array(np.array([0.1, 0.2], dtype=np.float64))}),
    "config": ConfigRecord({"server-round": 3, "lr": 0.01, "name": "x", "flag": True,
                            "sizes": [1, 2], "huge": 2**64 - 1}),
    "extra": MetricRecord({"m": 1.5}),
})
md = Metadata(run_id=7, message_id="", src_node_id=1, dst_node_id=5, reply_to_message_id="",
              group_id="", created_at=1.8e9, ttl=60.0, message_type="train")
msg = make_message(metadata=md, content=content)
objects = {oid: obj.deflate().hex() for oid, obj in get_all_nested_objects(msg).items()}
print(json.dumps({"message": msg.object_id, "objects": objects}))
"#;

#[test]
fn objects_flwr_deflates_inflate_to_the_same_values() {
    let Some(python) = python() else { return };
    let py = run_python(&python, INSTRUCTION_SCRIPT, &[]);
    let mut verified = inflate::Verified::new();
    for (id, hex) in py["objects"].as_object().unwrap() {
        let hex = hex.as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        verified.insert(id.clone(), (head::parse(id, &bytes).unwrap(), bytes));
    }
    let message_id = py["message"].as_str().unwrap();
    let message = inflate::message(message_id, &verified).unwrap();
    assert_eq!(message.metadata.message_id, message_id);
    assert_eq!(
        (message.metadata.run_id, message.metadata.dst_node_id),
        (7, 5)
    );
    let content = message.content.unwrap();
    let arrays = content.arrays().unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["w", "d"], "Python's dict order is kept");
    assert_eq!(arrays.get("w").unwrap().shape(), [2, 3]);
    assert_eq!(
        arrays.get("w").unwrap().data(),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(arrays.get("d").unwrap().data(), [0.1f32, 0.2f32]);
    let config = content.config();
    assert_eq!(config.get_i64("server-round"), Some(3));
    assert_eq!(config.get_f64("lr"), Some(0.01));
    assert_eq!(config.get_str("name"), Some("x"));
    assert_eq!(config.get("flag"), Some(&ConfigValue::Bool(true)));
    assert_eq!(config.get("sizes"), Some(&ConfigValue::IntList(vec![1, 2])));
    assert_eq!(config.get("huge"), Some(&ConfigValue::Uint(u64::MAX)));

    // One flipped byte anywhere in the tree is caught by the hash, before parsing.
    let (id, (_, bytes)) = verified.iter().next().unwrap();
    let mut tampered = bytes.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    assert!(matches!(
        head::parse(id, &tampered),
        Err(edge_ssl_fleet::FleetError::HashMismatch { .. })
    ));
}
