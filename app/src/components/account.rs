//! The reader's names, and signing in (a name and its password, from another browser), setting
//! a password, signing out. Plain forms, with JavaScript or without: each comes back to the
//! page, its error beside it (rare enough that the page load after each costs nothing worth
//! saving). Rendered by the server alone, as HTML it writes (the browser hydrates it as it
//! is), so none of it weighs on the wasm; the names, user text, are escaped as text.

#[cfg(feature = "ssr")]
use crate::identity::Me;

/// The account's HTML, on the server; nothing in the browser, which keeps what the server
/// rendered.
#[cfg(feature = "ssr")]
pub fn html(me: &Me) -> String {
    use super::form_error;
    use crate::api::{SetPassword, SignIn, SignOut};
    use crate::identity::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
    use crate::text::escaped;
    use leptos::server_fn::ServerFn;
    let error = form_error(&[SignIn::PATH, SetPassword::PATH, SignOut::PATH]);
    let open = if error.is_some() { " open" } else { "" };
    let error = format!(
        r#"<p class="form-error" role="alert">{}</p>"#,
        escaped(error.as_deref().unwrap_or(""))
    );
    if me.names.is_empty() {
        return format!(
            r#"<details{open}><summary>Sign in</summary><form method="post" action="{}"><label>Name <input name="screenname" autocomplete="username" required></label><label>Password <input type="password" name="password" autocomplete="current-password" required></label><button type="submit">Sign in</button></form>{error}</details>"#,
            SignIn::PATH
        );
    }
    let summary = if me.password {
        "Change password"
    } else {
        "Set a password"
    };
    format!(
        r#"<span>Your names: <bdi>{}</bdi></span><details{open}><summary>{summary}</summary><form method="post" action="{}"><label>Password for signing in elsewhere <input type="password" name="password" minlength="{MIN_PASSWORD_CHARS}" maxlength="{MAX_PASSWORD_CHARS}" autocomplete="new-password" required></label><button type="submit">Save</button></form></details><form method="post" action="{}"><button type="submit">Sign out</button></form>{error}"#,
        escaped(&me.names.join(", ")),
        SetPassword::PATH,
        SignOut::PATH
    )
}

#[cfg(not(feature = "ssr"))]
pub fn html() -> String {
    String::new()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn names_are_text_and_the_forms_post_to_the_api() {
        let me = Me {
            names: vec!["<b>ann</b> & \"co\"".into()],
            moderator: false,
            password: false,
        };
        let shown = html(&me);
        assert!(
            shown.contains("&lt;b&gt;ann&lt;/b&gt; &amp; &quot;co&quot;"),
            "{shown}"
        );
        assert!(!shown.contains("<b>"));
        assert!(shown.contains(r#"action="/api/password""#));
        assert!(shown.contains(r#"action="/api/sign-out""#));
        assert!(shown.contains("Set a password"));
        let nobody = html(&Me::default());
        assert!(nobody.contains(r#"action="/api/sign-in""#) && nobody.contains("Sign in"));
    }
}
