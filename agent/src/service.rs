//! The Windows service: the service control manager's side of `muster-agent service` (start, report running,
//! turn Stop and Shutdown into the report loop's shutdown, report stopped with the loop's exit code). The loop
//! itself is the same as `muster-agent run`'s; this is glue over the `windows-service` crate.

use std::ffi::OsString;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// The service's name; the MSI installs it under this name (`sc query MusterAgent`).
pub const SERVICE_NAME: &str = "MusterAgent";

/// Where the service writes its lines (beside the state directory, readable like any ProgramData file: no secrets
/// are logged).
pub const LOG_FILE: &str = r"C:\ProgramData\Muster\muster-agent.log";

/// Completes when the service control manager asks the service to stop (Stop, or the system shutting down).
pub type StopSignal = oneshot::Receiver<()>;

/// The service's work: runs until the stop signal, returns the process exit code (0 for a clean stop).
pub type Body = Box<dyn FnOnce(StopSignal) -> u8 + Send>;

/// The body handed to the dispatcher thread; the service entry point the dispatcher calls takes no context.
static BODY: Mutex<Option<Body>> = Mutex::new(None);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "not started by the service control manager (`muster-agent service` is what the MusterAgent service runs; \
         in a console use `muster-agent run`): {0}"
    )]
    NotUnderServiceManager(String),
}

/// Hands `body` to the service control manager and returns when the service has stopped.
pub fn run(body: Body) -> Result<(), ServiceError> {
    if let Ok(mut slot) = BODY.lock() {
        *slot = Some(body);
    }
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|err| {
        // The crate's message ("IO error in winapi call") says nothing without the system error under it.
        let detail = std::error::Error::source(&err).map(|s| format!("{err}: {s}")).unwrap_or_else(|| err.to_string());
        ServiceError::NotUnderServiceManager(detail)
    })
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let body = BODY.lock().ok().and_then(|mut slot| slot.take());
    if let Some(body) = body {
        // Nothing else can be told: the manager records the stop and its exit code.
        let _ = serve(body);
    }
}

fn status(state: ServiceState, accept: ServiceControlAccept, exit: ServiceExitCode, wait: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: exit,
        checkpoint: 0,
        wait_hint: wait,
        process_id: None,
    }
}

fn serve(body: Body) -> Result<(), windows_service::Error> {
    let (stop_tx, stop_rx) = oneshot::channel();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)?;
    let none = ServiceControlAccept::empty();
    let ok = ServiceExitCode::Win32(0);
    handle.set_service_status(status(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ok,
        Duration::ZERO,
    ))?;
    let code = body(stop_rx);
    // A failed loop (not enrolled, token refused) is a service-specific exit code the manager shows.
    let exit = if code == 0 { ok } else { ServiceExitCode::ServiceSpecific(u32::from(code)) };
    handle.set_service_status(status(ServiceState::Stopped, none, exit, Duration::ZERO))
}
