//! The Windows Update Agent's COM API behind the patches section's pending updates: when Automatic Updates last
//! searched successfully (`IAutomaticUpdates2`) and what an offline search of Windows' last scan offers
//! (`IUpdateSearcher`), read on a thread of their own with a deadline, for [`super::wua`] to interpret.

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, PendingUpdate, SectionName};

use super::wua;
use crate::root::ErrorLog;

/// The pending updates and when Windows last searched, each error recorded in the patches section: no pending
/// updates without a successful search on record ([`wua::pending_after_search`]).
pub fn pending_updates(errors: &mut ErrorLog) -> (Option<Vec<PendingUpdate>>, Option<DateTime<Utc>>) {
    let (last_search, offered) = windows_update_within(WUA_SEARCH_TIMEOUT);
    let last_search = match last_search {
        Ok(Some(at)) => wua::LastSearch::At(at),
        Ok(None) => wua::LastSearch::Never,
        Err(err) => {
            errors.record(
                SectionName::Patches,
                "Windows Update Agent last search",
                com_error_kind(&err),
                err.to_string(),
            );
            wua::LastSearch::Unread
        }
    };
    let lists_updated_at = last_search.at();
    let pending = match offered {
        Ok(offered) => match wua::pending_after_search(&offered, last_search) {
            Ok(pending) => Some(pending),
            Err(why) => {
                errors.record(SectionName::Patches, "Windows Update Agent search", ErrorKind::NotAvailable, why);
                None
            }
        },
        Err(err) => {
            errors.record(SectionName::Patches, "Windows Update Agent search", com_error_kind(&err), err.to_string());
            None
        }
    };
    (pending, lists_updated_at)
}

/// A failed COM call of the Windows Update Agent, and what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
struct WuaError {
    step: &'static str,
    source: windows::core::Error,
}

/// Not implemented (Wine's agent) or no such interface (an agent older than Windows 7's) is unsupported; anything
/// else is an error of this machine's.
fn com_error_kind(err: &WuaError) -> ErrorKind {
    use windows::Win32::Foundation::{E_NOINTERFACE, E_NOTIMPL};
    if err.source.code() == E_NOTIMPL || err.source.code() == E_NOINTERFACE {
        ErrorKind::Unsupported
    } else {
        ErrorKind::Io
    }
}

/// COM for this thread for as long as it lives, released only if this call initialized it (WMI may have first).
struct ComScope(bool);

impl ComScope {
    fn enter() -> ComScope {
        use windows::Win32::System::Com::{COINIT_MULTITHREADED, CoInitializeEx};
        // SAFETY: no reserved pointer; S_OK and S_FALSE each need one CoUninitialize, a thread already in another
        // apartment (RPC_E_CHANGED_MODE) needs none and can still make the calls.
        ComScope(unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) }.is_ok())
    }
}

impl Drop for ComScope {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: balances the successful CoInitializeEx of `enter` on this thread.
            unsafe { windows::Win32::System::Com::CoUninitialize() };
        }
    }
}

/// How long the Windows Update Agent may take to answer: seconds, but it waits behind a busy update service.
const WUA_SEARCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Set while a Windows Update Agent read runs, so reports after a hung one do not start more.
static WUA_BUSY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What the Windows Update Agent said: when it last searched successfully, and what the offline search offers.
type WindowsUpdateRead = (Result<Option<DateTime<Utc>>, WuaError>, Result<Vec<wua::OfferedUpdate>, WuaError>);

/// [`last_search_success`] and [`offered_updates`] on a thread of their own, given up after `timeout` so a hung
/// update service does not hold the report (the thread is left to finish or hang alone, and no other starts until
/// it ends).
fn windows_update_within(timeout: std::time::Duration) -> WindowsUpdateRead {
    use std::sync::atomic::Ordering;
    let failed = |message: String| -> WindowsUpdateRead {
        let err = || WuaError {
            step: "asking the Windows Update Agent",
            source: windows::core::Error::new(windows::Win32::Foundation::E_FAIL, message.as_str()),
        };
        (Err(err()), Err(err()))
    };
    if WUA_BUSY.swap(true, Ordering::AcqRel) {
        return failed("an earlier read has not answered yet".to_string());
    }
    let (send, receive) = std::sync::mpsc::channel();
    /// Clears the busy flag however the read ends, an unwinding panic included.
    struct Idle;
    impl Drop for Idle {
        fn drop(&mut self) {
            WUA_BUSY.store(false, Ordering::Release);
        }
    }
    let idle = Idle;
    let spawned = std::thread::Builder::new().name("windows-update".to_string()).spawn(move || {
        let _idle = idle;
        let read = (last_search_success(), offered_updates());
        // The receiver is gone only after the timeout, when nobody waits for the answer.
        let _ = send.send(read);
    });
    if let Err(err) = spawned {
        // The closure, and the flag's guard with it, was dropped unrun.
        return failed(format!("no thread for the read: {err}"));
    }
    match receive.recv_timeout(timeout) {
        Ok(read) => read,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => failed(format!("no answer within {} s", timeout.as_secs())),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => failed("the read ended without an answer".to_string()),
    }
}

/// The updates the Windows Update Agent offers, from an offline search of what Windows' own last scan fetched.
fn offered_updates() -> Result<Vec<wua::OfferedUpdate>, WuaError> {
    use windows::Win32::Foundation::{E_FAIL, VARIANT_FALSE};
    use windows::Win32::System::Com::{CLSCTX_INPROC_SERVER, CoCreateInstance};
    use windows::Win32::System::UpdateAgent::{IUpdateSession, UpdateSession, orcSucceeded};
    use windows::core::BSTR;
    let step = |step: &'static str| move |source| WuaError { step, source };
    let _com = ComScope::enter();
    // SAFETY: COM is initialized on this thread; every interface is used while the session that made it lives.
    unsafe {
        let session: IUpdateSession =
            CoCreateInstance(&UpdateSession, None, CLSCTX_INPROC_SERVER).map_err(step("creating an update session"))?;
        let searcher = session.CreateUpdateSearcher().map_err(step("creating an update searcher"))?;
        searcher.SetOnline(VARIANT_FALSE).map_err(step("making the search offline"))?;
        let result = searcher.Search(&BSTR::from(wua::SEARCH_CRITERIA)).map_err(step("searching"))?;
        // A search can return without error yet report failure, or success with errors (a partial list).
        let code = result.ResultCode().map_err(step("reading the search's result"))?;
        if code != orcSucceeded {
            let message = format!("the search ended with result code {} (2 is success)", code.0);
            return Err(WuaError { step: "searching", source: windows::core::Error::new(E_FAIL, message) });
        }
        let updates = result.Updates().map_err(step("reading the search's updates"))?;
        let mut offered = Vec::new();
        for i in 0..updates.Count().map_err(step("counting the updates"))? {
            let update = updates.get_Item(i).map_err(step("reading an update"))?;
            let mut kb_article_ids = Vec::new();
            if let Ok(ids) = update.KBArticleIDs() {
                for j in 0..ids.Count().unwrap_or(0) {
                    kb_article_ids.extend(ids.get_Item(j).ok().map(|id| id.to_string()));
                }
            }
            let mut category_ids = Vec::new();
            let mut products = Vec::new();
            if let Ok(categories) = update.Categories() {
                for j in 0..categories.Count().unwrap_or(0) {
                    let Ok(category) = categories.get_Item(j) else { continue };
                    category_ids.extend(category.CategoryID().ok().map(|id| id.to_string()));
                    if category.Type().is_ok_and(|t| t == "Product") {
                        products.extend(category.Name().ok().map(|name| name.to_string()));
                    }
                }
            }
            offered.push(wua::OfferedUpdate {
                title: update.Title().map_err(step("reading an update's title"))?.to_string(),
                kb_article_ids,
                msrc_severity: update.MsrcSeverity().ok().map(|s| s.to_string()),
                category_ids,
                products,
            });
        }
        Ok(offered)
    }
}

/// When Automatic Updates last searched successfully (`IAutomaticUpdates2`); `None` when it never has.
fn last_search_success() -> Result<Option<DateTime<Utc>>, WuaError> {
    use windows::Win32::System::Com::{CLSCTX_INPROC_SERVER, CoCreateInstance};
    use windows::Win32::System::UpdateAgent::{AutomaticUpdates, IAutomaticUpdates2};
    use windows::Win32::System::Variant::VT_DATE;
    let step = |step: &'static str| move |source| WuaError { step, source };
    let _com = ComScope::enter();
    // SAFETY: COM is initialized on this thread; the VARIANT's date is read only when its type says it is one.
    unsafe {
        let updates: IAutomaticUpdates2 = CoCreateInstance(&AutomaticUpdates, None, CLSCTX_INPROC_SERVER)
            .map_err(step("opening Automatic Updates"))?;
        let results = updates.Results().map_err(step("reading Automatic Updates' results"))?;
        let date = results.LastSearchSuccessDate().map_err(step("reading the last successful search"))?;
        let inner = &date.Anonymous.Anonymous;
        Ok(if inner.vt == VT_DATE { wua::ole_date(inner.Anonymous.date) } else { None })
    }
}
