//! Where a run was made: the machine, the compiler and the commit, for the results' header.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// `model name` of `/proc/cpuinfo`.
    pub model: String,
    /// `Linux <release>`
    pub kernel: String,
    /// `rustc --version`
    pub rustc: String,
    /// Total memory in bytes.
    pub memory: u64,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or_else(|_| cpu_count(&cpuinfo)),
            model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".into()),
            kernel: format!("Linux {}", release.trim()),
            rustc: output("rustc", &["--version"], None).unwrap_or_else(|| "unknown".into()),
            memory: mem_total(&meminfo).unwrap_or(0),
        }
    }
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

fn cpu_count(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count()
        .max(1)
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line["MemTotal:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Short hash of `HEAD` in `root`, and whether tracked files have changes.
pub fn commit(root: &Path) -> (String, bool) {
    let hash = output("git", &["rev-parse", "--short", "HEAD"], Some(root))
        .unwrap_or_else(|| "unknown".into());
    let dirty = output(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        Some(root),
    )
    .is_some_and(|status| !status.is_empty());
    (hash, dirty)
}

/// Trimmed stdout of a command that succeeded.
fn output(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_and_count_of_cpuinfo() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\n\
                       processor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_count(cpuinfo), 2);
        assert_eq!(cpu_model(""), None);
        assert_eq!(
            mem_total("MemTotal:       24684104 kB\n"),
            Some(24684104 * 1024)
        );
    }

    #[test]
    fn detects_this_machine() {
        let machine = Machine::detect();
        assert!(machine.cores >= 1);
        assert!(machine.kernel.starts_with("Linux "));
    }
}
