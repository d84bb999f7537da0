//! Onboarding links and the page behind them: over HTTP for what a token
//! may and may not do, and in headless Chromium for the customer's walk.

use crate::harness::{trust_external_ids, Reply, TestApp};
use axum::http::{Method, StatusCode};
use serde_json::json;

fn fresh_account() -> String {
    let random = ulid::Ulid::new().random() % 700_000_000_000;
    format!("{}", 200_000_000_000 + random)
}

/// An account named `name` whose role will be the service's default role
/// name, and a new onboarding link to it: (account, page path, link id).
async fn account_with_link(app: &TestApp, name: &str) -> (String, String, String) {
    let account = fresh_account();
    let role = format!(
        "arn:aws:iam::{account}:role/{}",
        app.state.settings.role_name
    );
    app.create(&account, json!({"name": name, "role_arn": role}))
        .await;
    let link = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/onboarding-links"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{:#}", link.body);
    assert_eq!(link.body["status"], "LIVE");
    let path = link.body["path"].as_str().unwrap().to_string();
    assert_eq!(
        link.body["url"].as_str().unwrap(),
        format!("{}{path}", crate::harness::PUBLIC_URL)
    );
    (
        account,
        path,
        link.body["link_id"].as_str().unwrap().to_string(),
    )
}

/// A request from the customer's browser: no API key.
async fn visit(app: &TestApp, method: Method, uri: &str) -> Reply {
    app.call_with(method, uri, None, None, &[]).await
}

fn assert_page_headers(reply: &Reply) {
    let policy = reply.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(part), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(reply.header("x-frame-options"), "DENY");
    assert_eq!(reply.header("referrer-policy"), "no-referrer");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
}

fn text(reply: &Reply) -> &str {
    reply.body.as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_link_opens_one_account_only_escapes_what_it_shows_and_dies_at_once() {
    let app = TestApp::new().await;
    let settings = app
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"product_name": "Acme <b>Cloud</b>", "logo_url": "https://cdn.example.com/logo.svg"})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:#}", settings.body);
    let (account, path, link_id) =
        account_with_link(&app, "<script>alert(1)</script> Production").await;
    let (other, other_path, _) = account_with_link(&app, "Other account").await;

    // The page: security headers, the logo's origin for images only, the
    // names escaped, and no inline script.
    let page = visit(&app, Method::GET, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_page_headers(&page);
    assert!(page
        .header("content-security-policy")
        .contains("img-src 'self' https://cdn.example.com;"));
    let html = text(&page);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Production"));
    assert!(html.contains("Acme &lt;b&gt;Cloud&lt;/b&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(
        html.matches("<script").count()
            == html
                .matches("<script src=\"/onboard-assets/onboard.js\"")
                .count()
    );
    assert!(html.contains(&account));
    assert!(!html.contains(&other));
    for asset in ["/onboard-assets/onboard.js", "/onboard-assets/onboard.css"] {
        let reply = visit(&app, Method::GET, asset).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_page_headers(&reply);
    }
    let status = visit(&app, Method::GET, &format!("{path}/status")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_page_headers(&status);
    assert_eq!(status.body["status"], "NOT_STARTED");
    let template = visit(&app, Method::GET, &format!("{path}/template.yaml")).await;
    assert_eq!(template.status, StatusCode::OK);
    assert_page_headers(&template);
    let external_id = app.get(&format!("/v1/accounts/{account}")).await.body["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text(&template).contains(&external_id));

    // A check runs, and a second at once is refused (10 s per link).
    let checked = visit(&app, Method::POST, &format!("{path}/check")).await;
    assert_eq!(checked.status, StatusCode::OK, "{:#}", checked.body);
    assert_eq!(checked.body["status"], "FAIL");
    assert!(checked.body["fix"].as_str().unwrap().contains("role"));
    let again = visit(&app, Method::POST, &format!("{path}/check")).await;
    again.assert_error(429, "check_too_soon");
    assert_eq!(again.header("retry-after"), "10");
    assert_page_headers(&again);

    // One token, one account: its secret under another account's id or
    // link does not open anything, and it is no API key.
    let token = path.trim_start_matches("/onboard/").to_string();
    let swapped = token.replace(&account, &other);
    let forged = visit(&app, Method::GET, &format!("/onboard/{swapped}")).await;
    assert_eq!(forged.status, StatusCode::GONE);
    let other_token = other_path.trim_start_matches("/onboard/");
    let spliced = format!(
        "{}{}",
        &other_token[..other_token.len() - 64],
        &token[token.len() - 64..]
    );
    assert_eq!(
        visit(&app, Method::GET, &format!("/onboard/{spliced}"))
            .await
            .status,
        StatusCode::GONE
    );
    for header in ["x-api-key", "authorization"] {
        let value = if header == "authorization" {
            format!("Bearer {token}")
        } else {
            token.clone()
        };
        let reply = app
            .call_with(
                Method::GET,
                &format!("/v1/accounts/{account}"),
                None,
                None,
                &[(header, &value)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header}");
    }

    // Bad requests for links name the field; the list shows them; another
    // tenant sees none.
    let bad = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/onboarding-links"),
            Some(&json!({"expires_in_days": 31})),
        )
        .await;
    bad.assert_error(400, "invalid_value");
    assert_eq!(bad.field(), "expires_in_days");
    let stranger = app
        .key(
            "globex",
            &[
                service::api_key::Scope::Read,
                service::api_key::Scope::Write,
            ],
        )
        .await;
    let theirs = app
        .call_with(
            Method::GET,
            &format!("/v1/accounts/{account}/onboarding-links"),
            Some(&stranger),
            None,
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let revoke = |key: Option<String>| {
        let app = &app;
        let uri = format!("/v1/accounts/{account}/onboarding-links/{link_id}");
        async move {
            match key {
                Some(key) => {
                    app.call_with(Method::DELETE, &uri, Some(&key), None, &[])
                        .await
                }
                None => app.call(Method::DELETE, &uri, None).await,
            }
        }
    };
    assert_eq!(revoke(Some(stranger)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(visit(&app, Method::GET, &path).await.status, StatusCode::OK);

    // Revoked: the very next request is the plain 410 page, naming nothing.
    assert_eq!(revoke(None).await.status, StatusCode::NO_CONTENT);
    let dead = visit(&app, Method::GET, &path).await;
    assert_eq!(dead.status, StatusCode::GONE);
    assert_page_headers(&dead);
    assert!(text(&dead).contains("This link has expired"));
    assert!(!text(&dead).contains(&account));
    assert!(!text(&dead).contains("Production"));
    for (method, suffix) in [
        (Method::GET, "/status"),
        (Method::POST, "/check"),
        (Method::GET, "/template.yaml"),
    ] {
        let reply = visit(&app, method, &format!("{path}{suffix}")).await;
        assert_eq!(reply.status, StatusCode::GONE, "{suffix}");
    }
    assert_eq!(
        visit(&app, Method::GET, "/onboard/onb_not_a_token")
            .await
            .status,
        StatusCode::GONE
    );
    let listed = app
        .get(&format!("/v1/accounts/{account}/onboarding-links"))
        .await;
    assert_eq!(listed.body["items"][0]["status"], "REVOKED");

    // Expired: the same 410.
    let (expired_account, expired_path, expired_id) = account_with_link(&app, "Soon gone").await;
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("T#acme".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "ACCT#{expired_account}#ONBOARD#{expired_id}"
            )),
        )
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-01-01T00:00:00Z".into()),
        )
        .send()
        .await
        .unwrap();
    let expired = visit(&app, Method::GET, &expired_path).await;
    assert_eq!(expired.status, StatusCode::GONE);

    // At most five live links per account.
    for _ in 0..4 {
        let reply = app
            .call(
                Method::POST,
                &format!("/v1/accounts/{other}/onboarding-links"),
                Some(&json!({"expires_in_days": 1})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    app.call(
        Method::POST,
        &format!("/v1/accounts/{other}/onboarding-links"),
        Some(&json!({})),
    )
    .await
    .assert_error(409, "too_many_onboarding_links");
}

/// What the page's form sends (no script): an empty urlencoded body.
async fn post_form(app: &TestApp, uri: &str) -> Reply {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    app.call_with(Method::POST, uri, None, None, &form).await
}

/// The customer's whole path without script, from an account the vendor
/// reserved by its id alone: the page names no placeholder, says what
/// access is granted, until when the link works and whom to ask; the
/// check is a form whose answer is the page, in the customer's terms; a
/// check too soon keeps the last diagnosis and says when to try again;
/// the role created as the page says (its default name) verifies.
#[tokio::test]
async fn a_reserved_account_connects_through_the_page_without_script() {
    let app = TestApp::new().await;
    for contact in [
        "javascript:alert(1)",
        "http://help.example.com",
        "not an address",
    ] {
        app.call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"support_contact": contact})),
        )
        .await
        .assert_error(400, "invalid_value");
    }
    let settings = app
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"product_name": "Acme Cloud", "support_contact": "help@acme.example"})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:#}", settings.body);
    let account = fresh_account();
    let reserved = app.reserve(&account).await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{:#}", reserved.body);
    let link = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/onboarding-links"),
            Some(&json!({})),
        )
        .await;
    let path = link.body["path"].as_str().unwrap().to_string();
    let expires = link.body["expires_at"].as_str().unwrap().to_string();

    let page = visit(&app, Method::GET, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(!html.contains("Pending"), "a placeholder name is not shown");
    assert!(!html.contains("id=\"account-name\""));
    assert!(html.contains("SecurityAudit") && html.contains("Read-only access"));
    assert!(html.contains("href=\"mailto:help@acme.example\""));
    let day = chrono::DateTime::parse_from_rfc3339(&expires)
        .unwrap()
        .format("%-d %B %Y")
        .to_string();
    assert!(
        html.contains(&format!("This link works until {day}")),
        "{day}"
    );
    assert!(html.contains(&format!(
        "<form id=\"check-form\" class=\"row\" method=\"post\" action=\"{path}/check\">"
    )));
    assert!(page
        .header("content-security-policy")
        .contains("form-action 'self'"));
    assert!(html.contains("rel=\"icon\" href=\"/onboard-assets/icon.svg\""));
    let icon = visit(&app, Method::GET, "/onboard-assets/icon.svg").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/svg+xml");

    let check = format!("{path}/check");
    // The role is not there yet.
    let checked = post_form(&app, &check).await;
    assert_eq!(checked.status, StatusCode::SEE_OTHER);
    assert_eq!(checked.header("location"), path);
    let html = text(&visit(&app, Method::GET, &path).await).to_string();
    assert!(html.contains("FAIL (ACCESS_DENIED)"), "{html}");
    assert!(html.contains("has not been created yet"), "{html}");
    for vendor_words in ["/v1/", "role_arn", "external_id", "GET "] {
        assert!(!html.contains(vendor_words), "{vendor_words} on the page");
    }
    // Too soon: the page says when, and keeps the diagnosis.
    let again = post_form(&app, &check).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let wait = again.header("location").to_string();
    assert_eq!(
        wait,
        format!(
            "{path}?wait={}",
            service::onboarding::CHECK_INTERVAL_SECONDS
        )
    );
    let html = text(&visit(&app, Method::GET, &wait).await).to_string();
    assert!(html.contains("check again in 10 s"), "{html}");
    assert!(html.contains("FAIL (ACCESS_DENIED)"), "{html}");

    // The customer creates the role the page names, with its external ID.
    let external_id = reserved.body["external_id"].as_str().unwrap();
    app.create_named_role(
        &account,
        &app.state.settings.role_name,
        &trust_external_ids(&[external_id]),
        &[],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(
        service::onboarding::CHECK_INTERVAL_SECONDS,
    ))
    .await;
    assert_eq!(post_form(&app, &check).await.status, StatusCode::SEE_OTHER);
    let html = text(&visit(&app, Method::GET, &path).await).to_string();
    assert!(html.contains("SUCCESS: the role works."), "{html}");
    assert!(
        html.contains("id=\"verified\" class=\"banner ok\" role=\"status\""),
        "the banner shows"
    );
    let verified = app.get(&format!("/v1/accounts/{account}")).await;
    assert_eq!(
        verified.body["credential"]["verification_status"],
        "SUCCESS"
    );
}

mod browser {
    //! The page in headless Chromium through chromedriver (Debian's
    //! packages; `make test` installs them).

    use super::*;
    use fantoccini::{Client, ClientBuilder, Locator};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    struct Driver {
        process: Child,
        port: u16,
        _profile: std::path::PathBuf,
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn chromedriver() -> Driver {
        let port = free_port();
        let process = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; dev/setup.sh installs it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("onboard-chromium-{}", ulid::Ulid::new()));
        Driver {
            process,
            port,
            _profile: profile,
        }
    }

    async fn browser(driver: &Driver) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1440,900",
                    format!("--user-data-dir={}", driver._profile.display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a Chromium session")
    }

    /// The app's router on a loopback port, as the dev server serves it.
    async fn serve(app: &TestApp) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = app.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    fn artifacts() -> std::path::PathBuf {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-artifacts/onboarding");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A screenshot at `width`, with `focus` scrolled into view; the page
    /// must fit the width (no sideways scrolling).
    async fn screenshot(client: &Client, width: u32, name: &str, focus: &str) {
        client.set_window_size(width, 1200).await.unwrap();
        let fits = client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView({block: 'center'}); return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![json!(focus)],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "{name} at {width} px scrolls sideways");
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(artifacts().join(format!("{name}-{width}.png")), png).unwrap();
    }

    /// Click "Check connection" and wait for the result to change from
    /// what it said before (the page allows one check per 10 s).
    async fn check_connection(client: &Client) -> String {
        let result = client.find(Locator::Id("result")).await.unwrap();
        let before = result.text().await.unwrap();
        client
            .find(Locator::Id("check"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..150 {
            let now = result.text().await.unwrap();
            if now != before && !now.starts_with("Checking") {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the check's result never showed: {before}");
    }

    #[tokio::test]
    async fn a_customer_follows_the_page_to_a_working_role_in_chromium() {
        let app = TestApp::new().await;
        let base = serve(&app).await;
        let driver = chromedriver().await;
        let client = browser(&driver).await;
        let (account, path, _) = account_with_link(&app, "<script>x</script> Payments").await;

        client.goto(&format!("{base}{path}")).await.unwrap();
        let name = client.find(Locator::Id("account-name")).await.unwrap();
        assert_eq!(name.text().await.unwrap(), "<script>x</script> Payments");
        assert_eq!(
            client
                .find(Locator::Id("account-id"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            account
        );
        // Every control is labelled and reachable from the keyboard.
        for id in ["region", "external-id"] {
            client
                .find(Locator::Css(&format!("label[for='{id}']")))
                .await
                .unwrap();
        }
        // The region picked is the Launch Stack link's.
        let region = client.find(Locator::Id("region")).await.unwrap();
        region.select_by_value("eu-west-1").await.unwrap();
        let launch = client.find(Locator::Id("launch")).await.unwrap();
        let href = launch.attr("href").await.unwrap().unwrap();
        assert!(
            href.starts_with("https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?"),
            "{href}"
        );
        let external_id = client
            .find(Locator::Id("external-id"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        assert!(href.contains(&format!("param_ExternalId={external_id}")));
        let role_name = app.state.settings.role_name.clone();
        let page_text = client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page_text.contains(&role_name));
        screenshot(&client, 1440, "steps", "launch").await;
        screenshot(&client, 375, "steps", "launch").await;

        // The customer makes the role with a wrong external ID first: the
        // page says what to fix.
        let role = app
            .create_named_role(
                &account,
                &role_name,
                &trust_external_ids(&["not-the-one"]),
                &[],
            )
            .await;
        let shown = check_connection(&client).await;
        assert!(shown.contains("FAIL (ACCESS_DENIED)"), "{shown}");
        assert!(
            shown.contains("require the external ID exactly as shown"),
            "{shown}"
        );
        screenshot(&client, 375, "wrong-external-id", "result").await;
        screenshot(&client, 1440, "wrong-external-id", "result").await;

        // Fixed as the template says: the page shows SUCCESS and what next.
        app.update_trust(&account, &role, &trust_external_ids(&[&external_id]))
            .await;
        tokio::time::sleep(Duration::from_secs(
            service::onboarding::CHECK_INTERVAL_SECONDS,
        ))
        .await;
        let shown = check_connection(&client).await;
        assert!(shown.contains("SUCCESS"), "{shown}");
        let banner = client.find(Locator::Id("verified")).await.unwrap();
        assert!(banner.is_displayed().await.unwrap());
        assert!(banner.text().await.unwrap().contains("Connected"));
        let verified = app.get(&format!("/v1/accounts/{account}")).await;
        assert_eq!(
            verified.body["credential"]["verification_status"],
            "SUCCESS"
        );
        screenshot(&client, 1440, "connected", "verified").await;
        screenshot(&client, 375, "connected", "verified").await;

        // Revoked, the page is the 410 one.
        let links = app
            .get(&format!("/v1/accounts/{account}/onboarding-links"))
            .await;
        let link_id = links.body["items"][0]["link_id"].as_str().unwrap();
        app.call(
            Method::DELETE,
            &format!("/v1/accounts/{account}/onboarding-links/{link_id}"),
            None,
        )
        .await;
        client.refresh().await.unwrap();
        let heading = client.find(Locator::Css("h1")).await.unwrap();
        assert_eq!(heading.text().await.unwrap(), "This link has expired");
        screenshot(&client, 375, "expired", "gone").await;
        screenshot(&client, 1440, "expired", "gone").await;
        client.close().await.unwrap();
    }

    /// The customer's whole path: the vendor reserves the account by id
    /// alone and sends the link; the customer opens it on a phone, picks a
    /// region, and Launch Stack creates the stack from the very template
    /// the link names with the parameters it fills in (CloudFormation and
    /// IAM in moto); "Check connection" ends in SUCCESS, at 375 and 1280 px.
    /// Then `make dev`'s sample customer, set up by the function `make dev`
    /// runs: its printed link ends in SUCCESS at the first click.
    #[tokio::test]
    async fn the_customer_launches_the_linked_stack_and_connects_in_chromium() {
        use dev_server::customer::{create_stack, sample_customer, CustomerCloud, QuickCreate};
        let app = TestApp::new().await;
        let base = serve(&app).await;
        let driver = chromedriver().await;
        let client = browser(&driver).await;
        let cloud = CustomerCloud::new(&app.sdk_config);
        let public = crate::harness::PUBLIC_URL;

        let account = super::fresh_account();
        let reserved = app.reserve(&account).await;
        assert_eq!(reserved.status, StatusCode::CREATED, "{:#}", reserved.body);
        let link = app
            .call(
                Method::POST,
                &format!("/v1/accounts/{account}/onboarding-links"),
                Some(&json!({})),
            )
            .await;
        let path = link.body["path"].as_str().unwrap();
        client.set_window_size(375, 900).await.unwrap();
        client.goto(&format!("{base}{path}")).await.unwrap();
        let region = client.find(Locator::Id("region")).await.unwrap();
        region.select_by_value("eu-west-1").await.unwrap();
        let href = client
            .find(Locator::Id("launch"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let quick = QuickCreate::parse(&href).expect("a quick-create link");
        assert_eq!(quick.region.as_deref(), Some("eu-west-1"));
        let external_id = client
            .find(Locator::Id("external-id"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(quick
            .parameters
            .contains(&("ExternalId".to_string(), external_id.clone())));
        for width in [375, 1280] {
            screenshot(&client, width, "journey-steps", "launch").await;
        }
        // Checked before the stack exists: the customer's terms, and a
        // second check too soon keeps that diagnosis and counts down.
        let shown = check_connection(&client).await;
        assert!(shown.contains("FAIL (ACCESS_DENIED)"), "{shown}");
        assert!(shown.contains("has not been created yet"), "{shown}");
        client
            .find(Locator::Id("check"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let wait = client.find(Locator::Id("wait")).await.unwrap();
        let mut countdown = String::new();
        for _ in 0..50 {
            countdown = wait.text().await.unwrap();
            if !countdown.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            countdown.starts_with("You can check again in"),
            "{countdown}"
        );
        let result = client.find(Locator::Id("result")).await.unwrap();
        assert!(result
            .text()
            .await
            .unwrap()
            .contains("FAIL (ACCESS_DENIED)"));
        assert!(!client
            .find(Locator::Id("check"))
            .await
            .unwrap()
            .is_enabled()
            .await
            .unwrap());
        screenshot(&client, 375, "journey-too-soon", "result").await;
        // Launch Stack: from then on the page checks by itself.
        client
            .find(Locator::Id("launch"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // What CloudFormation does with the link: read the template it
        // names, create the stack with its parameters.
        let template_path = quick.template_url.strip_prefix(public).unwrap();
        let template = app
            .call_with(Method::GET, template_path, None, None, &[])
            .await;
        assert_eq!(template.status, StatusCode::OK);
        create_stack(
            &cloud.cloudformation,
            &account,
            &quick.stack_name,
            template.body.as_str().unwrap(),
            &quick.parameters,
        )
        .await
        .expect("the stack, as the console creates it");
        // No click: the page's own check, 15 s after Launch Stack.
        let mut shown = String::new();
        for _ in 0..300 {
            shown = result.text().await.unwrap();
            if shown.starts_with("SUCCESS") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(shown.starts_with("SUCCESS"), "{shown}");
        assert!(client
            .find(Locator::Id("verified"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap());
        for width in [375, 1280] {
            screenshot(&client, width, "journey-connected", "verified").await;
        }
        let verified = app.get(&format!("/v1/accounts/{account}")).await;
        assert_eq!(
            verified.body["credential"]["verification_status"],
            "SUCCESS"
        );

        // make dev: the sample customer's printed link, one click (an
        // account of this test's own: moto is shared with the dev server's test).
        let sample_account = super::fresh_account();
        let sample = sample_customer(&app.router, &app.key, &cloud, public, &sample_account)
            .await
            .expect("make dev's sample customer");
        assert!(sample.launched);
        let path = sample.url.strip_prefix(public).unwrap();
        client.goto(&format!("{base}{path}")).await.unwrap();
        let shown = check_connection(&client).await;
        assert!(shown.starts_with("SUCCESS"), "{shown}");
        for width in [375, 1280] {
            screenshot(&client, width, "make-dev-sample-connected", "verified").await;
        }
        // A second make dev against the same emulators keeps what exists.
        let again = sample_customer(&app.router, &app.key, &cloud, public, &sample_account)
            .await
            .expect("a second run");
        assert!(!again.launched);
        client.close().await.unwrap();
    }

    /// The organization's whole path: the customer's cloud team opens the
    /// link, creates the management role from the page's template, the
    /// member role in the management account from the page's Launch Stack
    /// link, and the StackSet's template in each member account (what
    /// StackSets does); "Check connection" queues the sync, and the page
    /// follows it to SUCCESS with every account connected, at 375 and
    /// 1280 px.
    #[tokio::test]
    async fn an_organization_connects_through_its_page_in_chromium() {
        use crate::harness::in_account;
        use aws_sdk_organizations::types::OrganizationFeatureSet;
        use dev_server::customer::{create_stack, link_of, CustomerCloud, QuickCreate};
        let app = TestApp::with_scans().await;
        let base = serve(&app).await;
        let driver = chromedriver().await;
        let client = browser(&driver).await;
        let cloud = CustomerCloud::new(&app.sdk_config);
        let public = crate::harness::PUBLIC_URL;

        // The customer's AWS Organization: a management account, two members.
        let management = super::fresh_account();
        let organizations = aws_sdk_organizations::Client::new(&app.sdk_config);
        organizations
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .customize()
            .mutate_request(in_account(&management))
            .send()
            .await
            .unwrap();
        let mut members = Vec::new();
        for name in ["payments", "search"] {
            let status = organizations
                .create_account()
                .account_name(name)
                .email(format!("{name}-{management}@example.com"))
                .customize()
                .mutate_request(in_account(&management))
                .send()
                .await
                .unwrap()
                .create_account_status
                .unwrap();
            members.push(status.account_id.unwrap());
        }

        let created = app
            .call(
                Method::POST,
                "/v1/organizations",
                Some(&json!({
                    "name": "Acme Group",
                    "management_account_id": management,
                    "role_arn": format!("arn:aws:iam::{management}:role/AccountOnboardingOrganizations"),
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
        let organization = created.body["organization_id"].as_str().unwrap();
        let link = app
            .call(
                Method::POST,
                &format!("/v1/organizations/{organization}/onboarding-links"),
                None,
            )
            .await;
        let path = link.body["path"].as_str().unwrap().to_string();
        client.set_window_size(375, 900).await.unwrap();
        client.goto(&format!("{base}{path}")).await.unwrap();
        for width in [375, 1280] {
            screenshot(&client, width, "organization-journey-steps", "launch").await;
        }
        let html = client.source().await.unwrap();
        let download = |id: &str| {
            let href = link_of(&html, id).unwrap_or_else(|| panic!("the page links {id}"));
            let app = &app;
            async move {
                let reply = app.call_with(Method::GET, &href, None, None, &[]).await;
                assert_eq!(reply.status, StatusCode::OK, "{href}");
                reply.body.as_str().unwrap().to_string()
            }
        };
        // Step 2: the management role, from the downloaded template.
        let management_role = download("download-management").await;
        create_stack(
            &cloud.cloudformation,
            &management,
            "AccountOnboardingOrganizations",
            &management_role,
            &[],
        )
        .await
        .expect("the management-role stack");
        // Step 3: the member role in the management account, Launch Stack.
        let quick = QuickCreate::parse(&link_of(&html, "launch").unwrap()).unwrap();
        let template = app
            .call_with(
                Method::GET,
                quick.template_url.strip_prefix(public).unwrap(),
                None,
                None,
                &[],
            )
            .await;
        create_stack(
            &cloud.cloudformation,
            &management,
            &quick.stack_name,
            template.body.as_str().unwrap(),
            &quick.parameters,
        )
        .await
        .expect("the management account's own role");
        // Step 4: the StackSet, as StackSets deploys it: one stack per member.
        let stackset = download("download-stackset").await;
        for member in &members {
            create_stack(
                &cloud.cloudformation,
                member,
                "AccountOnboardingMember",
                &stackset,
                &[],
            )
            .await
            .expect("a member's stack instance");
        }

        // Step 5: check; the page follows the queued sync to its outcome.
        let shown = check_connection(&client).await;
        assert!(shown.starts_with("QUEUED"), "{shown}");
        let syncer = app.organization_syncer();
        assert_eq!(app.drain_organization_syncs(&syncer).await, 1);
        let result = client.find(Locator::Id("result")).await.unwrap();
        let mut text = String::new();
        for _ in 0..100 {
            text = result.text().await.unwrap();
            if !text.starts_with("QUEUED") && !text.starts_with("RUNNING") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(text.starts_with("SUCCESS"), "{text}");
        // The management account and both members, each with a working role.
        assert!(text.contains("3 accounts found"), "{text}");
        for width in [375, 1280] {
            screenshot(&client, width, "organization-journey-connected", "verified").await;
        }
        for account in members.iter().chain([&management]) {
            let reply = app
                .call(
                    Method::POST,
                    &format!("/v1/accounts/{account}/verify"),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{account}: {:#}", reply.body);
            assert_eq!(
                reply.body["credential"]["verification_status"], "SUCCESS",
                "{account}: {:#}",
                reply.body
            );
        }
        client.close().await.unwrap();
    }

    /// An organization's page fits both widths, and its check follows the
    /// queued sync until its outcome, with the fix.
    #[tokio::test]
    async fn an_organization_page_polls_its_sync_to_the_outcome_in_chromium() {
        let app = TestApp::with_scans().await;
        let base = serve(&app).await;
        let driver = chromedriver().await;
        let client = browser(&driver).await;
        let management = super::fresh_account();
        let created = app
            .call(
                Method::POST,
                "/v1/organizations",
                Some(&json!({
                    "name": "Acme Group",
                    "management_account_id": management,
                    "role_arn": format!("arn:aws:iam::{management}:role/AccountOnboardingOrganizations"),
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
        let organization = created.body["organization_id"].as_str().unwrap();
        let link = app
            .call(
                Method::POST,
                &format!("/v1/organizations/{organization}/onboarding-links"),
                Some(&json!({})),
            )
            .await;
        let path = link.body["path"].as_str().unwrap();
        client.goto(&format!("{base}{path}")).await.unwrap();
        let name = client.find(Locator::Id("account-name")).await.unwrap();
        assert_eq!(name.text().await.unwrap(), "Acme Group");
        for id in ["download-management", "download-stackset"] {
            let href = client
                .find(Locator::Id(id))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            assert!(href.starts_with(path), "{href}");
        }
        screenshot(&client, 1440, "organization-steps", "download-stackset").await;
        screenshot(&client, 375, "organization-steps", "download-stackset").await;

        let shown = check_connection(&client).await;
        assert!(shown.starts_with("QUEUED"), "{shown}");
        // The sync runs (the management role was never made): the page,
        // polling, shows the failure and what to fix.
        let syncer = app.organization_syncer();
        assert_eq!(app.drain_organization_syncs(&syncer).await, 1);
        let result = client.find(Locator::Id("result")).await.unwrap();
        let mut text = String::new();
        for _ in 0..100 {
            text = result.text().await.unwrap();
            if text.starts_with("FAIL") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(text.starts_with("FAIL (ACCESS_DENIED)"), "{text}");
        assert!(text.contains("What to fix"), "{text}");
        assert!(!text.contains("/v1/"), "{text}");
        screenshot(&client, 375, "organization-failed", "result").await;
        screenshot(&client, 1440, "organization-failed", "result").await;
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn an_organization_link_walks_through_the_management_role_and_the_stackset() {
    let app = TestApp::with_scans().await;
    let management = fresh_account();
    let created = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(&json!({
                "name": "Acme <org>",
                "management_account_id": management,
                "role_arn": format!("arn:aws:iam::{management}:role/AccountOnboardingOrganizations"),
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let organization = created.body["organization_id"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = created.body["external_id_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let links = format!("/v1/organizations/{organization}/onboarding-links");
    let link = app.call(Method::POST, &links, Some(&json!({}))).await;
    assert_eq!(link.status, StatusCode::CREATED, "{:#}", link.body);
    assert_eq!(link.body["organization_id"], organization.as_str());
    assert!(link.body["account_id"].is_null());
    let path = link.body["path"].as_str().unwrap().to_string();

    let page = visit(&app, Method::GET, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_page_headers(&page);
    let html = text(&page);
    assert!(html.contains("Connect your AWS Organization to your vendor"));
    assert!(html.contains("Acme &lt;org&gt;"));
    assert!(html.contains(&management));
    assert!(html.contains("StackSet"));
    let management_role = visit(&app, Method::GET, &format!("{path}/management-role.yaml")).await;
    assert_eq!(management_role.status, StatusCode::OK);
    assert!(
        text(&management_role).contains(created.body["management_external_id"].as_str().unwrap())
    );
    let stackset = visit(&app, Method::GET, &format!("{path}/stackset.yaml")).await;
    assert_eq!(stackset.status, StatusCode::OK);
    assert!(text(&stackset).contains(&prefix));
    // An account's template is not an organization's.
    assert_eq!(
        visit(&app, Method::GET, &format!("{path}/template.yaml"))
            .await
            .status,
        StatusCode::GONE
    );

    // The check queues a sync, and the status says so until it is done.
    let checked = visit(&app, Method::POST, &format!("{path}/check")).await;
    assert_eq!(checked.status, StatusCode::OK, "{:#}", checked.body);
    assert_eq!(checked.body["status"], "QUEUED");
    assert_eq!(checked.body["pending"], true);
    visit(&app, Method::POST, &format!("{path}/check"))
        .await
        .assert_error(429, "check_too_soon");
    let status = visit(&app, Method::GET, &format!("{path}/status")).await;
    assert_eq!(status.body["status"], "QUEUED");
    let view = app.get(&format!("/v1/organizations/{organization}")).await;
    assert_eq!(view.body["sync"]["status"], "QUEUED", "{:#}", view.body);

    // The management role was never created: the sync fails, and the page
    // says so and what to fix rather than polling on.
    let syncer = app.organization_syncer();
    assert_eq!(app.drain_organization_syncs(&syncer).await, 1);
    let failed = visit(&app, Method::GET, &format!("{path}/status")).await;
    assert_eq!(failed.body["status"], "FAIL", "{:#}", failed.body);
    assert_eq!(failed.body["pending"], false);
    assert_eq!(failed.body["verified"], false);
    // Told in the customer's terms: the role's refusal code, the
    // management account, what to do in the page's steps; never the
    // vendor API's wording of the sync's error.
    assert_eq!(failed.body["code"], "ACCESS_DENIED", "{:#}", failed.body);
    let message = failed.body["message"].as_str().unwrap();
    assert!(message.contains(&management), "{message}");
    assert!(!message.contains("/v1/"), "{message}");
    assert!(failed.body["fix"]
        .as_str()
        .unwrap()
        .contains("management-role template"));
    assert!(text(&visit(&app, Method::GET, &path).await).contains("What to fix"));

    let listed = app.get(&links).await;
    let link_id = listed.body["items"][0]["link_id"].as_str().unwrap();
    let revoked = app
        .call(Method::DELETE, &format!("{links}/{link_id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        visit(&app, Method::GET, &path).await.status,
        StatusCode::GONE
    );

    // Deleting the organization deletes its links: none is left to list
    // under its id, nor any item under their key prefix.
    let second = app.call(Method::POST, &links, Some(&json!({}))).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/organizations/{organization}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:#}", deleted.body);
    app.get(&links).await.assert_error(404, "not_found");
    let left = app
        .store
        .onboarding_links(
            "acme",
            &service::onboarding::Subject::Organization(organization.clone()),
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        visit(&app, Method::GET, second.body["path"].as_str().unwrap())
            .await
            .status,
        StatusCode::GONE
    );
}

/// Links made and revoked without end leave a bounded listing: the newest
/// 20 dead ones and the live ones.
#[tokio::test]
async fn old_dead_links_go_as_new_ones_are_made() {
    let app = TestApp::new().await;
    let (account, _, first) = account_with_link(&app, "Churn").await;
    let links = format!("/v1/accounts/{account}/onboarding-links");
    let mut link_id = first;
    let mut made = vec![link_id.clone()];
    for _ in 0..25 {
        let revoked = app
            .call(Method::DELETE, &format!("{links}/{link_id}"), None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let link = app.call(Method::POST, &links, Some(&json!({}))).await;
        assert_eq!(link.status, StatusCode::CREATED, "{:#}", link.body);
        link_id = link.body["link_id"].as_str().unwrap().to_string();
        made.push(link_id.clone());
    }
    let listed = app.get(&links).await;
    let items = listed.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|item| item["link_id"].as_str().unwrap())
        .collect();
    // 26 made, 25 revoked: the live one and the 20 newest revoked stay.
    assert_eq!(ids.len(), 21, "{:#}", listed.body);
    let kept: Vec<&str> = made[made.len() - 21..].iter().map(String::as_str).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    let mut expected = kept.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert_eq!(
        items.iter().filter(|item| item["status"] == "LIVE").count(),
        1
    );
}

/// Making and revoking a link are audit events (and webhooks), naming the
/// link and what it onboards, never its token or the token's hash.
#[tokio::test]
async fn links_made_and_revoked_are_events_without_their_secrets() {
    let app = TestApp::new().await;
    let (account, path, link_id) = account_with_link(&app, "Audited").await;
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{account}/onboarding-links/{link_id}"),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    crate::audit::drain_stream(&app).await;
    for event_type in ["onboarding_link.created", "onboarding_link.revoked"] {
        let page = app
            .get(&format!("/v1/audit-events?type={event_type}"))
            .await;
        let events = page.body["items"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{:#}", page.body);
        let event = &events[0];
        assert_eq!(event["account_id"], account.as_str());
        assert_eq!(event["data"]["link_id"], link_id.as_str());
        assert_eq!(event["data"]["account_id"], account.as_str());
        assert!(event["data"]["expires_at"].is_string());
        assert_eq!(event["actor"].as_str().unwrap().len(), 26, "the API key");
        assert!(event["request_id"].is_string(), "{event:#}");
    }
    let everything = app.get("/v1/audit-events").await.body.to_string();
    let token = path.trim_start_matches("/onboard/");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!everything.contains(secret), "{everything}");
    assert!(!everything.contains("secret_hash"), "{everything}");
}

/// Issue 25 #10: a logo URL cannot write into the page's policy, and every
/// answer under the page's paths carries the page's headers, the path
/// check's 400 for an over-long token and the router's 404 included.
#[tokio::test]
async fn a_logo_url_cannot_widen_the_policy_and_every_page_answer_has_its_headers() {
    let app = TestApp::new().await;
    for logo in [
        "https://cdn.example.com;sandbox/x.svg",
        "https://*/x.svg",
        "https://cdn.example.com./x.svg",
    ] {
        let reply = app
            .call(
                Method::PUT,
                "/v1/settings",
                Some(&json!({ "logo_url": logo })),
            )
            .await;
        reply.assert_error(400, "invalid_value");
        assert_eq!(reply.field(), "logo_url", "{logo}");
    }
    let (_, path, _) = account_with_link(&app, "Logo").await;
    let settings = app
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"logo_url": "https://CDN.example.com:8443/logo.svg"})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:#}", settings.body);
    let page = visit(&app, Method::GET, &path).await;
    assert_page_headers(&page);
    assert!(page
        .header("content-security-policy")
        .contains("img-src 'self' https://cdn.example.com:8443;"));

    let long = format!(
        "/onboard/{}",
        "a".repeat(service::onboarding::MAX_TOKEN_LEN + 1)
    );
    let reply = visit(&app, Method::GET, &long).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_page_headers(&reply);
    let unknown = visit(&app, Method::GET, &format!("{path}/nothing-here")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_page_headers(&unknown);
    // The API's own answers are not the page's.
    let api = app.get("/v1/accounts").await;
    assert!(api.headers.get("x-frame-options").is_none());
}

/// The README's two settings calls in order: the branding patch keeps the
/// rotation policy; a link made without a body takes the defaults.
#[tokio::test]
async fn settings_patch_keeps_what_it_leaves_out_and_a_link_needs_no_body() {
    let app = TestApp::new().await;
    let policy = app
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"external_id_max_age_days": 365, "auto_rotate_external_id": true})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{:#}", policy.body);
    let patch = [("content-type", "application/merge-patch+json")];
    let branded = app
        .call_with(
            Method::PATCH,
            "/v1/settings",
            Some(&app.key),
            Some(&json!({"product_name": "Acme Cloud", "support_contact": "help@acme.example"})),
            &patch,
        )
        .await;
    assert_eq!(branded.status, StatusCode::OK, "{:#}", branded.body);
    assert_eq!(branded.body["external_id_max_age_days"], 365);
    assert_eq!(branded.body["auto_rotate_external_id"], true);
    assert_eq!(branded.body["product_name"], "Acme Cloud");
    // A patch that breaks a rule across fields is refused and writes nothing.
    let before = app.snapshot().await;
    app.call_with(
        Method::PATCH,
        "/v1/settings",
        Some(&app.key),
        Some(&json!({"external_id_max_age_days": null})),
        &patch,
    )
    .await
    .assert_error(400, "invalid_value");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.get("/v1/settings").await.body, branded.body);
    // Ten concurrent patches of different fields: none is lost.
    let names: Vec<String> = (0..10).map(|i| format!("Product {i}")).collect();
    let replies = futures::future::join_all((0..10).map(|i| {
        let body = if i % 2 == 0 {
            json!({"product_name": names[i]})
        } else {
            json!({"support_contact": format!("help{i}@acme.example")})
        };
        let app = &app;
        async move {
            app.call_with(
                Method::PATCH,
                "/v1/settings",
                Some(&app.key),
                Some(&body),
                &patch,
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let last = app.get("/v1/settings").await.body;
    assert_eq!(last["external_id_max_age_days"], 365, "{last:#}");
    assert!(last["product_name"]
        .as_str()
        .unwrap()
        .starts_with("Product"));
    assert!(last["support_contact"]
        .as_str()
        .unwrap()
        .starts_with("help"));

    let account = fresh_account();
    app.create(&account, json!({})).await;
    let link = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/onboarding-links"),
            None,
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{:#}", link.body);
    let created =
        chrono::DateTime::parse_from_rfc3339(link.body["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(link.body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_days(), 7);
}
