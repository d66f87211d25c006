//! CPU model/cores/threads/frequency and total memory/swap of the running system, read through sysinfo.

use muster_shared::v1::{Cpu, Memory};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, System};

/// What the running kernel reports about processors and memory.
pub fn probe() -> (Option<Cpu>, Option<Memory>) {
    let Ok(mut system) = System::new() else { return (None, None) };
    system.refresh_cpu_list(CpuRefreshKind::nothing().with_frequency());
    system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
    let cpus = system.cpus();
    let cpu = cpus.first().map(|first| Cpu {
        model: non_empty(first.brand()),
        vendor: non_empty(first.vendor_id()),
        cores: System::physical_core_count().ok().and_then(|n| u32::try_from(n).ok()),
        threads: u32::try_from(cpus.len()).ok(),
        frequency_mhz: max_frequency_mhz().or_else(|| cpus.iter().map(|c| c.frequency()).max().filter(|f| *f > 0)),
    });
    let memory = Memory { total_bytes: system.total_memory(), swap_total_bytes: system.total_swap() };
    let memory = Some(memory).filter(|m| m.total_bytes > 0);
    (cpu, memory)
}

/// The rated maximum from cpufreq. The current clock that /proc/cpuinfo shows moves with load, and a value that changes
/// on an unchanged machine would make every report resend the hardware section.
fn max_frequency_mhz() -> Option<u64> {
    let khz: u64 =
        std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").ok()?.trim().parse().ok()?;
    Some(khz / 1000).filter(|mhz| *mhz > 0)
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}
