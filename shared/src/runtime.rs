//! ONNX Runtime: loading the library, execution providers and shared sessions.
//!
//! The runtime library is loaded once per process from an explicit path with [`init`]
//! (`ort::init_from`, which returns an error instead of panicking). Sessions are built
//! through the global [`SessionCache`]: one session per (model file, provider[, input
//! shape for TensorRT]), built once and shared by every render thread. A [`SharedSession`]
//! records which provider it actually runs on; a GPU provider that fails to register is an
//! error when asked for explicitly, and a reported fallback to CPU for [`Provider::Auto`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::SessionBuilder;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};

/// The ONNX Runtime release this project ships and tests against.
pub const SHIPPED_VERSION: &str = "1.32.0";

/// File name of the shipped runtime library (Linux).
pub const LIBRARY_FILE_NAME: &str = "libonnxruntime.so.1.32.0";

/// What [`init`] loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The library file that is loaded in this process.
    pub library: PathBuf,
    /// ONNX Runtime version, e.g. `1.32.0` (from the build info, else from the file name).
    pub version: String,
    /// ONNX Runtime's own build description (`GetBuildInfoString`).
    pub build_info: String,
}

struct Runtime {
    info: RuntimeInfo,
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

fn doctor_hint() -> &'static str {
    "run `pixelspace doctor`"
}

/// Loads ONNX Runtime from `library` (once per process) and returns what is loaded.
///
/// Never panics for a missing or wrong file: every failure is an error naming the path. Once a
/// library is loaded it stays loaded; a later call with another (existing) path returns the
/// information of the library already in use, whose `library` field then differs from the
/// argument.
pub fn init(library: &Path) -> Result<RuntimeInfo> {
    if !library.exists() {
        return Err(Error::new(format!(
            "ONNX Runtime library not found at {}; {}",
            library.display(),
            doctor_hint()
        )));
    }
    if !library.is_file() {
        return Err(Error::new(format!(
            "ONNX Runtime library path {} is not a file; {}",
            library.display(),
            doctor_hint()
        )));
    }
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.info.clone());
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.info.clone());
    }
    // ort resolves relative paths against the executable; make it absolute ourselves.
    let absolute = std::fs::canonicalize(library).map_err(|e| {
        Error::new(format!(
            "ONNX Runtime library at {} cannot be read ({e}); {}",
            library.display(),
            doctor_hint()
        ))
    })?;
    let loaded = std::panic::catch_unwind(|| load(&absolute)).unwrap_or_else(|_| {
        Err(Error::new(format!(
            "loading the ONNX Runtime library at {} failed unexpectedly; {}",
            absolute.display(),
            doctor_hint()
        )))
    })?;
    let info = loaded.info.clone();
    let _ = RUNTIME.set(loaded);
    Ok(info)
}

fn load(absolute: &Path) -> Result<Runtime> {
    let builder = ort::init_from(absolute).map_err(|e| {
        Error::new(format!(
            "ONNX Runtime library at {} could not be loaded ({e}); it must be ONNX Runtime {} or newer \
             (this project ships {LIBRARY_FILE_NAME}); {}",
            absolute.display(),
            min_version(),
            doctor_hint()
        ))
    })?;
    let environment = builder
        .with_name("pixelspace")
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            Error::new(format!(
                "ONNX Runtime at {} loaded but could not start ({e}); {}",
                absolute.display(),
                doctor_hint()
            ))
        })?;
    let build_info = ort::info().to_string();
    let version = version_from_build_info(&build_info)
        .or_else(|| version_from_file_name(absolute))
        .unwrap_or_else(|| "unknown".to_string());
    Ok(Runtime {
        info: RuntimeInfo {
            library: absolute.to_path_buf(),
            version,
            build_info,
        },
        environment,
    })
}

fn min_version() -> String {
    format!("1.{}", ort::MINOR_VERSION)
}

/// `ORT Build Info: git-branch=rel-1.32.0, …` -> `1.32.0`.
fn version_from_build_info(info: &str) -> Option<String> {
    let start = info.find("rel-")? + 4;
    let version: String = info[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.').to_string();
    (version.split('.').count() >= 2).then_some(version)
}

/// `libonnxruntime.so.1.32.0` -> `1.32.0`.
fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = &name[name.find(".so.")? + 4..];
    (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then(|| rest.to_string())
}

/// The loaded runtime, if [`init`] succeeded.
pub fn info() -> Option<RuntimeInfo> {
    RUNTIME.get().map(|rt| rt.info.clone())
}

fn runtime() -> Result<&'static Runtime> {
    RUNTIME.get().ok_or_else(|| {
        Error::new(format!(
            "ONNX Runtime is not loaded (no library was given or it failed to load); {}",
            doctor_hint()
        ))
    })
}

/// Where ONNX Runtime runs a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// The best provider this build and machine offer (CUDA when built in and working, else CPU).
    Auto,
    /// CPU.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT (with CUDA for nodes TensorRT does not take, when CUDA is built in).
    TensorRt,
}

impl Provider {
    /// Every provider, in the order a user would list them.
    pub const ALL: [Provider; 4] = [
        Provider::Auto,
        Provider::Cpu,
        Provider::Cuda,
        Provider::TensorRt,
    ];

    /// Lower-case name used in params, the command line and messages.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Auto => "auto",
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
        }
    }

    /// Whether this build of Pixelspace can use the provider at all (cargo features).
    pub fn compiled_in(self) -> bool {
        match self {
            Provider::Auto | Provider::Cpu => true,
            Provider::Cuda => cfg!(feature = "cuda"),
            Provider::TensorRt => cfg!(feature = "tensorrt"),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = Error;
    fn from_str(s: &str) -> Result<Provider> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Provider::Auto),
            "cpu" => Ok(Provider::Cpu),
            "cuda" | "gpu" => Ok(Provider::Cuda),
            "tensorrt" | "trt" | "tensor-rt" => Ok(Provider::TensorRt),
            other => Err(Error::new(format!(
                "unknown execution provider '{other}'; choose one of auto, cpu, cuda, tensorrt"
            ))),
        }
    }
}

/// Providers that the loaded ONNX Runtime library has compiled in and this build can register
/// (for `pixelspace doctor`). CPU is always listed once the runtime is loaded.
pub fn library_providers() -> Result<Vec<Provider>> {
    runtime()?;
    #[allow(unused_mut)]
    let mut list = vec![Provider::Cpu];
    #[cfg(feature = "cuda")]
    {
        use ort::ep::ExecutionProvider;
        if ort::ep::CUDA::is_available().unwrap_or(false) {
            list.push(Provider::Cuda);
        }
    }
    #[cfg(feature = "tensorrt")]
    {
        use ort::ep::ExecutionProvider;
        if ort::ep::TensorRT::is_available().unwrap_or(false) {
            list.push(Provider::TensorRt);
        }
    }
    Ok(list)
}

/// Folder for TensorRT engine and timing caches: `$XDG_CACHE_HOME/pixelspace/tensorrt`
/// (or `~/.cache/pixelspace/tensorrt`).
pub fn tensorrt_cache_dir() -> PathBuf {
    user_cache_dir().join("pixelspace").join("tensorrt")
}

fn user_cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache"),
            _ => std::env::temp_dir(),
        },
    }
}

/// TensorRT half precision: on when env `PIXELSPACE_TENSORRT_FP16` is `1`/`true`/`on`.
pub fn tensorrt_fp16() -> bool {
    matches!(
        std::env::var("PIXELSPACE_TENSORRT_FP16")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("1") | Ok("true") | Ok("on") | Ok("yes")
    )
}

/// Name, shape and element type of one model input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions; `-1` where the model leaves a dimension free (dynamic).
    pub shape: Vec<i64>,
    /// Element type (`None` for non-tensor values such as sequences or maps).
    pub element_type: Option<TensorElementType>,
}

impl TensorInfo {
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// One input for [`SharedSession::run`]: always given as `f32`, converted to the model's
/// element type (f16, f64, integer) when the model asks for another.
pub struct InputTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

impl<'a> InputTensor<'a> {
    /// The input `name` with `data` of `shape`.
    pub fn new(name: &'a str, shape: &'a [i64], data: &'a [f32]) -> InputTensor<'a> {
        InputTensor { name, shape, data }
    }
}

/// A session built once and shared by all render threads.
pub struct SharedSession {
    session: Mutex<Session>,
    /// More sessions of the same model for a one-thread model (see [`spare_sessions`]), so
    /// that calls from several threads run at once; empty otherwise.
    spare: Vec<Mutex<Session>>,
    model: PathBuf,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    provider: Provider,
    fallback: Option<String>,
}

impl fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSession")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl SharedSession {
    /// The model file (canonical path).
    pub fn model_path(&self) -> &Path {
        &self.model
    }

    /// The model's inputs in graph order.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// The model's outputs in graph order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// The provider the session actually runs on (never `Auto`).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Why a GPU provider was not used for an `Auto` request, if it was tried and failed.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Runs the model and copies output `output_index` (converted to f32) into `out`
    /// (reusing its allocation). Returns the output's shape.
    pub fn run(
        &self,
        inputs: &[InputTensor<'_>],
        output_index: usize,
        out: &mut Vec<f32>,
    ) -> Result<Vec<i64>> {
        let name = self.output_name(output_index)?;
        self.run_with(inputs, |outputs| {
            extract_f32(&outputs[name.as_str()], &name, &self.model, out)
        })
    }

    /// Runs the model once and returns the outputs at `output_indices` (graph order indices),
    /// each as (shape, values converted to f32).
    pub fn run_many(
        &self,
        inputs: &[InputTensor<'_>],
        output_indices: &[usize],
    ) -> Result<Vec<(Vec<i64>, Vec<f32>)>> {
        let names = output_indices
            .iter()
            .map(|&i| self.output_name(i))
            .collect::<Result<Vec<String>>>()?;
        self.run_with(inputs, |outputs| {
            names
                .iter()
                .map(|name| {
                    let mut data = Vec::new();
                    let shape = extract_f32(&outputs[name.as_str()], name, &self.model, &mut data)?;
                    Ok((shape, data))
                })
                .collect()
        })
    }

    /// The first of the sessions that is free, or the main one when all are busy.
    fn lock_any(&self) -> std::sync::MutexGuard<'_, Session> {
        for s in std::iter::once(&self.session).chain(&self.spare) {
            if let Ok(guard) = s.try_lock() {
                return guard;
            }
        }
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn output_name(&self, output_index: usize) -> Result<String> {
        match self.outputs.get(output_index) {
            Some(o) => Ok(o.name.clone()),
            None => Err(Error::new(format!(
                "model {} has {} outputs; output {} does not exist",
                self.model.display(),
                self.outputs.len(),
                output_index
            ))),
        }
    }

    /// Converts the inputs, runs the session and hands its outputs to `read`.
    fn run_with<T>(
        &self,
        inputs: &[InputTensor<'_>],
        read: impl FnOnce(&ort::session::SessionOutputs<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut converted: Vec<Converted> = Vec::new();
        let mut values: Vec<(String, ort::session::SessionInputValue<'_>)> =
            Vec::with_capacity(inputs.len());
        // First convert every input that needs it, so the borrowed views below stay valid.
        for input in inputs {
            let info = self
                .inputs
                .iter()
                .find(|i| i.name == input.name)
                .ok_or_else(|| {
                    Error::new(format!(
                        "model {} has no input named '{}'",
                        self.model.display(),
                        input.name
                    ))
                })?;
            let expected: i64 = input.shape.iter().product();
            if input.shape.iter().any(|d| *d < 0) || expected as usize != input.data.len() {
                return Err(Error::new(format!(
                    "input '{}' of model {}: shape {:?} does not match {} values",
                    input.name,
                    self.model.display(),
                    input.shape,
                    input.data.len()
                )));
            }
            converted.push(
                Converted::from_f32(info.element_type, input.data).map_err(|e| {
                    Error::new(format!(
                        "input '{}' of model {}: {e}",
                        input.name,
                        self.model.display()
                    ))
                })?,
            );
        }
        for (input, conv) in inputs.iter().zip(converted.iter()) {
            let shape = input.shape.to_vec();
            let value: ort::session::SessionInputValue<'_> = match conv {
                Converted::AsIs => TensorRef::from_array_view((shape, input.data)).map(Into::into),
                Converted::F16(v) => {
                    TensorRef::from_array_view((shape, v.as_slice())).map(Into::into)
                }
                Converted::F64(v) => {
                    TensorRef::from_array_view((shape, v.as_slice())).map(Into::into)
                }
                Converted::I64(v) => {
                    TensorRef::from_array_view((shape, v.as_slice())).map(Into::into)
                }
                Converted::I32(v) => {
                    TensorRef::from_array_view((shape, v.as_slice())).map(Into::into)
                }
            }
            .map_err(|e| {
                Error::new(format!("input '{}': cannot make a tensor: {e}", input.name))
            })?;
            values.push((input.name.to_string(), value));
        }
        let mut session = self.lock_any();
        let outputs = session.run(values).map_err(|e| {
            Error::new(format!(
                "running model {} on {} failed: {e}",
                self.model.display(),
                self.provider
            ))
        })?;
        read(&outputs)
    }
}

/// Copies a float output (f32, f16 or f64) into `out` as f32; returns its shape.
fn extract_f32(
    value: &ort::value::DynValue,
    name: &str,
    model: &Path,
    out: &mut Vec<f32>,
) -> Result<Vec<i64>> {
    out.clear();
    if let Ok((s, data)) = value.try_extract_tensor::<f32>() {
        out.extend_from_slice(data);
        Ok(s.to_vec())
    } else if let Ok((s, data)) = value.try_extract_tensor::<half::f16>() {
        out.extend(data.iter().map(|v| v.to_f32()));
        Ok(s.to_vec())
    } else if let Ok((s, data)) = value.try_extract_tensor::<f64>() {
        out.extend(data.iter().map(|v| *v as f32));
        Ok(s.to_vec())
    } else {
        Err(Error::new(format!(
            "output '{}' of model {} is not a float tensor (f32, f16 or f64)",
            name,
            model.display()
        )))
    }
}

enum Converted {
    AsIs,
    F16(Vec<half::f16>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
}

impl Converted {
    fn from_f32(
        ty: Option<TensorElementType>,
        data: &[f32],
    ) -> std::result::Result<Converted, String> {
        Ok(match ty {
            Some(TensorElementType::Float32) => Converted::AsIs,
            Some(TensorElementType::Float16) => {
                Converted::F16(data.iter().map(|v| half::f16::from_f32(*v)).collect())
            }
            Some(TensorElementType::Float64) => {
                Converted::F64(data.iter().map(|v| *v as f64).collect())
            }
            Some(TensorElementType::Int64) => {
                Converted::I64(data.iter().map(|v| v.round() as i64).collect())
            }
            Some(TensorElementType::Int32) => {
                Converted::I32(data.iter().map(|v| v.round() as i32).collect())
            }
            Some(other) => {
                return Err(format!(
                    "element type {other:?} is not supported (use float, half, double or int)"
                ));
            }
            None => {
                return Err(
                    "the model wants a non-tensor value, which is not supported".to_string()
                );
            }
        })
    }
}

/// Key of the session cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    model: PathBuf,
    provider: Provider,
    shapes: Option<Vec<(String, Vec<i64>)>>,
}

type Slot = Arc<Mutex<Option<Arc<SharedSession>>>>;

/// The process-wide session cache.
pub struct SessionCache {
    slots: Mutex<HashMap<Key, Slot>>,
}

static CACHE: OnceLock<SessionCache> = OnceLock::new();

impl SessionCache {
    /// The global cache.
    pub fn global() -> &'static SessionCache {
        CACHE.get_or_init(|| SessionCache {
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The session for `model` on `provider`, built on first use and shared afterwards.
    ///
    /// `input_shapes` (name and shape of each input) are part of the key only for TensorRT,
    /// whose engines are built for one optimisation profile, and are ignored otherwise.
    /// `None` builds a TensorRT session without a fixed profile. Two threads asking for the same key build it once; different keys
    /// build concurrently. A failed build is not cached, so it is retried next time.
    pub fn get(
        &self,
        model: &Path,
        provider: Provider,
        input_shapes: Option<&[(&str, &[i64])]>,
    ) -> Result<Arc<SharedSession>> {
        runtime()?;
        if !model.is_file() {
            return Err(Error::new(format!(
                "model file not found: {}",
                model.display()
            )));
        }
        let canonical = std::fs::canonicalize(model).map_err(|e| {
            Error::new(format!(
                "model file {} cannot be read: {e}",
                model.display()
            ))
        })?;
        let key = Key {
            model: canonical,
            provider,
            shapes: if provider == Provider::TensorRt {
                input_shapes.map(|list| {
                    list.iter()
                        .map(|(n, s)| (n.to_string(), s.to_vec()))
                        .collect()
                })
            } else {
                None
            },
        };
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key.clone()).or_default().clone()
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }
        let session = Arc::new(build_session(&key.model, provider, key.shapes.as_deref())?);
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Number of sessions built and held.
    pub fn len(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .values()
            .filter(|s| s.lock().map(|s| s.is_some()).unwrap_or(false))
            .count()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached session (running renders keep theirs alive until done).
    pub fn clear(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Model files smaller than this run on one ONNX Runtime thread (see [`intra_threads`]).
const SMALL_MODEL_BYTES: u64 = 4 << 20;

/// Intra-op threads for a session of `model`: one for a small model (under
/// [`SMALL_MODEL_BYTES`], such as a 128x128 face detector, whose run takes a millisecond or
/// two: handing its small operators to a pool of spinning threads costs more than the other
/// cores give, and several times more on a busy machine); every core otherwise.
fn intra_threads(model: &Path) -> usize {
    let small = std::fs::metadata(model).is_ok_and(|m| m.len() < SMALL_MODEL_BYTES);
    if small {
        return 1;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// For a model that runs on one thread on the CPU ([`intra_threads`]), one more session per
/// further core: its runs from several render threads (or the windows of one frame) then go
/// on at once instead of queueing for one session. None for other models.
fn spare_sessions(model: &Path, provider: Provider) -> Result<Vec<Mutex<Session>>> {
    if provider != Provider::Cpu || intra_threads(model) != 1 {
        return Ok(Vec::new());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (1..cores.min(8))
        .map(|_| Ok(Mutex::new(commit(base_builder(model)?, model)?)))
        .collect()
}

fn base_builder(model: &Path) -> Result<SessionBuilder> {
    let rt = runtime()?;
    let threads = intra_threads(model);
    let builder = Session::builder(&rt.environment).map_err(|e| {
        Error::new(format!(
            "cannot prepare a session for {}: {e}",
            model.display()
        ))
    })?;
    let prepare = |e: ort::Error<SessionBuilder>| {
        Error::new(format!(
            "cannot prepare a session for {}: {e}",
            model.display()
        ))
    };
    // Our custom operators (org.pixelspace); models that do not use the domain ignore it.
    let operators = crate::custom_op::operator_domain()?;
    // ONNX Runtime's pool threads sleep when they run out of work instead of spinning for
    // more: our own kernels, and the effects' passes between runs, work on threads of their
    // own and need the cores (measured: ExtendShot's 1080p frame about 5% faster with
    // rife-motion, 2% with the portable rife).
    builder
        .with_intra_threads(threads)
        .map_err(prepare)?
        .with_intra_op_spinning(false)
        .map_err(prepare)?
        .with_operators(operators)
        .map_err(prepare)
}

/// Whether a session has been created since the process started (see [`commit`]).
static FIRST_SESSION_DONE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
static FIRST_SESSION_LOCK: Mutex<()> = Mutex::new(());

fn commit(mut builder: SessionBuilder, model: &Path) -> Result<Session> {
    use std::sync::atomic::Ordering;
    // ONNX Runtime adds a custom operator domain to a process-wide table when the first session
    // using it is created, without a lock: two first sessions at once can fail ("domain is
    // already exist"). So sessions are created one at a time until one has succeeded.
    let _first = (!FIRST_SESSION_DONE.load(Ordering::Acquire))
        .then(|| FIRST_SESSION_LOCK.lock().unwrap_or_else(|p| p.into_inner()));
    let session = builder.commit_from_file(model).map_err(|e| {
        Error::new(format!(
            "cannot load model {}: {e} (is it a valid ONNX model? re-fetch it with `pixelspace models fetch`)",
            model.display()
        ))
    })?;
    FIRST_SESSION_DONE.store(true, Ordering::Release);
    Ok(session)
}

#[cfg_attr(all(feature = "cuda", feature = "tensorrt"), allow(dead_code))]
fn no_support(provider: Provider) -> Error {
    let what = match provider {
        Provider::TensorRt => "TensorRT",
        _ => "CUDA",
    };
    Error::new(format!(
        "this build has no {what} support; choose the cpu provider, or install the GPU build with \
         `pixelspace install --gpu`"
    ))
}

/// Builds a session on the GPU provider `provider` (Cuda or TensorRt), failing when the
/// provider cannot be registered or the session cannot be created with it.
#[allow(unused_variables)]
fn build_gpu(
    model: &Path,
    provider: Provider,
    shapes: Option<&[(String, Vec<i64>)]>,
) -> Result<Session> {
    #[allow(unused_mut)]
    let mut eps: Vec<ort::ep::ExecutionProviderDispatch> = Vec::new();
    match provider {
        Provider::Cuda => {
            #[cfg(feature = "cuda")]
            eps.push(ort::ep::CUDA::default().build().error_on_failure());
            #[cfg(not(feature = "cuda"))]
            return Err(no_support(provider));
        }
        Provider::TensorRt => {
            #[cfg(feature = "tensorrt")]
            {
                let dir = tensorrt_cache_dir();
                std::fs::create_dir_all(&dir).map_err(|e| {
                    Error::new(format!(
                        "cannot create the TensorRT cache folder {}: {e}",
                        dir.display()
                    ))
                })?;
                let dir_str = dir.to_string_lossy().to_string();
                let mut trt = ort::ep::TensorRT::default()
                    .with_engine_cache(true)
                    .with_engine_cache_path(dir_str.clone())
                    .with_timing_cache(true)
                    .with_timing_cache_path(dir_str)
                    .with_fp16(tensorrt_fp16());
                if let Some(shapes) = shapes {
                    // One optimisation profile: exactly these shapes, e.g. `image:1x3x512x512,t:1`.
                    let profile = shapes
                        .iter()
                        .map(|(name, shape)| {
                            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                            format!("{name}:{}", dims.join("x"))
                        })
                        .collect::<Vec<_>>()
                        .join(",");
                    trt = trt
                        .with_profile_min_shapes(profile.clone())
                        .with_profile_opt_shapes(profile.clone())
                        .with_profile_max_shapes(profile);
                }
                eps.push(trt.build().error_on_failure());
                #[cfg(feature = "cuda")]
                eps.push(ort::ep::CUDA::default().build().error_on_failure());
            }
            #[cfg(not(feature = "tensorrt"))]
            return Err(no_support(provider));
        }
        Provider::Auto | Provider::Cpu => {
            unreachable!("build_gpu is only called for GPU providers")
        }
    }
    #[allow(unreachable_code)]
    {
        let builder = base_builder(model)?.with_execution_providers(eps).map_err(|e| {
            let lib = info().map(|i| i.library.display().to_string()).unwrap_or_default();
            Error::new(format!(
                "the {provider} execution provider could not be started: {e} (ONNX Runtime library: {lib}); \
                 install the GPU runtime with `pixelspace install --gpu` and check the driver with \
                 `pixelspace doctor`, or choose the cpu provider"
            ))
        })?;
        commit(builder, model)
            .map_err(|e| e.context(format!("with the {provider} execution provider")))
    }
}

fn build_session(
    model: &Path,
    provider: Provider,
    shapes: Option<&[(String, Vec<i64>)]>,
) -> Result<SharedSession> {
    let (session, used, fallback) = match provider {
        Provider::Cpu => (commit(base_builder(model)?, model)?, Provider::Cpu, None),
        Provider::Cuda | Provider::TensorRt => {
            (build_gpu(model, provider, shapes)?, provider, None)
        }
        Provider::Auto => {
            if Provider::Cuda.compiled_in() {
                match build_gpu(model, Provider::Cuda, None) {
                    Ok(s) => (s, Provider::Cuda, None),
                    Err(e) => {
                        let session = commit(base_builder(model)?, model)?;
                        (
                            session,
                            Provider::Cpu,
                            Some(format!("CUDA was not used, running on CPU: {e}")),
                        )
                    }
                }
            } else {
                (commit(base_builder(model)?, model)?, Provider::Cpu, None)
            }
        }
    };
    let inputs = session
        .inputs()
        .iter()
        .map(|o| tensor_info(o.name(), o.dtype()))
        .collect();
    let outputs = session
        .outputs()
        .iter()
        .map(|o| tensor_info(o.name(), o.dtype()))
        .collect();
    Ok(SharedSession {
        session: Mutex::new(session),
        spare: spare_sessions(model, used)?,
        model: model.to_path_buf(),
        inputs,
        outputs,
        provider: used,
        fallback,
    })
}

fn tensor_info(name: &str, dtype: &ValueType) -> TensorInfo {
    TensorInfo {
        name: name.to_string(),
        shape: dtype
            .tensor_shape()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default(),
        element_type: dtype.tensor_type(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.name().parse::<Provider>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("TensorRT".parse::<Provider>().unwrap(), Provider::TensorRt);
        assert_eq!(" CUDA ".parse::<Provider>().unwrap(), Provider::Cuda);
        let err = "opencl".parse::<Provider>().unwrap_err();
        assert!(
            err.message()
                .contains("unknown execution provider 'opencl'"),
            "{err}"
        );
        assert!(Provider::Cpu.compiled_in() && Provider::Auto.compiled_in());
        assert_eq!(Provider::Cuda.compiled_in(), cfg!(feature = "cuda"));
    }

    #[test]
    fn versions_are_parsed() {
        let info = "ORT Build Info: git-branch=rel-1.32.0, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info).as_deref(), Some("1.32.0"));
        assert_eq!(
            version_from_build_info("ORT Build Info: git-branch=main"),
            None
        );
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so.1.32.0")).as_deref(),
            Some("1.32.0")
        );
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so")),
            None
        );
    }

    #[test]
    fn missing_library_is_an_error() {
        let err = init(Path::new(
            "/nonexistent/pixelspace/libonnxruntime.so.1.32.0",
        ))
        .unwrap_err();
        assert!(
            err.message()
                .starts_with("ONNX Runtime library not found at /nonexistent/"),
            "{err}"
        );
        assert!(err.message().contains("pixelspace doctor"), "{err}");
    }

    #[test]
    fn trt_cache_dir_is_under_pixelspace() {
        assert!(tensorrt_cache_dir().ends_with("pixelspace/tensorrt"));
    }
}
