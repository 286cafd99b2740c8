"""ServerApp: FedAvg weighted by each node's `num-examples` over the arrays nodes train."""

from flwr.app import Array, ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from .arrays import initial_arrays, to_json, write_json_atomic

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run `num-server-rounds` rounds of FedAvg and write the result to `out`."""
    cfg = context.run_config
    rounds = int(cfg["num-server-rounds"])
    min_nodes = int(cfg["min-nodes"])
    fraction_evaluate = float(cfg["fraction-evaluate"])
    initial = initial_arrays(str(cfg["initial-arrays"]))

    strategy = FedAvg(
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
        train_config=ConfigRecord({"local-epochs": int(cfg["local-epochs"])}),
    )

    final = {name: array.numpy() for name, array in result.arrays.items()}
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
