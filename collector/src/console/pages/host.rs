//! The console's host page: one host's facts, risk, findings, vulnerabilities and software, each long section
//! paged.

use super::findings::findings_table;
use super::*;
use crate::model::risk::RiskScore;

#[derive(Debug, Deserialize, Default)]
pub struct HostQuery {
    /// Software search on the host page.
    software: Option<String>,
    /// `csv` or `json`: the host's (matching) software as a download.
    format: Option<String>,
    /// Where each long section's page starts (`PAGE` rows each).
    findings_offset: Option<usize>,
    vulnerabilities_offset: Option<usize>,
    image_vulnerabilities_offset: Option<usize>,
    pending_offset: Option<usize>,
    updates_offset: Option<usize>,
    software_offset: Option<usize>,
    accounts_offset: Option<usize>,
    images_offset: Option<usize>,
    containers_offset: Option<usize>,
    history_offset: Option<usize>,
}

/// The host page's paged sections: no section shows more than `PAGE` rows, however large the host.
const PAGED: [&str; 10] = [
    "findings",
    "vulnerabilities",
    "image_vulnerabilities",
    "pending",
    "updates",
    "software",
    "accounts",
    "images",
    "containers",
    "history",
];

impl HostQuery {
    fn offset(&self, section: &str) -> usize {
        match section {
            "findings" => self.findings_offset,
            "vulnerabilities" => self.vulnerabilities_offset,
            "image_vulnerabilities" => self.image_vulnerabilities_offset,
            "pending" => self.pending_offset,
            "updates" => self.updates_offset,
            "software" => self.software_offset,
            "accounts" => self.accounts_offset,
            "images" => self.images_offset,
            "containers" => self.containers_offset,
            "history" => self.history_offset,
            _ => None,
        }
        .unwrap_or(0)
    }
}

/// One page of a host page section from `q`'s offset for it, and a pager when the rows do not fit; the pager's
/// links keep the other sections where they are and jump back to this one.
fn section_page<T>(
    host_id: &str,
    q: &HostQuery,
    section: &str,
    anchor: &str,
    rows: &[T],
) -> (std::ops::Range<usize>, Option<Block>) {
    let page = PAGE as usize;
    let total = rows.len();
    let start = q.offset(section).min(total.saturating_sub(1) / page * page);
    let end = (start + page).min(total);
    if total <= page {
        return (0..total, None);
    }
    let at = |offset: usize| {
        let mut pairs: Vec<(&str, String)> = vec![("software", opt(&q.software).unwrap_or_default().to_owned())];
        // Each section's parameter is its name and `_offset`, as `HostQuery` spells its fields.
        let keys: Vec<String> = PAGED.iter().map(|name| format!("{name}_offset")).collect();
        for (name, key) in PAGED.iter().zip(&keys) {
            let o = if *name == section { offset } else { q.offset(name) };
            if o > 0 {
                pairs.push((key, o.to_string()));
            }
        }
        format!("{}#{anchor}", link(&format!("/hosts/{}", encode(host_id)), &pairs))
    };
    let pager = Block::Pager(Pager {
        text: format!("{}–{end} of {total}", start + 1),
        prev: (start > 0).then(|| at(start.saturating_sub(page))),
        next: (end < total).then(|| at(end)),
    });
    (start..end, Some(pager))
}

/// The host's packages whose name contains `needle` (case-insensitive).
fn matching_software<'a>(
    software: &'a [crate::views::InstalledPackage],
    needle: Option<&str>,
) -> Vec<&'a crate::views::InstalledPackage> {
    let needle = needle.map(str::to_lowercase);
    software.iter().filter(|p| needle.as_ref().is_none_or(|n| p.name.to_lowercase().contains(n.as_str()))).collect()
}

fn section<T: serde::de::DeserializeOwned>(detail: &crate::views::HostDetail, name: &str) -> Option<T> {
    detail.sections.get(name).and_then(|s| serde_json::from_value(s.content.clone()).ok())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The columns of a battery's row: the host (the fleet's list only), then [`battery_cells`]'s.
pub(super) const BATTERY_COLUMNS: [&str; 10] = [
    "Host",
    "Battery",
    "Manufacturer",
    "Serial",
    "Health",
    "Cycles",
    "Condition",
    "Chemistry",
    "Design capacity",
    "Full charge",
];

/// A battery's cells as the host page and the battery list show them, as [`BATTERY_COLUMNS`] names them after the
/// host.
pub(super) fn battery_cells(b: &muster_shared::v1::Battery) -> [Cell; BATTERY_COLUMNS.len() - 1] {
    // Tenths of a Wh, rounded half up in integers (19450 mWh is 19.5 Wh, not binary 19.4).
    let mwh = |v: Option<u32>| {
        v.map(|v| (u64::from(v) + 50) / 100).map(|t| format!("{}.{} Wh", t / 10, t % 10)).unwrap_or_default()
    };
    [
        Cell::text(s(&b.model)),
        Cell::text(s(&b.manufacturer)),
        Cell::mono(s(&b.serial)),
        Cell::text(b.health_percent().map(|p| format!("{p}%")).unwrap_or_default()),
        Cell::text(b.cycle_count.map(|c| c.to_string()).unwrap_or_default()),
        Cell::text(s(&b.condition)),
        Cell::text(s(&b.chemistry)),
        Cell::text(mwh(b.design_capacity_mwh)),
        Cell::text(mwh(b.full_charge_capacity_mwh)),
    ]
}

/// A monitor's cells as the host page and the monitor list show them: product id, manufacturer, model, serial,
/// when made, size, connector.
pub(super) fn monitor_cells(m: &muster_shared::v1::Monitor) -> Vec<Cell> {
    use crate::app::monitors::{made, product_id, serial};
    let size = match (m.width_cm, m.height_cm) {
        (Some(w), Some(h)) => format!("{w} × {h} cm"),
        _ => String::new(),
    };
    vec![
        Cell::text(product_id(m)),
        Cell::text(&m.manufacturer_id),
        Cell::text(s(&m.model)),
        Cell::mono(serial(m).unwrap_or_default()),
        Cell::text(made(m)),
        Cell::text(size),
        Cell::mono(&m.connector),
    ]
}

/// The TPM in one line: `2.0, NTC firmware 7.2.3.1, enabled, activated, owned`; a state the system did not give
/// is left out, a false one is said (`not enabled`).
fn tpm_text(tpm: &muster_shared::v1::Tpm) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(tpm.spec_version.clone());
    let vendor = match (&tpm.manufacturer, &tpm.firmware_version) {
        (Some(m), Some(f)) => Some(format!("{m} firmware {f}")),
        (Some(m), None) => Some(m.clone()),
        (None, Some(f)) => Some(format!("firmware {f}")),
        (None, None) => None,
    };
    parts.extend(vendor);
    for (flag, word) in [(tpm.enabled, "enabled"), (tpm.activated, "activated"), (tpm.owned, "owned")] {
        match flag {
            Some(true) => parts.push(word.to_owned()),
            Some(false) => parts.push(format!("not {word}")),
            None => {}
        }
    }
    if parts.is_empty() { "present".to_owned() } else { parts.join(", ") }
}

/// The present parts, space-separated; "—" when none is.
fn joined(parts: &[&Option<String>]) -> String {
    let text = parts.iter().filter_map(|p| p.as_deref()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    if text.is_empty() { "—".to_owned() } else { text }
}

pub async fn host(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<HostQuery>,
) -> PageResult {
    let now = (state.clock)();
    let format = Format::parse(q.format.as_deref())?;
    if format != Format::Html {
        let host = state.store.get_host_summary(&id).await?.ok_or_else(|| not_found("host"))?;
        let software = state.store.host_software(&host.id).await?;
        let matching = matching_software(&software, opt(&q.software));
        let name = format!("software-{}", crate::console::view::css_token(&host.hostname));
        return Ok(match format {
            Format::Csv => export::csv(
                &name,
                &["package", "version", "arch", "kind", "source", "source_version", "publisher", "channel"],
                matching.iter().map(|p| {
                    vec![
                        p.name.clone(),
                        p.version.clone(),
                        s(&p.arch),
                        p.kind.clone(),
                        s(&p.source_name),
                        s(&p.source_version),
                        s(&p.publisher),
                        s(&p.channel),
                    ]
                }),
            ),
            _ => export::json(&name, &matching)?,
        });
    }
    let detail = state.store.get_host(&id).await?.ok_or_else(|| not_found("host"))?;
    let h = &detail.host;
    let hardware: Option<Hardware> = section(&detail, "hardware");
    let os: Option<Os> = section(&detail, "os");
    let patches: Option<Patches> = section(&detail, "patches");
    let checks: Option<Vec<Check>> = section(&detail, "checks");
    let host_section: Option<Host> = section(&detail, "host");
    let status = ages(&state, now).status(h.last_seen);

    let mut blocks = vec![Block::Heading {
        text: h.hostname.clone(),
        sub: Some(format!("{} · last seen {}", s(&h.os_pretty_name), when(h.last_seen))),
        badge: Some(Badge::status(status.as_str())),
    }];
    if h.duplicate_identity {
        blocks.push(Block::Notice {
            kind: "warn",
            text: "Another live agent claims this hardware identity (cloned machine?).".into(),
        });
    }
    let risk = RiskScore::of(state.store.host_risk(&h.id).await?);
    blocks.push(Block::Pairs(vec![
        Pair {
            label: "Risk score".into(),
            value: format!("{} = {}", risk.total, risk.explain()),
            href: Some(link("/findings", &[("host", h.id.clone())])),
        },
        Pair::new("Host id", h.id.clone()),
        Pair::opt("Machine id", h.machine_id.clone()),
        Pair::opt("System serial", h.system_serial.clone()),
        Pair::opt("System UUID", h.system_uuid.clone()),
        Pair::new("Tags", h.tags.join(", ")),
        Pair::opt("Agent", h.agent_version.clone()),
        Pair::new("First seen", when(h.first_seen)),
        Pair {
            label: "Lifecycle".into(),
            value: "disposal status".into(),
            href: Some(format!("/disposal/{}", encode(&h.id))),
        },
        Pair::opt(
            "Virtualization",
            host_section
                .as_ref()
                .and_then(|x| x.virtualization.as_ref())
                .map(|v| format!("{:?} {}", v.role, v.technology.clone().unwrap_or_default()).to_lowercase()),
        ),
        Pair::opt("Directory", host_section.as_ref().and_then(|x| x.directory.as_ref()).map(directory_text)),
    ]));

    // Findings and vulnerabilities first: they are why a security manager opens the page.
    let findings = state
        .store
        .list_findings(&FindingFilter {
            severity: None,
            status: None,
            rule_id: None,
            host_id: Some(h.id.clone()),
            kind: None,
            overdue: None,
            active: false,
            sort: FindingSort::Priority,
            descending: false,
            now,
            limit: PAGE,
            offset: q.offset("findings") as i64,
        })
        .await?;
    // Rule findings and vulnerability fixes alike, as the host list counts them.
    blocks.push(Block::Section { title: format!("Findings ({})", findings.total), anchor: "findings".into() });
    blocks.push(findings_table(&findings.findings, None, &Default::default(), "No finding on this host.", None));
    let offset = q.offset("findings") as i64;
    if findings.total > PAGE {
        let at = |o: i64| {
            let mut pairs = vec![("software", opt(&q.software).unwrap_or_default().to_owned())];
            if o > 0 {
                pairs.push(("findings_offset", o.to_string()));
            }
            format!("{}#findings", link(&format!("/hosts/{}", encode(&h.id)), &pairs))
        };
        let end = offset + findings.findings.len() as i64;
        blocks.push(Block::Pager(Pager {
            text: format!("{}–{end} of {}", offset + 1, findings.total),
            prev: (offset > 0).then(|| at((offset - PAGE).max(0))),
            next: (end < findings.total).then(|| at(end)),
        }));
    }

    let vulns = state.store.host_vulnerabilities(&h.id).await?;
    let (own, in_images) = match &vulns {
        Some(v) => (v.vulnerabilities.as_slice(), v.container_image_vulnerabilities.as_slice()),
        None => (&[][..], &[][..]),
    };
    let vuln_row = |e: &crate::store::advisories::HostVulnerabilityEntry| {
        vec![
            Cell::link(&e.id, format!("/vulnerabilities/{}", encode(&e.id))),
            Cell::badge(Badge::severity(&e.severity)),
            Cell::text(if e.kev { "KEV" } else { "" }),
            // Two copies of one library are two rows: where each was found tells them apart.
            Cell::text(match &e.path {
                Some(path) => format!("{} ({}, {path})", e.package, e.package_kind),
                None => e.package.clone(),
            }),
            Cell::mono(&e.installed_version),
            Cell::mono(e.fixed_version.clone().unwrap_or_else(|| "no fix yet".into())),
            Cell::text(s(&e.summary)),
        ]
    };
    let vuln_rows: Vec<Vec<Cell>> = own.iter().map(vuln_row).collect();
    blocks.push(Block::Section {
        title: format!("Vulnerabilities ({})", vuln_rows.len()),
        anchor: "vulnerabilities".into(),
    });
    let (range, pager) = section_page(&h.id, &q, "vulnerabilities", "vulnerabilities", &vuln_rows);
    blocks.push(table(
        "host-vulnerabilities",
        &["Advisory", "Severity", "KEV", "Package", "Installed", "Fixed in", "Summary"],
        vuln_rows[range].to_vec(),
        "No known vulnerability.",
    ));
    blocks.extend(pager);
    if !in_images.is_empty() {
        // Each image is matched as a machine of its own OS; its rows say which image, first.
        let rows: Vec<Vec<Cell>> = in_images
            .iter()
            .map(|e| {
                let mut row = vec![Cell::mono(s(&e.image_name))];
                row.extend(vuln_row(e));
                row
            })
            .collect();
        blocks.push(Block::Section {
            title: format!("Vulnerabilities in container images ({})", rows.len()),
            anchor: "image-vulnerabilities".into(),
        });
        let (range, pager) = section_page(&h.id, &q, "image_vulnerabilities", "image-vulnerabilities", &rows);
        blocks.push(table(
            "image-vulnerabilities",
            &["Image", "Advisory", "Severity", "KEV", "Package", "Installed", "Fixed in", "Summary"],
            rows[range].to_vec(),
            "No known vulnerability.",
        ));
        blocks.extend(pager);
    }

    blocks.push(Block::Section { title: "Hardware".into(), anchor: "hardware".into() });
    if let Some(hw) = &hardware {
        let sys = hw.system.clone().unwrap_or_default();
        let board = hw.board.clone().unwrap_or_default();
        let bios = hw.bios.clone().unwrap_or_default();
        blocks.push(Block::Pairs(vec![
            Pair::new("System", joined(&[&sys.vendor, &sys.product, &sys.version])),
            Pair::opt("System serial", sys.serial.clone()),
            Pair::new("Board", joined(&[&board.vendor, &board.product])),
            Pair::opt("Board serial", board.serial.clone()),
            Pair::new("BIOS", joined(&[&bios.vendor, &bios.version, &bios.date])),
            Pair::opt("CPU", hw.cpu.as_ref().and_then(|c| c.model.clone())),
            Pair::opt(
                "Cores / threads",
                hw.cpu.as_ref().map(|c| format!("{} / {}", c.cores.unwrap_or(0), c.threads.unwrap_or(0))),
            ),
            Pair::opt("Memory", hw.memory.as_ref().map(|m| bytes(m.total_bytes))),
            Pair::opt("TPM", hw.tpm.as_ref().map(tpm_text)),
        ]));
        blocks.push(table(
            "memory-modules",
            &["Slot", "Size", "Type", "Speed", "Manufacturer", "Serial", "Part number"],
            hw.memory_modules
                .iter()
                .map(|m| {
                    vec![
                        Cell::text(s(&m.slot)),
                        Cell::text(m.size_bytes.map(bytes).unwrap_or_default()),
                        Cell::text(s(&m.memory_type)),
                        Cell::text(m.speed_mts.map(|v| format!("{v} MT/s")).unwrap_or_default()),
                        Cell::text(s(&m.manufacturer)),
                        Cell::mono(s(&m.serial)),
                        Cell::mono(s(&m.part_number)),
                    ]
                })
                .collect(),
            "No memory module reported.",
        ));
        blocks.push(table(
            "disks",
            &["Disk", "Model", "Serial", "Size", "Type", "Transport"],
            hw.disks
                .iter()
                .map(|d| {
                    vec![
                        Cell::mono(&d.name),
                        Cell::text(format!("{} {}", s(&d.vendor), s(&d.model)).trim().to_owned()),
                        Cell::mono(s(&d.serial)),
                        Cell::text(bytes(d.size_bytes)),
                        Cell::text(match d.rotational {
                            Some(true) => "HDD",
                            Some(false) => "SSD",
                            None => "",
                        }),
                        Cell::text(s(&d.transport)),
                    ]
                })
                .collect(),
            "No disk reported.",
        ));
        blocks.push(table(
            "interfaces",
            &["Interface", "MAC", "Addresses", "State"],
            hw.network_interfaces
                .iter()
                .map(|n| {
                    vec![
                        Cell::mono(&n.name),
                        Cell::mono(s(&n.mac)),
                        Cell::mono(n.addresses.join(" ")),
                        Cell::text(if n.up { "up" } else { "down" }),
                    ]
                })
                .collect(),
            "No interface reported.",
        ));
        // Displays are inventoried assets too (issue 19): the serial on their label, from the EDID.
        blocks.push(table(
            "monitors",
            &["Monitor", "Manufacturer", "Model", "Serial", "Made", "Size", "Connector"],
            hw.monitors.iter().map(monitor_cells).collect(),
            "No monitor reported.",
        ));
        // Worn packs are what a laptop refresh or a disposal check looks for: health is the full charge against the
        // design capacity, or the percentage the system reports where it gives no capacities (a Mac), beside its
        // own verdict.
        blocks.push(table(
            "batteries",
            &BATTERY_COLUMNS[1..],
            hw.batteries.iter().map(|b| battery_cells(b).to_vec()).collect(),
            "No battery reported.",
        ));
    } else {
        blocks.push(Block::Notice { kind: "info", text: "No hardware section reported.".into() });
    }

    blocks.push(Block::Section { title: "Operating system".into(), anchor: "os".into() });
    if let Some(os) = &os {
        blocks.push(Block::Pairs(vec![
            Pair::opt("Name", os.pretty_name.clone()),
            Pair::opt("Id / version", os.id.as_ref().map(|id| format!("{id} {}", s(&os.version_id)))),
            Pair::opt("Kernel", os.kernel_release.clone()),
            Pair::opt("Architecture", os.architecture.clone()),
        ]));
    }

    blocks.push(Block::Section { title: "Patches".into(), anchor: "patches".into() });
    if let Some(p) = &patches {
        blocks.push(Block::Pairs(vec![
            Pair::opt("Pending updates", p.pending_count.map(|n| n.to_string())),
            Pair::opt("Security updates", p.security_count.map(|n| n.to_string())),
            Pair::opt(
                "Reboot required",
                p.reboot_required
                    .as_ref()
                    .map(|r| if r.required { format!("yes ({})", r.reasons.join(", ")) } else { "no".to_owned() }),
            ),
            Pair::opt(
                "Automatic updates",
                p.automatic_updates
                    .as_ref()
                    .map(|a| if a.enabled { format!("on ({})", s(&a.mechanism)) } else { "off".to_owned() }),
            ),
            Pair::opt("Package lists updated", p.lists_updated_at.map(when)),
            Pair::opt("Last update installed", p.last_update_installed_at.map(when)),
        ]));
        let pending = p.pending.clone().unwrap_or_default();
        let (range, pager) = section_page(&h.id, &q, "pending", "patches", &pending);
        blocks.push(table(
            "pending-updates",
            &["Package", "Installed", "Candidate", "Security", "Origin"],
            pending[range]
                .iter()
                .map(|u| {
                    vec![
                        Cell::text(&u.name),
                        Cell::mono(&u.installed_version),
                        Cell::mono(&u.candidate_version),
                        Cell::text(if u.security { "security" } else { "" }),
                        Cell::text(s(&u.origin)),
                    ]
                })
                .collect(),
            "No pending update.",
        ));
        blocks.extend(pager);
        // Only systems whose updater keeps a list apart from their packages (Windows) have one to show.
        if !p.installed_updates.is_empty() {
            let mut updates: Vec<&InstalledUpdate> = p.installed_updates.iter().collect();
            updates.sort_by(|a, b| b.installed_at.cmp(&a.installed_at).then_with(|| a.id.cmp(&b.id)));
            let (range, pager) = section_page(&h.id, &q, "updates", "installed-updates", &updates);
            blocks.push(Block::Section { title: "Installed updates".into(), anchor: "installed-updates".into() });
            blocks.push(table(
                "installed-updates",
                &["Update", "Title", "Kind", "Product", "Installed"],
                updates[range]
                    .iter()
                    .map(|u| {
                        vec![
                            Cell::mono(&u.id),
                            Cell::text(s(&u.title)),
                            Cell::text(s(&u.kind)),
                            Cell::text(s(&u.product)),
                            // A day: what Windows shows, and all an Uninstall entry records.
                            Cell::text(u.installed_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()),
                        ]
                    })
                    .collect(),
                "No installed update.",
            ));
            blocks.extend(pager);
        }
    }

    blocks.push(Block::Section { title: "Posture checks".into(), anchor: "checks".into() });
    blocks.push(table(
        "checks",
        &["Check", "Status", "Evidence", "Remediation"],
        checks
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let status = match c.status {
                    CheckStatus::Pass => "pass",
                    CheckStatus::Fail => "fail",
                    CheckStatus::NotApplicable => "not_applicable",
                    CheckStatus::Unknown => "unknown",
                };
                let mut evidence = c.evidence.join("\n");
                if let Some(reason) = &c.reason {
                    evidence = format!("{reason}\n{evidence}");
                }
                vec![
                    Cell::mono(&c.id),
                    Cell::badge(Badge::status(status)),
                    Cell::mono(evidence.trim()),
                    Cell::text(s(&c.remediation)),
                ]
            })
            .collect(),
        "No posture check reported.",
    ));

    // What other machines can reach (issue 19): a vulnerable package behind one of these ranks higher.
    let listeners = section::<crate::model::StoredSoftware>(&detail, "software").unwrap_or_default().listeners;
    blocks.push(Block::Section {
        title: format!("Listening services ({})", listeners.len()),
        anchor: "listening".into(),
    });
    blocks.push(table(
        "listening",
        &["Address", "Port", "Protocol", "Process", "Executable", "Package"],
        listeners
            .iter()
            .map(|l| {
                vec![
                    Cell::mono(&l.address),
                    Cell::mono(l.port.to_string()),
                    Cell::text(l.protocol.as_str()),
                    Cell::text(s(&l.process)),
                    Cell::mono(s(&l.executable)),
                    match &l.owner {
                        Some(owner) => Cell::link(owner, link("/software", &[("name", owner.clone())])),
                        None => Cell::text(""),
                    },
                ]
            })
            .collect(),
        "No socket listens beyond loopback, or the agent does not report sockets (older agents, a mounted root).",
    ));

    containers(
        &mut blocks,
        &h.id,
        &q,
        section::<crate::model::StoredSoftware>(&detail, "software").unwrap_or_default(),
    );

    // Who can sign in and who can act as root: administrators first, then the accounts with a login shell.
    let mut accounts = host_section.as_ref().map(|x| x.accounts.clone()).unwrap_or_default();
    accounts.sort_by_key(|a| (!a.admin, !a.interactive, a.uid));
    let admins = accounts.iter().filter(|a| a.admin).count();
    blocks.push(Block::Section {
        title: format!("Accounts ({}, {admins} with administrative rights)", accounts.len()),
        anchor: "accounts".into(),
    });
    let (range, pager) = section_page(&h.id, &q, "accounts", "accounts", &accounts);
    blocks.push(table(
        "accounts",
        &["Account", "UID", "Administrator", "Why", "Groups", "Shell", "Last login"],
        accounts[range]
            .iter()
            .map(|a| {
                vec![
                    Cell::mono(&a.name),
                    Cell::mono(a.uid.to_string()),
                    Cell::text(if a.admin { "yes" } else { "" }),
                    Cell::mono(a.admin_evidence.join("\n")),
                    Cell::text(a.groups.join(", ")),
                    Cell::mono(format!("{}{}", s(&a.shell), if a.interactive { "" } else { " (no login)" })),
                    Cell::text(a.last_login.as_ref().map_or_else(String::new, |l| match &l.from {
                        Some(from) => format!("{} from {from}", when(l.at)),
                        None => format!("{} on {}", when(l.at), l.line.as_deref().unwrap_or("a local terminal")),
                    })),
                ]
            })
            .collect(),
        "No account reported (older agents do not report accounts).",
    ));
    blocks.extend(pager);

    let software = state.store.host_software(&h.id).await?;
    let matching = matching_software(&software, opt(&q.software));
    blocks
        .push(Block::Section { title: format!("Software ({} installed)", software.len()), anchor: "software".into() });
    blocks.push(Block::Filters(Filters {
        action: format!("/hosts/{}#software", encode(&h.id)),
        fields: vec![Field::text("software", "Package", opt(&q.software), "name contains…")],
        exports: exports(
            &format!("/hosts/{}", encode(&h.id)),
            &[("software", opt(&q.software).unwrap_or_default().to_owned())],
        ),
    }));
    let (range, pager) = section_page(&h.id, &q, "software", "software", &matching);
    blocks.push(table(
        "software",
        &["Package", "Version", "Arch", "Kind", "Source or publisher"],
        matching[range]
            .iter()
            .map(|p| {
                // A distribution's packages name their source package; others (snaps, flatpaks, Windows programs,
                // Homebrew taps) their publisher, and the channel the host follows where there is one.
                let channel = p.channel.as_ref().map(|c| format!("channel {c}"));
                let origin = [p.source_name.as_ref().or(p.publisher.as_ref()), channel.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" · ");
                vec![
                    Cell::link(&p.name, link("/software", &[("name", p.name.clone())])),
                    Cell::mono(&p.version),
                    Cell::text(s(&p.arch)),
                    Cell::text(&p.kind),
                    Cell::text(origin),
                ]
            })
            .collect(),
        "No package matches.",
    ));
    blocks.extend(pager);

    let history = state.store.host_history(&h.id, 1000, 0).await?;
    blocks.push(Block::Section { title: "History".into(), anchor: "history".into() });
    let (range, pager) = section_page(&h.id, &q, "history", "history", &history);
    blocks.push(table(
        "history",
        &["When", "Event", "Subject", "From", "To"],
        history[range]
            .iter()
            .map(|e| {
                vec![
                    Cell::text(when(e.at)),
                    Cell::text(e.kind.as_str().replace('_', " ")),
                    Cell::text(&e.subject),
                    Cell::mono(s(&e.from)),
                    Cell::mono(s(&e.to)),
                ]
            })
            .collect(),
        "No change recorded yet.",
    ));
    blocks.extend(pager);

    let tabs = [
        "findings",
        "vulnerabilities",
        "hardware",
        "os",
        "patches",
        "checks",
        "listening",
        "accounts",
        "software",
        "history",
    ]
    .iter()
    .map(|a| Tab { label: a.to_owned().replace("os", "OS"), href: format!("#{a}"), current: false })
    .collect();
    Ok(viewer.page_with_tabs("hosts", h.hostname.clone(), tabs, blocks))
}

/// The host's child assets: its engines' container images (each with its own OS and package count) and containers.
fn containers(blocks: &mut Vec<Block>, host_id: &str, q: &HostQuery, software: crate::model::StoredSoftware) {
    let short = muster_shared::v1::short_image_id;
    let images = software.container_images;
    blocks.push(Block::Section { title: format!("Container images ({})", images.len()), anchor: "images".into() });
    let (range, pager) = section_page(host_id, q, "images", "images", &images);
    blocks.push(table(
        "images",
        &["Image", "ID", "Engine", "OS", "Packages", "Created", "Digest"],
        images[range]
            .iter()
            .map(|stored| {
                let i = &stored.image;
                let packages = match (i.sources.is_empty(), stored.packages_complete()) {
                    (true, _) => "not read".to_owned(),
                    (false, true) => stored.package_count.to_string(),
                    (false, false) => format!("{} (incomplete)", stored.package_count),
                };
                vec![
                    Cell::mono(if i.tags.is_empty() { "<untagged>".to_owned() } else { i.tags.join("\n") }),
                    Cell::mono(short(&i.id)),
                    Cell::text(i.engine.as_str()),
                    Cell::text(
                        i.os.as_ref().and_then(|o| o.pretty_name.clone().or_else(|| o.id.clone())).unwrap_or_default(),
                    ),
                    Cell::text(packages),
                    Cell::text(i.created.map(when).unwrap_or_default()),
                    Cell::mono(i.digests.join("\n")),
                ]
            })
            .collect(),
        "No container image reported (no Docker or Podman state on the host, or an older agent).",
    ));
    blocks.extend(pager);

    let containers = software.containers;
    let running = containers.iter().filter(|c| c.state.as_deref() == Some("running")).count();
    blocks.push(Block::Section {
        title: format!("Containers ({}, {running} running)", containers.len()),
        anchor: "containers".into(),
    });
    let (range, pager) = section_page(host_id, q, "containers", "containers", &containers);
    blocks.push(table(
        "containers",
        &["Name", "Engine", "State", "Image", "Image ID", "Created"],
        containers[range]
            .iter()
            .map(|c| {
                vec![
                    Cell::mono(&c.name),
                    Cell::text(c.engine.as_str()),
                    Cell::text(c.state.as_deref().unwrap_or("unknown")),
                    Cell::mono(c.image.as_deref().unwrap_or("")),
                    Cell::mono(short(&c.image_id)),
                    Cell::text(c.created.map(when).unwrap_or_default()),
                ]
            })
            .collect(),
        "No container reported.",
    ));
    blocks.extend(pager);
}

/// Where the machine is joined, as one line: `domain CONTOSO, Entra ID Contoso (<tenant id>)`, `workgroup WORKGROUP`, or
/// `none` when nothing manages it.
fn directory_text(d: &muster_shared::v1::Directory) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(d.domain.as_ref().map(|n| format!("domain {n}")));
    for t in &d.entra_tenants {
        parts.push(match &t.name {
            Some(name) => format!("Entra ID {name} ({})", t.id),
            None => format!("Entra ID {}", t.id),
        });
    }
    if d.domain.is_none() {
        parts.extend(d.workgroup.as_ref().map(|n| format!("workgroup {n}")));
    }
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}
