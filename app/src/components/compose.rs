use crate::api::SendLine;
use crate::line::{MAX_SCREENNAME_CHARS, NewLine};
use crate::outbox::{Outbox, Retry};
use crate::room::Room;
use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// The form that posts a line: a plain HTML form post to the server function's URL when
/// JavaScript is off. With JavaScript the page sends it itself (not through `ActionForm`, whose
/// decoding of the form's fields was a large part of the wasm: the README's wasm levers): the shared rules are
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
    // The message being sent, with its key, and when to send it again.
    let outbox = StoredValue::new(Outbox::default());

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
        // The name it posts as from now on (its line may come back by the poll first).
        reader.set(
            NewLine::parse(&screenname, "-")
                .ok()
                .map(|l| l.screenname().to_owned()),
        );
        let message = SendLine {
            screenname,
            text,
            idempotency_key: None,
            room: room.field(),
        };
        let input = outbox
            .try_update_value(|outbox| outbox.send(message, new_key))
            .expect("the form's outbox lives as long as the form");
        send.dispatch(input);
    };

    Effect::new(move |_| match send.value().get() {
        // Stored: clear the message, keep the name, stay in the message field.
        Some(Ok(_)) => {
            outbox.update_value(Outbox::succeeded);
            retrying.set(None);
            if let Some(input) = text_ref.get_untracked() {
                input.set_value("");
                let _ = input.focus();
            }
        }
        Some(Err(err)) => match outbox.try_update_value(|outbox| outbox.failed(&err)) {
            Some(Retry::After { wait_ms, notice }) => {
                retrying.set(Some(notice));
                set_timeout(
                    move || match outbox.with_value(Outbox::retry) {
                        Some(input) => {
                            send.dispatch(input);
                        }
                        None => retrying.set(None),
                    },
                    std::time::Duration::from_millis(wait_ms as u64),
                );
            }
            _ => retrying.set(None),
        },
        None => retrying.set(None),
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
        <div class="compose">
            <form action=SendLine::url() method="post" on:submit=submit>
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
            </form>
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
