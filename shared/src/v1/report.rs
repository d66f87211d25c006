//! The top-level report, its host/OS/patch/check sections and the error list that explains every absent value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Hardware, Software};

/// One complete (or partial, see `errors`) inventory of one machine or mounted root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`super::SCHEMA`] for this module.
    pub schema: String,
    pub agent: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<Software>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
    /// What could not be collected and why. One failing section never stops the others.
    #[serde(default)]
    pub errors: Vec<CollectionError>,
    pub collected_at: DateTime<Utc>,
}

impl Report {
    /// Whether the report carries section `name` (in a delta envelope, absent means sent as a hash only).
    pub fn has_section(&self, name: SectionName) -> bool {
        match name {
            SectionName::Host => self.host.is_some(),
            SectionName::Hardware => self.hardware.is_some(),
            SectionName::Os => self.os.is_some(),
            SectionName::Software => self.software.is_some(),
            SectionName::Patches => self.patches.is_some(),
            SectionName::Checks => self.checks.is_some(),
        }
    }

    /// Drops section `name`, e.g. to send it as a hash only.
    pub fn clear_section(&mut self, name: SectionName) {
        match name {
            SectionName::Host => self.host = None,
            SectionName::Hardware => self.hardware = None,
            SectionName::Os => self.os = None,
            SectionName::Software => self.software = None,
            SectionName::Patches => self.patches = None,
            SectionName::Checks => self.checks = None,
        }
    }
}

/// Which agent produced the report and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub version: String,
    /// `live` for the running system, `root` when `--root` pointed at a mounted filesystem tree, `smbios_dump` when
    /// a saved SMBIOS table was decoded (the report then holds the dump's firmware data and nothing else).
    pub mode: CollectionMode,
    /// The filesystem root read in `root` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Sections that were asked for; the others are absent on purpose, not by failure.
    pub sections: Vec<SectionName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMode {
    Live,
    Root,
    /// `--smbios-dump`: only what a saved SMBIOS table holds, possibly of another machine.
    SmbiosDump,
}

/// The report's sections, as named on the command line (`--sections`) and in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionName {
    Host,
    Hardware,
    Os,
    Software,
    Patches,
    Checks,
}

impl SectionName {
    pub const ALL: [SectionName; 6] = [
        SectionName::Host,
        SectionName::Hardware,
        SectionName::Os,
        SectionName::Software,
        SectionName::Patches,
        SectionName::Checks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SectionName::Host => "host",
            SectionName::Hardware => "hardware",
            SectionName::Os => "os",
            SectionName::Software => "software",
            SectionName::Patches => "patches",
            SectionName::Checks => "checks",
        }
    }

    pub fn parse(name: &str) -> Option<SectionName> {
        SectionName::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for SectionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity and runtime facts of the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `/etc/machine-id`: stable per installation, changes when a machine is reinstalled or a VM is cloned properly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualization: Option<Virtualization>,
    /// Local accounts (`/etc/passwd`), their groups and who holds administrative rights. Absent from older agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Account>,
    /// The directories that manage the machine (Windows: its Active Directory domain or workgroup, and Microsoft
    /// Entra ID); absent where not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Directory>,
}

/// Where a machine is joined: a domain or a workgroup, and cloud directories. A machine joined to both a domain and
/// Entra ID is what Microsoft calls hybrid joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The Active Directory domain (its NetBIOS name) the machine is joined to; absent when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The workgroup of a machine joined to no domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workgroup: Option<String>,
    /// The Microsoft Entra ID tenants the device is joined to (one, in practice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entra_tenants: Vec<EntraTenant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraTenant {
    /// The tenant's id (a GUID).
    pub id: String,
    /// Its display name, where the device keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// False when the shell refuses logins (`nologin`, `false`): a service account.
    pub interactive: bool,
    /// The primary group's name first, then the supplementary groups (`/etc/group`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Whether the account can act as root: uid 0, membership of `sudo`, `wheel` or `admin`, or a sudoers rule
    /// granting it every command.
    pub admin: bool,
    /// Why `admin` is true: `uid 0`, `group sudo`, or the sudoers rule (`path:line: text`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_evidence: Vec<String>,
    /// The latest login the system recorded (absent when none is, or from older agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<LastLogin>,
}

/// One recorded login: when, on which terminal, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastLogin {
    pub at: DateTime<Utc>,
    /// The terminal, e.g. `pts/0` or `tty1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The remote host or address for a network login (`192.0.2.7`, `::1`); absent for a local console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The record it came from: `lastlog` (`/var/log/lastlog`, per uid), `wtmp` (`/var/log/wtmp` and its
    /// rotation `wtmp.1`, per name), `lastlog2` (`/var/lib/lastlog/lastlog2.db`) or `wtmpdb`
    /// (`/var/lib/wtmpdb/wtmp.db`).
    pub source: String,
}

/// What the machine runs inside, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtualization {
    /// `none`, `vm` or `container`.
    pub role: VirtualizationRole,
    /// e.g. `kvm`, `vmware`, `xen`, `microsoft` (Hyper-V), `oracle` (VirtualBox), `docker`, `podman`, `lxc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technology: Option<String>,
    /// The file or value that decided it.
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VirtualizationRole {
    None,
    Vm,
    Container,
}

/// The operating system, from os-release plus the running kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    /// `ID`, e.g. `debian`, `ubuntu`, `rhel`, `alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `ID_LIKE`, split on spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// `VARIANT_ID` (e.g. `workstation`, `server`); on Windows the edition, lowercased `EditionID` (`professional`,
    /// `enterprise`, `enterprises` for LTSC), which decides the release's end of life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    /// Which file the values came from (`/etc/os-release` or `/usr/lib/os-release`, relative to the root read), or
    /// on Windows and macOS the registry key or command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Running kernel (`uname -r`); live systems only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    /// Running architecture, e.g. `x86_64`; live systems only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// Pending updates and related patch facts. Fields are absent when unknown; the reason is in the report errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patches {
    /// The package manager whose state was read, e.g. `apt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Every installed package with a newer candidate; absent when pending updates could not be computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<PendingUpdate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_count: Option<u32>,
    /// When the package lists were last refreshed (`apt update`; on macOS, Software Update's last successful check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lists_updated_at: Option<DateTime<Utc>>,
    /// When the system's own updater last installed an update of the system (macOS: Software Update's last
    /// installation that was not a data file, from `InstallHistory.plist`); absent where not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_installed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_required: Option<RebootRequired>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_updates: Option<AutomaticUpdates>,
    /// The repositories' advisories (rpm-md `updateinfo`) that the pending updates would install; empty where the
    /// package manager publishes none (apt, apk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<UpdateAdvisory>,
    /// The updates the system's updater has installed, one per update (Windows: the servicing stack's installed
    /// packages, and the entries "Installed updates" lists); empty where the system keeps no such list apart from its
    /// packages (Linux, macOS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installed_updates: Vec<InstalledUpdate>,
}

/// One installed update of the system or of a product (Windows: a knowledge-base article's update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledUpdate {
    /// The knowledge-base article, e.g. `KB5034441`; for an update that names none (Windows 10's cumulative
    /// updates in the servicing stack), its package identity, e.g. `Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.2965.1.8`.
    pub id: String,
    /// The title Windows shows, e.g. `Security Update for Windows XP (KB2079403)`; the servicing stack keeps none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// As the update says: `Security Update`, `Update`, `Hotfix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What it updates, e.g. `Windows XP - Software Updates`, `Microsoft Office Professional Plus 2010`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// When it was installed; midnight UTC where only the day is recorded (an Uninstall entry's `InstallDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<DateTime<Utc>>,
    /// Where it was read, e.g. the registry key.
    pub source: String,
}

/// An advisory (erratum) from a repository's `updateinfo`, e.g. `RHSA-2024:1234`, `ALSA-2024:1234`, `FEDORA-2024-…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAdvisory {
    pub id: String,
    /// `security`, `bugfix`, `enhancement` or `newpackage`, as the repository writes it.
    pub kind: String,
    /// e.g. `Critical`, `Important`, `Moderate`, `Low`; absent when the advisory gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The pending updates it covers, as `name.arch`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

/// One installed package with a newer candidate version available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub installed_version: String,
    pub candidate_version: String,
    /// True when the candidate comes from a security suite (e.g. `bookworm-security`, `jammy-security`), or, on
    /// rpm-md repositories, when a `security` advisory names a version above the installed one.
    pub security: bool,
    /// Where the candidate comes from, e.g. `Debian-Security/bookworm-security`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRequired {
    pub required: bool,
    /// Why: the flag file, the packages it names, or the running kernel older than the newest installed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomaticUpdates {
    pub enabled: bool,
    /// e.g. `unattended-upgrades`, `dnf-automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    /// The configuration lines that decided it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// The outcome of one security posture check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable id, e.g. `ssh.permit_root_login`.
    pub id: String,
    pub status: CheckStatus,
    /// Why the status is `unknown` or `not_applicable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The file and line, or the value read, that decided the status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// One line telling an administrator how to fix a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    NotApplicable,
    Unknown,
}

/// Something that could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionError {
    pub section: SectionName,
    /// The field or source concerned, e.g. `system.serial`, `software.rpm`, `/var/lib/dpkg/status`.
    pub item: String,
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The fact exists only on a running system and this is a mounted root.
    NotAvailable,
    /// The source does not exist on this system.
    NotFound,
    PermissionDenied,
    /// The source exists but its content could not be understood (truncated, corrupt, odd encoding).
    Parse,
    Io,
    /// A placeholder such as `To Be Filled By O.E.M.` was read and discarded.
    JunkValue,
    Unsupported,
    /// A bounded scan stopped early.
    Truncated,
}
