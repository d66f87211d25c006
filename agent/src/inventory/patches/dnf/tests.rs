//! Patch state of rpm systems checked against the real tools: real RPMs built with `rpmbuild`, published with
//! `createrepo_c` and `modifyrepo_c` (updateinfo), installed into a root with `rpm --root`, cached by the real
//! `dnf --installroot … makecache` from `file://` URLs, and our offline answer compared with `dnf check-update`,
//! `dnf updateinfo list` and `dnf needs-restarting -r` for the same root. Needs Debian's `rpm`, `createrepo-c`,
//! `dnf` and `dnf-plugins-core` (`.ci/prepare.d/20-rpm-tools.sh` installs them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use muster_shared::v1::{CheckStatus, ErrorKind, Package, Patches, SectionName};

use super::repos::Manager;
use super::{metadata, reboot};
use crate::inventory::InventoryConfig;
use crate::inventory::patches::collect;
use crate::inventory::software;
use crate::root::{ErrorLog, SystemRoot};

/// (name, epoch or "", version, release, arch) of every package built.
type Spec = (&'static str, &'static str, &'static str, &'static str, &'static str);

/// Installed into the root: one of them (`glibc`) is a core package for needs-restarting, `zeta` is in no
/// repository and `epsilon` is newer than its repository's.
const INSTALLED: [Spec; 7] = [
    ("alpha", "", "1.0", "1", "noarch"),
    ("beta", "", "2.0", "1", "noarch"),
    ("gamma", "1", "0.9", "1", "noarch"),
    ("delta", "", "1.0~rc1", "1", "x86_64"),
    ("glibc", "", "2.0", "1", "noarch"),
    ("epsilon", "", "3.0", "1", "noarch"),
    ("zeta", "", "1.0", "1", "noarch"),
];

/// `base`: gzip metadata with SQLite databases; gamma 5.0 has no epoch, so it is older than the installed 1:0.9.
const BASE: [Spec; 6] = [
    ("alpha", "", "1.0", "1", "noarch"),
    ("beta", "", "2.0", "1", "noarch"),
    ("gamma", "", "5.0", "1", "noarch"),
    ("delta", "", "1.0~rc1", "1", "x86_64"),
    ("glibc", "", "2.0", "1", "noarch"),
    ("epsilon", "", "2.9", "1", "noarch"),
];

/// `updates`: xz metadata and a bz2 updateinfo; alpha's security fix (1.1) is older than its newest version (1.2).
const UPDATES: [Spec; 4] = [
    ("alpha", "", "1.1", "1", "noarch"),
    ("alpha", "", "1.2", "1", "noarch"),
    ("beta", "", "2.0", "2", "noarch"),
    ("delta", "", "1.0", "1", "x86_64"),
];

/// `disabled`: `enabled=0`, so its newer beta must not count.
const DISABLED: [Spec; 1] = [("beta", "", "2.0", "3", "noarch")];

const UPDATEINFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@example.org" status="final" type="security" version="2">
    <id>TEST-2026:0001</id>
    <title>Important: alpha security update</title>
    <severity>Important</severity>
    <issued date="2026-11-01 00:00:00"/>
    <references><reference href="https://example.org/CVE-2026-0001" id="CVE-2026-0001" type="cve" title="CVE-2026-0001"/></references>
    <description>Fixes CVE-2026-0001.</description>
    <pkglist><collection short="test"><name>test</name>
      <package name="alpha" version="1.1" release="1" epoch="0" arch="noarch" src="alpha-1.1-1.src.rpm"><filename>alpha-1.1-1.noarch.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="bugs@example.org" status="final" type="bugfix" version="2">
    <id>TEST-2026:0002</id>
    <title>beta bug fix update</title>
    <issued date="2026-11-03 00:00:00"/>
    <description>Fixes a crash.</description>
    <pkglist><collection short="test"><name>test</name>
      <package name="beta" version="2.0" release="2" epoch="0" arch="noarch" src="beta-2.0-2.src.rpm"><filename>beta-2.0-2.noarch.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="security@example.org" status="final" type="security" version="2">
    <id>TEST-2026:0003</id>
    <title>Moderate: delta security update</title>
    <severity>Moderate</severity>
    <issued date="2026-11-04 00:00:00"/>
    <description>Fixes CVE-2026-0003 &amp; CVE-2026-0004.</description>
    <pkglist><collection short="test"><name>test</name>
      <package name="delta" version="1.0" release="1" epoch="0" arch="x86_64" src="delta-1.0-1.src.rpm"><filename>delta-1.0-1.x86_64.rpm</filename></package>
    </collection></pkglist>
  </update>
</updates>
"#;

fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    command.output().unwrap_or_else(|err| {
        panic!("{shown}: {err}; install rpm, createrepo-c, dnf and dnf-plugins-core (.ci/prepare.d/20-rpm-tools.sh)")
    })
}

fn ok(command: &mut Command) -> String {
    let shown = format!("{command:?}");
    let output = run(command);
    assert!(output.status.success(), "{shown}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A world with rpm's database in the root's `/var/lib/rpm` (Debian's rpm keeps it in `~/.rpmdb`, which would
/// leave dnf blind to what `rpm --root` installed).
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("HOME", self.path("home")).env("TZ", "UTC").env("LC_ALL", "C.UTF-8");
        command
    }

    fn dnf(&self, args: &[&str]) -> Command {
        let root = self.root();
        let mut command = self.tool("dnf");
        command
            .arg(format!("--installroot={}", root.display()))
            .arg(format!("--setopt=reposdir={}", root.join("etc/yum.repos.d").display()))
            .args(["--releasever=1", "--disableplugin=local", "--setopt=install_weak_deps=0"])
            .args(args);
        command
    }

    fn build(&self, spec: &Spec) -> PathBuf {
        let (name, epoch, version, release, arch) = *spec;
        let top = self.path("build");
        let spec_file = top.join(format!("{name}-{version}-{release}.spec"));
        let epoch_line = if epoch.is_empty() { String::new() } else { format!("Epoch: {epoch}\n") };
        std::fs::create_dir_all(&top).unwrap();
        std::fs::write(
            &spec_file,
            format!(
                "Name: {name}\n{epoch_line}Version: {version}\nRelease: {release}\nSummary: {name} for Muster's \
                 tests\nLicense: MIT\nBuildArch: {arch}\n%description\n{name}\n%files\n"
            ),
        )
        .unwrap();
        ok(self
            .tool("rpmbuild")
            .args(["--quiet", "-bb", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_build_id_links none"])
            .arg(&spec_file));
        top.join(format!("RPMS/{arch}/{name}-{version}-{release}.{arch}.rpm"))
    }

    fn publish(&self, repo: &str, specs: &[Spec], createrepo_args: &[&str], updateinfo: Option<&str>) -> PathBuf {
        let dir = self.path(&format!("repos/{repo}"));
        std::fs::create_dir_all(&dir).unwrap();
        for spec in specs {
            let rpm = self.build(spec);
            std::fs::copy(&rpm, dir.join(rpm.file_name().unwrap())).unwrap();
        }
        ok(self.tool("createrepo_c").arg("--quiet").args(createrepo_args).arg(&dir));
        if let Some(text) = updateinfo {
            let file = self.path("updateinfo.xml");
            std::fs::write(&file, text).unwrap();
            ok(self
                .tool("modifyrepo_c")
                .args(["--mdtype", "updateinfo", "--compress-type", "bz2"])
                .arg(&file)
                .arg(dir.join("repodata")));
        }
        dir
    }
}

/// Builds the repositories, installs the old versions and lets dnf fill its cache.
fn world() -> World {
    let world = World { dir: tempfile::tempdir().unwrap() };
    std::fs::create_dir_all(world.path("home")).unwrap();
    std::fs::write(world.path("home/.rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    let base = world.publish("base", &BASE, &[], None);
    let updates =
        world.publish("updates", &UPDATES, &["--no-database", "--general-compress-type=xz"], Some(UPDATEINFO));
    let disabled = world.publish("disabled", &DISABLED, &["--no-database"], None);

    let root = world.root();
    ok(world.tool("rpm").arg("--root").arg(&root).arg("--initdb"));
    let rpms: Vec<PathBuf> = INSTALLED.iter().map(|spec| world.build(spec)).collect();
    ok(world.tool("rpm").arg("--root").arg(&root).args(["-i", "--nodeps", "--noscripts", "--ignorearch"]).args(&rpms));

    let repos = root.join("etc/yum.repos.d");
    std::fs::create_dir_all(&repos).unwrap();
    let section = |id: &str, dir: &Path, enabled: &str| {
        format!("[{id}]\nname=Muster test {id}\nbaseurl=file://{}\n{enabled}gpgcheck=0\n\n", dir.display())
    };
    std::fs::write(
        repos.join("muster-test.repo"),
        section("base", &base, "") + &section("updates", &updates, "enabled=1\n"),
    )
    .unwrap();
    std::fs::write(repos.join("other.repo"), section("disabled", &disabled, "enabled=0\n")).unwrap();
    // dnf's own configuration file is what tells the agent this root uses dnf.
    std::fs::create_dir_all(root.join("etc/dnf")).unwrap();
    std::fs::write(root.join("etc/dnf/dnf.conf"), "[main]\ngpgcheck=0\n").unwrap();
    ok(&mut world.dnf(&["-q", "makecache"]));
    world
}

/// The agent's view: the real rpmdb reader, then the patches section of the root.
fn agent(world: &World) -> (Vec<Package>, Option<Patches>, ErrorLog) {
    let root = SystemRoot::mounted(world.root());
    let mut errors = ErrorLog::new();
    let software = software::collect(&root, &mut errors);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let patches = collect(&root, Some(&software), None, now, &mut errors);
    (software.packages, patches, errors)
}

/// `name.arch version repo` rows of `dnf check-update` (exit 100 when updates are pending).
fn check_update(world: &World) -> BTreeSet<(String, String, String)> {
    let output = run(&mut world.dnf(&["-C", "check-update"]));
    assert_eq!(output.status.code(), Some(100), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [name_arch, version, repo] => Some((name_arch.into(), version.into(), repo.into())),
                _ => None,
            }
        })
        .collect()
}

/// `(id, kind, severity, name.arch)` rows of `dnf updateinfo list`, whose type column reads `Important/Sec.` for
/// security advisories and the type itself otherwise.
fn updateinfo(world: &World, args: &[&str]) -> BTreeSet<(String, String, Option<String>, String)> {
    let mut all = vec!["-C", "-q", "updateinfo", "list"];
    all.extend_from_slice(args);
    ok(&mut world.dnf(&all))
        .lines()
        .filter_map(|line| {
            let [id, kind, nevra] = line.split_whitespace().collect::<Vec<_>>()[..] else { return None };
            let (kind, severity) = match kind.strip_suffix("/Sec.") {
                Some(severity) => ("security".to_string(), Some(severity.to_string())),
                None => (kind.to_string(), None),
            };
            // nevra is name-version-release.arch; the name is what precedes the last two dashes.
            let (rest, arch) = nevra.rsplit_once('.')?;
            let name = rest.rsplitn(3, '-').nth(2)?;
            Some((id.to_string(), kind, severity, format!("{name}.{arch}")))
        })
        .collect()
}

/// When dnf says it last checked the metadata: `Last metadata expiration check: … ago on Wed Dec  2 07:24:40 2026.`
/// dnf prints the line only once the cache is at least a second old (`age != 0` in dnf's `base.py`), so a check
/// right after `makecache` may need to ask again a second later.
fn last_check(world: &World) -> DateTime<Utc> {
    let mut text = String::new();
    for _ in 0..3 {
        let output = run(&mut world.dnf(&["-C", "check-update"]));
        text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
        if text.contains("Last metadata expiration check:") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let line =
        text.lines().find(|l| l.starts_with("Last metadata expiration check:")).unwrap_or_else(|| panic!("{text}"));
    let stamp = line.rsplit_once(" ago on ").unwrap().1.trim_end_matches('.');
    let stamp = stamp.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&stamp, "%a %b %d %H:%M:%S %Y").unwrap().and_utc()
}

#[test]
fn pending_updates_equal_dnf_on_a_real_repository() {
    let world = world();
    let (installed, patches, errors) = agent(&world);
    assert_eq!(installed.len(), INSTALLED.len(), "the rpmdb reader sees what rpm --root installed");
    let patches = patches.unwrap();
    assert_eq!(patches.manager.as_deref(), Some("dnf"));

    let ours: BTreeSet<(String, String, String)> = patches
        .pending
        .as_ref()
        .unwrap()
        .iter()
        .map(|u| {
            (
                format!("{}.{}", u.name, u.arch.as_deref().unwrap()),
                u.candidate_version.clone(),
                u.origin.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, check_update(&world));
    assert_eq!(patches.pending_count, Some(3));

    // Security: the packages dnf lists security advisories for are exactly those we flag.
    let security = updateinfo(&world, &["--security"]);
    let flagged: BTreeSet<String> = patches
        .pending
        .iter()
        .flatten()
        .filter(|u| u.security)
        .map(|u| format!("{}.{}", u.name, u.arch.as_deref().unwrap()))
        .collect();
    assert_eq!(flagged, security.iter().map(|row| row.3.clone()).collect());
    assert_eq!(patches.security_count, Some(2));

    // Every advisory dnf lists, with its kind and severity, covers the same packages in our report.
    let ours: BTreeSet<(String, String, Option<String>, String)> = patches
        .advisories
        .iter()
        .flat_map(|a| a.packages.iter().map(|p| (a.id.clone(), a.kind.clone(), a.severity.clone(), p.clone())))
        .collect();
    assert_eq!(ours, updateinfo(&world, &[]));

    // The metadata's age is what dnf itself reports.
    assert_eq!(patches.lists_updated_at.map(|t| t.timestamp()), Some(last_check(&world).timestamp()));

    // In --root mode nothing says how long the system has been up.
    assert_eq!(patches.reboot_required, None);
    assert!(errors.as_slice().iter().any(|e| e.item == "reboot_required" && e.kind == ErrorKind::NotAvailable));
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.kind != ErrorKind::NotAvailable).collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");

    // The posture checks read these fields unchanged: the whole inventory of the root, as the agent runs it.
    let config = InventoryConfig {
        root: SystemRoot::mounted(world.root()),
        sections: [SectionName::Software, SectionName::Patches, SectionName::Checks].into_iter().collect(),
        smbios_dump: None,
        language: crate::inventory::software::LanguageScan::default(),
    };
    let now = patches.lists_updated_at.unwrap() + chrono::Duration::days(1);
    let report = crate::inventory::collect(&config, now);
    assert_eq!(report.patches.as_ref(), Some(&patches));
    let checks = report.checks.unwrap();
    let status = |id: &str| checks.iter().find(|c| c.id == id).map(|c| c.status);
    assert_eq!(status("updates.security_pending"), Some(CheckStatus::Fail));
    assert_eq!(status("updates.lists_stale"), Some(CheckStatus::Pass));
    assert_eq!(status("updates.automatic"), Some(CheckStatus::Fail));
    assert_eq!(status("kernel.reboot_required"), Some(CheckStatus::Unknown));
    let security = checks.iter().find(|c| c.id == "updates.security_pending").unwrap();
    assert!(security.evidence.iter().any(|e| e == "alpha 1.0-1 -> 1.2-1 (updates)"), "{:?}", security.evidence);
    assert_eq!(security.remediation.as_deref(), Some("install the security updates (dnf upgrade --security)"));
}

/// needs-restarting's verdict for the packages `rpm --root` just installed, with the boot time it uses.
#[test]
fn reboot_hint_equals_needs_restarting() {
    let world = world();
    let (installed, _, _) = agent(&world);
    let output = run(&mut world.dnf(&["-C", "needs-restarting", "-r"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs: Vec<String> = stdout.lines().filter_map(|l| l.trim().strip_prefix("* ")).map(str::to_string).collect();
    let boot = DateTime::<Utc>::from(std::fs::metadata("/proc/1").unwrap().modified().unwrap());
    let refs: Vec<&Package> = installed.iter().collect();
    let verdict = reboot::decide(Manager::Dnf, &refs, boot, &[]);
    assert_eq!(verdict.packages, theirs, "{stdout}");
    assert_eq!(verdict.required, output.status.code() == Some(1), "{stdout}");
    assert!(verdict.required, "glibc was installed after boot: {stdout}");

    // A package named in needs-restarting.d counts too, for both.
    let extra_dir = world.root().join("etc/dnf/plugins/needs-restarting.d");
    std::fs::create_dir_all(&extra_dir).unwrap();
    std::fs::write(extra_dir.join("muster.conf"), "zeta\n").unwrap();
    let output = run(&mut world.dnf(&["-C", "needs-restarting", "-r"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs: Vec<String> = stdout.lines().filter_map(|l| l.trim().strip_prefix("* ")).map(str::to_string).collect();
    let extra = reboot::extra_names(&[std::fs::read_to_string(extra_dir.join("muster.conf")).unwrap()]);
    assert_eq!(reboot::decide(Manager::Dnf, &refs, boot, &extra).packages, theirs, "{stdout}");
}

/// yum keeps the primary as SQLite below `$basearch/$releasever`; the same repository read that way gives the same
/// answer as dnf's cache of it.
#[test]
fn yum_cache_layout_with_primary_database() {
    let world = world();
    let root = world.root();
    let yum_cache = root.join("var/cache/yum/x86_64/1");
    for (id, dnf_dir) in cached_repos(&root) {
        let target = yum_cache.join(&id);
        std::fs::create_dir_all(target.join("gen")).unwrap();
        let repomd = dnf_dir.join("repodata/repomd.xml");
        std::fs::copy(&repomd, target.join("repomd.xml")).unwrap();
        let refs = metadata::parse_repomd(metadata::open(&repomd).unwrap()).unwrap();
        let published = world.path(&format!("repos/{id}"));
        for data in refs.iter().filter(|r| matches!(r.kind.as_str(), "primary" | "primary_db" | "updateinfo")) {
            let from = published.join(&data.href);
            let name = from.file_name().unwrap();
            std::fs::copy(&from, target.join(name)).unwrap();
            if data.kind == "primary_db" {
                // yum keeps the database uncompressed as gen/primary_db.sqlite.
                let mut out = std::fs::File::create(target.join("gen/primary_db.sqlite")).unwrap();
                std::io::copy(&mut metadata::open(&from).unwrap(), &mut out).unwrap();
            }
        }
        std::fs::write(target.join("cachecookie"), "").unwrap();
    }
    std::fs::remove_dir_all(root.join("var/cache/dnf")).unwrap();
    std::fs::remove_dir_all(root.join("etc/dnf")).unwrap();
    std::fs::write(root.join("etc/yum.conf"), "[main]\ncachedir=/var/cache/yum/$basearch/$releasever\n").unwrap();

    let (_, patches, errors) = agent(&world);
    let patches = patches.unwrap();
    assert_eq!(patches.manager.as_deref(), Some("yum"));
    let rows: Vec<(String, String, bool)> =
        patches.pending.unwrap().into_iter().map(|u| (u.name, u.candidate_version, u.security)).collect();
    assert_eq!(
        rows,
        [
            ("alpha".into(), "1.2-1".into(), true),
            ("beta".into(), "2.0-2".into(), false),
            ("delta".into(), "1.0-1".into(), true)
        ]
    );
    assert!(errors.as_slice().iter().all(|e| e.kind == ErrorKind::NotAvailable), "{:?}", errors.as_slice());
}

/// A repository enabled but never cached is reported; one whose primary is damaged makes the answer unknown
/// rather than partial.
#[test]
fn missing_and_damaged_caches() {
    let world = world();
    let root = world.root();
    std::fs::write(
        root.join("etc/yum.repos.d/never.repo"),
        "[never]\nname=never refreshed\nbaseurl=file:///nonexistent\n",
    )
    .unwrap();
    let (_, patches, errors) = agent(&world);
    assert!(patches.unwrap().pending.is_some());
    let missing: Vec<_> = errors.as_slice().iter().filter(|e| e.kind == ErrorKind::NotFound).collect();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].message.contains("repository never is enabled"), "{}", missing[0].message);

    let (_, updates) = cached_repos(&root).into_iter().find(|(id, _)| id == "updates").unwrap();
    let primary = std::fs::read_dir(updates.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("primary.xml.xz"))
        .unwrap();
    let bytes = std::fs::read(&primary).unwrap();
    std::fs::write(&primary, &bytes[..bytes.len() / 2]).unwrap();
    let (_, patches, errors) = agent(&world);
    let patches = patches.unwrap();
    assert_eq!((patches.pending, patches.pending_count, patches.security_count), (None, None, None));
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::Parse && e.item.ends_with("primary.xml.xz")));
}

/// dnf's cache directories: `<repoid>-<hash>`.
fn cached_repos(root: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(root.join("var/cache/dnf"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name.rsplit_once('-').unwrap().0.to_string(), p)
        })
        .collect()
}
