//! The School and Business Manager API client over real HTTP on 127.0.0.1
//! against the simulator (`mdmlink::simulator`, which checks assertions,
//! expires tokens, pages with cursors and injects faults as Apple would):
//! tokens, paging, servers created and re-keyed through the store,
//! activities, retries, and the Business-only refusals.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use mdmlink::keypair::KeySize;
use mdmlink::organization::ServerOptions;
use mdmlink::portal::Portal;
use mdmlink::portal_api::activities::{ActivityRequest, ActivityStatus, FollowPolicy};
use mdmlink::portal_api::client::{Environment, PortalApiClient, SystemEnvironment};
use mdmlink::portal_api::document::ListQuery;
use mdmlink::portal_api::link::{self, LinkError};
use mdmlink::portal_api::reconcile::{StoreServer, compare};
use mdmlink::portal_api::transport::UreqTransport;
use mdmlink::portal_api::{ApiAccount, ApiKey, PortalApiError};
use mdmlink::simulator::portal_api::{RetryAfter, SimulatedApiAccount};
use mdmlink::simulator::{Simulator, SimulatorOptions};
use mdmlink::store::MemoryStore;
use mdmlink::store::registry::Registry;
use time::{OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-06-15 12:00 UTC);
const BUSINESS: &str = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
const SCHOOL: &str = "SCHOOLAPI.7e0b1f2c-3d4e-4f50-8a61-b2c3d4e5f607";
const KEY_ID: &str = "d136aa66-0c3b-4bd4-9892-c20e8db024ab";

/// The simulator's clock (fixed), advanced by the client's sleeps, which
/// are recorded instead of slept.
struct FakeTime {
    now: Mutex<OffsetDateTime>,
    sleeps: Mutex<Vec<StdDuration>>,
}

impl Environment for FakeTime {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }
    fn sleep(&self, duration: StdDuration) {
        self.sleeps.lock().unwrap().push(duration);
    }
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PortalApiError> {
        SystemEnvironment.fill_random(buf)
    }
}

struct Fixture {
    sim: Simulator,
    client: PortalApiClient,
    time: Arc<FakeTime>,
}

fn fixture(
    client_id: &str,
    configure: impl FnOnce(SimulatedApiAccount) -> SimulatedApiAccount,
) -> Fixture {
    let mut options = SimulatorOptions::default();
    options.now = Some(NOW);
    options.activity_reads = 3;
    let sim = Simulator::start_with(Vec::new(), options).unwrap();
    let key = ApiKey::generate(&mut mdmlink::SystemRng::default()).unwrap();
    sim.add_api_account(configure(SimulatedApiAccount::new(
        client_id,
        KEY_ID,
        key.verifying_key(),
    )));
    let time = Arc::new(FakeTime {
        now: Mutex::new(NOW),
        sleeps: Mutex::new(Vec::new()),
    });
    let account = ApiAccount::new(client_id, KEY_ID, key).unwrap();
    let client = PortalApiClient::new(account, Arc::new(UreqTransport::new()))
        .with_base_url(&sim.base_url())
        .unwrap()
        .with_token_url(&sim.token_url())
        .unwrap()
        .with_environment(time.clone());
    Fixture { sim, client, time }
}

#[test]
fn devices_are_listed_page_by_page_with_fields() {
    let f = fixture(SCHOOL, |a| a.with_devices(2100, 400, 42));
    let mut serials = std::collections::HashSet::new();
    let mut assigned = 0;
    let query = ListQuery::default()
        .with_limit(1000)
        .with_fields("orgDevices", &["serialNumber", "status"]);
    let mut pages = 0;
    for page in f.client.devices(&query).unwrap() {
        let page = page.unwrap();
        pages += 1;
        assert!(page.data.len() <= 1000);
        for d in page.data {
            assert_eq!(d.attributes.serial_number.as_deref(), Some(d.id.as_str()));
            assert!(
                d.attributes.device_model.is_none(),
                "fields[] narrows the attributes"
            );
            assert!(serials.insert(d.id));
            if d.attributes.status.as_deref() == Some("ASSIGNED") {
                assigned += 1;
            }
        }
    }
    assert_eq!((pages, serials.len(), assigned), (3, 2500, 2100));
    // Without fields: full resources, and one device by its serial.
    let first = f
        .client
        .devices(&ListQuery::default().with_limit(1))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let d = &first.data[0];
    assert!(d.attributes.device_model.is_some() && d.attributes.product_family.is_some());
    let one = f.client.device(&d.id, &[]).unwrap();
    assert_eq!(one.attributes, d.attributes);
    let server_id = f.client.device_assigned_server_id(&d.id).unwrap();
    assert_eq!(server_id, f.sim.api_device_server(SCHOOL, &d.id));
    let server = f.client.device_assigned_server(&d.id).unwrap().unwrap();
    assert_eq!(Some(server.id), server_id);
    assert!(
        f.client
            .apple_care_coverage(&d.id)
            .unwrap()
            .all(|p| p.is_ok())
    );
    // Unknown device: a typed 404.
    assert_eq!(
        f.client.device("NOSUCHSERIAL1", &[]).unwrap_err().status(),
        Some(404)
    );
}

#[test]
fn tokens_are_cached_and_renewed_once_after_a_401() {
    let f = fixture(BUSINESS, |a| a);
    let servers = f.client.all_servers().unwrap();
    assert_eq!(servers.len(), 1);
    f.client.server(&servers[0].id).unwrap();
    assert_eq!(f.sim.requests("/auth/oauth2/token"), 1);
    f.sim.api_expire_access_tokens();
    f.client.server(&servers[0].id).unwrap();
    assert_eq!(f.sim.requests("/auth/oauth2/token"), 2);
    // A key the portal does not know: refused at the token endpoint.
    let other = ApiAccount::new(
        BUSINESS,
        KEY_ID,
        ApiKey::generate(&mut mdmlink::SystemRng::default()).unwrap(),
    )
    .unwrap();
    let stranger = PortalApiClient::new(other, Arc::new(UreqTransport::new()))
        .with_base_url(&f.sim.base_url())
        .unwrap()
        .with_token_url(&f.sim.token_url())
        .unwrap()
        .with_environment(f.time.clone());
    let e = stranger.all_servers().unwrap_err();
    assert!(matches!(e, PortalApiError::TokenRefused { .. }), "{e}");
}

#[test]
fn rate_limits_and_server_errors_are_retried_as_documented() {
    let f = fixture(BUSINESS, |a| a.with_devices(3, 2, 1));
    f.sim.api_throttle(2, RetryAfter::Seconds(2));
    f.client.all_servers().unwrap();
    assert_eq!(
        *f.time.sleeps.lock().unwrap(),
        [StdDuration::from_secs(2); 2]
    );
    f.sim.api_fail_requests(2);
    f.client.all_servers().unwrap();
    // A POST that got a 5xx is not repeated.
    let server = f.client.all_servers().unwrap().remove(0);
    let serial = f.sim.api_serials(BUSINESS, 5)[4].clone();
    f.sim.api_fail_requests(1);
    let e = f
        .client
        .create_activity(&ActivityRequest::assign(&server.id, &[&serial]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            PortalApiError::Uncertain {
                status: Some(503),
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(f.sim.api_device_server(BUSINESS, &serial), None);
    // Throttled longer than the budget: a typed error.
    f.sim.api_throttle(10, RetryAfter::Seconds(200));
    let e = f.client.all_servers().unwrap_err();
    assert!(matches!(e, PortalApiError::RateLimited { .. }), "{e}");
}

#[test]
fn devices_are_assigned_and_the_activity_followed() {
    let f = fixture(BUSINESS, |a| {
        a.with_servers(&["Main MDM", "Lab"]).with_devices(2, 3, 7)
    });
    let lab = f
        .client
        .all_servers()
        .unwrap()
        .into_iter()
        .find(|s| s.attributes.server_name.as_deref() == Some("Lab"))
        .unwrap();
    let serials: Vec<String> = f.sim.api_serials(BUSINESS, 5)[2..].to_vec();
    let outcome = f
        .client
        .assign_devices(&lab.id, &serials, &FollowPolicy::default())
        .unwrap();
    assert_eq!(outcome.status, ActivityStatus::Completed);
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(outcome.log_url.is_some());
    assert!(outcome.polls >= 1);
    for s in &serials {
        assert_eq!(
            f.sim.api_device_server(BUSINESS, s).as_deref(),
            Some(lab.id.as_str())
        );
    }
    let mut listed = Vec::new();
    for page in f.client.server_devices(&lab.id, Some(2)).unwrap() {
        listed.extend(page.unwrap().data.into_iter().map(|l| l.id));
    }
    listed.sort();
    let mut expected = serials.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let back = f
        .client
        .unassign_devices(&lab.id, &serials[..1], &FollowPolicy::default())
        .unwrap();
    assert!(back.succeeded());
    assert_eq!(f.sim.api_device_server(BUSINESS, &serials[0]), None);
}

#[test]
fn school_accounts_fail_business_only_calls_before_any_request() {
    let f = fixture(SCHOOL, |a| a.with_devices(2, 0, 5));
    let before = f.sim.requests("/auth/oauth2/token");
    let e = f
        .client
        .delete_server("0123456789ABCDEF0123456789ABCDEF")
        .unwrap_err();
    assert!(matches!(e, PortalApiError::BusinessOnly { .. }), "{e}");
    let e = f
        .client
        .create_activity(&ActivityRequest::release(&["A1"]))
        .unwrap_err();
    assert!(matches!(e, PortalApiError::BusinessOnly { .. }), "{e}");
    assert_eq!(f.sim.requests("/auth/oauth2/token"), before);
    assert_eq!(f.sim.requests("/v1/mdmServers"), 0);
}

fn registry(portal: Portal) -> Registry<MemoryStore> {
    let mut r = Registry::new(MemoryStore::new(), None);
    r.add_organization("Example Corp", portal, None, NOW)
        .unwrap();
    r
}

#[test]
fn servers_are_added_rekeyed_and_reconciled_through_the_api() {
    let f = fixture(BUSINESS, |a| a.with_servers(&["Taken In Portal"]));
    let mut reg = registry(Portal::BusinessManager);
    let mut rng = mdmlink::SystemRng::default();
    let options = ServerOptions::default().with_release_devices(true);
    let added = link::add_server(
        &mut reg,
        &f.client,
        None,
        "Main MDM",
        options.clone(),
        KeySize::Rsa2048,
        &mut rng,
        NOW,
    )
    .unwrap();
    let portal = f.sim.api_servers(BUSINESS);
    let created = portal
        .iter()
        .find(|s| s.id == added.portal_server.id)
        .unwrap();
    assert_eq!(created.name, "Main MDM");
    assert!(created.enable_mdm_disown);
    let stored_pem = reg
        .certificate_pem(None, "Main MDM", false)
        .unwrap()
        .unwrap();
    assert_eq!(stored_pem, added.certificate_pem);
    let der = pem_to_der(&stored_pem);
    assert_eq!(created.certificate.as_deref(), Some(der.as_slice()));
    assert_eq!(added.certificate_der, der);
    // The portal's id is kept with the server.
    assert_eq!(
        reg.portal_server_id(None, "main mdm").unwrap().as_deref(),
        Some(added.portal_server.id.as_str())
    );
    // Names resolve to portal ids: a stored server by its kept id, another
    // by the portal's name; an unknown one is named.
    assert_eq!(
        link::portal_server_id(&mut reg, &f.client, None, "Main MDM").unwrap(),
        added.portal_server.id
    );
    let seeded = portal.iter().find(|s| s.name == "Taken In Portal").unwrap();
    assert_eq!(
        link::portal_server_id(&mut reg, &f.client, None, "taken in portal").unwrap(),
        seeded.id
    );
    assert!(matches!(
        link::portal_server_id(&mut reg, &f.client, None, "Nowhere"),
        Err(LinkError::NotInPortal { .. })
    ));
    // Taken in the portal (409): nothing added to the store.
    let e = link::add_server(
        &mut reg,
        &f.client,
        None,
        "taken in portal",
        options.clone(),
        KeySize::Rsa2048,
        &mut rng,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, LinkError::NameTakenInPortal { .. }), "{e}");
    assert!(reg.certificate_pem(None, "taken in portal", false).is_err());
    // Taken in the store: refused before any request.
    let posts = f.sim.requests("/v1/mdmServers");
    assert!(
        link::add_server(
            &mut reg,
            &f.client,
            None,
            "MAIN mdm",
            options,
            KeySize::Rsa2048,
            &mut rng,
            NOW
        )
        .is_err()
    );
    assert_eq!(f.sim.requests("/v1/mdmServers"), posts);
    // Rotate: the portal holds the staged certificate; the current one stays.
    let rotated = link::rotate_key(
        &mut reg,
        &f.client,
        None,
        "Main MDM",
        None,
        KeySize::Rsa2048,
        &mut rng,
        NOW,
    )
    .unwrap();
    assert_eq!(rotated.portal_server_id, added.portal_server.id);
    let staged = reg
        .certificate_pem(None, "Main MDM", true)
        .unwrap()
        .unwrap();
    assert_eq!(staged, rotated.staged_certificate_pem);
    let now_in_portal = f
        .sim
        .api_servers(BUSINESS)
        .into_iter()
        .find(|s| s.id == rotated.portal_server_id)
        .unwrap();
    assert_eq!(now_in_portal.certificate, Some(pem_to_der(&staged)));
    assert_eq!(
        reg.certificate_pem(None, "Main MDM", false)
            .unwrap()
            .unwrap(),
        stored_pem
    );
    // Reconcile: the seeded portal server is unknown to the store.
    let report = link_report(&mut reg, &f.client);
    assert_eq!(report.unknown_to_store.len(), 1);
    assert_eq!(report.unknown_to_store[0].server_name, "Taken In Portal");
    assert!(report.missing_in_portal.is_empty() && report.names_differ.is_empty());
    // A School account on a Business organization is refused.
    let s = fixture(SCHOOL, |a| a);
    let e = link::add_server(
        &mut reg,
        &s.client,
        None,
        "Other",
        ServerOptions::default(),
        KeySize::Rsa2048,
        &mut rng,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, LinkError::Account(_)), "{e}");
    // A server linked by hand is found in the portal by name when rotated
    // through the API, and its id is kept from then on.
    let by_hand = mdmlink::ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &mdmlink::keypair::CertificateParams::new("Taken In Portal", NOW),
    )
    .unwrap();
    reg.add_server(
        None,
        "Taken In Portal",
        by_hand,
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(reg.portal_server_id(None, "Taken In Portal").unwrap(), None);
    let rotated = link::rotate_key(
        &mut reg,
        &f.client,
        None,
        "Taken In Portal",
        None,
        KeySize::Rsa2048,
        &mut rng,
        NOW,
    )
    .unwrap();
    assert_eq!(rotated.portal_server_id, seeded.id);
    assert_eq!(
        reg.portal_server_id(None, "Taken In Portal").unwrap(),
        Some(seeded.id.clone())
    );
}

fn link_report(
    reg: &mut Registry<MemoryStore>,
    client: &PortalApiClient,
) -> mdmlink::portal_api::reconcile::ReconcileReport {
    let report =
        mdmlink::portal_api::reconcile::reconcile(reg, client, None, &|_| None, NOW).unwrap();
    // The same as comparing by hand.
    let by_hand = compare(
        &[StoreServer::new("Main MDM", None)],
        &client.all_servers().unwrap(),
    );
    assert_eq!(report, by_hand);
    report
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}
