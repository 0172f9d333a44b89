//! Held names over HTTP: the identity cookie, look-alikes refused, passwords, signing in and
//! out, and the limits on guessing.

use crate::common::{TestServer, cookie_set, ids};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_first_post_holds_the_name_and_look_alikes_are_refused() {
    let server = TestServer::builder().holding_names().start().await;
    let ann = server.browser();
    let res = ann
        .client
        .post(server.url("/api/send"))
        .form(&[("screenname", "ann"), ("text", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_set(&res, "chat_identity").expect("an identity cookie");
    let secret = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("chat_identity=");
    assert!(secret.len() >= 32, "at least 128 bits: {cookie}");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=31536000"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(
        ann.me().await,
        json!({"names": ["ann"], "moderator": false, "password": false})
    );
    // Another browser, under the name or one that looks like it: refused, nothing stored.
    for alike in ["ann", "Ann", "ＡＮＮ", "\u{0430}nn"] {
        let (status, body) = server.browser().send(alike, "me too").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{alike}");
        assert_eq!(body["kind"], "name_taken");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("is taken") && message.contains("sign in"),
            "{message}"
        );
    }
    let (status, _) = server
        .send(&[("screenname", "ann"), ("text", "no cookie")])
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a client without cookies too"
    );
    let (_, batch) = server.poll("").await;
    assert_eq!(ids(&batch).len(), 1);
    // The holder goes on, and a name nobody holds is anyone's.
    assert_eq!(ann.send("Ann", "still me").await.0, StatusCode::OK);
    assert_eq!(
        server.browser().send("bob", "hello").await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.browser().me().await,
        json!({"names": [], "moderator": false, "password": false})
    );
}

#[tokio::test]
async fn holding_can_be_turned_off() {
    let server = TestServer::builder()
        .holding_names()
        .config(|config| config.name_hold_days = 0)
        .start()
        .await;
    let (first, second) = (server.browser(), server.browser());
    assert_eq!(first.send("ann", "one").await.0, StatusCode::OK);
    let (status, line) = second.send("ann", "two").await;
    assert_eq!(status, StatusCode::OK);
    // The second poster's line is still theirs alone.
    let id = line["id"].to_string();
    let edit = [("id", id.as_str()), ("text", "mine")];
    assert_eq!(
        first.post("/api/edit", &edit).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(second.post("/api/edit", &edit).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_password_lets_the_holder_sign_in_elsewhere_and_out_again() {
    let server = TestServer::builder().holding_names().start().await;
    let ann = server.browser();
    let (status, body) = ann
        .post("/api/password", &[("password", "long enough pass")])
        .await;
    assert_eq!(
        (status, &body["kind"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    ann.send("ann", "hi").await;
    let (status, body) = ann.post("/api/password", &[("password", "short")]).await;
    assert_eq!(
        (status, &body["kind"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request"))
    );
    let (status, body) = ann
        .post("/api/password", &[("password", "correct horse")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["password"], true);
    assert_eq!(ann.me().await["password"], true);

    let laptop = server.browser();
    for (name, password) in [("ann", "wrong horse"), ("nobody", "correct horse")] {
        let form = [("screenname", name), ("password", password)];
        let (status, body) = laptop.post("/api/sign-in", &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body["kind"], "bad_credentials",
            "the same answer for {name}"
        );
        assert_eq!(body["message"], "That name and password do not match.");
    }
    let form = [("screenname", "ANN"), ("password", "correct horse")];
    let (status, body) = laptop.post("/api/sign-in", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["names"], json!(["ann"]));
    assert_eq!(
        laptop.send("ann", "from the laptop").await.0,
        StatusCode::OK
    );
    // Its lines are the holder's, on either browser.
    let (_, line) = laptop.send("ann", "typo").await;
    let id = line["id"].to_string();
    let fix = [("id", id.as_str()), ("text", "fixed")];
    assert_eq!(ann.post("/api/edit", &fix).await.0, StatusCode::OK);

    let (status, body) = laptop.post("/api/sign-out", &[]).await;
    assert_eq!((status, &body["names"]), (StatusCode::OK, &json!([])));
    assert_eq!(laptop.me().await["names"], json!([]));
    assert_eq!(
        laptop.send("ann", "still me?").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ann.send("ann", "the name stays held").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_ins_are_limited_per_address_and_per_name() {
    let server = TestServer::builder()
        .holding_names()
        .config(|config| {
            config.sign_in_rate = 3;
            config.trusted_proxy = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .start()
        .await;
    server.browser().send("ann", "hi").await;
    let attempt = |from: &'static str, name: &'static str| {
        server
            .client
            .post(server.url("/api/sign-in"))
            .header("x-forwarded-for", from)
            .form(&[("screenname", name), ("password", "guess guess")])
            .send()
    };
    for _ in 0..3 {
        let res = attempt("198.51.100.1", "ann").await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let limited = attempt("198.51.100.1", "bob").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    // Another address guessing the same name: the name's own limit.
    let elsewhere = attempt("203.0.113.9", "ANN").await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = elsewhere.json().await.unwrap();
    assert_eq!(body["kind"], "rate_limited");
    // That address may still try another name.
    let other = attempt("203.0.113.9", "bob").await.unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_new_endpoints_refuse_other_sites_and_unknown_fields() {
    let server = TestServer::builder().holding_names().start().await;
    for (path, form) in [
        ("/api/edit", vec![("id", "1"), ("text", "x")]),
        ("/api/delete", vec![("id", "1")]),
        ("/api/password", vec![("password", "long enough pass")]),
        (
            "/api/sign-in",
            vec![("screenname", "ann"), ("password", "x")],
        ),
        ("/api/sign-out", vec![]),
    ] {
        let res = server
            .client
            .post(server.url(path))
            .header("origin", "https://evil.example")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        let mut strange = form.clone();
        strange.push(("admin", "1"));
        let res = server
            .client
            .post(server.url(path))
            .form(&strange)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let get = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn signing_in_from_a_plain_form_goes_back_with_its_error_beside_it() {
    let server = TestServer::builder().holding_names().start().await;
    let ann = server.browser();
    ann.send("ann", "hi").await;
    ann.post("/api/password", &[("password", "correct horse")])
        .await;
    let plain = server.browser();
    let form = |password: &'static str| {
        plain
            .client
            .post(server.url("/api/sign-in"))
            .header("accept", "text/html")
            .header("referer", server.url("/"))
            .form(&[("screenname", "ann"), ("password", password)])
            .send()
    };
    let wrong = form("wrong horse").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FOUND);
    let back = wrong.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.contains("__err="), "{back}");
    let page = plain
        .client
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let account = page
        .split(r#"class="account""#)
        .nth(1)
        .expect("the account block");
    assert!(
        account.contains("That name and password do not match."),
        "{account}"
    );
    assert!(
        account.contains("<details open>"),
        "the form is shown open: {account}"
    );
    // The right password comes back to the page, signed in.
    let right = form("correct horse").await.unwrap();
    assert_eq!(right.status(), StatusCode::FOUND);
    let page = plain
        .client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your names: <bdi>ann</bdi>"), "{page}");
    assert!(page.contains(r#"action="/api/sign-out""#));
}
