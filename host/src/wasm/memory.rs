//! Linear memories that the host maps itself, so that it can put a node's
//! memory back exactly as it was after observing it.
//!
//! wasmtime asks [`HostMemoryCreator`] for every linear memory. Each is an
//! anonymous mapping of exactly its current size (no reservation, no guard
//! region: bounds checks are explicit), grown with `mremap`, so adjacent
//! memories merge into few kernel mappings and the node count is bounded by
//! RAM rather than by `vm.max_map_count`. The memories an instantiation
//! creates are collected ([`collect_memories`]) and kept by the node, which
//! can then [`MemorySnapshot::take`] and [`MemorySnapshot::restore`] them
//! around a call to the guest's `inspect`.
//!
//! Not for: anything while guest code runs. The node's store is borrowed
//! mutably for every guest call, and snapshots are taken and restored only
//! through that same exclusive borrow, between calls.

use std::cell::{RefCell, UnsafeCell};
use std::sync::Arc;
use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Size of a WebAssembly page; every memory size is a multiple of it.
const WASM_PAGE: usize = 64 * 1024;

thread_local! {
    /// Memories created on this thread since [`collect_memories`] started.
    static CREATED: RefCell<Option<Vec<Arc<Region>>>> = const { RefCell::new(None) };
}

/// Runs `instantiate` and returns what it returned with the memories it
/// created (instantiation runs on the calling thread).
pub(crate) fn collect_memories<R>(instantiate: impl FnOnce() -> R) -> (R, Vec<Arc<Region>>) {
    let outer = CREATED.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = instantiate();
    let created = CREATED.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer)).unwrap_or_default();
    (result, created)
}

/// One anonymous mapping: a linear memory's bytes.
struct Mapping {
    ptr: *mut u8,
    /// Bytes mapped (a multiple of the page size; 0 when nothing is mapped).
    capacity: usize,
    /// Bytes the guest can access.
    size: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.capacity > 0 {
            // SAFETY: `ptr` and `capacity` describe a mapping this value owns.
            unsafe { libc::munmap(self.ptr.cast(), self.capacity) };
        }
    }
}

/// A linear memory's storage, shared between wasmtime (which runs guest code
/// on it) and the node (which snapshots it between calls).
pub(crate) struct Region(UnsafeCell<Mapping>);

// SAFETY: the mapping is plain memory. wasmtime accesses it only while it
// runs guest code on the owning store, and the node accesses it only through
// `&mut WasmNode` between guest calls; the two never overlap.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    fn mapping(&self) -> &Mapping {
        // SAFETY: see the `Sync` impl: no access overlaps a mutation.
        unsafe { &*self.0.get() }
    }

    /// # Safety
    /// No guest code may run on the store that owns this memory meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn mapping_mut(&self) -> &mut Mapping {
        // SAFETY: the caller guarantees exclusive access.
        unsafe { &mut *self.0.get() }
    }

    /// The guest-visible bytes.
    fn bytes(&self) -> &[u8] {
        let m = self.mapping();
        if m.size == 0 { &[] } else { unsafe { std::slice::from_raw_parts(m.ptr, m.size) } }
    }
}

/// Grows `m` so that it holds `size` bytes, moving it if need be; new bytes
/// are zero.
fn grow(m: &mut Mapping, size: usize) -> std::io::Result<()> {
    if size > m.capacity {
        let capacity = size.div_ceil(WASM_PAGE) * WASM_PAGE;
        // SAFETY: anonymous private mappings; `mremap` moves or extends the
        // mapping this value owns, and new pages read as zero either way.
        let ptr = unsafe {
            if m.capacity == 0 {
                libc::mmap(
                    std::ptr::null_mut(),
                    capacity,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            } else {
                libc::mremap(m.ptr.cast(), m.capacity, capacity, libc::MREMAP_MAYMOVE)
            }
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        m.ptr = ptr.cast();
        m.capacity = capacity;
    }
    m.size = size;
    Ok(())
}

/// The [`LinearMemory`] wasmtime runs guest code on.
struct HostMemory(Arc<Region>);

// SAFETY: `as_ptr` points at `byte_capacity` mapped, writable bytes (or is
// dangling when nothing is mapped and the size is 0); `grow_to` keeps the
// first `byte_size` bytes and zeroes the rest.
unsafe impl LinearMemory for HostMemory {
    fn byte_size(&self) -> usize {
        self.0.mapping().size
    }

    fn byte_capacity(&self) -> usize {
        self.0.mapping().capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        // SAFETY: wasmtime grows a memory only from the store that owns it.
        grow(unsafe { self.0.mapping_mut() }, new_size).map_err(|e| wasmtime::format_err!("cannot grow a linear memory: {e}"))
    }

    fn as_ptr(&self) -> *mut u8 {
        let m = self.0.mapping();
        if m.capacity == 0 { std::ptr::NonNull::dangling().as_ptr() } else { m.ptr }
    }
}

/// Makes every linear memory a [`HostMemory`] and notes it for
/// [`collect_memories`].
pub(crate) struct HostMemoryCreator;

// SAFETY: the memories returned have no guard region and may move, which is
// what the engine is configured for (`memory_guard_size(0)`, no reservation).
unsafe impl MemoryCreator for HostMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        _reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if guard_size_in_bytes != 0 {
            return Err(format!("the host maps memories without guard regions, but {guard_size_in_bytes} bytes were asked for"));
        }
        let mut mapping = Mapping { ptr: std::ptr::null_mut(), capacity: 0, size: 0 };
        grow(&mut mapping, minimum).map_err(|e| format!("cannot map a linear memory of {minimum} bytes: {e}"))?;
        let region = Arc::new(Region(UnsafeCell::new(mapping)));
        CREATED.with(|c| {
            if let Some(created) = c.borrow_mut().as_mut() {
                created.push(region.clone());
            }
        });
        Ok(Box::new(HostMemory(region)))
    }
}

/// A copy of a node's linear memories.
#[derive(Default)]
pub(crate) struct MemorySnapshot {
    copies: Vec<Vec<u8>>,
}

impl MemorySnapshot {
    /// Copies every memory in `regions` into this snapshot (reusing its
    /// buffers).
    ///
    /// # Safety
    /// No guest code may run on the store that owns the memories meanwhile.
    pub(crate) unsafe fn take(&mut self, regions: &[Arc<Region>]) {
        self.copies.resize_with(regions.len(), Vec::new);
        for (copy, region) in self.copies.iter_mut().zip(regions) {
            copy.clear();
            copy.extend_from_slice(region.bytes());
        }
    }

    /// Puts the memories back as they were when the snapshot was taken.
    /// A memory that grew meanwhile keeps its new size (a WebAssembly memory
    /// cannot shrink) with the new part zeroed, as it was when first grown.
    ///
    /// # Safety
    /// No guest code may run on the store that owns the memories meanwhile.
    pub(crate) unsafe fn restore(&self, regions: &[Arc<Region>]) {
        for (copy, region) in self.copies.iter().zip(regions) {
            // SAFETY: the caller guarantees exclusive access.
            let m = unsafe { region.mapping_mut() };
            if m.size == 0 {
                continue;
            }
            // SAFETY: `ptr` holds `size` mapped bytes, and `copy` is no longer
            // than `size` (memories never shrink).
            let bytes = unsafe { std::slice::from_raw_parts_mut(m.ptr, m.size) };
            let (before, grown) = bytes.split_at_mut(copy.len());
            before.copy_from_slice(copy);
            grown.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(size: usize) -> Arc<Region> {
        let mut m = Mapping { ptr: std::ptr::null_mut(), capacity: 0, size: 0 };
        grow(&mut m, size).unwrap();
        Arc::new(Region(UnsafeCell::new(m)))
    }

    #[test]
    fn a_snapshot_puts_back_every_byte_even_after_growth() {
        let r = region(WASM_PAGE);
        unsafe {
            r.mapping_mut().ptr.add(10).write(7);
            let mut snap = MemorySnapshot::default();
            snap.take(std::slice::from_ref(&r));
            r.mapping_mut().ptr.add(10).write(9);
            grow(r.mapping_mut(), 3 * WASM_PAGE).unwrap();
            r.mapping_mut().ptr.add(2 * WASM_PAGE).write(5);
            snap.restore(std::slice::from_ref(&r));
        }
        let bytes = r.bytes();
        assert_eq!(bytes.len(), 3 * WASM_PAGE);
        assert_eq!(bytes[10], 7);
        assert!(bytes[WASM_PAGE..].iter().all(|&b| b == 0));
    }

    #[test]
    fn grown_memory_keeps_its_contents_and_reads_zero_beyond() {
        let r = region(0);
        assert!(r.bytes().is_empty());
        unsafe {
            grow(r.mapping_mut(), WASM_PAGE).unwrap();
            r.mapping_mut().ptr.write(1);
            grow(r.mapping_mut(), 40 * WASM_PAGE).unwrap();
        }
        assert_eq!(r.bytes()[0], 1);
        assert!(r.bytes()[1..].iter().all(|&b| b == 0));
    }

    #[test]
    fn memories_are_collected_per_instantiation() {
        let ((), created) = collect_memories(|| {
            let creator = HostMemoryCreator;
            let ty = MemoryType::new(1, None);
            drop(creator.new_memory(ty.clone(), WASM_PAGE, None, None, 0).unwrap());
            drop(creator.new_memory(ty, 0, None, None, 0).unwrap());
        });
        assert_eq!(created.len(), 2);
        let ((), none) = collect_memories(|| {});
        assert!(none.is_empty());
    }
}
