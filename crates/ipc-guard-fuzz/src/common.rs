//! Helpers shared by the fuzz and check binaries.
#![allow(dead_code)]
use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc as fb;
use arrow::ipc::reader::StreamReader;

/// One framed message: [start, meta) prefix, [meta, meta_end) flatbuffer, [meta_end, end) body.
#[derive(Clone, Copy, Debug)]
pub struct Msg {
    pub start: usize,
    pub meta: usize,
    pub meta_end: usize,
    pub end: usize,
}

pub fn u32_at(b: &[u8], p: usize) -> u32 {
    u32::from_le_bytes(b[p..p + 4].try_into().unwrap())
}

/// The messages of a stream as far as they are well framed, and where the rest starts.
pub fn scan(b: &[u8]) -> (Vec<Msg>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        if b.len() - pos < 8 {
            return (out, pos);
        }
        let (len, prefix) =
            if u32_at(b, pos) == 0xFFFF_FFFF { (u32_at(b, pos + 4) as i32, 8) } else { (u32_at(b, pos) as i32, 4) };
        if len <= 0 || len as usize > b.len() - pos - prefix {
            return (out, pos);
        }
        let meta = pos + prefix;
        let meta_end = meta + len as usize;
        let Ok(m) = fb::root_as_message(&b[meta..meta_end]) else { return (out, pos) };
        let body = m.bodyLength();
        if body < 0 || body as u64 > (b.len() - meta_end) as u64 {
            return (out, pos);
        }
        let end = meta_end + body as usize;
        out.push(Msg { start: pos, meta, meta_end, end });
        pos = end;
    }
}

pub type Decoded = (SchemaRef, Vec<RecordBatch>);

pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| e.to_string())?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    Ok((schema, batches))
}

/// Whether arrow-rs can be run on a *rejected* input in this process: it allocates declared
/// metadata, body and uncompressed lengths before checking them, and a failed huge allocation
/// aborts the process (not a catchable panic).
pub fn arrow_safe_to_try(b: &[u8]) -> bool {
    let (msgs, rest) = scan(b);
    // Whatever follows the scanned messages must be an end marker or junk arrow stops at
    // without allocating: a length prefix it would allocate must fit the input.
    if b.len() - rest >= 8 {
        let (len, prefix) =
            if u32_at(b, rest) == 0xFFFF_FFFF { (u32_at(b, rest + 4) as i32, 8) } else { (u32_at(b, rest) as i32, 4) };
        if len > 0 && len as usize > b.len() - rest - prefix {
            return false;
        }
        if len > 0 {
            // root_as_message failed or the body is out of range.
            let meta = &b[rest + prefix..rest + prefix + len as usize];
            if let Ok(m) = fb::root_as_message(meta) {
                if m.bodyLength() < 0 || m.bodyLength() as u64 > (b.len() - rest) as u64 {
                    return false;
                }
            }
        }
    } else if b.len() - rest >= 4 && u32_at(b, rest) != 0xFFFF_FFFF {
        let len = u32_at(b, rest) as i32;
        if len > 0 && len as usize > b.len() - rest - 4 {
            return false;
        }
    }
    for msg in &msgs {
        let m = fb::root_as_message(&b[msg.meta..msg.meta_end]).unwrap();
        let rb = m.header_as_record_batch().or_else(|| m.header_as_dictionary_batch().and_then(|d| d.data()));
        let Some(rb) = rb else { continue };
        if rb.compression().is_none() {
            continue;
        }
        let body = &b[msg.meta_end..msg.end];
        for buf in rb.buffers().into_iter().flatten() {
            let (o, l) = (buf.offset(), buf.length());
            if o < 0 || l < 8 || o as u64 + l as u64 > body.len() as u64 {
                continue;
            }
            let p = i64::from_le_bytes(body[o as usize..o as usize + 8].try_into().unwrap());
            if p > 64 << 20 {
                return false;
            }
        }
    }
    true
}
