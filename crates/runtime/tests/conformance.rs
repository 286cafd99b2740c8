//! One conformance suite, run on every backend, over ONNX files as users bring them: the bundled
//! encoder, ResNet-18, MobileNetV3-Small and ViT-S/16 exported by `models/export.py --random-init`,
//! models whose batch dimension is fixed (to 1, and to 4 so that batches need padding), and models
//! whose weights live in external data files, and models whose intermediate shapes are recorded
//! as symbolic expressions (as PaddlePaddle exports them). Each is run at batches of 1, 3 and 8 and checked
//! against ONNX Runtime's Python package, which the generator `tests/make_foreign_models.py` runs
//! on the same inputs. The models are generated at test time into a cache under the target
//! directory, never committed; without torch the exported ones are skipped with the reason printed,
//! and `EDGE_SSL_CONFORMANCE_REQUIRED=1` (for CI) turns every skip into a failure.
//!
//! The second half needs no Python: inputs declared with a 0 dimension or too many elements, and
//! external data that points outside the model's directory or at something that is not a regular
//! file, must be refused by every backend with a message naming the cause.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{bundled, max_abs_diff, repo, to_2d};
use edge_ssl_core::{ModelCard, Tensor, npy};
use edge_ssl_runtime::onnx::inspect;
use edge_ssl_runtime::{BackendKind, BackendOptions, Session, card_for, select_backend};
use ndarray::{Axis, s};
use prost::Message;
use tract_onnx::pb;

/// Largest absolute difference allowed from ONNX Runtime (Python), per output value.
const TOLERANCE: f32 = 1e-4;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_SSL_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

fn required() -> bool {
    std::env::var_os("EDGE_SSL_CONFORMANCE_REQUIRED").is_some_and(|v| v == "1")
}

/// Prints why a model is skipped, or fails when skips are not allowed.
fn skip(name: &str, why: &str) {
    assert!(
        !required(),
        "{name}: {why} (EDGE_SSL_CONFORMANCE_REQUIRED=1)"
    );
    eprintln!("conformance: skipping {name}: {why}");
}

/// The generated models' directory, made once per test process; `Err` says why there is none.
fn models_dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-models");
        let script = repo().join("tests/make_foreign_models.py");
        let run = Command::new(python())
            .arg(&script)
            .arg("--out-dir")
            .arg(&out)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
        let stderr = String::from_utf8_lossy(&run.stderr);
        match run.status.code() {
            Some(0) => Ok(out),
            // The script's own "a package is missing" status.
            Some(3) => Err(stderr.trim().to_owned()),
            _ => panic!("{} failed ({}):\n{stderr}", script.display(), run.status),
        }
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// The generated model `name`, or `None` (printed) when it could not be made here.
fn model(name: &str) -> Option<PathBuf> {
    let dir = match models_dir() {
        Ok(dir) => dir,
        Err(why) => {
            skip(name, &why);
            return None;
        }
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    let status = manifest
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} is not in the generator's manifest"));
    match status {
        "ok" => Some(dir.join(format!("{name}.onnx"))),
        why => {
            skip(name, why);
            None
        }
    }
}

fn session(kind: BackendKind, onnx: &Path, card: &ModelCard) -> Box<dyn Session> {
    let options = BackendOptions::default().with_threads(Some(2));
    let (backend, _) = select_backend(kind, &options).expect("backend available");
    backend.load(onnx, card).unwrap()
}

/// Runs the first `n` reference samples of `name` for each `n` in `batches` and compares them with
/// ONNX Runtime's outputs for the same samples.
fn conforms(kind: BackendKind, name: &str, batches: &[usize]) {
    let Some(onnx) = model(name) else { return };
    let dir = onnx.parent().unwrap();
    let card = card_for(&onnx, None).unwrap();
    let input = npy::read_f32(&dir.join(format!("{name}.input.npy"))).unwrap();
    let expected = npy::read_f32(&dir.join(format!("{name}.output.npy"))).unwrap();
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // An output of all zeros would match anything that also collapsed; random-init exports are not.
    assert!(scale > 1e-3, "{name}: reference outputs are all near 0");
    let mut s = session(kind, &onnx, &card);
    for &n in batches {
        let x = input
            .slice(s![..n, ..])
            .to_owned()
            .into_shape_with_order(card.input.batch_shape(n).to_vec())
            .unwrap();
        let got = to_2d(s.run_one(x.view()).unwrap());
        let want = expected.slice(s![..n, ..]).to_owned();
        let diff = max_abs_diff(&got, &want);
        eprintln!(
            "conformance {kind:?} {name} batch {n}: max abs diff {diff:.2e} (outputs up to {scale:.2})"
        );
        assert!(
            diff <= TOLERANCE,
            "{kind:?} {name} batch {n}: max abs diff {diff} > {TOLERANCE}"
        );
    }
}

macro_rules! conformance_suite {
    ($backend:ident, $kind:expr) => {
        mod $backend {
            use super::*;

            const KIND: BackendKind = $kind;

            #[test]
            fn bundled_encoder() {
                conforms(KIND, "bundled", &[1, 3, 8]);
            }

            #[test]
            fn bundled_encoder_with_its_batch_fixed_to_1() {
                conforms(KIND, "bundled_fixed1", &[1, 3, 8]);
            }

            /// 1, 3 and 5 need a padded chunk; 8 is two whole chunks.
            #[test]
            fn bundled_encoder_with_its_batch_fixed_to_4() {
                conforms(KIND, "bundled_fixed4", &[1, 3, 5, 8]);
            }

            #[test]
            fn bundled_encoder_with_external_data() {
                conforms(KIND, "bundled_external", &[1, 3, 8]);
            }

            /// Intermediate shapes recorded as symbolic expressions, as PaddlePaddle exports
            /// them (rapidocr's PP-OCRv6 models): tract could not load these.
            #[test]
            fn bundled_encoder_with_symbolic_value_info() {
                conforms(KIND, "bundled_value_info", &[1, 3, 8]);
            }

            #[test]
            fn mobilenet_v3_small_with_symbolic_value_info() {
                conforms(KIND, "mobilenet_v3_small_value_info", &[1, 3, 8]);
            }

            /// A free batch at the input, fixed at 1 inside (`Reshape` to `[1, -1]`): ONNX
            /// Runtime answered a batch of 8 with one row; now it runs such a model one image
            /// a call, as tract does.
            #[test]
            fn bundled_encoder_whose_graph_fixes_the_batch_at_1_inside() {
                conforms(KIND, "bundled_reshape1", &[1, 3, 8]);
            }

            #[test]
            fn resnet18() {
                conforms(KIND, "resnet18", &[1, 3, 8]);
            }

            #[test]
            fn resnet18_with_its_batch_fixed_to_1() {
                conforms(KIND, "resnet18_fixed1", &[1, 3, 8]);
            }

            #[test]
            fn resnet18_with_external_data() {
                conforms(KIND, "resnet18_external", &[1, 3, 8]);
            }

            #[test]
            fn mobilenet_v3_small() {
                conforms(KIND, "mobilenet_v3_small", &[1, 3, 8]);
            }

            #[test]
            fn vit_small_patch16_224() {
                conforms(KIND, "vit_small_patch16_224", &[1, 3, 8]);
            }

            #[test]
            fn a_zero_dimension_is_an_error() {
                let err = load_edited(KIND, |g| set_input_dim(g, 2, 0));
                assert!(err.contains("dimension 2 of input `input` is 0"), "{err}");
            }

            #[test]
            fn an_input_too_large_to_allocate_is_an_error() {
                let err = load_edited(KIND, |g| {
                    set_input_dim(g, 2, 100_000);
                    set_input_dim(g, 3, 100_000);
                });
                assert!(err.contains("more than 2^31 elements"), "{err}");
            }

            /// A float16 input (onnxconverter-common without keep_io_types) is refused at load
            /// with what to do, not with the engine's type error at the first run; `facts`
            /// says what the file declares.
            #[test]
            fn a_float16_input_is_refused_with_what_to_do() {
                let err = load_edited(KIND, |g| {
                    let Some(pb::type_proto::Value::TensorType(t)) =
                        g.input[0].r#type.as_mut().and_then(|t| t.value.as_mut())
                    else {
                        panic!("the bundled encoder's input is a tensor")
                    };
                    t.elem_type = pb::tensor_proto::DataType::Float16 as i32;
                });
                assert!(
                    err.contains("its input `input` is float16")
                        && err.contains("keep_io_types=True"),
                    "{err}"
                );
                assert_eq!(
                    inspect::facts(&bundled()).unwrap().inputs[0].element,
                    "float32"
                );
            }

            /// A second input (here a scale the image is multiplied by) is refused at load,
            /// naming both, instead of failing the first run.
            #[test]
            fn a_second_input_is_refused_at_load() {
                let err = load_edited(KIND, |g| {
                    let mut scale = g.input[0].clone();
                    scale.name = "scale".into();
                    g.input.push(scale);
                    let first = &mut g.node[0];
                    let x = first.input[0].clone();
                    first.input[0] = "scaled".into();
                    g.node.insert(
                        0,
                        pb::NodeProto {
                            op_type: "Mul".into(),
                            input: vec![x, "scale".into()],
                            output: vec!["scaled".into()],
                            ..Default::default()
                        },
                    );
                });
                assert!(
                    err.contains("it takes 2 inputs (`input`, `scale`)"),
                    "{err}"
                );
            }

            #[test]
            fn a_card_too_large_to_allocate_is_an_error() {
                let mut card = card_for(&bundled(), None).unwrap();
                card.input.height = usize::MAX;
                let (backend, _) = select_backend(KIND, &BackendOptions::default()).unwrap();
                let err = backend
                    .load(&bundled(), &card)
                    .err()
                    .expect("must be refused");
                assert!(err.to_string().contains("more than 2^31 elements"), "{err}");
            }

            #[test]
            fn external_data_runs_like_the_same_weights_inline() {
                let dir = tempfile::tempdir().unwrap();
                let onnx = external_copy(dir.path(), "weights.bin");
                std::fs::write(dir.path().join("weights.bin"), heaviest_weights()).unwrap();
                let card = card_for(&bundled(), None).unwrap();
                let x = Tensor::from_shape_fn(card.input.batch_shape(3).to_vec(), |ix| {
                    ((ix[0] * 7 + ix[2] * 3 + ix[3]) % 11) as f32 / 5.0 - 1.0
                });
                let want = to_2d(session(KIND, &bundled(), &card).run_one(x.view()).unwrap());
                let got = to_2d(session(KIND, &onnx, &card).run_one(x.view()).unwrap());
                assert!(max_abs_diff(&got, &want) <= 1e-6);
            }

            #[test]
            fn external_data_outside_the_model_directory_or_not_a_file_is_refused() {
                for (location, why) in refused_locations() {
                    let err = load_external(KIND, &location);
                    assert!(err.contains(why), "{location}: {err}");
                    assert!(err.contains("encoder.onnx"), "{location}: {err}");
                }
            }
        }
    };
}

conformance_suite!(tract, BackendKind::Tract);
#[cfg(feature = "ort")]
conformance_suite!(ort, BackendKind::Ort);

fn set_input_dim(graph: &mut pb::GraphProto, axis: usize, value: i64) {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) = graph.input[0]
        .r#type
        .as_mut()
        .and_then(|t| t.value.as_mut())
    else {
        panic!("the bundled encoder's input is a tensor")
    };
    t.shape.as_mut().unwrap().dim[axis].value = Some(Value::DimValue(value));
}

/// Loads the bundled encoder edited by `edit` on `kind` and returns the error it must give.
fn load_edited(kind: BackendKind, edit: impl FnOnce(&mut pb::GraphProto)) -> String {
    let mut proto = inspect::read_proto(&bundled()).unwrap();
    edit(proto.graph.as_mut().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encoder.onnx");
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    let card = card_for(&bundled(), None).unwrap();
    let (backend, _) = select_backend(kind, &BackendOptions::default()).unwrap();
    let err = backend.load(&path, &card).err().expect("must be refused");
    let err = err.to_string();
    assert!(err.contains("encoder.onnx"), "{err}");
    err
}

fn heaviest_index(graph: &pb::GraphProto) -> usize {
    (0..graph.initializer.len())
        .max_by_key(|&i| graph.initializer[i].raw_data.len())
        .unwrap()
}

/// The raw bytes of the bundled encoder's largest initializer.
fn heaviest_weights() -> Vec<u8> {
    let proto = inspect::read_proto(&bundled()).unwrap();
    let g = proto.graph.unwrap();
    let i = heaviest_index(&g);
    let bytes = g.initializer[i].raw_data.clone();
    assert!(bytes.len() > 1000, "the weights are stored as raw bytes");
    bytes
}

/// Writes `dir/encoder.onnx`: the bundled encoder with its largest initializer moved to external
/// data at `location` (offset 0, its full length).
fn external_copy(dir: &Path, location: &str) -> PathBuf {
    let mut proto = inspect::read_proto(&bundled()).unwrap();
    let g = proto.graph.as_mut().unwrap();
    let i = heaviest_index(g);
    let t = &mut g.initializer[i];
    let length = t.raw_data.len();
    t.raw_data.clear();
    t.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
    let entry = |key: &str, value: String| pb::StringStringEntryProto {
        key: key.into(),
        value,
    };
    t.external_data = vec![
        entry("location", location.into()),
        entry("offset", "0".into()),
        entry("length", length.to_string()),
    ];
    let path = dir.join("encoder.onnx");
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    path
}

/// Locations that must be refused, with the words the error must contain; each is prepared inside
/// a fresh `model/` directory by [`load_external`].
fn refused_locations() -> Vec<(String, &'static str)> {
    vec![
        ("../outside.bin".into(), "not a relative path inside"),
        ("/etc/hostname".into(), "not a relative path inside"),
        ("link-out.bin".into(), "leads outside the model's directory"),
        ("fifo.bin".into(), "not a regular file"),
        ("subdir".into(), "not a regular file"),
        ("short.bin".into(), "past the end of the file"),
        ("missing.bin".into(), "missing.bin"),
    ]
}

/// Loads, on `kind`, a model directory whose external data location is `location`, with the
/// outside file, the symlink out, the FIFO, the directory and the too-short file all present.
fn load_external(kind: BackendKind, location: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    let model_dir = root.path().join("model");
    std::fs::create_dir(&model_dir).unwrap();
    let weights = heaviest_weights();
    std::fs::write(root.path().join("outside.bin"), &weights).unwrap();
    std::os::unix::fs::symlink(
        root.path().join("outside.bin"),
        model_dir.join("link-out.bin"),
    )
    .unwrap();
    std::fs::create_dir(model_dir.join("subdir")).unwrap();
    std::fs::write(model_dir.join("short.bin"), &weights[..weights.len() / 2]).unwrap();
    let fifo = Command::new("mkfifo")
        .arg(model_dir.join("fifo.bin"))
        .status()
        .unwrap();
    assert!(fifo.success());
    let onnx = external_copy(&model_dir, location);
    let card = card_for(&bundled(), None).unwrap();
    let (backend, _) = select_backend(kind, &BackendOptions::default()).unwrap();
    match backend.load(&onnx, &card) {
        Ok(_) => panic!("{location}: loaded"),
        Err(e) => e.to_string(),
    }
}

/// `edge-ssl info` reads the same model whether its weights are inline or beside it.
#[test]
fn parameters_and_flops_count_external_weights() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = external_copy(dir.path(), "weights.bin");
    std::fs::write(dir.path().join("weights.bin"), heaviest_weights()).unwrap();
    let inline = inspect::facts(&bundled()).unwrap();
    let external = inspect::facts(&onnx).unwrap();
    assert_eq!(external.parameters, inline.parameters);
    assert!(inline.parameters > 100_000);
    let shape = [1, 1, 28, 28];
    assert_eq!(
        inspect::flops_per_sample(&onnx, &shape).unwrap(),
        inspect::flops_per_sample(&bundled(), &shape).unwrap()
    );
    let err = inspect::flops_per_sample(&bundled(), &[1, 3, 100_000, 100_000]).unwrap_err();
    assert!(err.to_string().contains("more than 2^31"), "{err}");
}

/// The reference outputs differ from sample to sample, so a mixed-up order of samples would fail.
#[test]
fn reference_samples_differ() {
    let Some(onnx) = model("bundled") else { return };
    let out = npy::read_f32(&onnx.with_extension("output.npy")).unwrap();
    let rows: Vec<_> = out.axis_iter(Axis(0)).collect();
    assert!((&rows[0] - &rows[1]).iter().any(|d| d.abs() > 1e-3));
}
