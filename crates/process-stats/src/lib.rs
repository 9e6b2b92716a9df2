//! What the operating system knows about the current process: CPU time and resident memory.
//! The step crates turn these into the `process.cpu.time` and `process.memory.usage` metrics;
//! reading them is not the lesson, so it lives here, out of the steps' diffs.
//!
//! CPU time comes from `getrusage(2)` (Linux and macOS), resident memory from
//! `/proc/self/statm` (Linux only: elsewhere [`resident_memory_bytes`] is `None`, and the
//! metric is simply not reported).

use std::time::Duration;

/// CPU time the process has used since it started, split as the `cpu.mode` attribute of
/// `process.cpu.time` splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTime {
    /// Time running the process's own code (`cpu.mode = user`).
    pub user: Duration,
    /// Time the kernel spent on the process's behalf (`cpu.mode = system`).
    pub system: Duration,
}

/// The CPU time of this process, all threads together; `None` if the OS refuses.
pub fn cpu_time() -> Option<CpuTime> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given, which points to
    // space for one; the value is read only when the call reports success.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    Some(CpuTime {
        user: duration(usage.ru_utime),
        system: duration(usage.ru_stime),
    })
}

fn duration(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let micros = u32::try_from(time.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(u64::from(micros))
}

/// The resident set size of this process in bytes (Linux); `None` where it is not known.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system setting.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(resident_pages * u64::try_from(page_size).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().expect("getrusage");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_time().expect("getrusage");
        assert!(
            after.user + after.system >= before.user + before.system + Duration::from_millis(20),
            "{before:?} -> {after:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_follows_allocations() {
        let before = resident_memory_bytes().expect("statm");
        // 64 MiB, touched so that the pages become resident.
        let block = vec![1u8; 64 << 20];
        let after = resident_memory_bytes().expect("statm");
        assert!(
            std::hint::black_box(&block)
                .iter()
                .step_by(4096)
                .all(|&b| b == 1)
        );
        assert!(
            after >= before + (48 << 20),
            "{before} -> {after} bytes after a 64 MiB allocation"
        );
    }
}
