"""ServerApp: FedAvg weighted by each node's `num-examples` over the arrays nodes train."""

from logging import INFO
from pathlib import Path

from flwr.common.logger import log

from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from .arrays import initial_arrays, save_npz_atomic, to_json, write_json_atomic
from .model_dir import model_arrays

app = ServerApp()


class RecordingFedAvg(FedAvg):
    """FedAvg that also saves, per round, what every node sent and what it aggregated.

    `save_dir/index.json` lists each round's replies (node id, num-examples, .npz file) and
    the aggregate's file, so the average can be checked independently of Flower.
    """

    def __init__(self, save_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.save_dir = Path(save_dir) if save_dir else None
        self.index: dict = {"rounds": {}}

    def aggregate_train(
        self, server_round: int, replies
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        arrays, metrics = super().aggregate_train(server_round, replies)
        if self.save_dir is None:
            return arrays, metrics
        entries = []
        for msg in replies:
            if msg.has_error():
                continue
            node = int(msg.metadata.src_node_id)
            record = msg.content[self.arrayrecord_key]
            examples = msg.content["metrics"][self.weighted_by_key]
            name = f"round-{server_round}-node-{node}.npz"
            save_npz_atomic(
                self.save_dir / name, {k: a.numpy() for k, a in record.items()}
            )
            entries.append({"node_id": node, "num-examples": int(examples), "file": name})
        round_entry: dict = {"replies": entries}
        if arrays is not None:
            name = f"round-{server_round}.npz"
            save_npz_atomic(self.save_dir / name, {k: a.numpy() for k, a in arrays.items()})
            round_entry["aggregate"] = name
        self.index["rounds"][str(server_round)] = round_entry
        write_json_atomic(str(self.save_dir / "index.json"), self.index)
        return arrays, metrics


    def aggregate_evaluate(self, server_round: int, replies) -> MetricRecord | None:
        """edge-ssl devices report `accuracy` on their `labeled` images (0 of them where a
        device has no labels): that is weighted by `labeled`, the rest by `num-examples`."""
        replies = list(replies)
        valid = [m for m in replies if not m.has_error()]
        metrics = [next(iter(m.content.metric_records.values())) for m in valid]
        ours = metrics and all("labeled" in m and "accuracy" in m for m in metrics)
        if not ours:
            return super().aggregate_evaluate(server_round, replies)
        for m in replies:
            if m.has_error():
                log(INFO, "evaluate: error from node %d: %s", m.metadata.src_node_id, m.error.reason)
        examples = sum(float(m[self.weighted_by_key]) for m in metrics)
        labeled = sum(float(m["labeled"]) for m in metrics)
        out = MetricRecord({"labeled": int(labeled)})
        if examples > 0:
            for key in sorted(set(metrics[0].keys()) - {"labeled", "accuracy", self.weighted_by_key}):
                if all(isinstance(m.get(key), (int, float)) for m in metrics):
                    out[key] = sum(float(m[key]) * float(m[self.weighted_by_key]) for m in metrics) / examples
        if labeled > 0:
            out["accuracy"] = sum(float(m["accuracy"]) * float(m["labeled"]) for m in metrics) / labeled
        if self.save_dir is not None:
            self.index.setdefault("evaluate", {})[str(server_round)] = [
                {"node_id": int(msg.metadata.src_node_id), **{k: v for k, v in m.items()}}
                for msg, m in zip(valid, metrics)
            ]
            write_json_atomic(str(self.save_dir / "index.json"), self.index)
        return out


def deliver_final(grid: Grid, strategy: FedAvg, arrays: ArrayRecord, config: ConfigRecord) -> None:
    """Sends the final global arrays to every node as one last evaluate message.

    With `fraction-evaluate > 0` the strategy's last evaluate round already carries them; without
    it, a device would keep the model it started the last round from. An edge-ssl device writes
    the arrays of every message it gets to `WORK/model`, so after this every node holds the
    final model. Replies (local metrics) are logged, not aggregated.
    """
    nodes = list(grid.get_node_ids())
    messages = [
        Message(
            content=RecordDict(
                {strategy.arrayrecord_key: arrays, strategy.configrecord_key: config}
            ),
            dst_node_id=node,
            message_type="evaluate",
        )
        for node in nodes
    ]
    replies = list(grid.send_and_receive(messages))
    ok = sum(1 for r in replies if not r.has_error())
    log(INFO, "final model delivered to %s of %s nodes", ok, len(nodes))


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run `num-server-rounds` rounds of FedAvg and write the result to `out`."""
    cfg = context.run_config
    rounds = int(cfg["num-server-rounds"])
    min_nodes = int(cfg["min-nodes"])
    fraction_evaluate = float(cfg["fraction-evaluate"])
    classes = None
    if model := str(cfg.get("initial-model", "")):
        initial, classes = model_arrays(model)
    else:
        initial = initial_arrays(str(cfg["initial-arrays"]))
    save_dir = str(cfg.get("save-dir", ""))
    if save_dir:
        save_npz_atomic(Path(save_dir) / "initial.npz", initial)

    node_config: dict = {}
    if classes:
        node_config["head-classes"] = classes
    if method := str(cfg.get("method", "")):
        node_config["method"] = method
    train_config = ConfigRecord(
        {"local-epochs": int(cfg["local-epochs"]), **node_config}
    )
    strategy = RecordingFedAvg(
        save_dir,
        fraction_train=1.0,
        fraction_evaluate=fraction_evaluate,
        min_train_nodes=min_nodes,
        min_evaluate_nodes=min_nodes if fraction_evaluate > 0 else 0,
        min_available_nodes=min_nodes,
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord({k: Array(v) for k, v in initial.items()}),
        num_rounds=rounds,
        train_config=train_config,
        evaluate_config=ConfigRecord(node_config),
    )

    if fraction_evaluate == 0:
        deliver_final(grid, strategy, result.arrays, ConfigRecord(node_config))

    final = {name: array.numpy() for name, array in result.arrays.items()}
    if save_dir:
        save_npz_atomic(Path(save_dir) / "final.npz", final)
    if out := str(cfg["out"]):
        write_json_atomic(
            out,
            {
                "rounds": rounds,
                "initial": to_json(initial),
                "final": to_json(final),
                "train_metrics": {
                    str(r): dict(m) for r, m in result.train_metrics_clientapp.items()
                },
                "evaluate_metrics": {
                    str(r): dict(m)
                    for r, m in result.evaluate_metrics_clientapp.items()
                },
            },
        )
