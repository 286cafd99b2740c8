//! The Python peers (`benches/peers/peer_bench.py`): the same model, threads, batch and timing
//! loop through ONNX Runtime's Python API and through PyTorch eager, each in its own process.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_ssl_core::Layout;

use super::measurement::Measurement;
use super::worker::{Budget, Combination};
use crate::model::reference::ResolvedModel;

pub const ORT_PYTHON: &str = "onnxruntime-python";
pub const TORCH_EAGER: &str = "pytorch-eager";
pub const PILLOW_ORT_E2E: &str = "pillow-onnxruntime-e2e";

/// Where the peers run: the interpreter, the script, and which PyTorch model mirrors the ONNX.
#[derive(Clone, Debug)]
pub struct Peers {
    pub python: PathBuf,
    pub script: PathBuf,
    /// `fmnist-ssl` (models/fmnist.py) or a torchvision/timm name; `Err` says why there is none.
    pub torch_arch: Result<String, String>,
    /// Pictures for the end-to-end peer, when end-to-end rows are measured.
    pub e2e: Option<PathBuf>,
    /// The edge-ssl source tree (its `models/` mirror the bundled encoder in PyTorch).
    pub repo: PathBuf,
}

impl Peers {
    /// `python`: the one given, else `EDGE_SSL_PYTHON`, else `repo`'s `.venv`, else `python3`;
    /// the script is `EDGE_SSL_PEER_SCRIPT` or `repo/benches/peers/peer_bench.py`.
    pub fn locate(
        repo: &Path,
        model: &ResolvedModel,
        python: Option<&Path>,
        torch_arch: Option<&str>,
        e2e: Option<&Path>,
    ) -> Self {
        let python = python
            .map(Path::to_owned)
            .or_else(|| std::env::var_os("EDGE_SSL_PYTHON").map(PathBuf::from))
            .or_else(|| Some(repo.join(".venv/bin/python")).filter(|p| p.is_file()))
            .unwrap_or_else(|| PathBuf::from("python3"));
        let script = std::env::var_os("EDGE_SSL_PEER_SCRIPT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("benches/peers/peer_bench.py"));
        let torch_arch = match torch_arch {
            Some(a) => Ok(a.to_owned()),
            None => torch_arch_for(model),
        };
        Peers {
            python,
            script,
            torch_arch,
            e2e: e2e.map(Path::to_owned),
            repo: repo.to_owned(),
        }
    }

    /// The peer engines to run for this model, or why one cannot run.
    pub fn engines(&self) -> Vec<Result<&'static str, (&'static str, String)>> {
        let torch = match &self.torch_arch {
            Ok(_) => Ok(TORCH_EAGER),
            Err(why) => Err((TORCH_EAGER, why.clone())),
        };
        let mut engines = vec![Ok(ORT_PYTHON), torch];
        if self.e2e.is_some() {
            engines.push(Ok(PILLOW_ORT_E2E));
        }
        engines
    }

    pub fn command(&self, model: &ResolvedModel, combo: &Combination, budget: Budget) -> Command {
        let shape = model.card.input.batch_shape(combo.batch);
        let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .args(["--engine", &combo.engine])
            .arg("--onnx")
            .arg(&model.onnx)
            .args(["--shape", &shape.join(",")])
            .args(["--threads", &combo.threads.to_string()])
            .args(["--warmup", &budget.warmup.to_string()])
            .arg("--repo")
            .arg(&self.repo);
        match budget.iters {
            Some(n) => cmd.args(["--iters", &n.to_string()]),
            None => cmd.args(["--seconds", &budget.seconds.to_string()]),
        };
        if let Ok(arch) = &self.torch_arch {
            cmd.args(["--torch-arch", arch]);
        }
        if let Some(dir) = &self.e2e {
            let card = serde_json::to_string(&model.card.input).unwrap_or_default();
            cmd.arg("--images").arg(dir).args(["--input-spec", &card]);
            cmd.args(["--embedding-dim", &model.card.output.dim.to_string()]);
        }
        cmd
    }

    pub fn measure(
        &self,
        model: &ResolvedModel,
        combo: &Combination,
        budget: Budget,
    ) -> crate::Result<Measurement> {
        let what = format!("peer {} ({})", combo.engine, self.python.display());
        super::child::run_measurement(self.command(model, combo, budget), &what)
    }
}

/// A PyTorch twin exists when the card names a torchvision/timm architecture (one word, as
/// `models/export.py` writes it) or the model is the bundled Fashion-MNIST encoder.
fn torch_arch_for(model: &ResolvedModel) -> Result<String, String> {
    if model.card.input.layout != Layout::Nchw {
        return Err("PyTorch peers run NCHW models only".into());
    }
    let arch = model
        .card
        .pretraining
        .get("architecture")
        .and_then(|v| v.as_str());
    if let Some(a) = arch.filter(|a| !a.is_empty() && !a.contains(char::is_whitespace)) {
        return Ok(a.to_owned());
    }
    let bundled = model
        .onnx
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "fmnist-ssl");
    if bundled
        || model
            .card
            .pretraining
            .get("data")
            .and_then(|v| v.as_str())
            .is_some_and(|d| d.starts_with("Fashion-MNIST"))
            && model.card.input.height == 28
    {
        return Ok("fmnist-ssl".into());
    }
    Err("the card names no torchvision/timm architecture".into())
}
