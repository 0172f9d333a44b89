use crate::api::SendLine;
use crate::error::ErrorKind;
use crate::line::{MAX_SCREENNAME_CHARS, NewLine};
use crate::room::Room;
use crate::schedule::send_retry_delay;
use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

/// The form that posts a line. An `ActionForm`, so it also works as a plain HTML form post
/// when JavaScript is off. With JavaScript the page sends it itself: the shared rules are
/// checked first, and a send that fails for a transient reason is retried under the same
/// idempotency key (so it is stored once), keeping the typed text until it is acknowledged.
#[component]
pub fn Compose(
    send: ServerAction<SendLine>,
    room: Room,
    reader: RwSignal<Option<String>>,
) -> impl IntoView {
    let room_field = room.field();
    let name_ref = NodeRef::<Input>::new();
    let text_ref = NodeRef::<Input>::new();
    let local_error = RwSignal::new(None::<String>);
    let retrying = RwSignal::new(None::<String>);
    // The message being sent, with its key, and how many sends of it failed.
    let outbox = StoredValue::new(None::<SendLine>);
    let failures = StoredValue::new(0u32);

    // Runs in the capture phase, before ActionForm's own handler, which leaves a prevented
    // submit alone.
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if send.pending().get_untracked() || retrying.get_untracked().is_some() {
            return;
        }
        let value =
            |node: NodeRef<Input>| node.get_untracked().map(|i| i.value()).unwrap_or_default();
        let (screenname, text) = (value(name_ref), value(text_ref));
        if let Err(err) = NewLine::parse(&screenname, &text) {
            local_error.set(Some(err.to_string()));
            return;
        }
        local_error.set(None);
        // The same message sent again (after a final failure) keeps its key.
        let input = outbox
            .get_value()
            .filter(|sent| sent.screenname == screenname && sent.text == text)
            .unwrap_or_else(|| SendLine {
                screenname,
                text,
                idempotency_key: new_key(),
                room: room.field(),
            });
        outbox.set_value(Some(input.clone()));
        failures.set_value(0);
        send.dispatch(input);
    };

    Effect::new(move |_| match send.value().get() {
        // Stored: clear the message, keep the name, stay in the message field.
        Some(Ok(_)) => {
            outbox.set_value(None);
            retrying.set(None);
            if let Some(input) = text_ref.get_untracked() {
                input.set_value("");
                let _ = input.focus();
            }
        }
        // Only a send of this page's is retried: an error carried in from a plain form post
        // (in the URL) has nothing to resend.
        Some(Err(err)) if err.kind.is_transient() && outbox.with_value(Option::is_some) => {
            let failed = failures.get_value() + 1;
            failures.set_value(failed);
            let Some(wait) = send_retry_delay(failed, err.retry_after_ms()) else {
                retrying.set(None);
                return;
            };
            retrying.set(Some(if err.kind == ErrorKind::RateLimited {
                format!(
                    "Slow down: sending again in {} s.",
                    (wait / 1000.0).ceil() as u64
                )
            } else {
                "Could not send yet; trying again…".to_owned()
            }));
            set_timeout(
                move || match outbox.get_value() {
                    Some(input) => {
                        send.dispatch(input);
                    }
                    None => retrying.set(None),
                },
                std::time::Duration::from_millis(wait as u64),
            );
        }
        _ => retrying.set(None),
    });

    let message = move || {
        local_error
            .get()
            .or_else(|| retrying.get())
            .or_else(|| match send.value().get() {
                Some(Err(err)) => Some(err.message),
                _ => None,
            })
    };

    view! {
        <div class="compose" on:submit:capture=submit>
            <ActionForm action=send>
                <input type="hidden" name="room" value=room_field.unwrap_or_default() />
                <label for="screenname">"Screen name"</label>
                <input
                    id="screenname"
                    name="screenname"
                    value=reader.get_untracked().unwrap_or_default()
                    node_ref=name_ref
                    autocomplete="nickname"
                    size=MAX_SCREENNAME_CHARS
                    required
                    on:input=move |_| local_error.set(None)
                />
                <label for="text">"Message"</label>
                <input
                    id="text"
                    name="text"
                    node_ref=text_ref
                    autocomplete="off"
                    required
                    on:input=move |_| local_error.set(None)
                />
                <button type="submit" disabled=move || send.pending().get()>
                    "Send"
                </button>
            </ActionForm>
            <p class="form-error" id="form-error" role="alert">
                {message}
            </p>
        </div>
    }
    .into_any()
}

/// A new idempotency key for a message (none on the server, which never sends).
fn new_key() -> Option<String> {
    #[cfg(feature = "hydrate")]
    return crate::line::IdempotencyKey::generate().map(|key| key.as_str().to_owned());
    #[cfg(not(feature = "hydrate"))]
    None
}
