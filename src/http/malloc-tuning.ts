/**
 * Keeps glibc's malloc from handing request-body memory back to the kernel between garbage
 * collections. Node's HTTP parser copies a body into a fresh 64 KiB buffer per socket read,
 * thousands per pushed layer; they die young and V8 frees them in bulk after each scavenge.
 * glibc then trims the top of its heap whenever more than 128 KiB are free there (its default
 * M_TRIM_THRESHOLD), so the next few MiB of body buffers fault in fresh zeroed pages again. On the
 * 2-core benchmark VM, where touching new memory is expensive, that was 30,000–45,000 page
 * faults and about 2 s of CPU per GB pushed; with the threshold raised, about 1,000.
 *
 * Node offers no mallopt(). glibc raises the thresholds by itself, though, whenever a block it
 * had to mmap() is freed (its "dynamic mmap threshold", see mallopt(3)): M_MMAP_THRESHOLD becomes
 * that block's size and M_TRIM_THRESHOLD twice that. One 16 MiB buffer, dropped at start-up and
 * freed by the first scavenge, sets 16 MiB and 32 MiB: more than the body memory freed per
 * scavenge. The price is that up to 32 MiB freed at the heap's top stay mapped instead of going
 * back to the kernel. Other allocators (musl) and explicit MALLOC_*_ environment settings are
 * left as they are: glibc ignores the dynamic adjustment once a threshold is set explicitly.
 */

/** Big enough to move the thresholds past a scavenge's worth of body buffers, below glibc's 32 MiB cap. */
const PROBE_BYTES = 16 * 1024 * 1024;

let done = false;

/** Allocates and drops one large buffer, once per process. */
export function raiseMallocTrimThreshold(): void {
  if (done) return;
  done = true;
  // Unused on purpose: the point is that it is freed.
  Buffer.allocUnsafeSlow(PROBE_BYTES);
}
