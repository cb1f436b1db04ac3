//! How much memory a model may take on this machine: `MemAvailable` from `/proc/meminfo`.
//!
//! `MemAvailable` is the kernel's estimate of what can be allocated without swapping (free
//! plus reclaimable page cache), which is what loading a model's weights needs. Other
//! systems report nothing here, and the choice of a model then says it did not check.

/// Memory available for a model, when this system says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Bytes that can be allocated without swapping.
    Available(u64),
    /// This system does not say (not Linux, or `/proc` unreadable).
    Unknown,
}

impl Memory {
    /// This machine's, now.
    pub fn of_this_machine() -> Memory {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| mem_available(&text))
            .map_or(Memory::Unknown, Memory::Available)
    }
}

/// `MemAvailable:  123456 kB` in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available_in_bytes() {
        let text = "MemTotal:       16314048 kB\nMemFree:  1000 kB\nMemAvailable:   8000000 kB\n";
        assert_eq!(mem_available(text), Some(8_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: x kB\n"), None);
    }
}
