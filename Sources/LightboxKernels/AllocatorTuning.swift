import CGlibcExtras

/// glibc malloc hands big buffers (decoded images, activations) back to the kernel on
/// free and page-faults them in again on the next allocation: measured at a fifth of
/// `lightbox embed`'s time. Keeping freed memory in the process avoids that churn.
public enum AllocatorTuning {
    /// Call once at process start, before large allocations.
    public static func keepFreedMemory() {
        _ = mallopt(M_MMAP_MAX, 0)                   // big blocks from the heap, not fresh mmaps
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)       // do not trim the heap below 1 GiB of free space
    }
}
