"""A NumPy ClientApp with the Rust node's contract: `arrays` in, `arrays` + `metrics` out.

It stands in for a device in a mixed federation (a Python `flower-supernode` beside the Rust
nodes): it adds `node-delta` (node config, default 1.0) to every array and reports
`node-examples` (default 10) as `num-examples`.
"""

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


def _node_value(context: Context, key: str, default: float) -> float:
    return float(context.node_config.get(key, default))


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Add `node-delta` to every array."""
    delta = _node_value(context, "node-delta", 1.0)
    examples = int(_node_value(context, "node-examples", 10))
    arrays = msg.content["arrays"]
    updated = {name: Array(a.numpy() + delta) for name, a in arrays.items()}
    content = RecordDict(
        {
            "arrays": ArrayRecord(updated),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Report the mean of the global arrays as a `loss`."""
    examples = int(_node_value(context, "node-examples", 10))
    arrays = msg.content["arrays"]
    values = [float(a.numpy().mean()) for a in arrays.values()]
    loss = sum(values) / max(len(values), 1)
    content = RecordDict(
        {"metrics": MetricRecord({"num-examples": examples, "loss": loss})}
    )
    return Message(content=content, reply_to=msg)
