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
        frequency_mhz: cpus.iter().map(|c| c.frequency()).max().filter(|f| *f > 0),
    });
    let memory = Memory { total_bytes: system.total_memory(), swap_total_bytes: system.total_swap() };
    let memory = Some(memory).filter(|m| m.total_bytes > 0);
    (cpu, memory)
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}
