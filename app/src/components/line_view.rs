use crate::clock;
use crate::line::Line;
use leptos::prelude::*;

/// One line of the log. User text is only ever a text node, never HTML.
#[component]
pub fn LineView(line: Line, local_time: ReadSignal<bool>) -> impl IntoView {
    let Line {
        id,
        screenname,
        text,
        created,
    } = line;
    let shown = {
        let created = created.clone();
        move || clock::display(&created, local_time.get())
    };
    view! {
        <p class="line" data-id=id>
            <time datetime=created>{shown}</time>
            <span class="name">{screenname}</span>
            <span class="text">{text}</span>
        </p>
    }
}
