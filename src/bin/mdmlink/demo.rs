//! `mdmlink demo`: the whole link in a temporary store, with `seal` standing
//! in for the portal and the local simulator standing in for Apple.

use std::path::{Path, PathBuf};

use clap::Args;
use mdmlink::{
    Portal, ServerCertificate,
    session::{
        self,
        client::Client,
        simulator::{SimulatedAccount, Simulator},
    },
    token::{self, SealOptions, ServerToken},
};

use crate::{
    Failure, Globals, files,
    server::{self, AddArgs, CheckArgs, EventArgs, InstallArgs, ListArgs},
    state,
};

/// `mdmlink demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the temporary directory (store, certificates, tokens) and print its path.
    #[arg(long)]
    keep: bool,
}

const ORG: &str = "Northwind Traders";
const ADMIN: &str = "admin@northwind.example";

/// Removes the demo directory when the demo ends, however it ends.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn step(n: u32, title: &str) {
    println!();
    println!("== {n}. {title} ==");
}

fn add_args(name: &str, dir: &Path) -> AddArgs {
    AddArgs {
        name: name.to_owned(),
        portal: Some(Portal::BusinessManager),
        customer: None,
        site: None,
        release_devices: false,
        bits: 2048,
        cert_out: Some(dir.join(format!("{}.pem", files::safe_file_stem(name)))),
        der: false,
        force: false,
        now: None,
        via_api: false,
        base_url: None,
        token_url: None,
    }
}

/// A random credential with Apple's prefix, as the portal would make it.
fn credential(prefix: &str) -> Result<String, Failure> {
    let nonce = session::new_nonce(&mut mdmlink::SystemRng::default())
        .map_err(|e| Failure::new(format!("demo: {e}")))?;
    Ok(format!("{prefix}{nonce}"))
}

pub fn run(a: &DemoArgs) -> Result<u8, Failure> {
    let now = time::OffsetDateTime::now_utc();
    let dir = std::env::temp_dir().join(format!(
        "mdmlink-demo-{}-{}",
        std::process::id(),
        now.unix_timestamp_nanos()
    ));
    files::create_private_dir(&dir)?;
    let _cleanup = TempDir {
        path: dir.clone(),
        keep: a.keep,
    };
    let store = dir.join("store.sqlite");
    let g = Globals {
        store: Some(store.clone()),
        password_env: None,
        master_key_file: None,
        org: Some(ORG.to_owned()),
    };

    println!("mdmlink demo: link two MDM servers to Apple Business Manager, end to end.");
    println!("Everything happens in a temporary directory; the portal and Apple are simulated.");

    step(1, "An organization in a new store");
    println!("store: {} (SQLite, WAL, mode 0600)", store.display());
    println!("organization: {ORG}, on {}", Portal::BusinessManager);

    step(
        2,
        "Add two MDM servers (a keypair each, and the certificate to upload)",
    );
    let main_name = "Main MDM";
    let cafe_name = "Café MDM";
    server::add(&g, &add_args(main_name, &dir))?;
    let mut cafe = add_args(cafe_name, &dir);
    cafe.customer = Some("Contoso".into());
    cafe.site = Some("Lyon".into());
    cafe.release_devices = true;
    server::add(&g, &cafe)?;

    step(3, "The portal's name rules");
    for (name, why) in [
        ("CAFE\u{301} mdm", "same name, other case and Unicode form"),
        ("Unassigned", "a name the portal reserves"),
    ] {
        match server::add(&g, &add_args(name, &dir)) {
            Err(f) => println!("refused \"{name}\" ({why}): {}", f.message),
            Ok(_) => {
                return Err(Failure::new(format!(
                    "demo: the name {name:?} should have been refused"
                )));
            }
        }
    }

    step(
        4,
        "The portal issues a token for each certificate (seal stands in for it)",
    );
    let mut issued = Vec::new();
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for name in [main_name, cafe_name] {
        let cert_path = dir.join(format!("{}.pem", files::safe_file_stem(name)));
        let cert =
            ServerCertificate::from_pem_or_der(&files::read(&cert_path, files::Kind::Certificate)?)
                .map_err(|e| Failure::file(&cert_path, e))?;
        let t = ServerToken::new(
            credential("CK_")?,
            credential("CS_")?,
            credential("AT_")?,
            credential("AS_")?,
            now + time::Duration::days(365),
        )
        .map_err(|e| Failure::new(format!("demo: {e}")))?;
        let sealed = token::seal(
            &t,
            &cert,
            SealOptions::default(),
            &mut mdmlink::SystemRng::default(),
        )
        .map_err(|e| Failure::file(&cert_path, e))?;
        let file = dir.join(format!("{name}_Token_{stamp}_smime.p7m"));
        files::write(&file, &sealed, files::PRIVATE, false)?;
        println!(
            "downloaded {} (for certificate serial {})",
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            cert.serial_hex()
        );
        issued.push((name, t, file));
    }

    step(
        5,
        "Install the tokens (each opens only with its server's key)",
    );
    for (name, _, file) in &issued {
        server::install_token(
            &g,
            &InstallArgs {
                name: (*name).to_owned(),
                file: file.clone(),
                force: false,
                downloaded_by: Some(ADMIN.into()),
                now: None,
            },
        )?;
    }
    if let Some((_, _, main_file)) = issued.first() {
        match server::install_token(
            &g,
            &InstallArgs {
                name: cafe_name.to_owned(),
                file: main_file.clone(),
                force: false,
                downloaded_by: None,
                now: None,
            },
        ) {
            Err(f) => println!("refused Main MDM's token for {cafe_name:?}: {}", f.message),
            Ok(_) => {
                return Err(Failure::new(
                    "demo: a token for another certificate should have been refused",
                ));
            }
        }
    }

    step(6, "The servers");
    server::list(
        &g,
        &ListArgs {
            json: false,
            now: None,
            warn_days: 30,
        },
    )?;

    step(
        7,
        "An event: the admin who downloaded Café MDM's token changed their password",
    );
    server::events(
        &g,
        &EventArgs {
            name: cafe_name.into(),
            event: server::Event::PasswordChanged,
            at: None,
        },
    )?;

    step(
        8,
        "What needs action (`mdmlink check`, for cron and monitoring)",
    );
    let code = server::check(
        &g,
        &CheckArgs {
            json: false,
            now: None,
            warn_days: 30,
        },
    )?;
    println!(
        "`mdmlink check` would exit {code} (0 valid, 1 renew soon, 2 expired or must replace)"
    );

    step(
        9,
        "A real HTTP session with the token from the store (local simulator)",
    );
    let accounts = issued
        .iter()
        .map(|(name, t, _)| {
            let mut account = SimulatedAccount::new(t.clone(), ORG);
            account.server_name = (*name).to_owned();
            account
        })
        .collect();
    let sim = Simulator::start(accounts)
        .map_err(|e| Failure::new(format!("demo: cannot start the simulator: {e}")))?;
    let base = sim.base_url();
    println!(
        "simulator: {base} (stands in for {})",
        session::DEFAULT_BASE_URL
    );
    let mut st = state::open(&g)?;
    let token = st
        .registry
        .token(g.org(), main_name)
        .map_err(|e| st.fail(e))?
        .ok_or_else(|| Failure::file(&st.path, "Main MDM has no token"))?;
    let http = Client::new();
    let nonce = session::new_nonce(&mut mdmlink::SystemRng::default())
        .map_err(|e| Failure::new(format!("demo: {e}")))?;
    let result = http
        .obtain_session(&token, &base, time::OffsetDateTime::now_utc(), &nonce)
        .and_then(|mut s| {
            println!(
                "GET {base}/session (OAuth 1.0a, HMAC-SHA1): session token received ({} characters, not shown)",
                s.auth_session_token().len()
            );
            http.fetch_account(&mut s)
        });
    sim.shutdown();
    let account = result.map_err(|e| Failure::new(format!("demo: session with {base}: {e}")))?;
    println!(
        "GET {base}/account: server {:?} of organization {:?}",
        account.server_name.as_deref().unwrap_or("?"),
        account.org_name.as_deref().unwrap_or("?")
    );

    step(
        10,
        "An Access Management JWT signed with Main MDM's key (`mdmlink jwt`)",
    );
    let uuid = account
        .server_uuid
        .ok_or_else(|| Failure::new("demo: the account details carry no server_uuid"))?;
    server::set_uuid(
        &g,
        &server::SetUuidArgs {
            name: main_name.into(),
            uuid: uuid.clone(),
        },
    )?;
    let mut rng = mdmlink::SystemRng::default();
    let jti = mdmlink::jwt::random_jti(&mut rng).map_err(|e| Failure::new(e.to_string()))?;
    let signed = st
        .registry
        .access_management_jwt(
            g.org(),
            main_name,
            time::OffsetDateTime::now_utc(),
            &jti,
            &mut rng,
        )
        .map_err(|e| Failure::new(format!("demo: {e}")))?;
    let claims = signed
        .split('.')
        .nth(1)
        .and_then(|c| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
    println!("RS256 JWT, {} characters; claims: {claims}", signed.len());

    println!();
    if a.keep {
        println!("Done. Files kept in {}", dir.display());
    } else {
        println!("Done. The temporary directory has been removed.");
    }
    println!(
        "For real: `mdmlink server add NAME --portal business-manager`, upload the certificate, Download Token, `mdmlink server install-token NAME FILE`."
    );
    Ok(0)
}
