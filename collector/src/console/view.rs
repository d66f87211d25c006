//! The console's page model: a page is a list of blocks (tables, filters, forms, charts) that one askama template
//! renders, auto-escaping every string. Handlers build blocks from store data; no handler writes HTML.

use askama::Template;

use crate::model::Role;

/// The frame around every signed-in page.
#[derive(Debug, Clone)]
pub struct Nav {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    /// Which top-level section is current (`dashboard`, `hosts`, …).
    pub section: &'static str,
    /// The user has a password here (a local account, not single sign-on).
    pub password: bool,
}

impl Nav {
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    pub fn links(&self) -> Vec<NavLink> {
        let mut links = vec![
            NavLink::new("dashboard", "Dashboard", "/", self.section),
            NavLink::new("hosts", "Hosts", "/hosts", self.section),
            NavLink::new("findings", "Findings", "/findings", self.section),
            NavLink::new("vulnerabilities", "Vulnerabilities", "/vulnerabilities", self.section),
            NavLink::new("software", "Software", "/software", self.section),
            NavLink::new("monitors", "Monitors", "/monitors", self.section),
            NavLink::new("batteries", "Batteries", "/batteries", self.section),
            NavLink::new("tpms", "TPMs", "/tpms", self.section),
            NavLink::new("disposal", "Disposal", "/disposal", self.section),
        ];
        if self.is_admin() {
            links.push(NavLink::new("admin", "Admin", "/admin/users", self.section));
        }
        links
    }
}

#[derive(Debug, Clone)]
pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

impl NavLink {
    fn new(key: &'static str, label: &'static str, href: &'static str, section: &str) -> NavLink {
        NavLink { label, href, current: key == section }
    }
}

#[derive(Template)]
#[template(path = "page.html")]
pub struct Page {
    pub nav: Option<Nav>,
    pub title: String,
    pub blocks: Vec<Block>,
    /// Sub-navigation (admin tabs, host detail anchors).
    pub tabs: Vec<Tab>,
}

#[derive(Debug, Clone)]
pub struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
}

#[derive(Debug, Clone)]
pub enum Block {
    Heading {
        text: String,
        sub: Option<String>,
        badge: Option<Badge>,
    },
    Section {
        title: String,
        anchor: String,
    },
    Notice {
        kind: &'static str,
        text: String,
    },
    /// A secret shown once, with a copy button.
    Secret {
        label: String,
        value: String,
    },
    Stats(Vec<Stat>),
    Pairs(Vec<Pair>),
    Table(Table),
    Filters(Filters),
    Pager(Pager),
    Chart(Chart),
    Form(Form),
    /// Evidence or other preformatted agent text, one line each.
    Lines(Vec<String>),
    /// The advisory upload control; needs JavaScript for its progress bar.
    Upload {
        csrf: String,
    },
    Login {
        next: String,
        error: Option<String>,
        user: String,
        /// The single sign-on link and its label, when configured.
        sso: Option<(String, String)>,
        /// Whether local accounts may sign in with a password.
        local: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Badge {
    pub text: String,
    pub class: String,
}

impl Badge {
    pub fn severity(s: &str) -> Badge {
        Badge { text: s.to_owned(), class: format!("sev sev-{}", css_token(s)) }
    }

    pub fn status(s: &str) -> Badge {
        Badge { text: s.replace('_', " "), class: format!("status status-{}", css_token(s)) }
    }
}

/// Agent-controlled text used in a class name is reduced to `[a-z0-9_-]`.
pub fn css_token(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(32)
        .collect::<String>()
        .to_lowercase()
}

#[derive(Debug, Clone)]
pub struct Stat {
    pub label: String,
    pub value: String,
    pub class: String,
    pub href: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pair {
    pub label: String,
    pub value: String,
    pub href: Option<String>,
}

impl Pair {
    pub fn new(label: &str, value: impl Into<String>) -> Pair {
        Pair { label: label.to_owned(), value: value.into(), href: None }
    }

    pub fn opt(label: &str, value: Option<impl Into<String>>) -> Pair {
        Pair::new(label, value.map(Into::into).unwrap_or_else(|| "—".to_owned()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub id: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub empty: String,
    /// Rows carry a checkbox for this form (bulk actions).
    pub select_form: Option<String>,
}

/// A table without selection boxes or sortable columns, the common case.
pub fn table(id: &str, columns: &[&str], rows: Vec<Vec<Cell>>, empty: &str) -> Block {
    Block::Table(Table {
        id: id.to_owned(),
        columns: columns.iter().map(|c| Column::plain(c)).collect(),
        rows: rows.into_iter().map(|cells| Row { select: None, checked: false, cells }).collect(),
        empty: empty.to_owned(),
        select_form: None,
    })
}

#[derive(Debug, Clone)]
pub struct Column {
    pub label: String,
    /// Link that sorts by this column, and the current direction mark.
    pub sort_href: Option<String>,
    pub sorted: &'static str,
}

impl Column {
    pub fn plain(label: &str) -> Column {
        Column { label: label.to_owned(), sort_href: None, sorted: "" }
    }
}

/// How a list is sorted, for the links that change or keep that: the list's path, its filters, the sort key links
/// leave out (the list's default), and the current key and direction.
#[derive(Debug, Clone)]
pub struct Sorting<'a> {
    pub path: &'a str,
    pub filters: Vec<(&'a str, String)>,
    pub default: &'a str,
    pub current: &'a str,
    pub descending: bool,
}

impl<'a> Sorting<'a> {
    fn key(&self, key: &str) -> String {
        if key == self.default { String::new() } else { key.to_owned() }
    }

    /// A header that sorts the list by `key`; on the current key it reverses the direction and shows it.
    pub fn column(&self, label: &str, key: &str) -> Column {
        let mut pairs = self.filters.clone();
        pairs.push(("sort", self.key(key)));
        if key == self.current && !self.descending {
            pairs.push(("dir", "desc".to_owned()));
        }
        let current = key == self.current;
        Column {
            label: label.to_owned(),
            sort_href: Some(super::link(self.path, &pairs)),
            sorted: if !current {
                ""
            } else if self.descending {
                " ↓"
            } else {
                " ↑"
            },
        }
    }

    /// The filters and the current sort: for pagers, exports and forms that keep both.
    pub fn pairs(&self) -> Vec<(&'a str, String)> {
        let mut pairs = self.filters.clone();
        pairs.push(("sort", self.key(self.current)));
        pairs.push(("dir", if self.descending { "desc".into() } else { String::new() }));
        pairs
    }
}

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub select: Option<String>,
    /// The row's checkbox starts ticked (a refused bulk action shows the selection again).
    pub checked: bool,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    /// Always a link we built (a path of this console, ids percent-encoded); never agent text as is.
    pub href: Option<String>,
    pub class: String,
    pub mono: bool,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), ..Cell::default() }
    }

    pub fn mono(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), mono: true, ..Cell::default() }
    }

    pub fn link(text: impl Into<String>, href: String) -> Cell {
        Cell { text: text.into(), href: Some(href), ..Cell::default() }
    }

    pub fn badge(badge: Badge) -> Cell {
        Cell { text: badge.text, class: badge.class, ..Cell::default() }
    }
}

/// A GET form that filters a list, with export links for the same filter.
#[derive(Debug, Clone)]
pub struct Filters {
    pub action: String,
    pub fields: Vec<Field>,
    pub exports: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub enum FieldKind {
    Text { value: String, placeholder: String },
    Password,
    Date { value: String },
    Textarea { value: String },
    Select { options: Vec<Choice> },
    Checkbox { checked: bool },
    Hidden { value: String },
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Field {
    pub fn text(name: &str, label: &str, value: Option<&str>, placeholder: &str) -> Field {
        Field {
            name: name.to_owned(),
            label: label.to_owned(),
            kind: FieldKind::Text { value: value.unwrap_or_default().to_owned(), placeholder: placeholder.to_owned() },
            required: false,
        }
    }

    /// A select whose first option (value `""`) means "any".
    pub fn select(name: &str, label: &str, any: &str, options: &[(&str, &str)], current: Option<&str>) -> Field {
        let mut choices = vec![Choice { value: String::new(), label: any.to_owned(), selected: current.is_none() }];
        choices.extend(options.iter().map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: current == Some(*value),
        }));
        Field {
            name: name.to_owned(),
            label: label.to_owned(),
            kind: FieldKind::Select { options: choices },
            required: false,
        }
    }

    pub fn checkbox(name: &str, label: &str, checked: bool) -> Field {
        Field { name: name.to_owned(), label: label.to_owned(), kind: FieldKind::Checkbox { checked }, required: false }
    }

    pub fn hidden(name: &str, value: &str) -> Field {
        Field {
            name: name.to_owned(),
            label: String::new(),
            kind: FieldKind::Hidden { value: value.to_owned() },
            required: false,
        }
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }
}

/// A POST form; the CSRF token is added by the template.
#[derive(Debug, Clone)]
pub struct Form {
    pub id: String,
    pub action: String,
    pub title: String,
    pub fields: Vec<Field>,
    /// Submit buttons: (name=`op` value, label, css class). One entry with an empty value submits without `op`.
    pub buttons: Vec<(String, String, String)>,
    pub csrf: String,
    /// Asked before submitting (JavaScript `confirm`), e.g. for revocations.
    pub confirm: Option<String>,
    pub inline: bool,
}

#[derive(Debug, Clone)]
pub struct Pager {
    pub text: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// A line chart drawn server-side as SVG, numbers only.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub series: Vec<Series>,
    /// Axis labels: (x, y, text).
    pub labels: Vec<(f64, f64, String)>,
    /// Horizontal grid lines at these y.
    pub grid: Vec<f64>,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub class: String,
    /// SVG `points` attribute: `x,y x,y …`.
    pub points: String,
    /// Each day's value as a dot, so a single day still shows.
    pub dots: Vec<(f64, f64)>,
    /// Dot radius: smaller for each later series, so equal values show as concentric rings, not one dot.
    pub radius: f64,
    pub last: i64,
}
