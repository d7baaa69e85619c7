//! Everything that depends on the target, in one place.
//!
//! On wasm32 "guest memory" is the module's linear memory: an ABI pointer (`u32`) is an address,
//! the allocator is the global one, and the document functions are imports from `wasmqe_doc`.
//!
//! Anywhere else (`cargo test` on the build machine) guest memory is simulated by a per-thread
//! arena: ABI pointers are offsets into it, allocations are recorded (so that tests can check
//! that every buffer is freed once, with the size and alignment it was allocated with), and the
//! document functions read mock documents (see [`crate::testing`]).

/// Which `wasmqe_doc.get_*` import to call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Getter {
    I64,
    F64,
    Bool,
    String,
    Bytes,
}

/// A trap: the guest hit a condition the ABI lets it turn into a trap (out of memory, a host that
/// broke the ABI). No message, no formatting.
#[cold]
pub(crate) fn trap() -> ! {
    imp::trap()
}

#[allow(unused_imports)]
pub(crate) use imp::{addr, alloc, dealloc, doc_get, doc_has_field, ptr};

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Getter;
    use std::alloc::Layout;

    #[link(wasm_import_module = "wasmqe_doc")]
    unsafe extern "C" {
        #[link_name = "has_field"]
        fn wasmqe_doc_has_field(doc: i32, name_ptr: i32, name_len: i32) -> i32;
        #[link_name = "get_i64"]
        fn wasmqe_doc_get_i64(doc: i32, name_ptr: i32, name_len: i32, out_ptr: i32) -> i32;
        #[link_name = "get_f64"]
        fn wasmqe_doc_get_f64(doc: i32, name_ptr: i32, name_len: i32, out_ptr: i32) -> i32;
        #[link_name = "get_bool"]
        fn wasmqe_doc_get_bool(doc: i32, name_ptr: i32, name_len: i32, out_ptr: i32) -> i32;
        #[link_name = "get_string"]
        fn wasmqe_doc_get_string(doc: i32, name_ptr: i32, name_len: i32, out_ptr: i32) -> i32;
        #[link_name = "get_bytes"]
        fn wasmqe_doc_get_bytes(doc: i32, name_ptr: i32, name_len: i32, out_ptr: i32) -> i32;
    }

    #[inline]
    pub(crate) fn ptr(addr: u32) -> *mut u8 {
        addr as usize as *mut u8
    }

    #[inline]
    pub(crate) fn addr(p: *const u8) -> u32 {
        p as usize as u32
    }

    /// `wasmqe_alloc`: 0 when the allocation fails or the arguments are invalid, never a trap.
    pub(crate) fn alloc(size: usize, align: usize) -> u32 {
        if !align.is_power_of_two() || align > 8 {
            return 0;
        }
        if size == 0 {
            return align as u32; // non-zero, aligned, never dereferenced
        }
        match Layout::from_size_align(size, align) {
            // SAFETY: the layout has a non-zero size.
            Ok(layout) => unsafe { std::alloc::alloc(layout) as usize as u32 },
            Err(_) => 0,
        }
    }

    /// `wasmqe_dealloc`.
    ///
    /// # Safety
    /// `addr` came from `alloc(size, align)` and is freed once.
    pub(crate) unsafe fn dealloc(addr: u32, size: usize, align: usize) {
        if addr == 0 || size == 0 {
            return;
        }
        if let Ok(layout) = Layout::from_size_align(size, align) {
            std::alloc::dealloc(ptr(addr), layout);
        }
    }

    pub(crate) fn doc_has_field(doc: i32, name: &[u8]) -> i32 {
        // SAFETY: the host reads name_len bytes at name_ptr, which are ours.
        unsafe { wasmqe_doc_has_field(doc, addr(name.as_ptr()) as i32, name.len() as i32) }
    }

    /// Calls a `get_*` import; `out` is 8 bytes, 8-aligned. Always inlined, so that `which` is a
    /// constant at every call and a module imports only the getters it uses.
    #[inline(always)]
    pub(crate) fn doc_get(which: Getter, doc: i32, name: &[u8], out: &mut u64) -> i32 {
        let (p, l, o) = (addr(name.as_ptr()) as i32, name.len() as i32, addr(out as *mut u64 as *const u8) as i32);
        // SAFETY: the host reads name and writes at most 8 bytes at out.
        unsafe {
            match which {
                Getter::I64 => wasmqe_doc_get_i64(doc, p, l, o),
                Getter::F64 => wasmqe_doc_get_f64(doc, p, l, o),
                Getter::Bool => wasmqe_doc_get_bool(doc, p, l, o),
                Getter::String => wasmqe_doc_get_string(doc, p, l, o),
                Getter::Bytes => wasmqe_doc_get_bytes(doc, p, l, o),
            }
        }
    }

    pub(crate) fn trap() -> ! {
        core::arch::wasm32::unreachable()
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    //! The simulated guest memory and host of native tests.
    use super::Getter;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Bytes of simulated guest memory per thread.
    pub(crate) const ARENA_BYTES: usize = 16 << 20;

    pub(crate) struct Arena {
        mem: Box<[u64]>,
        next: usize,
        /// live allocations: address -> (size, align)
        pub(crate) live: HashMap<u32, (usize, usize)>,
        /// fail the allocation with this many more successes (tests of status 2)
        pub(crate) fail_after: Option<usize>,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum MockValue {
        Null,
        Int(i64),
        Timestamp(i64),
        Float(f64),
        Bool(bool),
        Str(Vec<u8>),
        Bytes(Vec<u8>),
    }

    thread_local! {
        pub(crate) static ARENA: RefCell<Arena> = RefCell::new(Arena {
            mem: vec![0u64; ARENA_BYTES / 8].into_boxed_slice(),
            next: 16,
            live: HashMap::new(),
            fail_after: None,
        });
        pub(crate) static DOCS: RefCell<HashMap<i32, Vec<(String, MockValue)>>> = RefCell::new(HashMap::new());
    }

    pub(crate) fn ptr(addr: u32) -> *mut u8 {
        assert!((addr as usize) <= ARENA_BYTES, "guest address {addr} outside the simulated memory");
        // SAFETY: inside the arena (checked above); the arena lives as long as the thread.
        ARENA.with(|a| unsafe { (a.borrow_mut().mem.as_mut_ptr() as *mut u8).add(addr as usize) })
    }

    #[allow(dead_code)]
    pub(crate) fn addr(p: *const u8) -> u32 {
        ARENA.with(|a| {
            let base = a.borrow().mem.as_ptr() as usize;
            let p = p as usize;
            assert!(p >= base && p <= base + ARENA_BYTES, "pointer outside the simulated guest memory");
            (p - base) as u32
        })
    }

    pub(crate) fn alloc(size: usize, align: usize) -> u32 {
        if !align.is_power_of_two() || align > 8 {
            return 0;
        }
        ARENA.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(n) = a.fail_after.as_mut() {
                if *n == 0 {
                    return 0;
                }
                *n -= 1;
            }
            let start = (a.next + 7) & !7; // every allocation 8-aligned
            let end = start + size.max(1);
            if end > ARENA_BYTES {
                return 0;
            }
            a.next = end;
            a.live.insert(start as u32, (size, align));
            start as u32
        })
    }

    pub(crate) unsafe fn dealloc(addr: u32, size: usize, align: usize) {
        ARENA.with(|a| {
            let mut a = a.borrow_mut();
            match a.live.remove(&addr) {
                Some((s, al)) => assert!(
                    (s, al) == (size, align),
                    "dealloc({addr}, {size}, {align}) of an allocation of size {s}, align {al}"
                ),
                None => panic!("dealloc({addr}, {size}, {align}) of a pointer that is not allocated"),
            }
        })
    }

    fn lookup(doc: i32, name: &[u8]) -> Option<Option<MockValue>> {
        DOCS.with(|d| {
            let docs = d.borrow();
            let fields = docs.get(&doc)?;
            Some(fields.iter().rev().find(|(k, _)| k.as_bytes() == name).map(|(_, v)| v.clone()))
        })
    }

    pub(crate) fn doc_has_field(doc: i32, name: &[u8]) -> i32 {
        match lookup(doc, name) {
            None => -1,
            Some(None) | Some(Some(MockValue::Null)) => 0,
            Some(Some(_)) => 1,
        }
    }

    fn write_buf(bytes: &[u8], out: &mut u64) -> i32 {
        let p = alloc(bytes.len(), 1);
        if p == 0 {
            return 3;
        }
        // SAFETY: p has bytes.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr(p), bytes.len()) };
        *out = (p as u64) | ((bytes.len() as u64) << 32);
        0
    }

    pub(crate) fn doc_get(which: Getter, doc: i32, name: &[u8], out: &mut u64) -> i32 {
        let value = match lookup(doc, name) {
            None => return -1,
            Some(None) | Some(Some(MockValue::Null)) => return 1,
            Some(Some(v)) => v,
        };
        match (which, value) {
            (Getter::I64, MockValue::Int(v) | MockValue::Timestamp(v)) => *out = v as u64,
            (Getter::F64, MockValue::Float(v)) => *out = v.to_bits(),
            (Getter::F64, MockValue::Int(v)) => *out = (v as f64).to_bits(),
            (Getter::Bool, MockValue::Bool(v)) => *out = v as u64,
            (Getter::String, MockValue::Str(s)) => return write_buf(&s, out),
            (Getter::Bytes, MockValue::Bytes(s)) => return write_buf(&s, out),
            _ => return 2,
        }
        0
    }

    pub(crate) fn trap() -> ! {
        panic!("the guest trapped")
    }
}
