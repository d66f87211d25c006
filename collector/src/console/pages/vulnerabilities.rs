//! The console's vulnerability and software pages.

use super::*;

#[derive(Debug, Deserialize, Default)]
pub struct VulnerabilitiesQuery {
    /// An advisory id or alias (CVE): opens that advisory.
    id: Option<String>,
    severity: Option<String>,
    kev: Option<String>,
    package: Option<String>,
    offset: Option<i64>,
    format: Option<String>,
}

pub async fn vulnerabilities(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<VulnerabilitiesQuery>,
) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let mut lookup_notice = None;
    if let Some(id) = opt(&q.id) {
        if state.store.vulnerability(id).await?.is_some() {
            return Ok(Redirect::to(&format!("/vulnerabilities/{}", encode(id))).into_response());
        }
        lookup_notice = Some(Block::Notice { kind: "warn", text: format!("No imported advisory is named {id}.") });
    }
    let offset = q.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    let (limit, offset) = if format == Format::Html { (PAGE, offset) } else { (MAX_EXPORT_ROWS, 0) };
    let severity = opt(&q.severity).map(str::to_owned);
    let kev = q.kev.as_deref() == Some("true");
    let page = state
        .store
        .list_vulnerabilities(&VulnerabilityFilter {
            severities: severity.iter().cloned().collect(),
            kev: kev.then_some(true),
            package: opt(&q.package).map(str::to_owned),
            limit,
            offset,
        })
        .await?;
    match format {
        Format::Csv => {
            let header =
                ["id", "aliases", "severity", "cvss", "kev", "affected_hosts", "packages", "fix_available", "summary"];
            let rows = page.vulnerabilities.iter().map(|v| {
                vec![
                    v.id.clone(),
                    v.aliases.join(" "),
                    v.severity.clone(),
                    v.cvss_score.map(|c| c.to_string()).unwrap_or_default(),
                    v.kev.to_string(),
                    v.affected_hosts.to_string(),
                    v.packages.join(" "),
                    v.fix_available.to_string(),
                    v.summary.clone().unwrap_or_default(),
                ]
            });
            return Ok(export::csv("vulnerabilities", &header, rows));
        }
        Format::Json => return Ok(export::json("vulnerabilities", &page)?),
        Format::Html => {}
    }
    let pairs: Vec<(&str, String)> = vec![
        ("severity", severity.clone().unwrap_or_default()),
        ("kev", if kev { "true".into() } else { String::new() }),
        ("package", opt(&q.package).unwrap_or_default().to_owned()),
    ];
    let sev_options = [
        ("critical", "Critical"),
        ("high", "High"),
        ("medium", "Medium"),
        ("low", "Low"),
        ("negligible", "Negligible"),
        ("unknown", "Unknown"),
    ];
    let mut blocks = vec![
        Block::Heading {
            text: "Vulnerabilities".into(),
            sub: Some(format!("{} advisories affect at least one host", page.total)),
            badge: None,
        },
        Block::Filters(Filters {
            action: "/vulnerabilities".into(),
            fields: vec![
                Field::text("id", "Advisory or CVE", None, "CVE-2024-3094"),
                Field::select("severity", "Severity", "any", &sev_options, severity.as_deref()),
                Field::checkbox("kev", "KEV-listed only", kev),
                Field::text("package", "Package", opt(&q.package), "openssl"),
            ],
            exports: exports("/vulnerabilities", &pairs),
        }),
        table(
            "vulnerabilities",
            &["Advisory", "Aliases", "Severity", "KEV", "Hosts", "Packages", "Fix", "Summary"],
            page.vulnerabilities
                .iter()
                .map(|v| {
                    vec![
                        Cell::link(&v.id, format!("/vulnerabilities/{}", encode(&v.id))),
                        Cell::text(v.aliases.join(", ")),
                        Cell::badge(Badge::severity(&v.severity)),
                        Cell::text(if v.kev { "KEV" } else { "" }),
                        Cell::text(v.affected_hosts.to_string()),
                        Cell::text(v.packages.join(", ")),
                        Cell::text(if v.fix_available { "available" } else { "none yet" }),
                        Cell::text(v.summary.clone().unwrap_or_default()),
                    ]
                })
                .collect(),
            "No vulnerability affects any host.",
        ),
        pager("/vulnerabilities", &pairs, offset, page.vulnerabilities.len(), page.total),
    ];
    if let Some(notice) = advisory_notice(&state, (state.clock)()).await? {
        blocks.insert(1, notice);
    }
    if let Some(notice) = lookup_notice {
        blocks.insert(1, notice);
    }
    Ok(viewer.page("vulnerabilities", "Vulnerabilities", blocks))
}

pub async fn vulnerability(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let v = state.store.vulnerability(&id).await?.ok_or_else(|| not_found("advisory"))?;
    let mut blocks =
        vec![Block::Heading { text: v.id.clone(), sub: v.summary.clone(), badge: Some(Badge::severity(&v.severity)) }];
    blocks.push(Block::Pairs(vec![
        Pair::new("Aliases", v.aliases.join(", ")),
        Pair::opt("CVSS", v.cvss_score.map(|c| format!("{c} {}", s(&v.cvss_vector)))),
        Pair::new(
            "Known exploited (KEV)",
            v.kev_date_added.map(|d| format!("yes, added {d}")).unwrap_or_else(|| "no".into()),
        ),
        Pair::new("Published", when_opt(v.published)),
        Pair::new("Modified", when_opt(v.modified)),
        Pair::new(
            "Packages",
            v.affected_packages.iter().map(|p| format!("{} ({})", p.name, p.ecosystem)).collect::<Vec<_>>().join(", "),
        ),
        Pair::new("Other advisories", v.other_advisories.join(", ")),
    ]));
    // The record's own words, as plain text (escaped like every agent or feed string; Markdown is not rendered).
    if let Some(details) = v.details.as_deref().filter(|d| !d.trim().is_empty()) {
        blocks.push(Block::Section { title: "Details".into(), anchor: "details".into() });
        blocks.push(Block::Lines(details.lines().map(str::to_owned).collect()));
    }
    blocks.push(Block::Section { title: format!("Affected hosts ({})", v.affected_hosts), anchor: "hosts".into() });
    blocks.push(table(
        "affected-hosts",
        &["Host", "Package", "Installed", "Fixed in", "Remediation"],
        v.hosts
            .iter()
            .map(|a| {
                vec![
                    Cell::link(&a.hostname, format!("/hosts/{}", encode(&a.host_id))),
                    // A package in one of the host's container images says which image.
                    Cell::text(match &a.image_id {
                        Some(id) => {
                            format!("{} (container image {})", a.package, muster_shared::v1::short_image_id(id))
                        }
                        None => a.package.clone(),
                    }),
                    Cell::mono(&a.installed_version),
                    Cell::mono(a.fixed_version.clone().unwrap_or_else(|| "no fix yet".into())),
                    Cell::mono(s(&a.remediation)),
                ]
            })
            .collect(),
        "No host is affected.",
    ));
    Ok(viewer.page("vulnerabilities", v.id.clone(), blocks))
}

#[derive(Debug, Deserialize, Default)]
pub struct SoftwareQuery {
    name: Option<String>,
    kind: Option<String>,
    format: Option<String>,
}

pub async fn software(State(state): State<AppState>, viewer: Viewer, Query(q): Query<SoftwareQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let name = opt(&q.name).map(str::to_owned);
    // The page shows ten hosts per version; exports list them all.
    let versions = match (&name, format) {
        (Some(n), Format::Html) => state.store.software_by_name_sample(n, 10).await?,
        (Some(n), _) => state.store.software_by_name(n).await?,
        (None, _) => Vec::new(),
    };
    match format {
        Format::Csv => {
            let rows = versions.iter().flat_map(|v| {
                v.hosts.iter().map(move |h| {
                    vec![
                        v.name.clone(),
                        v.version.clone(),
                        s(&v.arch),
                        v.kind.clone(),
                        h.id.clone(),
                        h.hostname.clone(),
                    ]
                })
            });
            return Ok(export::csv("software", &["package", "version", "arch", "kind", "host_id", "hostname"], rows));
        }
        Format::Json => return Ok(export::json("software", &versions)?),
        Format::Html => {}
    }
    let kind = opt(&q.kind).map(str::to_owned);
    // Names containing the text, of every kind (or the one chosen): what to look at when the exact name is not
    // the one the fleet uses (`log4j` for Maven's `org.apache.logging.log4j:log4j-core`).
    let search = match &name {
        Some(n) => Some(crate::app::software::search(state.store.as_ref(), n, kind.as_deref()).await),
        None => None,
    };
    let versions: Vec<_> = versions.into_iter().filter(|v| kind.as_ref().is_none_or(|k| &v.kind == k)).collect();
    let pairs = vec![("name", name.clone().unwrap_or_default())];
    let mut blocks = vec![
        Block::Heading {
            text: "Software".into(),
            sub: Some("Which hosts have a package, in which versions".into()),
            badge: None,
        },
        Block::Filters(Filters {
            action: "/software".into(),
            fields: vec![
                Field::text("name", "Package or source package, or part of its name", name.as_deref(), "openssl")
                    .required(),
                Field::select(
                    "kind",
                    "Kind",
                    "every kind",
                    &muster_shared::v1::PackageKind::ALL.map(|k| (k.as_str(), k.as_str())),
                    kind.as_deref(),
                ),
            ],
            exports: if name.is_some() { exports("/software", &pairs) } else { vec![] },
        }),
    ];
    if name.is_some() {
        let hosts: usize = versions.iter().map(|v| v.host_count).sum();
        blocks.push(Block::Notice {
            kind: "info",
            text: format!("{} version(s) on {hosts} host installation(s).", versions.len()),
        });
        blocks.push(table(
            "software-versions",
            &["Package", "Version", "Arch", "Kind", "Hosts", "Where"],
            versions
                .iter()
                .map(|v| {
                    let mut where_ = v.hosts.iter().take(10).map(|h| h.hostname.clone()).collect::<Vec<_>>().join(", ");
                    if v.host_count > v.hosts.len() {
                        where_.push_str(&format!(" and {} more (export for all)", v.host_count - v.hosts.len()));
                    }
                    vec![
                        Cell::text(&v.name),
                        Cell::mono(&v.version),
                        Cell::text(s(&v.arch)),
                        Cell::text(&v.kind),
                        Cell::text(v.host_count.to_string()),
                        Cell::text(where_),
                    ]
                })
                .collect(),
            "No host has a package of exactly this name.",
        ));
    }
    match search {
        Some(Ok(found)) => {
            let shown = found.matches.len();
            blocks.push(Block::Heading {
                text: format!("Names containing \"{}\"", name.as_deref().unwrap_or_default().trim()),
                sub: Some(if found.truncated {
                    format!("the {shown} on most hosts; add to the text or choose a kind to narrow it")
                } else {
                    format!("{shown} name(s), every kind unless one is chosen")
                }),
                badge: None,
            });
            blocks.push(table(
                "software-names",
                &["Name", "Kind", "Versions", "Hosts"],
                found
                    .matches
                    .iter()
                    .map(|m| {
                        let mut params = vec![("name", m.name.clone())];
                        params.push(("kind", m.kind.clone()));
                        vec![
                            Cell::link(&m.name, link("/software", &params)),
                            Cell::text(&m.kind),
                            Cell::text(m.versions.to_string()),
                            Cell::text(m.hosts.to_string()),
                        ]
                    })
                    .collect(),
                "No package name contains this text.",
            ));
        }
        Some(Err(e)) => blocks.push(Block::Notice { kind: "warn", text: e.to_string() }),
        None => {}
    }
    Ok(viewer.page("software", "Software", blocks))
}
