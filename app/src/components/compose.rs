use crate::api::SendLine;
use crate::line::{MAX_SCREENNAME_CHARS, NewLine};
use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

/// The form that posts a line. An `ActionForm`, so it also works as a plain HTML form post
/// when JavaScript is off; with JavaScript the same rules are checked before anything is sent.
#[component]
pub fn Compose(send: ServerAction<SendLine>) -> impl IntoView {
    let name_ref = NodeRef::<Input>::new();
    let text_ref = NodeRef::<Input>::new();
    let local_error = RwSignal::new(None::<String>);

    // Runs in the capture phase, before ActionForm's own handler, which leaves a prevented
    // submit alone.
    let check = move |ev: SubmitEvent| {
        let value =
            |node: NodeRef<Input>| node.get_untracked().map(|i| i.value()).unwrap_or_default();
        match NewLine::parse(&value(name_ref), &value(text_ref)) {
            Ok(_) => local_error.set(None),
            Err(err) => {
                ev.prevent_default();
                local_error.set(Some(err.to_string()));
            }
        }
    };

    // After a stored send: clear the message, keep the name, stay in the message field.
    Effect::new(move |_| {
        if let Some(Ok(_)) = send.value().get()
            && let Some(input) = text_ref.get_untracked()
        {
            input.set_value("");
            let _ = input.focus();
        }
    });

    let error = move || {
        local_error.get().or_else(|| match send.value().get() {
            Some(Err(err)) => Some(err.message),
            _ => None,
        })
    };

    view! {
        <div class="compose" on:submit:capture=check>
            <ActionForm action=send>
                <label for="screenname">"Screen name"</label>
                <input
                    id="screenname"
                    name="screenname"
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
                {error}
            </p>
        </div>
    }
    .into_any()
}
