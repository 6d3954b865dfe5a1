//! Reads the initializers (constant tensors stored in the graph) of an ONNX model file without
//! the runtime: a small protobuf reader that walks `ModelProto.graph` (field 7) and its
//! `GraphProto.initializer` entries (field 5), skipping everything else by length, so a large
//! model is never read whole into memory.
//!
//! Only what models' contracts need is decoded: a tensor's name (`TensorProto` field 8), dims
//! (1), element type (2) and values from `raw_data` (9, little-endian) or the typed lists
//! `float_data` (4) / `double_data` (10), as 32-bit floats. Tensors kept in external data files
//! (field 13/14) are refused with a message. Every length is checked against the bytes that
//! are really there before anything is allocated: a malformed or truncated file gives an error,
//! never a panic.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

/// ONNX element types read here (`TensorProto.DataType`).
const FLOAT: u64 = 1;
const FLOAT16: u64 = 10;
const DOUBLE: u64 = 11;

/// Largest initializer decoded, in bytes of its encoded message.
const MAX_TENSOR_BYTES: u64 = 1 << 30;

/// A constant tensor of a model, values as 32-bit floats in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: Vec<f32>,
}

/// Where an initializer's message lies in the file.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u64,
    len: u64,
}

/// Protobuf wire reader over a seekable byte source with known length.
struct Wire<R: Read + Seek> {
    inner: BufReader<R>,
    pos: u64,
    len: u64,
    origin: String,
}

impl<R: Read + Seek> Wire<R> {
    fn err(&self, what: &str) -> Error {
        Error::new(format!(
            "{} is not a readable ONNX model: {what} (at byte {}); the file may be truncated or not an .onnx file",
            self.origin, self.pos
        ))
    }

    fn byte(&mut self, end: u64) -> Result<u8> {
        if self.pos >= end {
            return Err(self.err("a field runs past the end of its message"));
        }
        let mut b = [0u8; 1];
        self.inner
            .read_exact(&mut b)
            .map_err(|e| self.err(&format!("read failed ({e})")))?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self, end: u64) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte(end)?;
            if shift == 63 && b > 1 {
                return Err(self.err("a varint overflows 64 bits"));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("a varint is longer than 10 bytes"))
    }

    /// A length prefix, checked against the end of the enclosing message.
    fn length(&mut self, end: u64) -> Result<u64> {
        let n = self.varint(end)?;
        if n > end - self.pos {
            return Err(self.err(&format!(
                "a field claims {n} bytes but only {} remain in its message",
                end - self.pos
            )));
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64, end: u64) -> Result<()> {
        if n > end - self.pos {
            return Err(self.err("a field runs past the end of its message"));
        }
        let step = i64::try_from(n).map_err(|_| self.err("a field is too long"))?;
        self.inner
            .seek_relative(step)
            .map_err(|e| self.err(&format!("seek failed ({e})")))?;
        self.pos += n;
        Ok(())
    }

    fn seek_to(&mut self, pos: u64) -> Result<()> {
        self.inner
            .seek(SeekFrom::Start(pos))
            .map_err(|e| self.err(&format!("seek failed ({e})")))?;
        self.pos = pos;
        Ok(())
    }

    fn bytes(&mut self, n: u64, end: u64) -> Result<Vec<u8>> {
        if n > end - self.pos {
            return Err(self.err("a field runs past the end of its message"));
        }
        let mut v = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut v)
            .map_err(|e| self.err(&format!("read failed ({e})")))?;
        self.pos += n;
        Ok(v)
    }

    /// Skips a field's value of wire type `wire`.
    fn skip_value(&mut self, wire: u64, end: u64) -> Result<()> {
        match wire {
            0 => self.varint(end).map(|_| ()),
            1 => self.skip(8, end),
            2 => {
                let n = self.length(end)?;
                self.skip(n, end)
            }
            5 => self.skip(4, end),
            _ => Err(self.err(&format!("unsupported protobuf wire type {wire}"))),
        }
    }

    /// The next key `(field, wire type)`.
    fn key(&mut self, end: u64) -> Result<(u64, u64)> {
        let k = self.varint(end)?;
        let field = k >> 3;
        if field == 0 {
            return Err(self.err("a field number is 0"));
        }
        Ok((field, k & 7))
    }
}

/// The spans of the graph's initializers, in file order.
fn initializer_spans<R: Read + Seek>(w: &mut Wire<R>) -> Result<Vec<Span>> {
    let file_end = w.len;
    let mut spans = Vec::new();
    let mut graphs = 0;
    while w.pos < file_end {
        let (field, wire) = w.key(file_end)?;
        if field == 7 && wire == 2 {
            graphs += 1;
            let n = w.length(file_end)?;
            let graph_end = w.pos + n;
            while w.pos < graph_end {
                let (gf, gw) = w.key(graph_end)?;
                if gf == 5 && gw == 2 {
                    let len = w.length(graph_end)?;
                    spans.push(Span { start: w.pos, len });
                    w.skip(len, graph_end)?;
                } else {
                    w.skip_value(gw, graph_end)?;
                }
            }
        } else {
            w.skip_value(wire, file_end)?;
        }
    }
    if graphs == 0 {
        return Err(w.err("it has no graph"));
    }
    Ok(spans)
}

/// Packed or single values of a repeated numeric field, as raw little-endian chunks.
fn repeated<R: Read + Seek>(
    w: &mut Wire<R>,
    wire: u64,
    size: u64,
    end: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    let single = if size == 4 { 5 } else { 1 };
    if wire == 2 {
        let n = w.length(end)?;
        if n % size != 0 {
            return Err(w.err("a packed list's length is not a whole number of values"));
        }
        out.extend(w.bytes(n, end)?);
    } else if wire == single {
        out.extend(w.bytes(size, end)?);
    } else {
        return Err(w.err("a numeric list has the wrong wire type"));
    }
    Ok(())
}

/// Decodes the `TensorProto` at `span`.
fn read_tensor<R: Read + Seek>(w: &mut Wire<R>, span: Span) -> Result<Initializer> {
    if span.len > MAX_TENSOR_BYTES {
        return Err(w.err(&format!(
            "an initializer of {} bytes is larger than this reader accepts",
            span.len
        )));
    }
    w.seek_to(span.start)?;
    let end = span.start + span.len;
    let mut name = String::new();
    let mut dims: Vec<i64> = Vec::new();
    let mut data_type = 0u64;
    let mut raw: Option<Vec<u8>> = None;
    let mut floats: Vec<u8> = Vec::new();
    let mut doubles: Vec<u8> = Vec::new();
    let mut external = false;
    while w.pos < end {
        let (field, wire) = w.key(end)?;
        match (field, wire) {
            (1, 0) => dims.push(w.varint(end)? as i64),
            (1, 2) => {
                let n = w.length(end)?;
                let stop = w.pos + n;
                while w.pos < stop {
                    dims.push(w.varint(stop)? as i64);
                }
            }
            (2, 0) => data_type = w.varint(end)?,
            (4, _) => repeated(w, wire, 4, end, &mut floats)?,
            (8, 2) => {
                let n = w.length(end)?;
                name = String::from_utf8_lossy(&w.bytes(n, end)?).into_owned();
            }
            (9, 2) => {
                let n = w.length(end)?;
                raw = Some(w.bytes(n, end)?);
            }
            (10, _) => repeated(w, wire, 8, end, &mut doubles)?,
            (13, 2) => {
                external = true;
                w.skip_value(wire, end)?;
            }
            (14, 0) => external |= w.varint(end)? == 1,
            _ => w.skip_value(wire, end)?,
        }
    }
    let label = if name.is_empty() {
        "an unnamed initializer".to_string()
    } else {
        format!("initializer '{name}'")
    };
    if external {
        return Err(Error::new(format!(
            "{}: {label} keeps its values in an external data file, which is not supported; \
             save the model with its weights inside the .onnx file",
            w.origin
        )));
    }
    let mut count: u64 = 1;
    for &d in &dims {
        if d < 0 {
            return Err(w.err(&format!("{label} has a negative dimension {d}")));
        }
        count = count
            .checked_mul(d as u64)
            .filter(|&c| c <= MAX_TENSOR_BYTES)
            .ok_or_else(|| w.err(&format!("{label} has impossibly large dimensions {dims:?}")))?;
    }
    let count = count as usize;
    let size = match data_type {
        FLOAT => 4,
        DOUBLE => 8,
        FLOAT16 => 2,
        other => {
            return Err(Error::new(format!(
                "{}: {label} has element type {other} ({}); a float tensor was expected",
                w.origin,
                type_name(other)
            )));
        }
    };
    let bytes = match raw {
        Some(r) => r,
        None if data_type == FLOAT => floats,
        None if data_type == DOUBLE => doubles,
        None => Vec::new(),
    };
    if bytes.len() != count * size {
        return Err(Error::new(format!(
            "{}: {label} has dims {dims:?} ({count} values) but holds {} bytes of data ({} expected)",
            w.origin,
            bytes.len(),
            count * size
        )));
    }
    let data = match data_type {
        FLOAT => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        DOUBLE => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        _ => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    };
    Ok(Initializer { name, dims, data })
}

/// The name of an ONNX element type, for messages.
fn type_name(t: u64) -> &'static str {
    match t {
        0 => "undefined",
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => "other",
    }
}

/// The last initializer of the model in `reader` (`len` bytes), as FaceFusion and InsightFace
/// read inswapper's identity map. `origin` names the source in messages.
pub fn last_initializer_from<R: Read + Seek>(
    reader: R,
    len: u64,
    origin: &str,
) -> Result<Initializer> {
    let mut w = Wire {
        inner: BufReader::new(reader),
        pos: 0,
        len,
        origin: origin.to_string(),
    };
    let spans = initializer_spans(&mut w)?;
    let Some(&last) = spans.last() else {
        return Err(Error::new(format!(
            "{origin}: the model's graph has no initializers (constant tensors)"
        )));
    };
    read_tensor(&mut w, last)
}

/// All initializers of the model in `reader`, in file order.
pub fn initializers_from<R: Read + Seek>(
    reader: R,
    len: u64,
    origin: &str,
) -> Result<Vec<Initializer>> {
    let mut w = Wire {
        inner: BufReader::new(reader),
        pos: 0,
        len,
        origin: origin.to_string(),
    };
    let spans = initializer_spans(&mut w)?;
    spans.into_iter().map(|s| read_tensor(&mut w, s)).collect()
}

/// The last initializer of the ONNX model file at `path`.
pub fn last_initializer(path: &Path) -> Result<Initializer> {
    let file = File::open(path)
        .map_err(|e| Error::new(format!("cannot open the model {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .map_err(|e| Error::new(format!("cannot read the model {}: {e}", path.display())))?
        .len();
    last_initializer_from(file, len, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field_bytes(field: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn field_varint(field: u64, v: u64, out: &mut Vec<u8>) {
        varint(field << 3, out);
        varint(v, out);
    }

    /// A TensorProto: name, dims, type and values as raw_data or as a packed float list.
    fn tensor(name: &str, dims: &[u64], data_type: u64, values: &[f32], raw: bool) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            field_varint(1, d, &mut t);
        }
        field_varint(2, data_type, &mut t);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        field_bytes(8, name.as_bytes(), &mut t);
        field_bytes(if raw { 9 } else { 4 }, &bytes, &mut t);
        t
    }

    /// A ModelProto: ir_version, a graph with a node and the given initializers, an opset.
    fn model(initializers: &[Vec<u8>]) -> Vec<u8> {
        let mut node = Vec::new();
        field_bytes(1, b"x", &mut node);
        field_bytes(2, b"y", &mut node);
        field_bytes(4, b"Identity", &mut node);
        let mut graph = Vec::new();
        field_bytes(1, &node, &mut graph);
        field_bytes(2, b"g", &mut graph);
        for t in initializers {
            field_bytes(5, t, &mut graph);
        }
        let mut m = Vec::new();
        field_varint(1, 8, &mut m);
        field_bytes(2, b"test", &mut m);
        field_bytes(7, &graph, &mut m);
        let mut opset = Vec::new();
        field_varint(2, 17, &mut opset);
        field_bytes(8, &opset, &mut m);
        m
    }

    fn last(bytes: &[u8]) -> Result<Initializer> {
        last_initializer_from(Cursor::new(bytes.to_vec()), bytes.len() as u64, "test.onnx")
    }

    fn valid() -> (Vec<u8>, Vec<f32>) {
        let emap: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
        let m = model(&[
            tensor("w", &[2], FLOAT, &[1.0, 2.0], false),
            tensor("emap", &[3, 4], FLOAT, &emap, true),
        ]);
        (m, emap)
    }

    #[test]
    fn reads_the_last_initializer_from_raw_or_float_data() {
        let (m, emap) = valid();
        let t = last(&m).unwrap();
        assert_eq!(t.name, "emap");
        assert_eq!(t.dims, vec![3, 4]);
        assert_eq!(t.data, emap);
        let all = initializers_from(Cursor::new(m.clone()), m.len() as u64, "t").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].data, vec![1.0, 2.0]);
        // float_data (packed) as the last one.
        let m2 = model(&[tensor("f", &[2, 2], FLOAT, &[1.0, -1.0, 0.25, 8.0], false)]);
        assert_eq!(last(&m2).unwrap().data, vec![1.0, -1.0, 0.25, 8.0]);
        // Doubles from raw data.
        let mut t = Vec::new();
        field_varint(1, 2, &mut t);
        field_varint(2, DOUBLE, &mut t);
        let raw: Vec<u8> = [0.5f64, -3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        field_bytes(9, &raw, &mut t);
        assert_eq!(last(&model(&[t])).unwrap().data, vec![0.5, -3.0]);
        // Half floats from raw data: 1.0 and -2.0.
        let mut t = Vec::new();
        field_varint(1, 2, &mut t);
        field_varint(2, FLOAT16, &mut t);
        field_bytes(9, &[0x00, 0x3c, 0x00, 0xc0], &mut t);
        assert_eq!(last(&model(&[t])).unwrap().data, vec![1.0, -2.0]);
    }

    #[test]
    fn wrong_types_external_data_and_bad_sizes_are_clear_errors() {
        let ints = model(&[tensor("i", &[2], 7, &[1.0, 2.0], true)]);
        let e = last(&ints).unwrap_err().to_string();
        assert!(e.contains("int64") && e.contains("float tensor"), "{e}");
        let short = model(&[tensor("s", &[3, 3], FLOAT, &[1.0; 8], true)]);
        let e = last(&short).unwrap_err().to_string();
        assert!(e.contains("9 values"), "{e}");
        let mut ext = Vec::new();
        field_varint(1, 4, &mut ext);
        field_varint(2, FLOAT, &mut ext);
        field_bytes(8, b"emap", &mut ext);
        let mut entry = Vec::new();
        field_bytes(1, b"location", &mut entry);
        field_bytes(2, b"weights.bin", &mut entry);
        field_bytes(13, &entry, &mut ext);
        field_varint(14, 1, &mut ext);
        let e = last(&model(&[ext])).unwrap_err().to_string();
        assert!(e.contains("external data"), "{e}");
        let e = last(&model(&[])).unwrap_err().to_string();
        assert!(e.contains("no initializers"), "{e}");
        let e = last(b"").unwrap_err().to_string();
        assert!(e.contains("no graph"), "{e}");
        let neg = model(&[tensor("n", &[u64::MAX], FLOAT, &[], true)]);
        assert!(last(&neg).is_err());
        let huge = model(&[tensor("h", &[1 << 40, 1 << 40], FLOAT, &[], true)]);
        assert!(last(&huge).unwrap_err().to_string().contains("large"));
    }

    #[test]
    fn truncated_and_random_files_never_panic() {
        let (m, emap) = valid();
        // Every truncation: an error, or (cut exactly after the graph) the same tensor.
        for cut in 0..m.len() {
            match last(&m[..cut]) {
                Err(e) => assert!(!e.to_string().is_empty()),
                Ok(t) => assert_eq!(t.data, emap, "cut at {cut}"),
            }
        }
        // Random bytes, and the valid file with bytes flipped.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let n = (next() % 300) as usize;
                (0..n).map(|_| next() as u8).collect()
            } else {
                let mut b = m.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b
            };
            let _ = last(&bytes);
            let _ = initializers_from(Cursor::new(bytes.clone()), bytes.len() as u64, "fuzz");
        }
        // A length field larger than the file.
        let mut lie = Vec::new();
        varint(7 << 3 | 2, &mut lie);
        varint(u64::MAX >> 1, &mut lie);
        assert!(last(&lie).unwrap_err().to_string().contains("remain"));
        // A reader that claims more bytes than it has.
        let r = last_initializer_from(Cursor::new(m[..10].to_vec()), m.len() as u64, "short");
        assert!(r.is_err());
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let e = last_initializer(Path::new("no/such/model.onnx"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot open"), "{e}");
    }
}
