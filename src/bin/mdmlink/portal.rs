//! The commands that talk to Apple's School and Business Manager API with
//! the organization's stored API account: `api servers|devices|assign|
//! unassign|reconcile`, and the client `server add|rotate-key --via-api`
//! use. Each is one library call (or one page-by-page listing) and its
//! printing; the library checks, retries, follows activities and reconciles.
//!
//! Nothing secret is printed: the API key stays in the store and the
//! client, the access token and the client assertion in the client.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use mdmlink::portal_api::{
    PortalApiError,
    activities::{ActivityOutcome, ActivityRequest, FollowPolicy},
    client::PortalApiClient,
    devices::OrgDeviceAttributes,
    link::{self, LinkError},
    listing::{self, ServerListing},
    reconcile,
};

use crate::{Failure, Globals, label, state};

/// Where Apple's API is: shared by every command that talks to it.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The API's base URL (default by the account's scope:
    /// https://api-business.apple.com or https://api-school.apple.com; a
    /// simulator's URL for tests).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The token endpoint.
    #[arg(long, value_name = "URL", default_value = mdmlink::portal_api::TOKEN_URL)]
    pub token_url: String,
}

/// `api servers`.
#[derive(Args, Debug)]
pub struct ServersArgs {
    /// Print a JSON array of the servers (`id` and Apple's attributes).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// `api devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Only the devices assigned to this server (its id kept in the store,
    /// else the portal's server of that name). Apple lists only their
    /// serial numbers; --full reads each device.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// With --server: read every device's attributes (one request each).
    #[arg(long, requires = "server")]
    pub full: bool,
    /// Print one JSON array of device objects, keyed as Apple names the
    /// attributes (`serialNumber`, `status`...).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// `api assign` / `api unassign`.
#[derive(Args, Debug)]
pub struct ActivityArgs {
    /// The server (its id kept in the store, else the portal's server of
    /// that name).
    #[arg(long, value_name = "NAME")]
    pub server: String,
    /// Serial numbers.
    pub serials: Vec<String>,
    /// A file with more serial numbers, one per line.
    #[arg(long, value_name = "FILE")]
    pub serials_file: Option<PathBuf>,
    /// How long to wait for each activity to finish, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait: u64,
    #[command(flatten)]
    pub connection: Connection,
}

/// `api reconcile`.
#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// The client for the organization's stored API account at `connection`.
pub fn client(
    st: &mut state::Opened,
    g: &Globals,
    connection: &Connection,
) -> Result<PortalApiClient, Failure> {
    let account = st.registry.api_account(g.org()).map_err(|e| st.fail(e))?;
    let mut client = PortalApiClient::https(account);
    if let Some(url) = &connection.base_url {
        client = client
            .with_base_url(url)
            .map_err(|e| Failure::new(format!("--base-url: {e}")))?;
    }
    client
        .with_token_url(&connection.token_url)
        .map_err(|e| Failure::new(format!("--token-url: {e}")))
}

/// A failure of the API (messages say what to do).
pub fn api_failure(e: &PortalApiError) -> Failure {
    Failure::new(mdmlink::error::report(e))
}

/// A failure of linking through the API, with the command line's words
/// where the library leaves them to the caller; `by_hand` is what to type
/// instead on an Apple School Manager account.
pub fn link_failure(st: &state::Opened, e: LinkError, by_hand: Option<&str>) -> Failure {
    match e {
        LinkError::Registry(e) => st.fail(e),
        LinkError::Api(e @ PortalApiError::BusinessOnly { .. }) if by_hand.is_some() => {
            Failure::new(format!(
                "{e}; link it by hand instead: {}",
                by_hand.unwrap_or_default()
            ))
        }
        e => Failure::new(mdmlink::error::report(&e)),
    }
}

/// How a listing ends early: the reader went away, or a failure.
enum Stop {
    Closed,
    Failed(Failure),
}

impl From<PortalApiError> for Stop {
    fn from(e: PortalApiError) -> Self {
        Stop::Failed(api_failure(&e))
    }
}

/// Writes `text` to stdout; a closed pipe ends the listing (no more pages
/// are fetched).
fn emit(out: &mut std::io::StdoutLock<'_>, text: &str) -> Result<(), Stop> {
    match out.write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::Closed),
        Err(e) => Err(Stop::Failed(Failure::new(format!(
            "failed printing to stdout: {e}"
        )))),
    }
}

/// A JSON array written one element at a time.
struct JsonArray {
    items: u64,
}

impl JsonArray {
    fn begin(out: &mut std::io::StdoutLock<'_>) -> Result<Self, Stop> {
        emit(out, "[")?;
        Ok(Self { items: 0 })
    }

    fn item(
        &mut self,
        out: &mut std::io::StdoutLock<'_>,
        value: &impl serde::Serialize,
    ) -> Result<(), Stop> {
        let text =
            serde_json::to_string(value).map_err(|e| Stop::Failed(Failure::new(e.to_string())))?;
        emit(out, if self.items == 0 { "\n" } else { ",\n" })?;
        emit(out, &text)?;
        self.items += 1;
        Ok(())
    }

    fn end(self, out: &mut std::io::StdoutLock<'_>) -> Result<(), Stop> {
        emit(out, if self.items == 0 { "]\n" } else { "\n]\n" })
    }
}

/// `api servers`.
pub fn servers(g: &Globals, a: &ServersArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let client = client(&mut st, g, &a.connection)?;
    let servers = client.all_servers().map_err(|e| api_failure(&e))?;
    if a.json {
        let list: Vec<ServerListing<'_>> = servers.iter().map(ServerListing::of).collect();
        let text = serde_json::to_string(&list).map_err(|e| Failure::new(e.to_string()))?;
        println!("{text}");
        return Ok(0);
    }
    println!(
        "{:<34} {:<18} {:<26} {:<26} NAME",
        "ID", "TYPE", "CREATED", "UPDATED"
    );
    for s in &servers {
        let f = |v: &Option<String>| label(v.as_deref().unwrap_or("-"));
        println!(
            "{:<34} {:<18} {:<26} {:<26} {}",
            label(&s.id),
            f(&s.attributes.server_type),
            f(&s.attributes.created_date_time),
            f(&s.attributes.updated_date_time),
            f(&s.attributes.server_name)
        );
    }
    println!("{} servers", servers.len());
    Ok(0)
}

/// `api devices`: page by page, one page in memory at a time.
pub fn devices(g: &Globals, a: &DevicesArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let client = client(&mut st, g, &a.connection)?;
    let server_id = match &a.server {
        Some(name) => Some(
            link::portal_server_id(&mut st.registry, &client, g.org(), name)
                .map_err(|e| link_failure(&st, e, None))?,
        ),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = list_devices(&client, server_id.as_deref(), a, &mut out);
    match result {
        Ok(()) | Err(Stop::Closed) => Ok(0),
        Err(Stop::Failed(f)) => {
            let _ = out.flush();
            Err(f)
        }
    }
}

fn list_devices(
    client: &PortalApiClient,
    server_id: Option<&str>,
    a: &DevicesArgs,
    out: &mut std::io::StdoutLock<'_>,
) -> Result<(), Stop> {
    let mut json = if a.json {
        Some(JsonArray::begin(out)?)
    } else {
        emit(
            out,
            &format!("{:<20} {:<11} {:<9} MODEL\n", "SERIAL", "STATUS", "FAMILY"),
        )?;
        None
    };
    let count = listing::for_each_device(
        client,
        server_id,
        a.full,
        |d: OrgDeviceAttributes| -> Result<(), Stop> {
            match &mut json {
                Some(array) => array.item(out, &d),
                None => {
                    let f = |v: &Option<String>| label(v.as_deref().unwrap_or("-"));
                    emit(
                        out,
                        &format!(
                            "{:<20} {:<11} {:<9} {}\n",
                            f(&d.serial_number),
                            f(&d.status),
                            f(&d.product_family),
                            f(&d.device_model)
                        ),
                    )
                }
            }
        },
    )?;
    match json {
        Some(array) => array.end(out),
        None => emit(out, &format!("{count} devices\n")),
    }
}

/// `api assign` (`assign` true) / `api unassign`: one activity per
/// thousand serial numbers, each followed to its end; exit 0 when every
/// one completed with every device handled, 1 otherwise.
pub fn activity(g: &Globals, a: &ActivityArgs, assign: bool) -> Result<u8, Failure> {
    let mut serials = Vec::new();
    for (i, s) in a.serials.iter().enumerate() {
        let s = s.trim();
        crate::devices::check_serial(s)
            .map_err(|why| Failure::new(format!("serial argument {}: {why}", i + 1)))?;
        serials.push(s.to_owned());
    }
    if let Some(file) = &a.serials_file {
        serials.extend(crate::devices::read_serials(file)?);
    }
    if serials.is_empty() {
        return Err(Failure::new(
            "give serial numbers (arguments or --serials-file FILE)",
        ));
    }
    let mut st = state::open_present(g)?;
    let client = client(&mut st, g, &a.connection)?;
    let server_id = link::portal_server_id(&mut st.registry, &client, g.org(), &a.server)
        .map_err(|e| link_failure(&st, e, None))?;
    let policy = FollowPolicy::default().with_deadline(std::time::Duration::from_secs(a.wait));
    let report = listing::run_device_activities(
        &client,
        &server_id,
        &serials,
        assign,
        &policy,
        time::OffsetDateTime::now_utc(),
        &mut |request, outcome| print_outcome(outcome, request, &a.server),
    )
    .map_err(|e| api_failure(&e))?;
    let all_done = report.completed;
    if !all_done {
        eprintln!(
            "mdmlink: not every device was {}; the log lists each device's result",
            if assign { "assigned" } else { "unassigned" }
        );
        return Ok(1);
    }
    Ok(0)
}

fn print_outcome(outcome: &ActivityOutcome, request: &ActivityRequest, server: &str) {
    println!(
        "activity {}: {} {} device(s), server \"{}\": {}{}",
        label(&outcome.id),
        request.activity_type,
        request.serials.len(),
        label(server),
        label(outcome.status.as_str()),
        outcome
            .sub_status
            .as_deref()
            .map(|s| format!(" ({})", label(s)))
            .unwrap_or_default()
    );
    if let Some(url) = &outcome.log_url {
        println!("log: {}", label(url));
    }
}

/// `api reconcile`: exit 0 when the store and the portal agree, 1 otherwise.
pub fn reconcile(g: &Globals, a: &ReconcileArgs) -> Result<u8, Failure> {
    let mut st = state::open_present(g)?;
    let client = client(&mut st, g, &a.connection)?;
    let now = time::OffsetDateTime::now_utc();
    let report = reconcile::reconcile(&mut st.registry, &client, g.org(), &|_| None, now)
        .map_err(|e| link_failure(&st, e, None))?;
    let code = u8::from(!report.agrees());
    if a.json {
        let text =
            serde_json::to_string(&report.to_json()).map_err(|e| Failure::new(e.to_string()))?;
        println!("{text}");
        return Ok(code);
    }
    if report.agrees() {
        println!(
            "the store and the portal agree ({} servers)",
            report.matched.len()
        );
        return Ok(0);
    }
    for line in report.differences() {
        println!("{}", label(&line));
    }
    println!(
        "{} differences; {} servers agree",
        report.differences().len(),
        report.matched.len()
    );
    Ok(code)
}
