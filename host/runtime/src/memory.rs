//! Giving the memory a load freed back to the OS. Compiling a plugin allocates tens of
//! megabytes on the compiler's threads and frees them; glibc keeps freed memory in its
//! arenas, where it counts in the daemon's resident size for as long as the daemon runs.

/// Asks the allocator to return the free memory it holds (glibc's `malloc_trim`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn give_back_freed() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no
    // pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators and platforms keep their own counsel.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn give_back_freed() {}
