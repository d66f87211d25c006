//! The host section: hostname, machine-id, boot time and what the machine runs inside (VM, container); a running
//! Windows's own facts come from [`super::windows`].

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Host, SectionName, Virtualization, VirtualizationRole};

use crate::root::{ErrorLog, SystemRoot};

/// Collects the host section. Hostname and machine-id come from files, so they work on a mounted root too; boot time
/// and virtualization describe the running system only.
pub fn collect(root: &SystemRoot, errors: &mut ErrorLog) -> Host {
    // A running Windows keeps its name, id, boot time and directories in the system, not in files (Wine would even
    // show the Linux host's files under these paths).
    #[cfg(windows)]
    if root.is_live() {
        let mut host = super::windows::collect_host(errors);
        host.virtualization = Some(detect_virtualization(&VirtEvidence::probe(root)));
        host.directory = super::windows::collect_directory(errors);
        return host;
    }
    let mut host = Host::default();
    let hostname_file = if root.is_live() { "/proc/sys/kernel/hostname" } else { "/etc/hostname" };
    match root.read_to_string(hostname_file) {
        Ok(text) => host.hostname = first_word(&text),
        Err(err) => errors.io(SectionName::Host, "hostname", &err),
    }
    match root.read_to_string("/etc/machine-id") {
        Ok(text) => match parse_machine_id(&text) {
            Some(id) => host.machine_id = Some(id),
            None => errors.record(
                SectionName::Host,
                "machine_id",
                ErrorKind::Parse,
                "/etc/machine-id is empty or not 32 hex digits (uninitialised image?)",
            ),
        },
        Err(err) => errors.io(SectionName::Host, "machine_id", &err),
    }
    host.accounts = super::accounts::probe(root, errors);
    if !root.is_live() {
        errors.not_live(SectionName::Host, "boot_time");
        errors.not_live(SectionName::Host, "virtualization");
        return host;
    }
    match std::fs::read_to_string("/proc/stat") {
        Ok(stat) => host.boot_time = parse_boot_time(&stat),
        Err(err) => errors.io(SectionName::Host, "boot_time", &err),
    }
    host.virtualization = Some(detect_virtualization(&VirtEvidence::probe(root)));
    host
}

fn first_word(text: &str) -> Option<String> {
    text.split_whitespace().next().map(str::to_string)
}

/// A machine-id is 32 lower-case hex digits; anything else (empty, `uninitialized`) identifies nothing.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim().to_ascii_lowercase();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')).then_some(id)
}

/// The `btime` line of /proc/stat: boot time in seconds since the epoch.
pub fn parse_boot_time(proc_stat: &str) -> Option<DateTime<Utc>> {
    let seconds = proc_stat.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()?;
    DateTime::from_timestamp(seconds, 0)
}

/// The facts virtualization detection is decided from, read by [`VirtEvidence::probe`].
#[derive(Debug, Default, Clone)]
pub struct VirtEvidence {
    /// `/proc/1/cgroup`.
    pub pid1_cgroup: Option<String>,
    /// `container=` from PID 1's environment (systemd's convention, set by podman, lxc, systemd-nspawn).
    pub container_env: Option<String>,
    pub has_containerenv_file: bool,
    pub has_dockerenv_file: bool,
    /// Filesystem type mounted at `/`.
    pub root_fs_type: Option<String>,
    pub dmi_sys_vendor: Option<String>,
    pub dmi_product_name: Option<String>,
    pub dmi_bios_vendor: Option<String>,
    /// `/sys/hypervisor/type` (Xen).
    pub hypervisor_type: Option<String>,
    /// The `hypervisor` CPU flag in /proc/cpuinfo.
    pub cpu_hypervisor_flag: bool,
    /// CPUID leaf 0x40000000 vendor signature, e.g. `KVMKVMKVM`, `VMwareVMware`, `Microsoft Hv`.
    pub cpuid_vendor: Option<String>,
}

impl VirtEvidence {
    /// Reads the evidence from the running system.
    pub fn probe(root: &SystemRoot) -> VirtEvidence {
        let read = |path: &str| root.read_to_string(path).ok().map(|s| s.trim().to_string());
        let container_env = root.read("/proc/1/environ").ok().and_then(|env| {
            env.split(|b| *b == 0)
                .find_map(|kv| kv.strip_prefix(b"container="))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        });
        let root_fs_type = read("/proc/self/mounts").and_then(|mounts| {
            mounts.lines().rev().find_map(|line| {
                let mut fields = line.split_whitespace();
                let (_device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
                (mount_point == "/").then(|| fs_type.to_string())
            })
        });
        let cpu_hypervisor_flag = read("/proc/cpuinfo").is_some_and(|info| {
            info.lines()
                .find(|line| line.starts_with("flags"))
                .is_some_and(|line| line.split_whitespace().any(|flag| flag == "hypervisor"))
        });
        VirtEvidence {
            pid1_cgroup: read("/proc/1/cgroup"),
            container_env,
            has_containerenv_file: root.exists("/run/.containerenv"),
            has_dockerenv_file: root.exists("/.dockerenv"),
            root_fs_type,
            dmi_sys_vendor: read("/sys/class/dmi/id/sys_vendor"),
            dmi_product_name: read("/sys/class/dmi/id/product_name"),
            dmi_bios_vendor: read("/sys/class/dmi/id/bios_vendor"),
            hypervisor_type: read("/sys/hypervisor/type"),
            cpu_hypervisor_flag,
            cpuid_vendor: cpuid_hypervisor_vendor(),
        }
    }
}

/// The hypervisor's CPUID signature; the most direct evidence of a VM on x86 (what systemd-detect-virt reads first).
#[cfg(target_arch = "x86_64")]
fn cpuid_hypervisor_vendor() -> Option<String> {
    let leaf = std::arch::x86_64::__cpuid(0x4000_0000);
    let mut bytes = Vec::with_capacity(12);
    for register in [leaf.ebx, leaf.ecx, leaf.edx] {
        bytes.extend_from_slice(&register.to_le_bytes());
    }
    let vendor = String::from_utf8_lossy(&bytes).trim_matches(char::from(0)).trim().to_string();
    (!vendor.is_empty() && vendor.chars().all(|c| c.is_ascii_graphic() || c == ' ')).then_some(vendor)
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_hypervisor_vendor() -> Option<String> {
    None
}

/// Decides container first (a container inside a VM is reported as the container), then VM, from the evidence.
pub fn detect_virtualization(e: &VirtEvidence) -> Virtualization {
    let found = |role, technology: &str, evidence: String| Virtualization {
        role,
        technology: Some(technology.to_string()),
        evidence,
    };
    if let Some(env) = e.container_env.as_deref().filter(|v| !v.is_empty()) {
        return found(VirtualizationRole::Container, env, format!("container={env} in PID 1's environment"));
    }
    if e.has_containerenv_file {
        return found(VirtualizationRole::Container, "podman", "/run/.containerenv exists".to_string());
    }
    if let Some(cgroup) = &e.pid1_cgroup {
        for (marker, technology) in
            [("/kubepods", "kubernetes"), ("/docker", "docker"), ("/lxc", "lxc"), ("/libpod", "podman")]
        {
            if let Some(line) = cgroup.lines().find(|line| line.contains(marker)) {
                return found(VirtualizationRole::Container, technology, format!("/proc/1/cgroup: {line}"));
            }
        }
    }
    // A stale /.dockerenv is left behind when an image built with Docker is booted as a VM; only believe it when `/`
    // is also a union filesystem, as it is inside a running container.
    if e.has_dockerenv_file && matches!(e.root_fs_type.as_deref(), Some("overlay" | "aufs" | "fuse-overlayfs")) {
        return found(VirtualizationRole::Container, "docker", "/.dockerenv exists and / is overlay".to_string());
    }
    if let Some(vendor) = &e.cpuid_vendor {
        let technology = match vendor.as_str() {
            "KVMKVMKVM" | "Linux KVM Hv" => "kvm",
            "VMwareVMware" => "vmware",
            "Microsoft Hv" => "microsoft",
            "XenVMMXenVMM" => "xen",
            "TCGTCGTCGTCG" => "qemu",
            "VBoxVBoxVBox" => "oracle",
            "ACRNACRNACRN" => "acrn",
            "bhyve bhyve " | "bhyve bhyve" => "bhyve",
            _ => "unknown",
        };
        return found(VirtualizationRole::Vm, technology, format!("CPUID hypervisor vendor {vendor:?}"));
    }
    if let Some(xen) = e.hypervisor_type.as_deref().filter(|t| *t == "xen") {
        return found(VirtualizationRole::Vm, xen, "/sys/hypervisor/type: xen".to_string());
    }
    let dmi = [&e.dmi_sys_vendor, &e.dmi_product_name, &e.dmi_bios_vendor];
    for (needle, technology) in [
        ("QEMU", "qemu"),
        ("KVM", "kvm"),
        ("VMware", "vmware"),
        ("VirtualBox", "oracle"),
        ("innotek", "oracle"),
        ("Xen", "xen"),
        ("Virtual Machine", "microsoft"),
        ("Parallels", "parallels"),
        ("Amazon EC2", "amazon"),
        ("Google Compute Engine", "google"),
        ("BHYVE", "bhyve"),
    ] {
        if let Some(value) = dmi.iter().filter_map(|v| v.as_deref()).find(|v| v.contains(needle)) {
            return found(VirtualizationRole::Vm, technology, format!("DMI: {value}"));
        }
    }
    if e.cpu_hypervisor_flag {
        return found(VirtualizationRole::Vm, "unknown", "hypervisor flag in /proc/cpuinfo".to_string());
    }
    Virtualization {
        role: VirtualizationRole::None,
        technology: None,
        evidence: "no hypervisor or container evidence".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_boot_time_and_machine_id() {
        let stat = "cpu  1 2 3\nintr 5\nctxt 6\nbtime 1763933131\nprocesses 7\n";
        assert_eq!(parse_boot_time(stat).unwrap().timestamp(), 1_763_933_131);
        assert_eq!(parse_boot_time("cpu 1\n"), None);
        assert_eq!(
            parse_machine_id("5C1E0ED1D2C84E4E9FB5F2C77E3A6D10\n").as_deref(),
            Some("5c1e0ed1d2c84e4e9fb5f2c77e3a6d10")
        );
        assert_eq!(parse_machine_id("uninitialized\n"), None);
        assert_eq!(parse_machine_id(""), None);
    }

    #[test]
    fn containers_win_over_the_vm_they_run_in() {
        let docker = VirtEvidence {
            pid1_cgroup: Some("0::/docker/3f2a9c\n".into()),
            cpuid_vendor: Some("KVMKVMKVM".into()),
            ..VirtEvidence::default()
        };
        let v = detect_virtualization(&docker);
        assert_eq!((v.role, v.technology.as_deref()), (VirtualizationRole::Container, Some("docker")));

        let podman = VirtEvidence { container_env: Some("podman".into()), ..VirtEvidence::default() };
        assert_eq!(detect_virtualization(&podman).technology.as_deref(), Some("podman"));
    }

    #[test]
    fn a_stale_dockerenv_on_a_vm_is_not_a_container() {
        let booted_image = VirtEvidence {
            has_dockerenv_file: true,
            root_fs_type: Some("ext4".into()),
            cpuid_vendor: Some("KVMKVMKVM".into()),
            cpu_hypervisor_flag: true,
            ..VirtEvidence::default()
        };
        let v = detect_virtualization(&booted_image);
        assert_eq!((v.role, v.technology.as_deref()), (VirtualizationRole::Vm, Some("kvm")));

        let real_container = VirtEvidence { root_fs_type: Some("overlay".into()), ..booted_image };
        assert_eq!(detect_virtualization(&real_container).role, VirtualizationRole::Container);
    }

    #[test]
    fn recognises_hypervisors_from_dmi_strings() {
        // Values as the u-root and fwupd SMBIOS fixtures carry them.
        let vmware = VirtEvidence {
            dmi_sys_vendor: Some("VMware, Inc.".into()),
            dmi_product_name: Some("VMware Virtual Platform".into()),
            ..VirtEvidence::default()
        };
        assert_eq!(detect_virtualization(&vmware).technology.as_deref(), Some("vmware"));
        let hyperv = VirtEvidence {
            dmi_sys_vendor: Some("Microsoft Corporation".into()),
            dmi_product_name: Some("Virtual Machine".into()),
            ..VirtEvidence::default()
        };
        assert_eq!(detect_virtualization(&hyperv).technology.as_deref(), Some("microsoft"));
        let bare_metal = VirtEvidence {
            dmi_sys_vendor: Some("LENOVO".into()),
            dmi_product_name: Some("20L8S07A14".into()),
            ..VirtEvidence::default()
        };
        assert_eq!(detect_virtualization(&bare_metal).role, VirtualizationRole::None);
    }
}
