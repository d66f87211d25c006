//! The generated fleet: machine images built from real inventories, and the hosts made from them (name, identity,
//! age, patch level, check results), each as the report its agent would send.

use std::collections::HashMap;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use muster_collector::rules::{Rules, Severity};
use muster_shared::v1::{
    AutomaticUpdates, CheckStatus, Os, Package, PackageKind, PackageSource, Patches, PendingUpdate, RebootRequired,
    Report, Software, Virtualization, VirtualizationRole,
};

/// The package manager of an image, and what follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Tdnf,
    Apk,
}

impl Manager {
    fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Tdnf => "tdnf",
            Manager::Apk => "apk",
        }
    }

    fn database(self) -> (PackageKind, &'static str, &'static str) {
        match self {
            Manager::Apt => (PackageKind::Deb, "/var/lib/dpkg/status", "dpkg-status"),
            Manager::Tdnf => (PackageKind::Rpm, "/var/lib/rpm/rpmdb.sqlite", "rpm-sqlite"),
            Manager::Apk => (PackageKind::Apk, "/lib/apk/db/installed", "apk-installed"),
        }
    }

    /// The command a remediation names.
    pub fn upgrade(self) -> &'static str {
        match self {
            Manager::Apt => "apt-get install --only-upgrade",
            Manager::Tdnf => "tdnf upgrade",
            Manager::Apk => "apk upgrade",
        }
    }

    /// Version order of advisory ranges.
    pub fn order(self) -> &'static str {
        match self {
            Manager::Apt => "deb",
            Manager::Tdnf => "rpm",
            Manager::Apk => "apk",
        }
    }
}

/// One kind of machine: a real package list and the report parts that go with it.
pub struct Image {
    pub name: &'static str,
    /// Advisory ecosystem of its packages.
    pub ecosystem: &'static str,
    pub manager: Manager,
    security_origin: &'static str,
    base: Report,
    pub packages: Vec<Package>,
    /// Hosts per 1,000.
    share: u64,
    roles: &'static [&'static str],
    /// A VMware guest (otherwise a laptop).
    virtual_machine: bool,
    /// Its OS release is past its end of life.
    pub end_of_life: bool,
}

/// A rule of the built-in policy, as findings name it.
pub struct PolicyRule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub sla_days: u32,
    pub remediation: String,
}

pub struct Fleet {
    pub images: Vec<Image>,
    pub rules: Vec<PolicyRule>,
}

fn read_report(path: &str) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path}"))
}

fn os_release(path: &str) -> anyhow::Result<Os> {
    use muster_agent::inventory::os::{os_from_release, parse_os_release};
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(os_from_release(&parse_os_release(&text)))
}

fn packages(report: &Report) -> Vec<Package> {
    report.software.as_ref().map(|s| s.packages.clone()).unwrap_or_default()
}

impl Fleet {
    /// Debian 12 servers (this build machine's 799 packages) and laptops (the ThinkPad report), Ubuntu 24.04
    /// guests (the VMware report), CBL-Mariner 2.0 (a real rpmdb) and Alpine 3.14 (a real minirootfs). Images
    /// without a report of their own take the VMware guest's hardware and checks.
    pub fn load() -> anyhow::Result<Fleet> {
        use muster_agent::inventory::software::{RpmDbFormat, parse_apk_installed, read_rpmdb};
        let collector = env!("CARGO_MANIFEST_DIR");
        let agent = format!("{collector}/../agent/testdata");
        let laptop = read_report(&format!("{collector}/testdata/reports/debian12-thinkpad-t480s.json"))?;
        let vm = read_report(&format!("{collector}/testdata/reports/ubuntu2404-vmware.json"))?;
        let this_machine = read_report(&format!("{collector}/testdata/inventory/this-machine-debian12-report.json"))?;
        // The reports were taken in root mode: no kernel or architecture, which a live agent reports.
        let on = |base: &Report, os: Os, kernel: Option<&str>, arch: &str| {
            let mut r = base.clone();
            r.os = Some(Os { kernel_release: kernel.map(str::to_owned), architecture: Some(arch.to_owned()), ..os });
            r
        };
        let debian_os = laptop.os.clone().context("the ThinkPad report has no os section")?;
        let mut server = on(&vm, debian_os.clone(), Some("6.1.0-28-amd64"), "x86_64");
        server.checks = laptop.checks.clone();
        let laptop_base = on(&laptop, debian_os, Some("6.1.0-28-amd64"), "x86_64");
        let ubuntu_os = vm.os.clone().context("the VMware report has no os section")?;
        let ubuntu = on(&vm, ubuntu_os, Some("6.8.0-51-generic"), "x86_64");

        let dir = tempfile::tempdir()?;
        let rpmdb = dir.path().join("rpmdb.sqlite");
        let xz = format!("{agent}/pkgdb/rpm/cbl-mariner-2.0/rpmdb.sqlite.xz");
        let mut xz = liblzma::read::XzDecoder::new(std::fs::File::open(&xz).with_context(|| format!("opening {xz}"))?);
        std::io::copy(&mut xz, &mut std::fs::File::create(&rpmdb)?)?;
        let mariner_os = os_release(&format!("{agent}/os-release/mariner-2.0__trivy__mariner-2.0__etc.os-release"))?;
        let mariner = on(&vm, mariner_os, Some("5.15.173.1-1.cm2"), "x86_64");
        let apk_root = format!("{agent}/pkgdb/apk/alpine-3.14.0-minirootfs");
        let apk = std::fs::read(format!("{apk_root}/lib/apk/db/installed"))?;
        // This minirootfs is the armv7 one: ARM boxes at the edge.
        let alpine = on(&vm, os_release(&format!("{apk_root}/etc/os-release"))?, None, "armv7l");

        const SERVERS: &[&str] = &["web", "app", "db", "cache", "api", "worker", "k8s-node", "proxy", "mail", "ldap"];
        let image = |name, ecosystem, manager, security_origin, base, packages, share, roles| Image {
            name,
            ecosystem,
            manager,
            security_origin,
            base,
            packages,
            share,
            roles,
            virtual_machine: true,
            end_of_life: false,
        };
        let debian_security = "Debian-Security/bookworm-security";
        let images = vec![
            image(
                "debian-12-server",
                "Debian:12",
                Manager::Apt,
                debian_security,
                server,
                packages(&this_machine),
                450,
                SERVERS,
            ),
            Image {
                virtual_machine: false,
                ..image(
                    "debian-12-laptop",
                    "Debian:12",
                    Manager::Apt,
                    debian_security,
                    laptop_base,
                    packages(&laptop),
                    100,
                    &["ws"],
                )
            },
            image(
                "ubuntu-24.04",
                "Ubuntu:24.04:LTS",
                Manager::Apt,
                "Ubuntu:24.04/noble-security",
                ubuntu,
                packages(&vm),
                300,
                SERVERS,
            ),
            image(
                "cbl-mariner-2.0",
                "Mariner:2.0",
                Manager::Tdnf,
                "mariner-official-base",
                mariner,
                read_rpmdb(&rpmdb, RpmDbFormat::Sqlite).packages,
                80,
                &["k8s-node", "build", "ci-runner"],
            ),
            Image {
                end_of_life: true,
                ..image(
                    "alpine-3.14",
                    "Alpine:v3.14",
                    Manager::Apk,
                    "alpine/v3.14/main",
                    alpine,
                    parse_apk_installed(&apk).packages,
                    70,
                    &["proxy", "vpn", "monitor"],
                )
            },
        ];
        for image in &images {
            if image.packages.is_empty() {
                bail!("image {} has no packages", image.name);
            }
        }
        let rules = Rules::builtin()?
            .current()
            .rules
            .iter()
            .map(|r| PolicyRule {
                id: r.id.clone(),
                title: r.title.clone(),
                severity: r.severity,
                sla_days: r.sla_days,
                remediation: r.remediation.clone(),
            })
            .collect();
        Ok(Fleet { images, rules })
    }
}

/// A fixed-seed generator (SplitMix64) so every run builds the same fleet.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True `per_mille` times in 1,000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 32 hex digits, like the collector's ids.
    pub fn id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }

    /// Callers pass non-empty slices.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A duration of `from` to `to` days, to the minute.
    pub fn days(&mut self, from: i64, to: i64) -> Duration {
        Duration::minutes(from * 1440 + self.below(((to - from) * 1440).max(1) as u64) as i64)
    }
}

/// A package a host does not have; other levels are its patch level (0 current, 1–2 releases behind).
pub const DROPPED: u8 = u8::MAX;

pub struct HostPlan {
    pub id: String,
    pub image: usize,
    pub hostname: String,
    pub role: &'static str,
    pub site: &'static str,
    pub env: &'static str,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Per package of the image: its patch level or [`DROPPED`].
    pub levels: Vec<u8>,
}

/// A package at patch level `level`: the real version, or one or two releases before it (`~` sorts first in deb,
/// rpm and apk order alike).
pub fn at_level(p: &Package, level: u8) -> Package {
    if level == 0 {
        return p.clone();
    }
    Package {
        version: format!("{}~bench{level}", p.version),
        source_version: p.source_version.as_ref().map(|v| format!("{v}~bench{level}")),
        ..p.clone()
    }
}

pub fn source_of(p: &Package) -> &str {
    p.source_name.as_deref().unwrap_or(&p.name)
}

impl HostPlan {
    /// Host `i`. Host 0 is the one the host page benchmark opens: a Debian server, reporting, every one of its 799
    /// packages installed. `counters` numbers hosts per role and site.
    pub fn new(
        i: usize,
        fleet: &Fleet,
        counters: &mut HashMap<(&'static str, &'static str), u32>,
        now: DateTime<Utc>,
    ) -> HostPlan {
        const SITES: &[&str] = &["fra1", "ams2", "lon1", "nyc3", "sfo2", "sgp1", "par1", "waw1"];
        let mut rng = Rng(0xc0ffee ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut roll = rng.below(1000);
        let mut image = 0;
        for (n, im) in fleet.images.iter().enumerate() {
            if roll < im.share {
                image = n;
                break;
            }
            roll -= im.share;
        }
        if i == 0 {
            image = 0;
        }
        let im = &fleet.images[image];
        let role = *rng.pick(im.roles);
        let site = *rng.pick(SITES);
        let n = counters.entry((role, site)).or_insert(0);
        *n += 1;
        let hostname = format!("{role}-{n:02}.{site}.corp.example");
        let env = match rng.below(10) {
            0..7 => "prod",
            7..9 => "staging",
            _ => "dev",
        };
        // Reporting (72% within the day, 8% quiet for up to a week), stale (12%) and missing (8%).
        let age = rng.below(1000);
        let last_seen = now
            - match age {
                _ if i == 0 => rng.days(0, 1),
                0..720 => rng.days(0, 1),
                720..800 => rng.days(1, 7),
                800..920 => rng.days(7, 30),
                _ => rng.days(30, 60),
            };
        let first_seen = last_seen - rng.days(30, 700);
        let levels = im
            .packages
            .iter()
            .map(|_| match rng.below(1000) {
                _ if i == 0 => 0,
                0..20 => DROPPED,
                20..870 => 0,
                870..970 => 1,
                _ => 2,
            })
            .collect();
        HostPlan { id: rng.id(), image, hostname, role, site, env, first_seen, last_seen, levels }
    }

    /// The installed packages at their patch levels.
    pub fn installed(&self, image: &Image) -> Vec<Package> {
        image.packages.iter().zip(&self.levels).filter(|(_, l)| **l != DROPPED).map(|(p, l)| at_level(p, *l)).collect()
    }

    /// The report this host's agent would send: its image's, with this host's identity, packages, pending updates
    /// and check results.
    pub fn report(&self, fleet: &Fleet) -> Report {
        let im = &fleet.images[self.image];
        let mut rng = Rng(0xabcd ^ u64::from_str_radix(&self.id[..16], 16).unwrap_or(0));
        let mut r = im.base.clone();
        r.host = Some(muster_shared::v1::Host {
            hostname: Some(self.hostname.clone()),
            machine_id: Some(rng.id()),
            boot_time: Some(self.last_seen - rng.days(1, 40)),
            virtualization: im.virtual_machine.then(|| Virtualization {
                role: VirtualizationRole::Vm,
                technology: Some("vmware".into()),
                evidence: "SMBIOS system vendor VMware, Inc.".into(),
            }),
            accounts: Vec::new(),
            directory: None,
        });
        if let Some(system) = r.hardware.as_mut().and_then(|h| h.system.as_mut()) {
            let hex = rng.id();
            let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
            system.serial = Some(if im.virtual_machine {
                format!(
                    "VMware-{}",
                    hex.as_bytes().chunks(2).map(|b| String::from_utf8_lossy(b)).collect::<Vec<_>>().join(" ")
                )
            } else {
                format!("PC{:06X}", rng.below(0xff_ffff))
            });
            system.uuid = Some(uuid);
        }
        let packages = self.installed(im);
        let pending: Vec<PendingUpdate> = im
            .packages
            .iter()
            .zip(&self.levels)
            .filter(|(_, l)| **l != DROPPED && **l > 0)
            .map(|(p, l)| PendingUpdate {
                name: p.name.clone(),
                arch: p.arch.clone(),
                installed_version: at_level(p, *l).version,
                candidate_version: p.version.clone(),
                security: rng.chance(500),
                origin: Some(im.security_origin.to_owned()),
            })
            .collect();
        let reboot = rng.chance(150);
        r.patches = Some(Patches {
            manager: Some(im.manager.name().to_owned()),
            pending_count: Some(pending.len() as u32),
            security_count: Some(pending.iter().filter(|u| u.security).count() as u32),
            pending: Some(pending),
            lists_updated_at: Some(self.last_seen - Duration::hours(3)),
            last_update_installed_at: None,
            installed_updates: vec![],
            reboot_required: Some(RebootRequired {
                required: reboot,
                reasons: if reboot { vec!["/var/run/reboot-required".into()] } else { vec![] },
                packages: vec![],
            }),
            automatic_updates: Some(AutomaticUpdates {
                enabled: self.env == "prod" || rng.chance(300),
                mechanism: Some(if im.manager == Manager::Apt { "unattended-upgrades" } else { "cron" }.into()),
                evidence: vec![],
            }),
            advisories: Vec::new(),
        });
        let (kind, path, format) = im.manager.database();
        let sources = vec![PackageSource {
            kind,
            path: path.into(),
            format: format.into(),
            packages: packages.len() as u32,
            complete: true,
        }];
        r.software = Some(Software { sources, packages, ..Software::default() });
        for c in r.checks.iter_mut().flatten() {
            c.status = match rng.below(1000) {
                0..150 => CheckStatus::Fail,
                150..850 => CheckStatus::Pass,
                850..950 => CheckStatus::NotApplicable,
                _ => CheckStatus::Unknown,
            };
            let outcome = if c.status == CheckStatus::Fail { "fails" } else { "checked" };
            c.evidence = vec![format!("{}: {outcome} on {}", c.id, self.hostname)];
        }
        r.collected_at = self.last_seen;
        r
    }
}
