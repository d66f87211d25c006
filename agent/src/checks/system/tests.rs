//! Host checks over real-format inputs: modprobe.d files, `/proc/sys` values, EFI variables, process tables.

use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Pass, Unknown};

use super::*;
use crate::checks::tests::{Tree, assert_check, assert_reason, fixture};

fn live(processes: &[&str], units: &[&str], container: Option<&str>) -> Runtime {
    Runtime::Live(LiveFacts {
        processes: processes.iter().map(|p| p.to_string()).collect(),
        units: units.iter().map(|u| u.to_string()).collect(),
        container: container.map(String::from),
    })
}

fn find(checks: &[Check], id: &str) -> Check {
    crate::checks::tests::find(checks, id).clone()
}

/// A Debian 12 root with systemd's shipped modprobe.d file.
fn debian() -> Tree {
    let tree = Tree::new();
    tree.file("/lib/modprobe.d/systemd.conf", &fixture("debian12/modprobe-systemd.conf"));
    tree
}

fn run(tree: &Tree, runtime: &Runtime) -> Vec<Check> {
    let mut errors = ErrorLog::new();
    let checks = probe(&tree.root(), runtime, &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    checks
}

#[test]
fn services_are_found_by_process_or_unit() {
    let tree = debian();
    let checks = run(&tree, &live(&["systemd", "sshd", "systemd-timesyn"], &[], None));
    assert_check(&find(&checks, TIME_SYNC), Pass, &["process systemd-timesyn running"]);
    assert_check(&find(&checks, AUDITD), Fail, &["none of auditd running"]);
    let checks = run(&tree, &live(&["auditd"], &["chrony.service"], None));
    assert_check(&find(&checks, TIME_SYNC), Pass, &["unit chrony.service active"]);
    assert_check(&find(&checks, AUDITD), Pass, &["process auditd running"]);
    let checks = run(&tree, &live(&["bash"], &[], None));
    assert_check(&find(&checks, TIME_SYNC), Fail, &["none of chronyd, systemd-timesyn, ntpd running"]);
}

#[test]
fn root_mode_and_containers_do_not_guess_runtime_facts() {
    let tree = debian();
    let checks = run(&tree, &Runtime::NotLive);
    for id in [AUDITD, TIME_SYNC, ASLR, SECURE_BOOT] {
        assert_reason(&find(&checks, id), NotApplicable, NOT_LIVE);
    }
    // modprobe configuration is on disk, so it is judged even on a mounted root.
    assert_eq!(find(&checks, USB_STORAGE).status, Fail);
    let checks = run(&tree, &live(&[], &[], Some("/.dockerenv")));
    for id in [AUDITD, TIME_SYNC, USB_STORAGE, SECURE_BOOT] {
        assert_reason(
            &find(&checks, id),
            NotApplicable,
            "running in a container (/.dockerenv); this is the host's concern",
        );
    }
}

#[test]
fn usb_storage_needs_a_modprobe_rule_and_no_loaded_module() {
    let tree = debian();
    assert_check(&find(&run(&tree, &Runtime::NotLive), USB_STORAGE), Fail, &["no modprobe rule disables usb-storage"]);
    tree.file("/etc/modprobe.d/cis.conf", "# CIS 1.1.10\ninstall usb-storage /bin/false\nblacklist usb_storage\n");
    assert_check(
        &find(&run(&tree, &live(&[], &[], None)), USB_STORAGE),
        Pass,
        &[
            "/etc/modprobe.d/cis.conf:2: install usb-storage /bin/false",
            "/etc/modprobe.d/cis.conf:3: blacklist usb_storage",
            "usb_storage module not loaded",
        ],
    );
    tree.dir("/sys/module/usb_storage");
    assert_eq!(find(&run(&tree, &live(&[], &[], None)), USB_STORAGE).status, Fail);
}

#[test]
fn an_etc_modprobe_file_hides_the_vendor_file_of_the_same_name() {
    let tree = debian();
    tree.file("/lib/modprobe.d/usb.conf", "blacklist usb-storage\n").file("/etc/modprobe.d/usb.conf", "# re-enabled\n");
    assert_eq!(find(&run(&tree, &Runtime::NotLive), USB_STORAGE).status, Fail);
    let commented = Named {
        path: "/etc/modprobe.d/x.conf",
        text: "#install usb-storage /bin/true\ninstall usb-storage /sbin/modprobe --ignore-install usb-storage\n",
    };
    assert!(usb_storage_config(&[commented]).is_empty());
}

#[test]
fn aslr_values() {
    assert_check(&aslr("2\n"), Pass, &["/proc/sys/kernel/randomize_va_space = 2"]);
    assert_check(&aslr("1\n"), Fail, &["/proc/sys/kernel/randomize_va_space = 1"]);
    assert_reason(&aslr("\n"), Unknown, "unexpected value in /proc/sys/kernel/randomize_va_space: \"\"");
}

#[test]
fn secure_boot_from_the_efi_variable() {
    // Attributes NON_VOLATILE|BOOTSERVICE_ACCESS|RUNTIME_ACCESS (0x06), then the value.
    let tree = Tree::new();
    tree.file(SECURE_BOOT_VAR, "\u{6}\0\0\0\u{1}");
    let on = live(&[], &[], None);
    assert_check(&secure_boot_probe(&tree.root(), &on), Pass, &["SecureBoot EFI variable = 1"]);
    tree.file(SECURE_BOOT_VAR, "\u{6}\0\0\0\0");
    assert_check(&secure_boot_probe(&tree.root(), &on), Fail, &["SecureBoot EFI variable = 0"]);
    assert_reason(
        &secure_boot(Some(&[6, 0, 0])),
        Unknown,
        "SecureBoot EFI variable has unexpected content [06, 00, 00]",
    );
    assert_reason(
        &secure_boot_probe(&Tree::new().root(), &on),
        NotApplicable,
        "booted in legacy BIOS mode (no /sys/firmware/efi)",
    );
}

#[test]
fn malware_scanner_installed_or_running() {
    let tree = debian();
    assert_eq!(find(&run(&tree, &Runtime::NotLive), MALWARE).status, Fail);
    assert_check(&find(&run(&tree, &live(&["freshclam"], &[], None)), MALWARE), Pass, &["process freshclam running"]);
    tree.file("/usr/bin/clamscan", "");
    assert_check(&find(&run(&tree, &Runtime::NotLive), MALWARE), Pass, &["/usr/bin/clamscan installed"]);
}
